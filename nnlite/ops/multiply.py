"""multiply: elementwise product of two tensors, the second may have one channel (broadcast over
the first's channels): the guided filter's I*I and I*S products in the feathering block.

Contract (matches ``a * b`` with torch's broadcasting):

    a    N x C x H x W float32;  b  N x C x H x W or N x 1 x H x W
    out  N x C x H x W, out[n,c,y,x] = a[n,c,y,x] * b[n, c or 0, y, x]
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, require_array, require_out


def multiply_reference(a, b):
    return (a.astype(np.float64) * b).astype(np.float32)


@njit(parallel=True, fastmath=True)
def _multiply_kernel(height, width, channels, abuf, a_first, a_oy, a_ox, bbuf, b_first, b_oy, b_ox, b_step,
                     obuf, o_first, o_oy, o_ox):
    """Windows of whole C-contiguous buffers, flat uint64 indices (see conv_pixels); b's channel
    index advances by b_step (0: one channel for all)."""
    batch = obuf.shape[0]
    af, bf, of = abuf.reshape(-1), bbuf.reshape(-1), obuf.reshape(-1)
    for job in prange(batch * height):
        n, y = job // height, job % height
        for c in range(channels):
            ia = np.uint64(((n * abuf.shape[1] + a_first + c) * abuf.shape[2] + a_oy + y) * abuf.shape[3] + a_ox)
            ib = np.uint64(((n * bbuf.shape[1] + b_first + c * b_step) * bbuf.shape[2] + b_oy + y) * bbuf.shape[3] + b_ox)
            io = np.uint64(((n * obuf.shape[1] + o_first + c) * obuf.shape[2] + o_oy + y) * obuf.shape[3] + o_ox)
            for x in range(np.uint64(width)):
                of[io + x] = af[ia + x] * bf[ib + x]
    return obuf


def multiply(a, b, out=None):
    require_array("a", a, 4, "N x C x H x W")
    require_array("b", b, 4, "N x C x H x W")
    n, c, h, w = a.shape
    if b.shape not in ((n, c, h, w), (n, 1, h, w)):
        raise ShapeError(f"multiply: b has shape {b.shape}; expected {(n, c, h, w)} or {(n, 1, h, w)}")
    out = require_out(out, a.shape)
    if not kernels_on():
        np.multiply(a, b, out=out)
        return out
    _multiply_kernel(h, w, c, *as_window(a), *as_window(b), 1 if b.shape[1] == c else 0, *as_window(out))
    return out
