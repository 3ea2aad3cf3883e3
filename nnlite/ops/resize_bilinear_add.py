"""resize_bilinear_add: bilinear resize of a coarse tensor to a finer one's size, added to it, with
an optional fused activation: the "upsample and add the skip" step of an encoder-decoder.

Contract (matches ``act(F.interpolate(x, size=skip.shape[2:], mode="bilinear",
align_corners=False) + skip)``, resampling as in nnlite.ops.resize_bilinear):

    x     N x C x h x w float32 (coarse);  skip  N x C x H x W
    out   N x C x H x W, may be skip itself (the sum is then accumulated in place)

The resampled value never exists as a tensor: each output row is interpolated from two rows of x
(first vertically into a row of w values, then horizontally) and added to the skip row in one pass.
ResizeBilinearAddPlan.run with skip None resizes alone, into a window of a bordered buffer (the
feathering block's coefficients at half resolution, brought to full size).
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, require_array, require_out
from nnlite.ops.activation import activate, activate_span, activation_code, activation_numpy, activation_reference
from nnlite.ops.resize_bilinear import _resize_bilinear_numpy, resize_bilinear_reference, source_coordinates


def resize_bilinear_add_reference(x, skip, activation="none"):
    up = resize_bilinear_reference(x, size=skip.shape[2:])
    return activation_reference(up.astype(np.float64) + skip, activation)


def resize_bilinear_add_tables(in_hw, out_hw):
    """Row and column (i0, i1, t) tables, computed once per pair of sizes."""
    return (*source_coordinates(in_hw[0], out_hw[0], False), *source_coordinates(in_hw[1], out_hw[1], False))


@njit(parallel=True, fastmath=True)
def _resize_bilinear_add_kernel(channels, h, w, xbuf, x_first, x_oy, x_ox, y0, y1, ty, x0, x1, tx,
                                add_skip, sbuf, s_first, s_oy, s_ox, code, obuf, o_first, o_oy, o_ox):
    batch = obuf.shape[0]
    hout, wout = ty.shape[0], tx.shape[0]
    xf, sf, of = xbuf.reshape(-1), sbuf.reshape(-1), obuf.reshape(-1)
    for job in prange(batch * channels):
        n, c = job // channels, job % channels
        rows = np.empty(w, np.float32)
        plane = ((n * xbuf.shape[1] + x_first + c) * xbuf.shape[2] + x_oy) * xbuf.shape[3] + x_ox
        for i in range(hout):
            top = np.uint64(plane + y0[i] * xbuf.shape[3])
            bottom = np.uint64(plane + y1[i] * xbuf.shape[3])
            t = ty[i]
            for j in range(np.uint64(w)):
                a = xf[top + j]
                rows[j] = a + t * (xf[bottom + j] - a)
            s = np.uint64(((n * sbuf.shape[1] + s_first + c) * sbuf.shape[2] + s_oy + i) * sbuf.shape[3] + s_ox)
            o = np.uint64(((n * obuf.shape[1] + o_first + c) * obuf.shape[2] + o_oy + i) * obuf.shape[3] + o_ox)
            if add_skip:
                for j in range(np.uint64(wout)):
                    left = rows[x0[j]]
                    of[o + j] = activate(left + tx[j] * (rows[x1[j]] - left) + sf[s + j], code)
            else:
                for j in range(np.uint64(wout)):
                    left = rows[x0[j]]
                    of[o + j] = activate(left + tx[j] * (rows[x1[j]] - left), code)
    return obuf


QUARTER, THREE_QUARTERS = np.float32(0.25), np.float32(0.75)


@njit(parallel=True, fastmath=True)
def _upsample2x_add_kernel(channels, h, w, xbuf, x_first, x_oy, x_ox, add_skip, sbuf, s_first, s_oy, s_ox, code,
                           obuf, o_first, o_oy, o_ox):
    """The exact x2 case (2h x 2w from h x w, align_corners=False): output 2k is 0.25 * x[k-1] +
    0.75 * x[k] and 2k + 1 is 0.75 * x[k] + 0.25 * x[k+1], clamped at the edges, along each axis;
    the output row is written as its even and odd halves, then interleaved with the skip added,
    so every loop is a plain vector loop (no index tables, no gathers)."""
    batch = obuf.shape[0]
    xf, sf, of = xbuf.reshape(-1), sbuf.reshape(-1), obuf.reshape(-1)
    for job in prange(batch * channels):
        n, c = job // channels, job % channels
        rows = np.empty(w + 2, np.float32)  # the vertically interpolated row, edge values repeated
        halves = np.empty((2, w), np.float32)
        plane = ((n * xbuf.shape[1] + x_first + c) * xbuf.shape[2] + x_oy) * xbuf.shape[3] + x_ox
        for i in range(2 * h):
            k = i // 2
            near = np.uint64(plane + k * xbuf.shape[3])
            far = np.uint64(plane + (max(k - 1, 0) if i % 2 == 0 else min(k + 1, h - 1)) * xbuf.shape[3])
            for j in range(np.uint64(w)):
                rows[j + np.uint64(1)] = THREE_QUARTERS * xf[near + j] + QUARTER * xf[far + j]
            rows[0], rows[w + 1] = rows[1], rows[w]
            for j in range(w):
                halves[0, j] = QUARTER * rows[j] + THREE_QUARTERS * rows[j + 1]
                halves[1, j] = THREE_QUARTERS * rows[j + 1] + QUARTER * rows[j + 2]
            s = np.uint64(((n * sbuf.shape[1] + s_first + c) * sbuf.shape[2] + s_oy + i) * sbuf.shape[3] + s_ox)
            o = np.uint64(((n * obuf.shape[1] + o_first + c) * obuf.shape[2] + o_oy + i) * obuf.shape[3] + o_ox)
            if add_skip:
                for j in range(np.uint64(w)):
                    even = j + j
                    of[o + even] = halves[0, j] + sf[s + even]
                    of[o + even + np.uint64(1)] = halves[1, j] + sf[s + even + np.uint64(1)]
            else:
                for j in range(np.uint64(w)):
                    even = j + j
                    of[o + even] = halves[0, j]
                    of[o + even + np.uint64(1)] = halves[1, j]
            activate_span(of, o, np.uint64(2 * w), code)
    return obuf


class ResizeBilinearAddPlan:
    """The op bound to one pair of sizes: the interpolation tables are made once."""

    def __init__(self, in_hw, out_hw, activation="none"):
        self.tables = resize_bilinear_add_tables(in_hw, out_hw)
        self.in_hw, self.out_hw = tuple(in_hw), tuple(out_hw)
        self.activation, self.code = activation, activation_code(activation)

    def run(self, x, skip, out):
        """out = act(resize(x) + skip); with skip None, out = act(resize(x)): a resize into a window."""
        if not kernels_on():
            up = np.empty(out.shape, np.float32)
            _resize_bilinear_numpy(x, *self.tables, up)
            if skip is not None:
                up += skip
            return activation_numpy(up, self.activation, out)
        add_skip, skip = (True, skip) if skip is not None else (False, out)  # the kernel then never reads it
        if self.out_hw == (2 * self.in_hw[0], 2 * self.in_hw[1]):
            _upsample2x_add_kernel(x.shape[1], x.shape[2], x.shape[3], *as_window(x), add_skip, *as_window(skip), self.code,
                                   *as_window(out))
        else:
            _resize_bilinear_add_kernel(x.shape[1], x.shape[2], x.shape[3], *as_window(x), *self.tables,
                                        add_skip, *as_window(skip), self.code, *as_window(out))
        return out


def resize_bilinear_add(x, skip, activation="none", out=None):
    require_array("x", x, 4, "N x C x h x w")
    require_array("skip", skip, 4, "N x C x H x W")
    if x.shape[:2] != skip.shape[:2]:
        raise ShapeError(f"resize_bilinear_add: x {x.shape} and skip {skip.shape} differ in batch or channels")
    out = require_out(out, skip.shape)
    return ResizeBilinearAddPlan(x.shape[2:], skip.shape[2:], activation).run(x, skip, out)
