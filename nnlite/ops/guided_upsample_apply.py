"""guided_upsample_apply: the full-resolution half of fast guided upsampling, in one pass over the
photo: the small per-pixel linear model (mean_a, mean_b) bilinearly enlarged, applied to the photo's
own gray levels, clipped to [0, 1]. It reads each photo pixel once and writes the matte; before, the
same took two OpenCV remaps, a colour conversion and four full-size float temporaries, and bounded
video frame rates at 720p and above. Photos are H x W x 3 uint8 BGR, as OpenCV holds them.

Contract:

    mean_a, mean_b  h x w float32, the box-averaged coefficients at the network's size
    image           H x W x 3 uint8, BGR
    out             H x W float32, out[y, x] = clip(A(y, x) * gray(y, x) + B(y, x), 0, 1) where
                    A, B sample mean_a, mean_b bilinearly at ((x + 0.5) * w / W - 0.5, (y + 0.5) * h / H - 0.5),
                    coordinates clamped to the grid (the border value repeats), and
                    gray = ((9798 R + 19235 G + 3735 B + 16384) >> 15) / 255, OpenCV's BGR2GRAY on uint8
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError

BAND_ROWS = 256  # the NumPy fallback's float temporaries stay small on huge photos


def _axis(size_out: int, size_in: int):
    """For each output index: the two source indices and the weight of the second (float64)."""
    position = np.clip((np.arange(size_out, dtype=np.float64) + 0.5) * (size_in / size_out) - 0.5, 0, size_in - 1)
    first = np.floor(position).astype(np.int64)
    second = np.minimum(first + 1, size_in - 1)
    return first, second, position - first


def gray_levels(image):
    """OpenCV's BGR2GRAY on uint8, exactly (its vector path's 15-bit fixed-point BT.601 weights)."""
    b, g, r = (image[..., k].astype(np.int32) for k in range(3))
    return ((9798 * r + 19235 * g + 3735 * b + 16384) >> 15).astype(np.uint8)


def guided_upsample_apply_reference(mean_a, mean_b, image):
    height, width = image.shape[:2]
    y0, y1, ty = _axis(height, mean_a.shape[0])
    x0, x1, tx = _axis(width, mean_a.shape[1])

    def enlarge(plane):
        plane = plane.astype(np.float64)
        rows = plane[y0] * (1 - ty)[:, None] + plane[y1] * ty[:, None]
        return rows[:, x0] * (1 - tx) + rows[:, x1] * tx

    gray = gray_levels(image) / 255.0
    return np.clip(enlarge(mean_a) * gray + enlarge(mean_b), 0, 1).astype(np.float32)


# Two passes, so that the per-pixel loop has no gathers and vectorises: the coefficients are first
# enlarged along x only, at the network's height (h x W, a few hundred KB), then each photo row
# blends two of those rows and applies them to its gray levels with flat indices (LLVM then loads
# the BGR bytes interleaved). One pass gathering four coefficients per pixel stayed scalar: 9-18 ms
# at 1080p on one AVX-512 core.
@njit(parallel=True, fastmath=True)
def _enlarge_columns_kernel(mean_a, mean_b, x0, x1, tx, wide_a, wide_b):
    rows, width = wide_a.shape
    for r in prange(rows):
        for x in range(width):
            ca, cb, wx = x0[x], x1[x], tx[x]
            wide_a[r, x] = mean_a[r, ca] + wx * (mean_a[r, cb] - mean_a[r, ca])
            wide_b[r, x] = mean_b[r, ca] + wx * (mean_b[r, cb] - mean_b[r, ca])
    return wide_a, wide_b


@njit(parallel=True, fastmath=True)
def _guided_upsample_apply_kernel(wide_a, wide_b, image, y0, y1, ty, out):
    height, width = out.shape
    fi, fo = image.reshape(-1), out.reshape(-1)
    fa, fb = wide_a.reshape(-1), wide_b.reshape(-1)
    zero, one, scale = np.float32(0.0), np.float32(1.0), np.float32(1.0 / 255.0)
    for y in prange(height):
        top, bottom = np.uint64(y0[y] * width), np.uint64(y1[y] * width)
        row = np.uint64(y * width)
        wy = ty[y]
        for x in range(np.uint64(width)):
            a = fa[top + x] + wy * (fa[bottom + x] - fa[top + x])
            b = fb[top + x] + wy * (fb[bottom + x] - fb[top + x])
            i = (row + x) * np.uint64(3)
            level = (np.int32(fi[i + np.uint64(2)]) * 9798 + np.int32(fi[i + np.uint64(1)]) * 19235
                     + np.int32(fi[i]) * 3735 + 16384) >> 15
            fo[row + x] = min(max(a * (np.float32(level) * scale) + b, zero), one)
    return out


def guided_upsample_apply(mean_a, mean_b, image, out=None):
    for name, plane in (("mean_a", mean_a), ("mean_b", mean_b)):
        if not (isinstance(plane, np.ndarray) and plane.dtype == np.float32 and plane.ndim == 2 and plane.size):
            raise ShapeError(f"guided_upsample_apply: {name} must be a non-empty h x w float32 array, got "
                             f"{getattr(plane, 'shape', None)} {getattr(plane, 'dtype', type(plane).__name__)}")
    if mean_b.shape != mean_a.shape:
        raise ShapeError(f"guided_upsample_apply: mean_b is {mean_b.shape}, mean_a {mean_a.shape}; they must match")
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise ShapeError(f"guided_upsample_apply: image must be H x W x 3 uint8 (BGR), got {getattr(image, 'shape', None)} "
                         f"{getattr(image, 'dtype', type(image).__name__)}")
    height, width = image.shape[:2]
    if out is None:
        out = np.empty((height, width), np.float32)
    elif out.shape != (height, width) or out.dtype != np.float32:
        raise ShapeError(f"guided_upsample_apply: out must be {height} x {width} float32, got {out.shape} {out.dtype}")
    y0, y1, ty = _axis(height, mean_a.shape[0])
    x0, x1, tx = _axis(width, mean_a.shape[1])
    if kernels_on() and out.flags.c_contiguous:
        wide_a = np.empty((mean_a.shape[0], width), np.float32)
        wide_b = np.empty_like(wide_a)
        _enlarge_columns_kernel(np.ascontiguousarray(mean_a), np.ascontiguousarray(mean_b), x0, x1,
                                tx.astype(np.float32), wide_a, wide_b)
        return _guided_upsample_apply_kernel(wide_a, wide_b, np.ascontiguousarray(image), y0, y1,
                                             ty.astype(np.float32), out)
    a, b = mean_a.astype(np.float32), mean_b.astype(np.float32)
    wx = tx.astype(np.float32)
    for r0 in range(0, height, BAND_ROWS):
        r1 = min(height, r0 + BAND_ROWS)
        wy = ty[r0:r1].astype(np.float32)[:, None]

        def enlarge(plane):
            top = plane[y0[r0:r1]][:, x0] + wx * (plane[y0[r0:r1]][:, x1] - plane[y0[r0:r1]][:, x0])
            bottom = plane[y1[r0:r1]][:, x0] + wx * (plane[y1[r0:r1]][:, x1] - plane[y1[r0:r1]][:, x0])
            return top + wy * (bottom - top)

        gray = gray_levels(image[r0:r1]).astype(np.float32) * np.float32(1 / 255)
        np.clip(enlarge(a) * gray + enlarge(b), 0, 1, out=out[r0:r1])
    return out
