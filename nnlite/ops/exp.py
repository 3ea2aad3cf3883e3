"""exp_float32: e**x in float32 as straight-line arithmetic, so that loops calling it vectorise.

Numba compiles math.exp / np.exp to a call of the C library's expf (Intel's SVML, which would give
vector versions, is rarely installed and never on ARM): a loop with a call in it runs one pixel
at a time, and the sigmoid and the two-class softmax of the segmentation scores spent most of
their time there. This is the Cephes expf, the classic float32 method:

    n = round(x / ln 2),  r = x - n ln 2 (ln 2 split in two so that r keeps its bits),
    e**r = 1 + r + r**2 P(r) (P of degree 5, |r| <= ln 2 / 2),  e**x = 2**n e**r

with 2**n made from its IEEE-754 bits. x is clamped to [-87.3, 88.3] so that 2**n stays a normal
float: results are then exact zeros' neighbours (about 1e-38) and float32's largest values rather
than 0 and inf, which every caller here (1 / (1 + e), e / sum) turns into the same results.
Relative error at most 4e-7 (tests/test_small_ops.py checks it against float64 exp).
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import float32_from_bits, njit

_LOWEST, _HIGHEST = np.float32(-87.3), np.float32(88.3)
_LOG2E, _HALF, _ONE = np.float32(1.44269504088896341), np.float32(0.5), np.float32(1)
_LN2_HIGH, _LN2_LOW = np.float32(0.693359375), np.float32(-2.12194440e-4)
_P0, _P1, _P2 = np.float32(1.9875691500e-4), np.float32(1.3981999507e-3), np.float32(8.3334519073e-3)
_P3, _P4, _P5 = np.float32(4.1665795894e-2), np.float32(1.6666665459e-1), np.float32(5.0000001201e-1)


def exp_float32_reference(x):
    """float64 exp of the clamped argument, rounded to float32."""
    x = np.clip(np.asarray(x, np.float64), float(_LOWEST), float(_HIGHEST))
    return np.exp(x).astype(np.float32)


@njit(fastmath=True, inline="always")
def exp_float32(x):
    x = min(max(x, _LOWEST), _HIGHEST)
    n = np.floor(x * _LOG2E + _HALF)
    r = x - n * _LN2_HIGH - n * _LN2_LOW
    p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
    return (p * r * r + r + _ONE) * float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))


@njit(fastmath=True)
def _exp_array_kernel(x, out):
    """exp_float32 over a 1-D array: what the parity test calls."""
    for i in range(x.shape[0]):
        out[i] = exp_float32(x[i])
    return out
