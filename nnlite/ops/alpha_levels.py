"""alpha_to_levels and mean_abs_difference: the two per-frame passes a video makes over its full-size
matte besides compositing: the 8-bit matte that alpha and cut-out outputs write, and the flicker
figure (the mean absolute change from the frame before). In NumPy each took 2-4 ms a 1080p frame
through full-size float temporaries, in the thread that runs the network.

Contract:

    alpha_to_levels(alpha)          alpha H x W float32 -> H x W uint8, rint(clip(alpha, 0, 1) * 255)
                                    (round half to even, as np.round)
    mean_abs_difference(a, b)       a, b H x W float32 -> float, mean(|a - b|) (summed in float64)
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError


def alpha_to_levels_reference(alpha):
    return np.round(np.clip(alpha, 0, 1) * np.float32(255)).astype(np.uint8)


def mean_abs_difference_reference(a, b):
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


@njit(parallel=True, fastmath=True)
def _alpha_to_levels_kernel(alpha, out):
    height, width = alpha.shape
    fa, fo = alpha.reshape(-1), out.reshape(-1)
    zero, one, top = np.float32(0.0), np.float32(1.0), np.float32(255.0)
    for y in prange(height):
        row = np.uint64(y * width)
        for x in range(np.uint64(width)):
            fo[row + x] = np.uint8(np.rint(min(max(fa[row + x], zero), one) * top))
    return out


# Each row is summed in float32 (a vector loop; at most a few thousand values, each < 1), the rows
# in float64, so a 4K frame's mean keeps its digits.
@njit(parallel=True, fastmath=True)
def _row_abs_difference_sums_kernel(a, b, sums):
    height, width = a.shape
    fa, fb = a.reshape(-1), b.reshape(-1)
    for y in prange(height):
        row = np.uint64(y * width)
        total = np.float32(0.0)
        for x in range(np.uint64(width)):
            total += abs(fa[row + x] - fb[row + x])
        sums[y] = total
    return sums


def _check_plane(name, plane, shape=None):
    if not (isinstance(plane, np.ndarray) and plane.dtype == np.float32 and plane.ndim == 2 and plane.size):
        raise ShapeError(f"{name} must be a non-empty H x W float32 array, got {getattr(plane, 'shape', None)} "
                         f"{getattr(plane, 'dtype', type(plane).__name__)}")
    if shape is not None and plane.shape != shape:
        raise ShapeError(f"{name} is {plane.shape[0]} x {plane.shape[1]}, the other {shape[0]} x {shape[1]}; they must match")


def alpha_to_levels(alpha):
    _check_plane("alpha_to_levels: alpha", alpha)
    if not kernels_on():
        return alpha_to_levels_reference(alpha)
    return _alpha_to_levels_kernel(np.ascontiguousarray(alpha), np.empty(alpha.shape, np.uint8))


def mean_abs_difference(a, b) -> float:
    _check_plane("mean_abs_difference: a", a)
    _check_plane("mean_abs_difference: b", b, a.shape)
    if not kernels_on():
        return mean_abs_difference_reference(a, b)
    sums = _row_abs_difference_sums_kernel(np.ascontiguousarray(a), np.ascontiguousarray(b), np.empty(a.shape[0], np.float64))
    return float(sums.sum() / a.size)
