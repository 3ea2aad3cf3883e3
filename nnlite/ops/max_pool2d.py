"""max_pool2d: maximum over kernel windows.

Contract (matches ``torch.nn.functional.max_pool2d(x, kernel_size, stride, padding)``, dilation 1,
ceil_mode False):

    x    N x C x H x W float32
    out  N x C x Ho x Wo,  Ho = (H + 2*ph - kh) // sh + 1   (likewise Wo); stride defaults to kernel_size
    out[n,c,y,x] = max_{r<kh, s<kw} xpad[n, c, y*sh + r, x*sw + s]

Padding is -inf (a padded cell never wins), and torch requires padding <= kernel_size / 2, so every
window holds at least one real value. Exact: no arithmetic, so kernel, fallback and torch agree bit
for bit.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import pair, require_array, require_out


def max_pool2d_output_shape(x_shape, kernel_size, stride=None, padding=0):
    (kh, kw), (ph, pw) = pair("kernel_size", kernel_size), pair("padding", padding)
    sh, sw = pair("stride", kernel_size if stride is None else stride)
    n, c, h, w = x_shape
    return n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def max_pool2d_reference(x, kernel_size, stride=None, padding=0):
    (kh, kw), (ph, pw) = pair("kernel_size", kernel_size), pair("padding", padding)
    sh, sw = pair("stride", kernel_size if stride is None else stride)
    shape = max_pool2d_output_shape(x.shape, kernel_size, stride, padding)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    out = np.empty(shape, np.float32)
    for y in range(shape[2]):
        for x_ in range(shape[3]):
            out[:, :, y, x_] = xpad[:, :, y * sh: y * sh + kh, x_ * sw: x_ * sw + kw].max(axis=(2, 3))
    return out


@njit(parallel=True)
def _max_pool2d_kernel(x, kh, kw, sh, sw, ph, pw, out):
    batch, channels, h, w = x.shape
    hout, wout = out.shape[2], out.shape[3]
    for job in prange(batch * channels):
        b, c = job // channels, job % channels
        for y in range(hout):
            for x_ in range(wout):
                best = -np.inf
                for r in range(kh):
                    iy = y * sh + r - ph
                    if 0 <= iy < h:
                        for s in range(kw):
                            ix = x_ * sw + s - pw
                            if 0 <= ix < w and x[b, c, iy, ix] > best:
                                best = x[b, c, iy, ix]
                out[b, c, y, x_] = best
    return out


@njit(parallel=True, fastmath=True)
def _max_pool2x2_kernel(x, out):
    """The model's 2x2 stride-2 pool: no padding, no bounds tests, rows read in pairs."""
    batch, channels = x.shape[0], x.shape[1]
    hout, wout = out.shape[2], out.shape[3]
    for job in prange(batch * channels * hout):
        b = job // (channels * hout)
        c = (job // hout) % channels
        y = job % hout
        top, bottom = x[b, c, 2 * y], x[b, c, 2 * y + 1]
        for j in range(wout):
            out[b, c, y, j] = max(max(top[2 * j], top[2 * j + 1]), max(bottom[2 * j], bottom[2 * j + 1]))
    return out


def _max_pool2d_numpy(x, kh, kw, sh, sw, ph, pw, out):
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf) if ph or pw else x
    hout, wout = out.shape[2:]
    out[...] = -np.inf
    for r in range(kh):
        for s in range(kw):
            np.maximum(out, xpad[:, :, r: r + sh * (hout - 1) + 1: sh, s: s + sw * (wout - 1) + 1: sw], out=out)
    return out


def max_pool2d(x, kernel_size, stride=None, padding=0, out=None):
    require_array("x", x, 4, "N x C x H x W")
    (kh, kw), (ph, pw) = pair("kernel_size", kernel_size), pair("padding", padding)
    sh, sw = pair("stride", kernel_size if stride is None else stride)
    if min(kh, kw, sh, sw) < 1 or ph < 0 or pw < 0 or 2 * ph > kh or 2 * pw > kw:
        raise ShapeError(f"max_pool2d: need kernel and stride >= 1 and 0 <= padding <= kernel/2, "
                         f"got kernel {kernel_size}, stride {stride}, padding {padding}")
    shape = max_pool2d_output_shape(x.shape, kernel_size, stride, padding)
    if shape[2] < 1 or shape[3] < 1:
        raise ShapeError(f"max_pool2d: a {x.shape[2]}x{x.shape[3]} input is smaller than the {kh}x{kw} window")
    out = require_out(out, shape)
    if kernels_on():
        if kh == kw == sh == sw == 2 and ph == pw == 0:
            return _max_pool2x2_kernel(x, out)
        return _max_pool2d_kernel(x, kh, kw, sh, sw, ph, pw, out)
    return _max_pool2d_numpy(x, kh, kw, sh, sw, ph, pw, out)
