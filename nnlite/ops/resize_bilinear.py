"""resize_bilinear: bilinear resampling of each channel plane to a new height and width.

Contract (matches ``torch.nn.functional.interpolate(x, size=..., scale_factor=..., mode="bilinear",
align_corners=...)`` with recompute_scale_factor unset):

    x    N x C x H x W float32;  out  N x C x Ho x Wo
    Ho, Wo = size, or floor(H * scale_factor), floor(W * scale_factor)
    per axis, output index d maps to a source coordinate
        align_corners=True:   src = d * (H - 1) / (Ho - 1)            (0 when Ho == 1)
        align_corners=False:  src = max((d + 0.5) * scale - 0.5, 0),  scale = 1 / scale_factor when a
                              scale factor was given (as torch does), else H / Ho
    i0 = floor(src), i1 = min(i0 + 1, H - 1), t = src - i0, value = (1 - t) * x[i0] + t * x[i1],
    applied along rows and columns.
"""
from __future__ import annotations

import math

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import pair, require_array, require_out


def resize_bilinear_output_shape(x_shape, size=None, scale_factor=None):
    n, c, h, w = x_shape
    if (size is None) == (scale_factor is None):
        raise ShapeError("resize_bilinear: give exactly one of size and scale_factor")
    if size is not None:
        ho, wo = pair("size", size)
    else:
        fy, fx = (scale_factor, scale_factor) if np.isscalar(scale_factor) else scale_factor
        ho, wo = int(math.floor(h * fy)), int(math.floor(w * fx))
    return n, c, ho, wo


def source_coordinates(in_size: int, out_size: int, align_corners: bool, scale_factor=None):
    """(i0, i1, t) per output index along one axis, float32 weights computed as torch does."""
    d = np.arange(out_size, dtype=np.float32)
    if align_corners:
        scale = np.float32((in_size - 1) / (out_size - 1)) if out_size > 1 else np.float32(0)
        src = d * scale
    else:
        scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(in_size / out_size)
        src = np.maximum((d + np.float32(0.5)) * scale - np.float32(0.5), np.float32(0))
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, (src - i0).astype(np.float32)


def resize_bilinear_reference(x, size=None, scale_factor=None, align_corners=False):
    n, c, ho, wo = resize_bilinear_output_shape(x.shape, size, scale_factor)
    fy, fx = (None, None) if scale_factor is None else ((scale_factor,) * 2 if np.isscalar(scale_factor) else scale_factor)
    y0, y1, ty = source_coordinates(x.shape[2], ho, align_corners, fy)
    x0, x1, tx = source_coordinates(x.shape[3], wo, align_corners, fx)
    out = np.empty((n, c, ho, wo), np.float32)
    for i in range(ho):
        for j in range(wo):
            top = (1 - tx[j]) * x[:, :, y0[i], x0[j]] + tx[j] * x[:, :, y0[i], x1[j]]
            bottom = (1 - tx[j]) * x[:, :, y1[i], x0[j]] + tx[j] * x[:, :, y1[i], x1[j]]
            out[:, :, i, j] = (1 - ty[i]) * top + ty[i] * bottom
    return out


@njit(parallel=True, fastmath=True)
def _resize_bilinear_kernel(x, y0, y1, ty, x0, x1, tx, out):
    batch, channels = x.shape[0], x.shape[1]
    hout, wout = out.shape[2], out.shape[3]
    for job in prange(batch * channels * hout):
        b = job // (channels * hout)
        c = (job // hout) % channels
        i = job % hout
        top, bottom, wy = x[b, c, y0[i]], x[b, c, y1[i]], ty[i]
        for j in range(wout):
            t = top[x0[j]] + tx[j] * (top[x1[j]] - top[x0[j]])
            u = bottom[x0[j]] + tx[j] * (bottom[x1[j]] - bottom[x0[j]])
            out[b, c, i, j] = t + wy * (u - t)
    return out


def _resize_bilinear_numpy(x, y0, y1, ty, x0, x1, tx, out):
    top, bottom = x[:, :, y0], x[:, :, y1]
    rows = top + ty[:, None] * (bottom - top)
    left, right = rows[..., x0], rows[..., x1]
    np.add(left, tx * (right - left), out=out)
    return out


def resize_bilinear(x, size=None, scale_factor=None, align_corners=False, out=None):
    require_array("x", x, 4, "N x C x H x W")
    shape = resize_bilinear_output_shape(x.shape, size, scale_factor)
    if shape[2] < 1 or shape[3] < 1:
        raise ShapeError(f"resize_bilinear: output size {shape[2]}x{shape[3]} is empty")
    fy, fx = (None, None) if scale_factor is None else ((scale_factor,) * 2 if np.isscalar(scale_factor) else scale_factor)
    y0, y1, ty = source_coordinates(x.shape[2], shape[2], align_corners, fy)
    x0, x1, tx = source_coordinates(x.shape[3], shape[3], align_corners, fx)
    out = require_out(out, shape)
    if kernels_on():
        return _resize_bilinear_kernel(x, y0, y1, ty, x0, x1, tx, out)
    return _resize_bilinear_numpy(x, y0, y1, ty, x0, x1, tx, out)
