"""bgr_to_yuv420 / gray_to_yuv420: a finished video frame converted to the planar 4:2:0 YCbCr that
H.264 and VP9 encoders take, in one pass. FFmpeg's own conversion from packed BGR (swscale, which
PyAV calls when given bgr24) took 8-10 ms per 1080p frame on one AVX-512 core, a third of the
encoder's time; this takes about 1 ms. Video frames are not the network's tensors: H x W x 3 uint8
BGR as OpenCV holds them, and PyAV's yuv420p layout.

Contract (ITU-R BT.601, limited range: what swscale writes for yuv420p by default):

    image   H x W x 3 uint8 BGR (bgr_to_yuv420) or H x W uint8 gray (gray_to_yuv420); H, W even
    out     (3 H / 2) x W uint8: rows 0..H-1 hold Y (H x W), then Cb (H/2 x W/2) and Cr (H/2 x W/2)
            one after the other, each row-major (PyAV's yuv420p ndarray)
    Y  = floor(16.5 + 0.256788 R + 0.504129 G + 0.097906 B)      (gray: floor(16.5 + 219/255 g))
    Cb = floor(128.5 - 0.148223 R - 0.290993 G + 0.439216 B)    (gray: 128)
    Cr = floor(128.5 + 0.439216 R - 0.367788 G - 0.071427 B)    (gray: 128)
    where for Cb, Cr, R G B are the means of the 2 x 2 pixels each chroma sample covers
    (computed in float32; every value lies inside 16..240, so no clipping is needed)
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit
from nnlite.errors import ShapeError

Y_WEIGHTS = (0.256788, 0.504129, 0.097906)  # R, G, B
CB_WEIGHTS = (-0.148223, -0.290993, 0.439216)
CR_WEIGHTS = (0.439216, -0.367788, -0.071427)


def _planes_out(height, width):
    out = np.empty((height * 3 // 2, width), np.uint8)
    flat = out.reshape(-1)
    luma = flat[: height * width].reshape(height, width)
    chroma = height // 2 * (width // 2)
    cb = flat[height * width: height * width + chroma].reshape(height // 2, width // 2)
    cr = flat[height * width + chroma:].reshape(height // 2, width // 2)
    return out, luma, cb, cr


def bgr_to_yuv420_reference(image):
    height, width = image.shape[:2]
    out, luma, cb, cr = _planes_out(height, width)
    b, g, r = (image[..., k].astype(np.float32) for k in range(3))
    ry, gy, by = (np.float32(v) for v in Y_WEIGHTS)
    luma[:] = np.floor(np.float32(16.5) + ry * r + gy * g + by * b)

    def quarter(plane):
        return (plane[0::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 0::2] + plane[1::2, 1::2]) * np.float32(0.25)

    r, g, b = quarter(r), quarter(g), quarter(b)
    for target, (wr, wg, wb) in ((cb, CB_WEIGHTS), (cr, CR_WEIGHTS)):
        target[:] = np.floor(np.float32(128.5) + np.float32(wr) * r + np.float32(wg) * g + np.float32(wb) * b)
    return out


def gray_to_yuv420_reference(gray):
    height, width = gray.shape
    out, luma, cb, cr = _planes_out(height, width)
    luma[:] = np.floor(np.float32(16.5) + np.float32(219 / 255) * gray.astype(np.float32))
    cb[:] = cr[:] = 128
    return out


# One thread, no parallel loop: this runs in the video writer's thread, beside the network's
# parallel kernels in the main thread. A pair of image rows per pass gives two Y rows and one row
# of each chroma plane; fastmath is off so that floor() lands where the reference's does.
@njit()
def _bgr_to_yuv420_kernel(image, ry, gy, by, rb, gb, bb, rr, gr, br, out):
    height, width = image.shape[:2]
    half = width // 2
    flat_in, flat_out = image.reshape(-1), out.reshape(-1)
    cb_base = np.uint64(height * width)
    cr_base = cb_base + np.uint64(height // 2 * half)
    luma_offset, chroma_offset, quarter = np.float32(16.5), np.float32(128.5), np.float32(0.25)
    for pair in range(height // 2):
        top = np.uint64(2 * pair * width)
        bottom = top + np.uint64(width)
        for x in range(np.uint64(width)):
            i, j = (top + x) * np.uint64(3), (bottom + x) * np.uint64(3)
            flat_out[top + x] = np.uint8(luma_offset + ry * np.float32(flat_in[i + np.uint64(2)])
                                         + gy * np.float32(flat_in[i + np.uint64(1)]) + by * np.float32(flat_in[i]))
            flat_out[bottom + x] = np.uint8(luma_offset + ry * np.float32(flat_in[j + np.uint64(2)])
                                            + gy * np.float32(flat_in[j + np.uint64(1)]) + by * np.float32(flat_in[j]))
        row = np.uint64(pair * half)
        for x in range(np.uint64(half)):
            i, j = (top + np.uint64(2) * x) * np.uint64(3), (bottom + np.uint64(2) * x) * np.uint64(3)
            s = np.uint64(3)
            b = (np.float32(flat_in[i]) + np.float32(flat_in[i + s]) + np.float32(flat_in[j])
                 + np.float32(flat_in[j + s])) * quarter
            g = (np.float32(flat_in[i + np.uint64(1)]) + np.float32(flat_in[i + s + np.uint64(1)])
                 + np.float32(flat_in[j + np.uint64(1)]) + np.float32(flat_in[j + s + np.uint64(1)])) * quarter
            r = (np.float32(flat_in[i + np.uint64(2)]) + np.float32(flat_in[i + s + np.uint64(2)])
                 + np.float32(flat_in[j + np.uint64(2)]) + np.float32(flat_in[j + s + np.uint64(2)])) * quarter
            flat_out[cb_base + row + x] = np.uint8(chroma_offset + rb * r + gb * g + bb * b)
            flat_out[cr_base + row + x] = np.uint8(chroma_offset + rr * r + gr * g + br * b)
    return out


@njit()
def _gray_to_yuv420_kernel(gray, scale, out):
    height, width = gray.shape
    flat_in, flat_out = gray.reshape(-1), out.reshape(-1)
    offset = np.float32(16.5)
    for i in range(np.uint64(height * width)):
        flat_out[i] = np.uint8(offset + scale * np.float32(flat_in[i]))
    flat_out[height * width:] = 128
    return out


def _check(image, name, gray: bool):
    want = "H x W uint8" if gray else "H x W x 3 uint8 (BGR)"
    ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and (
        image.ndim == 2 if gray else image.ndim == 3 and image.shape[2] == 3)
    if not ok:
        raise ShapeError(f"{name}: image must be {want}, got {getattr(image, 'shape', None)} "
                         f"{getattr(image, 'dtype', type(image).__name__)}")
    if image.shape[0] % 2 or image.shape[1] % 2 or not image.size:
        raise ShapeError(f"{name}: 4:2:0 needs an even, non-zero height and width, got {image.shape[0]} x {image.shape[1]}")


def bgr_to_yuv420(image):
    _check(image, "bgr_to_yuv420", gray=False)
    if not kernels_on():
        return bgr_to_yuv420_reference(image)
    out = np.empty((image.shape[0] * 3 // 2, image.shape[1]), np.uint8)
    weights = [np.float32(v) for v in Y_WEIGHTS + CB_WEIGHTS + CR_WEIGHTS]
    return _bgr_to_yuv420_kernel(np.ascontiguousarray(image), *weights, out)


def gray_to_yuv420(gray):
    _check(gray, "gray_to_yuv420", gray=True)
    if not kernels_on():
        return gray_to_yuv420_reference(gray)
    out = np.empty((gray.shape[0] * 3 // 2, gray.shape[1]), np.uint8)
    return _gray_to_yuv420_kernel(np.ascontiguousarray(gray), np.float32(219 / 255), out)
