"""composite_over: a full-resolution photo over a new background through its alpha matte, in one pass
over the pixels (the step that bounded video frame rates: NumPy needed four float temporaries per
pixel). Images are H x W x 3 uint8, as OpenCV holds them, not the network's NCHW float tensors.

Contract (the "over" rule of compositing, rounded to the nearest level):

    image       H x W x 3 uint8 (any channel order; the background's must match)
    alpha       H x W float32 in [0, 1]
    background  H x W x 3 uint8 (an image) or 3 values (one colour, 0..255)
    out         H x W x 3 uint8, out = floor(clip(b + alpha * (f - b) + 0.5, 0, 255)), computed in float32
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError


def composite_over_reference(image, alpha, background):
    back = np.asarray(background, np.float32)
    fore = image.astype(np.float32)
    a = alpha.astype(np.float32)[..., None]
    return np.clip(back + a * (fore - back) + np.float32(0.5), 0, 255).astype(np.uint8)


# fastmath is off: a contracted multiply-add rounds differently, and a level that lands on .5 then
# comes out one step away from the reference
@njit(parallel=True)
def _composite_over_kernel(image, alpha, back, colour, use_colour, out):
    height, width = alpha.shape
    for y in prange(height):
        for x in range(width):
            a = alpha[y, x]
            for c in range(3):
                b = colour[c] if use_colour else np.float32(back[y, x, c])
                v = b + a * (np.float32(image[y, x, c]) - b) + np.float32(0.5)
                out[y, x, c] = np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)))
    return out


BAND_ROWS = 256  # the NumPy fallback's float temporaries stay small on huge photos


def composite_over(image, alpha, background, out=None):
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise ShapeError(f"composite_over: image must be H x W x 3 uint8, got {getattr(image, 'shape', None)} "
                         f"{getattr(image, 'dtype', type(image).__name__)}")
    h, w = image.shape[:2]
    if not (isinstance(alpha, np.ndarray) and alpha.dtype == np.float32 and alpha.shape == (h, w)):
        raise ShapeError(f"composite_over: alpha must be {h} x {w} float32, got {getattr(alpha, 'shape', None)} "
                         f"{getattr(alpha, 'dtype', type(alpha).__name__)}")
    use_colour = not (isinstance(background, np.ndarray) and background.ndim == 3)
    if use_colour:
        colour = np.asarray(background, np.float32).reshape(-1)
        if colour.shape != (3,):
            raise ShapeError(f"composite_over: a background colour has 3 values, got {colour.shape[0]}")
        back = np.zeros((1, 1, 3), np.uint8)
    else:
        if background.shape != image.shape or background.dtype != np.uint8:
            raise ShapeError(f"composite_over: background image must be {h} x {w} x 3 uint8 like the image, "
                             f"got {background.shape} {background.dtype}")
        colour, back = np.zeros(3, np.float32), background
    if out is None:
        out = np.empty_like(image)
    elif out.shape != image.shape or out.dtype != np.uint8:
        raise ShapeError(f"composite_over: out must be {image.shape} uint8, got {out.shape} {out.dtype}")
    if kernels_on():
        return _composite_over_kernel(np.ascontiguousarray(image), np.ascontiguousarray(alpha), np.ascontiguousarray(back),
                                      colour, use_colour, out)
    for y0 in range(0, h, BAND_ROWS):
        y1 = min(h, y0 + BAND_ROWS)
        out[y0:y1] = composite_over_reference(image[y0:y1], alpha[y0:y1], colour if use_colour else back[y0:y1])
    return out
