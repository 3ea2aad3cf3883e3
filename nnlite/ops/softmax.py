"""softmax over channels.

Contract (matches ``torch.softmax(x, dim=1)``):

    x    N x C x H x W float32
    out  same shape, out[n,c,y,x] = exp(x[n,c,y,x] - m) / sum_c' exp(x[n,c',y,x] - m),  m = max_c x[n,c,y,x]

Subtracting the per-pixel maximum keeps exp() from overflowing on large logits.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.ops._checks import require_array, require_out
from nnlite.ops.exp import exp_float32

_ONE = np.float32(1)


def softmax_output_shape(x_shape):
    return tuple(x_shape)


def softmax_reference(x):
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@njit(parallel=True, fastmath=True)
def _softmax_kernel(x, out):
    batch, channels, h, w = x.shape
    for job in prange(batch * h):
        b, y = job // h, job % h
        for x_ in range(w):
            m = x[b, 0, y, x_]
            for c in range(1, channels):
                m = max(m, x[b, c, y, x_])
            total = 0.0
            for c in range(channels):
                e = exp_float32(x[b, c, y, x_] - m)
                out[b, c, y, x_] = e
                total += e
            scale = 1.0 / total
            for c in range(channels):
                out[b, c, y, x_] *= scale
    return out


@njit(parallel=True, fastmath=True)
def _softmax2_kernel(x, out):
    """Two channels (the model's S_B, S_F): one exp per pixel, s1 = 1 / (1 + exp(x0 - x1))."""
    batch, _, h, w = x.shape
    for job in prange(batch * h):
        b, y = job // h, job % h
        for x_ in range(w):
            second = _ONE / (_ONE + exp_float32(x[b, 0, y, x_] - x[b, 1, y, x_]))
            out[b, 1, y, x_] = second
            out[b, 0, y, x_] = _ONE - second
    return out


def _softmax_numpy(x, out):
    np.subtract(x, x.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def softmax(x, out=None):
    require_array("x", x, 4, "N x C x H x W")
    out = require_out(out, x.shape)
    if not kernels_on():
        return _softmax_numpy(x, out)
    return _softmax2_kernel(x, out) if x.shape[1] == 2 else _softmax_kernel(x, out)
