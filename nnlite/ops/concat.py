"""concat: join tensors along the channel axis.

Contract (matches ``torch.cat(tensors, dim=1)``):

    tensors  each N x C_i x H x W float32, same N, H, W
    out      N x sum(C_i) x H x W, out[:, offset_i : offset_i + C_i] = tensors[i]

Exact (a copy). The model itself avoids most copies: nnlite.graph lets each producer write straight
into its channel slice of one preallocated buffer, so a dense block's "concat" is free; this op is
for the places where inputs arrive separately.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import require_array, require_out


def concat_output_shape(shapes):
    n, _, h, w = shapes[0]
    return n, sum(s[1] for s in shapes), h, w


def concat_reference(tensors):
    return np.concatenate(tensors, axis=1)


@njit(parallel=True)
def _copy_channels_kernel(src, out, offset):
    batch, channels = src.shape[0], src.shape[1]
    for job in prange(batch * channels):
        b, c = job // channels, job % channels
        out[b, offset + c] = src[b, c]
    return out


def concat(tensors, out=None):
    if not tensors:
        raise ShapeError("concat: needs at least one tensor")
    for i, t in enumerate(tensors):
        require_array(f"tensors[{i}]", t, 4, "N x C x H x W")
        if (t.shape[0],) + t.shape[2:] != (tensors[0].shape[0],) + tensors[0].shape[2:]:
            raise ShapeError(f"concat: tensors[{i}] has shape {t.shape}, tensors[0] {tensors[0].shape}: N, H, W must agree")
    out = require_out(out, concat_output_shape([t.shape for t in tensors]))
    offset = 0
    for t in tensors:
        if kernels_on():
            _copy_channels_kernel(t, out, offset)
        else:
            out[:, offset: offset + t.shape[1]] = t
        offset += t.shape[1]
    return out
