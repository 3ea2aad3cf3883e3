"""resize_softmax2: two-class scores at a finer size, the bilinear resize and the softmax over
channels fused (the segmentation networks' last step before the feathering block).

Contract (matches ``torch.softmax(F.interpolate(logits, size=(Ho, Wo), mode="bilinear",
align_corners=False), 1)``, resampling as in nnlite.ops.resize_bilinear):

    logits  N x 2 x h x w float32;  out  N x 2 x Ho x Wo
    u = resize_bilinear(logits);  out[:,1] = 1 / (1 + exp(u0 - u1)),  out[:,0] = 1 - out[:,1]

One pass writes both scores: the resized logits never exist as a tensor.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, require_array, require_out
from nnlite.ops.exp import exp_float32
from nnlite.ops.resize_bilinear import _resize_bilinear_numpy, resize_bilinear_reference, source_coordinates
from nnlite.ops.softmax import _softmax_numpy, softmax_reference


ONE = np.float32(1)


def resize_softmax2_reference(logits, size):
    return softmax_reference(resize_bilinear_reference(logits, size=size))


def resize_softmax2_tables(in_hw, out_hw, scale_factor=None):
    """Row and column (i0, i1, t) tables; with a scale factor, torch's scale = 1 / factor."""
    return (*source_coordinates(in_hw[0], out_hw[0], False, scale_factor),
            *source_coordinates(in_hw[1], out_hw[1], False, scale_factor))


@njit(parallel=True, fastmath=True)
def _resize_softmax2_kernel(h, w, xbuf, x_first, x_oy, x_ox, y0, y1, ty, x0, x1, tx, obuf, o_first, o_oy, o_ox):
    """Only the difference d = logit0 - logit1 is resized (interpolation is linear, so resizing d
    is resizing both and subtracting): a source row's d, then per output pixel a gather of two d's
    and s1 = 1 / (1 + exp(d)), a loop without calls that LLVM vectorises (exp_float32)."""
    batch = obuf.shape[0]
    hout, wout = ty.shape[0], tx.shape[0]
    xf, of = xbuf.reshape(-1), obuf.reshape(-1)
    x_plane, o_plane = np.uint64(xbuf.shape[2] * xbuf.shape[3]), np.uint64(obuf.shape[2] * obuf.shape[3])
    for job in prange(batch * hout):
        n, i = job // hout, job % hout
        difference = np.empty(w, np.float32)
        base = ((n * xbuf.shape[1] + x_first) * xbuf.shape[2] + x_oy) * xbuf.shape[3] + x_ox
        t = ty[i]
        top = np.uint64(base + y0[i] * xbuf.shape[3])
        bottom = np.uint64(base + y1[i] * xbuf.shape[3])
        for j in range(np.uint64(w)):
            a0, a1 = xf[top + j], xf[top + x_plane + j]
            d0 = a0 - a1
            difference[j] = d0 + t * ((xf[bottom + j] - xf[bottom + x_plane + j]) - d0)
        o = np.uint64(((n * obuf.shape[1] + o_first) * obuf.shape[2] + o_oy + i) * obuf.shape[3] + o_ox)
        for j in range(np.uint64(wout)):
            left = difference[x0[j]]
            second = ONE / (ONE + exp_float32(left + tx[j] * (difference[x1[j]] - left)))
            of[o + o_plane + j] = second
            of[o + j] = ONE - second
    return obuf


class ResizeSoftmax2Plan:
    """The op bound to one pair of sizes: the interpolation tables are made once."""

    def __init__(self, in_hw, out_hw, scale_factor=None):
        self.tables = resize_softmax2_tables(in_hw, out_hw, scale_factor)

    def run(self, logits, out):
        if not kernels_on():
            resized = np.empty(out.shape, np.float32)
            _resize_bilinear_numpy(logits, *self.tables, resized)
            return _softmax_numpy(resized, out)
        _resize_softmax2_kernel(logits.shape[2], logits.shape[3], *as_window(logits), *self.tables, *as_window(out))
        return out


def resize_softmax2(logits, size, out=None):
    require_array("logits", logits, 4, "N x 2 x h x w")
    if logits.shape[1] != 2:
        raise ShapeError(f"resize_softmax2: expected 2 channels of logits, got {logits.shape[1]}")
    size = tuple(int(v) for v in size)
    out = require_out(out, (logits.shape[0], 2) + size)
    return ResizeSoftmax2Plan(logits.shape[2:], size).run(logits, out)
