"""Elementwise activations, alone or fused into the ops that end with one.

Contract (each matches the torch function named):

    x    any shape, float32;  out  same shape
    none       out = x
    relu       out = max(x, 0)                                  torch.relu
    hardswish  out = x * min(max(x + 3, 0), 6) / 6              F.hardswish
    sigmoid    out = 1 / (1 + exp(-x))                          torch.sigmoid

Kernels take the activation as a small integer code (ACTIVATION_CODES) so that one compiled kernel
serves all of them; ``activate`` is the scalar form they inline. The sigmoid's exp is
nnlite.ops.exp.exp_float32: loops that call it vectorise, and its clamped argument never overflows.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import require_out
from nnlite.ops.exp import exp_float32

ACTIVATION_CODES = {"none": 0, "relu": 1, "hardswish": 2, "sigmoid": 3}


def activation_code(name: str) -> int:
    if name not in ACTIVATION_CODES:
        raise ShapeError(f"activation: {name!r} is not one of {', '.join(ACTIVATION_CODES)}")
    return ACTIVATION_CODES[name]


def activation_reference(x, name: str):
    v = x.astype(np.float64)
    if name == "relu":
        v = np.maximum(v, 0)
    elif name == "hardswish":
        v = v * np.clip(v + 3, 0, 6) / 6
    elif name == "sigmoid":
        v = 1 / (1 + np.exp(-v))
    elif name != "none":
        raise ShapeError(f"activation: {name!r} is not one of {', '.join(ACTIVATION_CODES)}")
    return v.astype(np.float32)


# float32 constants: a Python float literal is a float64 in Numba, and one of them in an
# expression turned a whole fused loop into scalar double-precision code
_ZERO, _ONE, _THREE, _SIX, _SIXTH = (np.float32(v) for v in (0, 1, 3, 6, 1 / 6))


@njit(fastmath=True)
def activate(v, code):
    if code == 1:
        return max(v, _ZERO)
    if code == 2:
        return v * min(max(v + _THREE, _ZERO), _SIX) * _SIXTH
    if code == 3:
        return _ONE / (_ONE + exp_float32(-v))
    return v


@njit(fastmath=True, inline="always")
def activate_span(flat, start, count, code):
    """flat[start: start + count] = act(flat[start: start + count]) in place (start, count uint64).
    One loop per activation: a loop that picks the activation per element is not vectorised, so
    fused kernels write their sums first and finish with this."""
    if code == 1:
        for j in range(count):
            flat[start + j] = max(flat[start + j], _ZERO)
    elif code == 2:
        for j in range(count):
            v = flat[start + j]
            flat[start + j] = v * min(max(v + _THREE, _ZERO), _SIX) * _SIXTH
    elif code == 3:
        for j in range(count):
            flat[start + j] = _ONE / (_ONE + exp_float32(-flat[start + j]))


@njit(parallel=True, fastmath=True)
def _activation_kernel(x, code, out):
    flat_in, flat_out = x.reshape(-1), out.reshape(-1)
    n = flat_in.shape[0]
    chunk = 4096
    for job in prange((n + chunk - 1) // chunk):
        for i in range(job * chunk, min(n, job * chunk + chunk)):
            flat_out[i] = activate(flat_in[i], code)
    return out


@njit(parallel=True, fastmath=True)
def _activation_window_kernel(height, width, channels, xbuf, x_first, x_oy, x_ox, code, obuf, o_first, o_oy, o_ox):
    """The same on windows of whole C-contiguous buffers (a graph's bordered slots), row by row."""
    batch = obuf.shape[0]
    xf, of = xbuf.reshape(-1), obuf.reshape(-1)
    for job in prange(batch * channels):
        n, c = job // channels, job % channels
        for y in range(height):
            i = np.uint64(((n * xbuf.shape[1] + x_first + c) * xbuf.shape[2] + x_oy + y) * xbuf.shape[3] + x_ox)
            o = np.uint64(((n * obuf.shape[1] + o_first + c) * obuf.shape[2] + o_oy + y) * obuf.shape[3] + o_ox)
            if i != o:
                for x in range(np.uint64(width)):
                    of[o + x] = xf[i + x]
            activate_span(of, o, np.uint64(width), code)
    return obuf


def activation_numpy(x, name: str, out):
    """Vectorised fallback; also the in-place tail of the NumPy paths of the fused ops."""
    if name == "relu":
        np.maximum(x, 0, out=out)
    elif name == "hardswish":
        tmp = np.clip(x + np.float32(3), 0, 6)
        np.multiply(x, tmp, out=out)
        out *= np.float32(1 / 6)
    elif name == "sigmoid":
        np.negative(x, out=out)
        np.minimum(out, 80, out=out)
        np.exp(out, out=out)
        out += 1
        np.reciprocal(out, out=out)
    elif out is not x:
        out[...] = x
    return out


def activation(x, name: str, out=None):
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        raise ShapeError(f"activation: expected a float32 numpy array, got {getattr(x, 'dtype', type(x).__name__)}")
    code = activation_code(name)
    out = require_out(out, x.shape)
    if kernels_on() and x.flags.c_contiguous and out.flags.c_contiguous:
        return _activation_kernel(x, code, out)
    return activation_numpy(x, name, out)
