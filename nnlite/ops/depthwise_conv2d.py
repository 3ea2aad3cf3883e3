"""depthwise_conv2d: one R x S filter per channel (groups = channels), stride, zero padding,
dilation, bias and a fused activation.

Contract (matches ``torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation,
groups=C)`` followed by the activation named, see nnlite.ops.activation):

    x       N x C x H x W      float32
    weight  C x 1 x R x S      float32 (torch's order for groups = C)
    bias    C                  float32 or None
    out     N x C x Ho x Wo,   Ho = (H + 2*ph - dh*(R-1) - 1) // sh + 1   (likewise Wo)
    out[n,c,y,x] = act(bias[c] + sum_{r,s} weight[c,0,r,s] * xpad[n, c, y*sh + r*dh, x*sw + s*dw])

Depthwise work is a few multiply-adds per loaded value, so it is bound by memory traffic, not
arithmetic: the kernel gives each job one channel plane, keeps the filter's taps in registers and
writes every output row once, straight from its R input rows (3x3 filters: all nine taps in one
expression; other sizes: one pass per tap over the output row, which stays in L1). The activation
is applied to the row while it is in L1. ``depthwise_conv2d_padded`` reads a window of an input
that already carries a zero border (nnlite.graph's buffers), so nothing is ever copied to pad.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, check_window, pair, require_array, require_out
from nnlite.ops.activation import activate_span, activation_code, activation_numpy, activation_reference
from nnlite.ops.conv2d import conv2d_output_shape, zero_padded_input


# rows shorter than this are computed as one flat run per plane: LLVM vectorises a loop in steps
# of 64 values (4 vectors) and leaves anything shorter to scalar code
SHORT_ROW = 64


def depthwise_conv2d_output_shape(x_shape, weight_shape, stride=1, padding=0, dilation=1):
    return conv2d_output_shape(x_shape, (weight_shape[0], 1) + tuple(weight_shape[2:]), stride, padding, dilation)


def depthwise_conv2d_reference(x, weight, bias=None, stride=1, padding=0, dilation=1, activation="none"):
    """Slow and obviously right: a window dot product per output pixel and channel, in float64."""
    (sh, sw), (ph, pw), (dh, dw) = pair("stride", stride), pair("padding", padding), pair("dilation", dilation)
    n, c, ho, wo = depthwise_conv2d_output_shape(x.shape, weight.shape, stride, padding, dilation)
    r, s = weight.shape[2:]
    xpad = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    w = weight[:, 0].astype(np.float64)
    out = np.zeros((n, c, ho, wo))
    for y in range(ho):
        for x_ in range(wo):
            window = xpad[:, :, y * sh: y * sh + dh * (r - 1) + 1: dh, x_ * sw: x_ * sw + dw * (s - 1) + 1: dw]
            out[:, :, y, x_] = (window * w[None]).sum(axis=(2, 3))
    if bias is not None:
        out += bias[None, :, None, None]
    return activation_reference(out, activation)


@njit(fastmath=True, inline="always")
def _write_run(acc, pitch, hout, wout, code, of, start, out_pitch):
    """A plane computed as one flat run over the input's row pitch, out row by row, activated."""
    for y in range(hout):
        o = np.uint64(start + y * out_pitch)
        row = np.uint64(y * pitch)
        for x in range(np.uint64(wout)):
            of[o + x] = acc[row + x]
        activate_span(of, o, np.uint64(wout), code)


@njit(fastmath=True)
def _depthwise3x3_plane(xf, x_plane, xh, xw, oy, ox, w, bc, sh, sw, dh, dw, hout, wout, code, of, o_plane, ow):
    """One channel plane: x_plane, o_plane are the flat offsets of the input window's row oy and
    of the output window's first row. A function of its own, not inlined into the prange loop:
    Numba outlines a prange body in a way that kept LLVM from vectorising these loops (the
    stride-2 planes ran 2.3x slower inside it)."""
    w00, w01, w02, w10, w11, w12, w20, w21, w22 = w[0, 0], w[0, 1], w[0, 2], w[1, 0], w[1, 1], w[1, 2], w[2, 0], w[2, 1], w[2, 2]
    d1, d2, step, one = np.uint64(dw), np.uint64(2 * dw), np.uint64(sw), np.uint64(1)
    row_step = np.uint64(dh * xw)
    if sh == 1 and sw == 1 and wout < SHORT_ROW:
        # short rows: the whole plane as one flat run over the input's row pitch (see
        # _depthwise_rows_kernel), then copied out row by row
        run = (hout - 1) * xw + wout
        acc = np.empty(run, np.float32)
        r0 = np.uint64(x_plane + ox)
        r1 = r0 + row_step
        r2 = r1 + row_step
        for q in range(np.uint64(run)):
            acc[q] = (bc + w00 * xf[r0 + q] + w01 * xf[r0 + q + d1] + w02 * xf[r0 + q + d2]
                      + w10 * xf[r1 + q] + w11 * xf[r1 + q + d1] + w12 * xf[r1 + q + d2]
                      + w20 * xf[r2 + q] + w21 * xf[r2 + q + d1] + w22 * xf[r2 + q + d2])
        _write_run(acc, xw, hout, wout, code, of, o_plane, ow)
        return
    if sh == 2 and sw == 2 and dh == 1 and dw == 1:
        # stride 2: the window's rows split once into their even and odd columns (half-rows of
        # `half` values, an odd row's last odd one zero), then every output as one flat run of
        # pitch 2 * half: output (y, x) at q = 2 * half * y + x reads a half-plane at
        # q + r * half + column, so every tap is a contiguous slice of one long loop; the
        # positions of the rows in between are computed and dropped. Both halves live in one
        # array: loads from two arrays beside the store to a third vectorised worse. (Row by
        # row, with the split per output row, took 2-4x longer: short loops, strided stores.)
        half = (xw + 1) // 2
        pairs = xw // 2
        rows_in = min(2 * hout + 1, xh - oy)
        length = rows_in * half + 1
        split = np.empty(2 * length, np.float32)
        at_odd = np.uint64(length)
        for r in range(rows_in):
            src = np.uint64(x_plane + r * xw)
            dst = np.uint64(r * half)
            for k in range(np.uint64(pairs)):
                split[dst + k] = xf[src + k + k]
                split[at_odd + dst + k] = xf[src + k + k + one]
            if xw % 2 == 1:
                split[dst + np.uint64(pairs)] = xf[src + np.uint64(xw - 1)]
                split[at_odd + dst + np.uint64(pairs)] = 0.0
        split[length - 1] = 0.0
        split[2 * length - 1] = 0.0
        # columns ox + 2x + s: taps s = 0 and 2 on one half-plane, s = 1 on the other
        outer, inner = (np.uint64(0), at_odd) if ox % 2 == 0 else (at_odd, np.uint64(0))
        c0 = outer + np.uint64(ox // 2)
        c1 = inner + np.uint64((ox + 1) // 2)
        run = (hout - 1) * 2 * half + wout
        acc = np.empty(run, np.float32)
        h1, h2 = np.uint64(half), np.uint64(2 * half)
        for q in range(np.uint64(run)):
            acc[q] = (bc + w00 * split[q + c0] + w01 * split[q + c1] + w02 * split[q + c0 + one]
                      + w10 * split[q + h1 + c0] + w11 * split[q + h1 + c1] + w12 * split[q + h1 + c0 + one]
                      + w20 * split[q + h2 + c0] + w21 * split[q + h2 + c1] + w22 * split[q + h2 + c0 + one])
        _write_run(acc, 2 * half, hout, wout, code, of, o_plane, ow)
        return
    for y in range(hout):
        r0 = np.uint64(x_plane + y * sh * xw + ox)
        r1 = r0 + row_step
        r2 = r1 + row_step
        o = np.uint64(o_plane + y * ow)
        if sw == 1:
            for x in range(np.uint64(wout)):
                v = (bc + w00 * xf[r0 + x] + w01 * xf[r0 + x + d1] + w02 * xf[r0 + x + d2]
                     + w10 * xf[r1 + x] + w11 * xf[r1 + x + d1] + w12 * xf[r1 + x + d2]
                     + w20 * xf[r2 + x] + w21 * xf[r2 + x + d1] + w22 * xf[r2 + x + d2])
                of[o + x] = v
        else:
            for x in range(np.uint64(wout)):
                p = x * step
                v = (bc + w00 * xf[r0 + p] + w01 * xf[r0 + p + d1] + w02 * xf[r0 + p + d2]
                     + w10 * xf[r1 + p] + w11 * xf[r1 + p + d1] + w12 * xf[r1 + p + d2]
                     + w20 * xf[r2 + p] + w21 * xf[r2 + p + d1] + w22 * xf[r2 + p + d2])
                of[o + x] = v
        activate_span(of, o, np.uint64(wout), code)  # the row is still in L1


@njit(parallel=True, fastmath=True)
def _depthwise3x3_kernel(xbuf, x_first, oy, ox, weight, bias, sh, sw, dh, dw, hout, wout, code, obuf, o_first, o_oy, o_ox):
    """xbuf, obuf: whole C-contiguous buffers, windows given by first channel and corner. Flat
    uint64 indices, no views: see pointwise_conv2d._pointwise_kernel for why."""
    batch, xc, xh, xw = xbuf.shape
    oc, oh, ow = obuf.shape[1], obuf.shape[2], obuf.shape[3]
    channels = weight.shape[0]
    xf, of = xbuf.reshape(-1), obuf.reshape(-1)
    for job in prange(batch * channels):
        b, c = job // channels, job % channels
        _depthwise3x3_plane(xf, ((b * xc + x_first + c) * xh + oy) * xw, xh, xw, oy, ox, weight[c, 0], bias[c],
                            sh, sw, dh, dw, hout, wout, code, of, ((b * oc + o_first + c) * oh + o_oy) * ow + o_ox, ow)
    return obuf


@njit(parallel=True, fastmath=True)
def _depthwise_rows_kernel(xbuf, x_first, oy, ox, weight, bias, sh, sw, dh, dw, hout, wout, code, obuf, o_first, o_oy, o_ox):
    """Any filter size: one pass per tap. At stride 1 a channel's output is computed as one flat
    run over the input's row pitch (the columns between rows computed and dropped, as conv2d's
    wide kernel does), so the passes are long loops even on 8x8 or 16x16 planes, where row by row
    every loop would be shorter than one unrolled vector step and stay scalar."""
    batch, xc, xh, xw = xbuf.shape
    oc, oh, ow = obuf.shape[1], obuf.shape[2], obuf.shape[3]
    channels, kh, kw = weight.shape[0], weight.shape[2], weight.shape[3]
    xf, of = xbuf.reshape(-1), obuf.reshape(-1)
    step = np.uint64(sw)
    run = (hout - 1) * xw + wout
    for job in prange(batch * channels):
        b, c = job // channels, job % channels
        w = weight[c, 0]
        bc = bias[c]
        if sh == 1 and sw == 1:
            acc = np.empty(run, np.float32)
            for q in range(run):
                acc[q] = bc
            start = ((b * xc + x_first + c) * xh + oy) * xw + ox
            for r in range(kh):
                for s in range(kw):
                    wv = w[r, s]
                    tap = np.uint64(start + r * dh * xw + s * dw)
                    for q in range(np.uint64(run)):
                        acc[q] += wv * xf[tap + q]
            _write_run(acc, xw, hout, wout, code, of, ((b * oc + o_first + c) * oh + o_oy) * ow + o_ox, ow)
            continue
        for y in range(hout):
            o = np.uint64(((b * oc + o_first + c) * oh + o_oy + y) * ow + o_ox)
            for x in range(np.uint64(wout)):
                of[o + x] = bc
            for r in range(kh):
                src = np.uint64(((b * xc + x_first + c) * xh + oy + y * sh + r * dh) * xw + ox)
                for s in range(kw):
                    wv = w[r, s]
                    tap = src + np.uint64(s * dw)
                    for x in range(np.uint64(wout)):
                        of[o + x] += wv * xf[tap + x * step]
            activate_span(of, o, np.uint64(wout), code)
    return obuf


def _depthwise_numpy(xpad, first_channel, weight, bias, oy, ox, sh, sw, dh, dw, hout, wout, activation, out):
    """Vectorised fallback: one multiply-add over all channels and pixels per tap."""
    channels, _, kh, kw = weight.shape
    xpad = xpad[:, first_channel: first_channel + channels]
    acc = np.broadcast_to(bias[None, :, None, None], out.shape).astype(np.float32)
    for r in range(kh):
        for s in range(kw):
            y0, x0 = oy + r * dh, ox + s * dw
            tap = xpad[:, :, y0: y0 + sh * (hout - 1) + 1: sh, x0: x0 + sw * (wout - 1) + 1: sw]
            acc += weight[None, :, 0, r, s, None, None] * tap
    return activation_numpy(acc, activation, out)


def depthwise_conv2d_kernel_name(weight_shape) -> str:
    if not kernels_on():
        return "numpy"
    return "3x3" if tuple(weight_shape[2:]) == (3, 3) else "rows"


def depthwise_conv2d_padded(xpad, weight, bias, origin, out_size, stride=1, dilation=1, activation="none", out=None,
                            first_channel=0):
    """depthwise_conv2d over a window of an already zero-padded input (see conv2d_padded): channels
    first_channel .. first_channel + C - 1 of xpad, the padded window starting at origin (oy, ox)."""
    require_array("x", xpad, 4, "N x C x H x W")
    require_array("weight", weight, 4, "C x 1 x R x S")
    channels, one, kh, kw = weight.shape
    if one != 1:
        raise ShapeError(f"weight: a depthwise weight is C x 1 x R x S, got {weight.shape}")
    if first_channel < 0 or first_channel + channels > xpad.shape[1]:
        raise ShapeError(f"weight: expects {channels} channels from channel {first_channel}, x has {xpad.shape[1]}")
    bias = np.zeros(channels, np.float32) if bias is None else require_array("bias", bias, 1, "C")
    if bias.shape[0] != channels:
        raise ShapeError(f"bias: expected {channels} values, got {bias.shape[0]}")
    code = activation_code(activation)
    sh, sw, dh, dw, oy, ox, hout, wout = check_window("depthwise_conv2d", xpad, origin, out_size, stride, dilation, (kh, kw))
    out = require_out(out, (xpad.shape[0], channels, hout, wout))
    kernel = depthwise_conv2d_kernel_name(weight.shape)
    if kernel == "numpy":
        return _depthwise_numpy(xpad, first_channel, weight, bias, oy, ox, sh, sw, dh, dw, hout, wout, activation, out)
    run = _depthwise3x3_kernel if kernel == "3x3" else _depthwise_rows_kernel
    run(np.ascontiguousarray(xpad), first_channel, oy, ox, np.ascontiguousarray(weight), bias, sh, sw, dh, dw, hout, wout,
        code, *as_window(out))
    return out


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, activation="none", out=None):
    """F.conv2d(..., groups=C) + activation on N x C x H x W float32; see the module docstring."""
    require_array("x", x, 4, "N x C x H x W")
    require_array("weight", weight, 4, "C x 1 x R x S")
    if weight.shape[0] != x.shape[1]:
        raise ShapeError(f"weight: {weight.shape[0]} filters for {x.shape[1]} channels; a depthwise conv has one per channel")
    xpad, (ho, wo) = zero_padded_input("depthwise_conv2d", x, weight.shape[2:], stride, padding, dilation)
    return depthwise_conv2d_padded(xpad, weight, bias, (0, 0), (ho, wo), stride, dilation, activation, out)
