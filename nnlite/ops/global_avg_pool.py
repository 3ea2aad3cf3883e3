"""global_avg_pool: the mean of each channel plane (squeeze-excitation and image-level context).

Contract (matches ``x.mean((2, 3), keepdim=True)`` / ``F.adaptive_avg_pool2d(x, 1)``):

    x    N x C x H x W float32 (a view of a shared buffer allowed)
    out  N x C x 1 x 1, out[n,c] = sum_{y,x} x[n,c,y,x] / (H * W), summed in float64
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.ops._checks import as_window, require_array, require_out


def global_avg_pool_reference(x):
    return x.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32)


@njit(parallel=True, fastmath=True)
def _global_avg_pool_kernel(height, width, channels, xbuf, x_first, x_oy, x_ox, out):
    batch = out.shape[0]
    xf = xbuf.reshape(-1)
    scale = 1.0 / (height * width)
    for job in prange(batch * channels):
        n, c = job // channels, job % channels
        total = 0.0
        for y in range(height):
            i = np.uint64(((n * xbuf.shape[1] + x_first + c) * xbuf.shape[2] + x_oy + y) * xbuf.shape[3] + x_ox)
            row = np.float32(0.0)
            for x in range(np.uint64(width)):
                row += xf[i + x]
            total += row
        out[n, c, 0, 0] = total * scale
    return out


def global_avg_pool(x, out=None):
    require_array("x", x, 4, "N x C x H x W")
    n, c, h, w = x.shape
    out = require_out(out, (n, c, 1, 1))
    if not kernels_on():
        out[...] = x.mean(axis=(2, 3), keepdims=True, dtype=np.float64)
        return out
    return _global_avg_pool_kernel(h, w, c, *as_window(x), out)
