"""average_pool2x2: the mean of each 2x2 block of pixels, the image a feathering block at half
resolution works on (bilinear resizing by 0.5 computes exactly this; this kernel reads each input
pixel once, and no index tables).

Contract (matches ``torch.nn.functional.avg_pool2d(x, 2)`` and ``F.interpolate(x, scale_factor=0.5,
mode="bilinear", align_corners=False)``):

    x     N x C x H x W float32
    out   N x C x floor(H / 2) x floor(W / 2), out[n,c,i,j] = mean of x[n, c, 2i:2i+2, 2j:2j+2]
          (an odd last row or column is dropped)
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, require_array, require_out

QUARTER = np.float32(0.25)


def average_pool2x2_output_shape(x_shape):
    n, c, h, w = x_shape
    return n, c, h // 2, w // 2


def average_pool2x2_reference(x):
    n, c, ho, wo = average_pool2x2_output_shape(x.shape)
    blocks = x[:, :, : 2 * ho, : 2 * wo].astype(np.float64).reshape(n, c, ho, 2, wo, 2)
    return blocks.mean(axis=(3, 5)).astype(np.float32)


@njit(parallel=True, fastmath=True)
def _average_pool2x2_kernel(channels, height, width, xbuf, x_first, x_oy, x_ox, obuf, o_first, o_oy, o_ox):
    """height x width: the output's; windows of whole C-contiguous buffers (see normalise_channels)."""
    batch = obuf.shape[0]
    xf, of = xbuf.reshape(-1), obuf.reshape(-1)
    for job in prange(batch * channels * height):
        n, c, i = job // (channels * height), (job // height) % channels, job % height
        top = np.uint64(((n * xbuf.shape[1] + x_first + c) * xbuf.shape[2] + x_oy + 2 * i) * xbuf.shape[3] + x_ox)
        bottom = top + np.uint64(xbuf.shape[3])
        o = np.uint64(((n * obuf.shape[1] + o_first + c) * obuf.shape[2] + o_oy + i) * obuf.shape[3] + o_ox)
        for j in range(np.uint64(width)):
            even = j + j
            odd = even + np.uint64(1)
            of[o + j] = QUARTER * ((xf[top + even] + xf[top + odd]) + (xf[bottom + even] + xf[bottom + odd]))
    return obuf


def _average_pool2x2_numpy(x, out):
    ho, wo = out.shape[2:]
    rows = x[:, :, 0: 2 * ho: 2] + x[:, :, 1: 2 * ho: 2]
    np.add(rows[..., 0: 2 * wo: 2], rows[..., 1: 2 * wo: 2], out=out)
    out *= QUARTER
    return out


def average_pool2x2(x, out=None):
    require_array("x", x, 4, "N x C x H x W")
    shape = average_pool2x2_output_shape(x.shape)
    if shape[2] < 1 or shape[3] < 1:
        raise ShapeError(f"average_pool2x2: a {x.shape[2]}x{x.shape[3]} input has no 2x2 block")
    out = require_out(out, shape)
    if not kernels_on():
        return _average_pool2x2_numpy(x, out)
    _average_pool2x2_kernel(shape[1], shape[2], shape[3], *as_window(x), *as_window(out))
    return out
