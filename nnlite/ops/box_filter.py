"""box_filter: mean over a (2r+1) x (2r+1) window around each pixel, count-normalised at the border.

Contract (matches ``torch.nn.functional.avg_pool2d(x, 2*r + 1, stride=1, padding=r,
count_include_pad=False)``, the box used by convert/model.py):

    x    N x C x H x W float32;  out  same shape
    out[n,c,y,x] = sum of x over rows max(0, y-r)..min(H-1, y+r) and columns max(0, x-r)..min(W-1, x+r),
                   divided by the number of pixels in that clipped window.

Border rule: windows are clipped to the image and divided by their true pixel count (no zero
padding counted, no reflection), so a constant image stays constant up to the edge.
The kernel costs O(1) per pixel whatever r: a running column sum moves down the plane and a running
row sum moves along each row, both in float64 so that long runs of adds and subtracts do not drift.
Small radii (r <= SMALL_RADIUS, the feathering block's r = 2) take a direct kernel instead: the
window is summed as it is, first down the columns, then along the rows, in loops that vectorise;
the running row sum is one long chain of dependent adds, 5x slower at r = 2 on 256 x 256.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import require_array, require_out


def box_filter_output_shape(x_shape):
    return tuple(x_shape)


def box_filter_reference(x, radius):
    h, w = x.shape[2:]
    out = np.empty_like(x)
    for y in range(h):
        for x_ in range(w):
            window = x[:, :, max(0, y - radius): y + radius + 1, max(0, x_ - radius): x_ + radius + 1]
            out[:, :, y, x_] = window.astype(np.float64).mean(axis=(2, 3))
    return out


@njit(parallel=True)
def _box_filter_kernel(x, radius, out):
    batch, channels, h, w = x.shape
    for job in prange(batch * channels):
        b, c = job // channels, job % channels
        plane = x[b, c]
        column = np.zeros(w, np.float64)
        for y in range(min(radius, h - 1) + 1):
            for j in range(w):
                column[j] += plane[y, j]
        for y in range(h):
            rows = min(y + radius, h - 1) - max(y - radius, 0) + 1
            running = 0.0
            for j in range(min(radius, w - 1) + 1):
                running += column[j]
            for j in range(w):
                cols = min(j + radius, w - 1) - max(j - radius, 0) + 1
                out[b, c, y, j] = running / (rows * cols)
                if j + radius + 1 < w:
                    running += column[j + radius + 1]
                if j - radius >= 0:
                    running -= column[j - radius]
            if y + radius + 1 < h:
                for j in range(w):
                    column[j] += plane[y + radius + 1, j]
            if y - radius >= 0:
                for j in range(w):
                    column[j] -= plane[y - radius, j]
    return out


SMALL_RADIUS = 4


@njit(parallel=True, fastmath=True)
def _box_filter_small_kernel(x, radius, out):
    batch, channels, h, w = x.shape
    inverse_cols = np.empty(w, np.float32)
    for j in range(w):
        inverse_cols[j] = 1.0 / (min(j + radius, w - 1) - max(j - radius, 0) + 1)
    for job in prange(batch * channels):
        b, c = job // channels, job % channels
        plane = x[b, c]
        column = np.zeros(w + 2 * radius, np.float32)  # a row of column sums, zero past the edges
        for y in range(h):
            top, bottom = max(y - radius, 0), min(y + radius, h - 1)
            sums = column[radius: radius + w]
            sums[:] = plane[top]
            for r in range(top + 1, bottom + 1):
                row = plane[r]
                for j in range(w):
                    sums[j] += row[j]
            dst = out[b, c, y]
            dst[:] = column[0: w]
            for d in range(1, 2 * radius + 1):
                shifted = column[d: d + w]
                for j in range(w):
                    dst[j] += shifted[j]
            scale = np.float32(1.0 / (bottom - top + 1))
            for j in range(w):
                dst[j] *= scale * inverse_cols[j]
    return out


def _window_sums(a, radius, axis):
    """Clipped-window sums along one axis from a cumulative sum (float64)."""
    n = a.shape[axis]
    shape = list(a.shape)
    shape[axis] = 1
    cumulative = np.concatenate([np.zeros(shape), np.cumsum(a, axis=axis, dtype=np.float64)], axis=axis)
    idx = np.arange(n)
    hi = np.take(cumulative, np.minimum(idx + radius + 1, n), axis=axis)
    lo = np.take(cumulative, np.maximum(idx - radius, 0), axis=axis)
    return hi - lo


def _box_filter_numpy(x, radius, out):
    h, w = x.shape[2:]
    sums = _window_sums(_window_sums(x, radius, 2), radius, 3)
    rows = np.minimum(np.arange(h) + radius, h - 1) - np.maximum(np.arange(h) - radius, 0) + 1
    cols = np.minimum(np.arange(w) + radius, w - 1) - np.maximum(np.arange(w) - radius, 0) + 1
    out[...] = sums / (rows[:, None] * cols[None, :])
    return out


def box_filter(x, radius, out=None):
    require_array("x", x, 4, "N x C x H x W")
    if int(radius) != radius or radius < 0:
        raise ShapeError(f"box_filter: radius must be an integer >= 0, got {radius!r}")
    out = require_out(out, x.shape)
    if not kernels_on():
        return _box_filter_numpy(x, int(radius), out)
    if radius <= SMALL_RADIUS:
        return _box_filter_small_kernel(x, int(radius), out)
    return _box_filter_kernel(x, int(radius), out)
