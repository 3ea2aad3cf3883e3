"""normalise_channels: each channel shifted and scaled by its own constants, the networks' input
normalisation (ImageNet mean and std) written into the graph's bordered input buffer.

Contract (matches ``(x - mean[None, :, None, None]) / std[None, :, None, None]`` to float32 rounding;
the kernel multiplies by 1 / std, as torch's own fused normalisations do):

    x     N x C x H x W float32;  mean, inv_std  C float32
    out   N x C x H x W, out[n,c,y,x] = (x[n,c,y,x] - mean[c]) * inv_std[c]
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, require_array, require_out


def normalise_channels_reference(x, mean, inv_std):
    return ((x.astype(np.float64) - mean[None, :, None, None]) * inv_std[None, :, None, None]).astype(np.float32)


@njit(parallel=True, fastmath=True)
def _normalise_channels_kernel(height, width, channels, xbuf, x_first, x_oy, x_ox, mean, inv_std, obuf, o_first, o_oy, o_ox):
    """Windows of whole C-contiguous buffers, flat uint64 indices (see conv_pixels): one row per job."""
    batch = obuf.shape[0]
    xf, of = xbuf.reshape(-1), obuf.reshape(-1)
    for job in prange(batch * height):
        n, y = job // height, job % height
        for c in range(channels):
            ix = np.uint64(((n * xbuf.shape[1] + x_first + c) * xbuf.shape[2] + x_oy + y) * xbuf.shape[3] + x_ox)
            io = np.uint64(((n * obuf.shape[1] + o_first + c) * obuf.shape[2] + o_oy + y) * obuf.shape[3] + o_ox)
            m, s = mean[c], inv_std[c]
            for x in range(np.uint64(width)):
                of[io + x] = (xf[ix + x] - m) * s
    return obuf


def _normalise_channels_numpy(x, mean, inv_std, out):
    np.subtract(x, mean[None, :, None, None], out=out)
    out *= inv_std[None, :, None, None]
    return out


def normalise_channels(x, mean, inv_std, out=None):
    require_array("x", x, 4, "N x C x H x W")
    mean, inv_std = np.asarray(mean, np.float32).reshape(-1), np.asarray(inv_std, np.float32).reshape(-1)
    if mean.shape[0] != x.shape[1] or inv_std.shape[0] != x.shape[1]:
        raise ShapeError(f"normalise_channels: {x.shape[1]} channels, {mean.shape[0]} means and {inv_std.shape[0]} scales")
    out = require_out(out, x.shape)
    if not kernels_on():
        return _normalise_channels_numpy(x, mean, inv_std, out)
    _normalise_channels_kernel(x.shape[2], x.shape[3], x.shape[1], *as_window(x), mean, inv_std, *as_window(out))
    return out
