"""add: elementwise sum of two tensors with an optional fused activation (residual connections).

Contract (matches ``act(a + b)``):

    a, b  N x C x H x W float32 (views of shared buffers allowed)
    out   N x C x H x W, may be a or b itself (in place)
    out[n,c,y,x] = act(a[n,c,y,x] + b[n,c,y,x])
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, require_array, require_out
from nnlite.ops.activation import activate, activation_code, activation_numpy, activation_reference


def add_reference(a, b, activation="none"):
    return activation_reference(a.astype(np.float64) + b, activation)


@njit(parallel=True, fastmath=True)
def _add_kernel(height, width, channels, abuf, a_first, a_oy, a_ox, bbuf, b_first, b_oy, b_ox, code,
                obuf, o_first, o_oy, o_ox):
    """Windows of whole C-contiguous buffers, flat uint64 indices (see pointwise_conv2d)."""
    batch = obuf.shape[0]
    af, bf, of = abuf.reshape(-1), bbuf.reshape(-1), obuf.reshape(-1)
    for job in prange(batch * channels):
        n, c = job // channels, job % channels
        for y in range(height):
            ia = np.uint64(((n * abuf.shape[1] + a_first + c) * abuf.shape[2] + a_oy + y) * abuf.shape[3] + a_ox)
            ib = np.uint64(((n * bbuf.shape[1] + b_first + c) * bbuf.shape[2] + b_oy + y) * bbuf.shape[3] + b_ox)
            io = np.uint64(((n * obuf.shape[1] + o_first + c) * obuf.shape[2] + o_oy + y) * obuf.shape[3] + o_ox)
            for x in range(np.uint64(width)):
                of[io + x] = activate(af[ia + x] + bf[ib + x], code)
    return obuf


def add(a, b, activation="none", out=None):
    require_array("a", a, 4, "N x C x H x W")
    require_array("b", b, 4, "N x C x H x W")
    if a.shape != b.shape:
        raise ShapeError(f"add: shapes {a.shape} and {b.shape} differ")
    code = activation_code(activation)
    out = require_out(out, a.shape)
    if not kernels_on():
        np.add(a, b, out=out)
        return activation_numpy(out, activation, out)
    n, c, h, w = a.shape
    _add_kernel(h, w, c, *as_window(a), *as_window(b), code, *as_window(out))
    return out
