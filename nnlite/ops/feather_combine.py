"""feather_combine: the last step of the feathering block (Zhu et al. 2017, eq. 5), a per-pixel
linear combination of the two segmentation scores with box-averaged coefficients, clipped.

Contract (matches ``(a * s_f + b * s_b + c).clamp(0, 1)`` on the channels of convert/model.py):

    coefficients  N x 3 x H x W float32 (box-averaged a, b, c)
    scores        N x 2 x H x W (S_B, S_F)
    out           N x 1 x H x W, out = clip(a * S_F + b * S_B + c, 0, 1)
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, require_array, require_out


def feather_combine_reference(coefficients, scores):
    a, b, c = (coefficients[:, k: k + 1].astype(np.float64) for k in range(3))
    return np.clip(a * scores[:, 1:2] + b * scores[:, 0:1] + c, 0, 1).astype(np.float32)


@njit(parallel=True, fastmath=True)
def _feather_combine_kernel(height, width, cbuf, c_first, c_oy, c_ox, sbuf, s_first, s_oy, s_ox, obuf, o_first, o_oy, o_ox):
    """Windows of whole C-contiguous buffers, flat uint64 indices (see conv_pixels)."""
    batch = obuf.shape[0]
    cf, sf, of = cbuf.reshape(-1), sbuf.reshape(-1), obuf.reshape(-1)
    c_plane, s_plane = np.uint64(cbuf.shape[2] * cbuf.shape[3]), np.uint64(sbuf.shape[2] * sbuf.shape[3])
    for job in prange(batch * height):
        n, y = job // height, job % height
        ia = np.uint64(((n * cbuf.shape[1] + c_first) * cbuf.shape[2] + c_oy + y) * cbuf.shape[3] + c_ox)
        ib, ic = ia + c_plane, ia + c_plane + c_plane
        sb = np.uint64(((n * sbuf.shape[1] + s_first) * sbuf.shape[2] + s_oy + y) * sbuf.shape[3] + s_ox)
        sfg = sb + s_plane
        o = np.uint64(((n * obuf.shape[1] + o_first) * obuf.shape[2] + o_oy + y) * obuf.shape[3] + o_ox)
        for x in range(np.uint64(width)):
            v = cf[ia + x] * sf[sfg + x] + cf[ib + x] * sf[sb + x] + cf[ic + x]
            of[o + x] = min(max(v, np.float32(0.0)), np.float32(1.0))
    return obuf


def feather_combine(coefficients, scores, out=None):
    require_array("coefficients", coefficients, 4, "N x 3 x H x W")
    require_array("scores", scores, 4, "N x 2 x H x W")
    n, three, h, w = coefficients.shape
    if three != 3 or scores.shape != (n, 2, h, w):
        raise ShapeError(f"feather_combine: coefficients {coefficients.shape} and scores {scores.shape} do not pair up")
    out = require_out(out, (n, 1, h, w))
    if not kernels_on():
        np.multiply(coefficients[:, 0:1], scores[:, 1:2], out=out)
        out += coefficients[:, 1:2] * scores[:, 0:1]
        out += coefficients[:, 2:3]
        np.clip(out, 0.0, 1.0, out=out)
        return out
    _feather_combine_kernel(h, w, *as_window(coefficients), *as_window(scores), *as_window(out))
    return out
