"""pointwise_conv2d: a 1x1 convolution (a K x C matrix applied to every pixel), bias, an optional
residual input added before the activation, and a fused activation.

Contract (matches ``act(torch.nn.functional.conv2d(x, weight, bias) + skip)``):

    x       N x C x H x W      float32
    weight  K x C x 1 x 1      float32 (torch's order)
    bias    K                  float32 or None
    skip    N x K x H x W      float32 or None (the residual of an inverted-residual block)
    out     N x K x H x W
    out[n,k,y,x] = act(bias[k] + sum_c weight[k,c] * x[n,c,y,x] + skip[n,k,y,x])

The Numba kernel is the "pixels" convolution kernel with a single tap (nnlite/ops/conv_pixels.py:
16 pixels x 16 output channels of sums in registers over all input channels, pixels taken as one
flat run over the input's row pitch, bias, residual and activation applied as the sums are
written); planes smaller than one block of pixels take a plain loop.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, pair, require_array, require_out
from nnlite.ops.activation import activate, activation_code, activation_numpy, activation_reference
from nnlite.ops.conv_pixels import CHANNELS, PIXELS, pack_pixels_weights, pixels_kernel_for


def pointwise_conv2d_reference(x, weight, bias=None, skip=None, activation="none"):
    """Slow and obviously right, in float64."""
    out = np.einsum("kc,nchw->nkhw", weight[:, :, 0, 0].astype(np.float64), x.astype(np.float64))
    if bias is not None:
        out += bias[None, :, None, None]
    if skip is not None:
        out += skip
    return activation_reference(out, activation)




@njit(parallel=True, fastmath=True)
def _pointwise_small_kernel(xpad, first_channel, oy, ox, height, width, weight, bias, skip, has_skip, code, out):
    """Planes smaller than one block (1x1 squeeze-excite convs, tiny inputs): plain loops."""
    batch, cout, cin = out.shape[0], weight.shape[0], weight.shape[1]
    for job in prange(batch * cout):
        b, k = job // cout, job % cout
        for y in range(height):
            for x in range(width):
                v = bias[k]
                for ci in range(cin):
                    v += weight[k, ci, 0, 0] * xpad[b, first_channel + ci, oy + y, ox + x]
                if has_skip:
                    v += skip[b, k, y, x]
                out[b, k, y, x] = activate(v, code)
    return out


def _pointwise_numpy(xpad, first_channel, oy, ox, height, width, weight, bias, skip, activation, out):
    """Vectorised fallback: one (K x C) @ (C x H*W) matrix product."""
    batch, cout, cin = xpad.shape[0], weight.shape[0], weight.shape[1]
    window = xpad[:, first_channel: first_channel + cin, oy: oy + height, ox: ox + width].reshape(batch, cin, height * width)
    acc = np.matmul(weight[:, :, 0, 0], window).reshape(batch, cout, height, width)
    acc += bias[None, :, None, None]
    if skip is not None:
        acc += skip
    return activation_numpy(acc, activation, out)


def pointwise_kernel_name(height, width, input_pitch) -> str:
    if not kernels_on():
        return "numpy"
    return "block" if (height - 1) * input_pitch + width >= PIXELS else "small"


ZERO_TAP = np.zeros(1, np.uint64)


class PointwisePlan:
    """A pointwise conv bound to its weights: packs them once, so that a graph calling it for every
    frame pays only for the kernel (``run``) and not for validation or packing."""

    def __init__(self, weight, bias=None, activation="none"):
        require_array("weight", weight, 4, "K x C x 1 x 1")
        if weight.shape[2:] != (1, 1):
            raise ShapeError(f"weight: a pointwise conv has K x C x 1 x 1 weights, got {weight.shape}")
        self.weight = np.ascontiguousarray(weight)
        cout = weight.shape[0]
        self.bias = np.zeros(cout, np.float32) if bias is None else require_array("bias", bias, 1, "K")
        if self.bias.shape[0] != cout:
            raise ShapeError(f"bias: expected {cout} values, got {self.bias.shape[0]}")
        self.activation, self.code = activation, activation_code(activation)
        self.packed = pack_pixels_weights(self.weight)
        self.padded_bias = np.zeros(self.packed.shape[0] * CHANNELS, np.float32)
        self.padded_bias[:cout] = self.bias

    def run(self, xpad, first_channel, origin, size, out, skip=None):
        """xpad: C-contiguous N x Cb x Hb x Wb; reads channels first_channel.. of the size (H, W)
        window at origin (oy, ox). out, skip: N x K x H x W (views allowed)."""
        (oy, ox), (height, width) = origin, size
        kernel = pointwise_kernel_name(height, width, xpad.shape[3])
        if kernel == "numpy":
            return _pointwise_numpy(xpad, first_channel, oy, ox, height, width, self.weight, self.bias, skip, self.activation, out)
        has_skip = skip is not None
        if kernel == "small":
            return _pointwise_small_kernel(xpad, first_channel, oy, ox, height, width, self.weight, self.bias,
                                           skip if has_skip else out, has_skip, self.code, out)
        skip_window = as_window(skip) if has_skip else as_window(out)
        pixels_kernel_for(width)(xpad, first_channel, oy, ox, height, width, ZERO_TAP, self.packed, self.padded_bias,
                            self.weight.shape[0], *skip_window, has_skip, self.code, *as_window(out))
        return out


def pointwise_conv2d_padded(xpad, weight, bias, origin, size, skip=None, activation="none", out=None, first_channel=0):
    """pointwise_conv2d of the size (H, W) window at origin (oy, ox) of a bordered input, reading
    channels first_channel .. first_channel + C - 1."""
    plan = PointwisePlan(weight, bias, activation)
    require_array("x", xpad, 4, "N x C x H x W")
    cin = weight.shape[1]
    if first_channel < 0 or first_channel + cin > xpad.shape[1]:
        raise ShapeError(f"weight: expects {cin} input channels from channel {first_channel}, x has {xpad.shape[1]}")
    (oy, ox), (height, width) = pair("origin", origin), pair("size", size)
    if oy < 0 or ox < 0 or height < 1 or width < 1 or oy + height > xpad.shape[2] or ox + width > xpad.shape[3]:
        raise ShapeError(f"pointwise_conv2d: a {height}x{width} window at {origin} lies outside the {xpad.shape[2]}x{xpad.shape[3]} input")
    shape = (xpad.shape[0], weight.shape[0], height, width)
    if skip is not None:
        require_array("skip", skip, 4, "N x K x H x W")
        if skip.shape != shape:
            raise ShapeError(f"skip: expected shape {shape}, got {skip.shape}")
    out = require_out(out, shape)
    return plan.run(np.ascontiguousarray(xpad), first_channel, (oy, ox), (height, width), out, skip)


def pointwise_conv2d(x, weight, bias=None, skip=None, activation="none", out=None):
    """act(F.conv2d(x, weight, bias) + skip) for 1x1 weights, N x C x H x W float32."""
    require_array("x", x, 4, "N x C x H x W")
    require_array("weight", weight, 4, "K x C x 1 x 1")
    if weight.shape[1] != x.shape[1]:
        raise ShapeError(f"weight: expects {weight.shape[1]} input channels, x has {x.shape[1]}")
    return pointwise_conv2d_padded(x, weight, bias, (0, 0), x.shape[2:], skip, activation, out)
