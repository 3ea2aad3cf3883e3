"""Argument checks shared by the op wrappers: each failure is one ShapeError line."""
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


def require_out(out, shape) -> np.ndarray:
    if out is None:
        return np.empty(shape, np.float32)
    if not isinstance(out, np.ndarray) or out.shape != tuple(shape) or out.dtype != np.float32:
        got = getattr(out, "shape", type(out).__name__), getattr(out, "dtype", "")
        raise ShapeError(f"out: expected float32 array of shape {tuple(shape)}, got {got}")
    return out
