"""channel_scale: every channel plane multiplied by its own gate, the gate's activation fused
(the excitation of squeeze-excitation, the image-level gate of LR-ASPP).

Contract (matches ``x * act(gate)`` with broadcasting):

    x     N x C x H x W float32;  gate  N x C x 1 x 1 (pre-activation)
    out   N x C x H x W, may be x itself (in place)
    out[n,c,y,x] = x[n,c,y,x] * act(gate[n,c])        act: sigmoid by default
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, require_array, require_out
from nnlite.ops.activation import activate, activation_code, activation_numpy, activation_reference


def channel_scale_reference(x, gate, activation="sigmoid"):
    return (x.astype(np.float64) * activation_reference(gate, activation)).astype(np.float32)


@njit(parallel=True, fastmath=True)
def _channel_scale_kernel(height, width, channels, xbuf, x_first, x_oy, x_ox, gate, code, obuf, o_first, o_oy, o_ox):
    batch = obuf.shape[0]
    xf, of = xbuf.reshape(-1), obuf.reshape(-1)
    for job in prange(batch * channels):
        n, c = job // channels, job % channels
        g = activate(gate[n, c, 0, 0], code)
        for y in range(height):
            i = np.uint64(((n * xbuf.shape[1] + x_first + c) * xbuf.shape[2] + x_oy + y) * xbuf.shape[3] + x_ox)
            o = np.uint64(((n * obuf.shape[1] + o_first + c) * obuf.shape[2] + o_oy + y) * obuf.shape[3] + o_ox)
            for x in range(np.uint64(width)):
                of[o + x] = xf[i + x] * g
    return obuf


def channel_scale(x, gate, activation="sigmoid", out=None):
    require_array("x", x, 4, "N x C x H x W")
    require_array("gate", gate, 4, "N x C x 1 x 1")
    n, c, h, w = x.shape
    if gate.shape != (n, c, 1, 1):
        raise ShapeError(f"gate: expected shape {(n, c, 1, 1)}, got {gate.shape}")
    code = activation_code(activation)
    out = require_out(out, x.shape)
    if not kernels_on():
        np.multiply(x, activation_numpy(gate.copy(), activation, np.empty_like(gate)), out=out)
        return out
    _channel_scale_kernel(h, w, c, *as_window(x), np.ascontiguousarray(gate), code, *as_window(out))
    return out
