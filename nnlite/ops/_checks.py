"""Argument checks shared by the op wrappers (each failure is one ShapeError line), and the
window of a buffer that a view stands for."""
from __future__ import annotations

import numpy as np

from nnlite.errors import ShapeError


def require_array(name: str, a, ndim: int, letters: str) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise ShapeError(f"{name}: expected a numpy array of shape {letters}, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ShapeError(f"{name}: expected {ndim}-D {letters}, got shape {a.shape}")
    if a.dtype != np.float32:
        raise ShapeError(f"{name}: expected float32, got {a.dtype}; convert with .astype(np.float32)")
    if 0 in a.shape:
        raise ShapeError(f"{name}: empty array of shape {a.shape}")
    return a


def pair(name: str, value) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        first, second = value
        return int(first), int(second)
    except (TypeError, ValueError):
        raise ShapeError(f"{name}: expected an int or a pair of ints, got {value!r}") from None


def check_window(op: str, xpad, origin, out_size, stride, dilation, kernel_hw):
    """The geometry of a conv over a window of a padded input, checked once for every conv op:
    -> (sh, sw, dh, dw, oy, ox, hout, wout)."""
    (sh, sw), (dh, dw) = pair("stride", stride), pair("dilation", dilation)
    oy, ox = pair("origin", origin)
    hout, wout = pair("out_size", out_size)
    kh, kw = kernel_hw
    if min(sh, sw, dh, dw) < 1 or oy < 0 or ox < 0 or hout < 1 or wout < 1:
        raise ShapeError(f"{op}: stride/dilation must be >= 1 and the output non-empty, got stride {stride}, "
                         f"dilation {dilation}, output {hout}x{wout}")
    if oy + sh * (hout - 1) + dh * (kh - 1) >= xpad.shape[2] or ox + sw * (wout - 1) + dw * (kw - 1) >= xpad.shape[3]:
        raise ShapeError(f"{op}: a {hout}x{wout} output at origin {origin} reads outside the {xpad.shape[2]}x{xpad.shape[3]} padded input")
    return sh, sw, dh, dw, oy, ox, hout, wout


def require_out(out, shape) -> np.ndarray:
    if out is None:
        return np.empty(shape, np.float32)
    if not isinstance(out, np.ndarray) or out.shape != tuple(shape) or out.dtype != np.float32:
        got = getattr(out, "shape", type(out).__name__), getattr(out, "dtype", "")
        raise ShapeError(f"out: expected float32 array of shape {tuple(shape)}, got {got}")
    return out


def as_window(a):
    """(buffer, first channel, oy, ox) of an N x C x H x W array: the array itself, or the
    C-contiguous buffer it is a window of (a numpy view made by slicing channels and an interior)."""
    if a.flags.c_contiguous:
        return a, 0, 0, 0
    base = a.base
    while base is not None and not (isinstance(base, np.ndarray) and base.ndim == 4 and base.flags.c_contiguous):
        base = getattr(base, "base", None)
    if base is None or base.dtype != np.float32 or base.strides[1:] != a.strides[1:] or base.strides[0] != a.strides[0]:
        raise ShapeError("out and skip arrays must be C-contiguous or a window of a C-contiguous buffer")
    offset = (a.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // 4
    _, c, h, w = base.shape
    first, rest = divmod(offset, h * w)
    oy, ox = divmod(rest, w)
    if first + a.shape[1] > c or oy + a.shape[2] > h or ox + a.shape[3] > w:
        raise ShapeError("out and skip arrays must be a window of one image batch of their buffer")
    return base, first, oy, ox
