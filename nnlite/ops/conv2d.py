"""conv2d: 2-D cross-correlation with stride, zero padding, dilation, bias and an optional fused ReLU.

Contract (matches ``torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation)``, groups=1,
followed by ``relu`` when ``relu=True``):

    x       N x C x H x W      float32
    weight  K x C x R x S      float32 (torch's order)
    bias    K                  float32 or None
    out     N x K x Ho x Wo,   Ho = (H + 2*ph - dh*(R-1) - 1) // sh + 1   (likewise Wo)
    out[n,k,y,x] = bias[k] + sum_{c,r,s} weight[k,c,r,s] * xpad[n, c, y*sh + r*dh, x*sw + s*dw]

where xpad is x with ph rows / pw columns of zeros on each side.

Three Numba kernels:
- ``_conv_lanes_kernel`` for stride-1 convolutions with at least 12 output channels (the dense
  block, and the first layer after the rewrite below) on CPUs with 512-bit vectors. One vector holds
  one pixel's sums for 16 output channels; a block of 16 pixels in a row keeps its 16 vectors of sums
  in registers (a stack buffer LLVM promotes, see ``nnlite._jit.stack_floats``) for the whole
  loop over input channels and taps, so each multiply-add costs one broadcast input value and no
  memory traffic for the sums. Weights are packed per call as [channel block][C][tap][16 lanes].
  Input channels go in chunks of 16 over a group of four blocks, so a chunk's inputs and weights
  stay in L1 while the group reuses them. Measured on the 64->16 dilation-8 layer, 1 thread:
  90-125 GFLOP/s in bench.ops, against 55-95 for the wide kernel.
- ``_conv3x3_wide_kernel`` for the other 3x3, stride-1 convolutions at any dilation (few output
  channels, narrow images, CPUs without AVX-512). It treats each zero-padded input plane as one flat
  row of Hb*Wb values and computes a "wide" output over the same row pitch Wb: every tap is then one
  contiguous shifted slice of that plane, the inner loop runs over hundreds of pixels with no index
  arithmetic, and the Wb - Wo extra columns per row are computed and discarded. Four output
  channels share each loaded input vector; accumulators start at the bias; bias, ReLU and the
  scatter to the (possibly strided) destination are fused into the last pass.
- ``_conv2d_rows_kernel``, the general case (any kernel size and stride), one output row at a time.

A 3x3 stride-2 conv (the model's first layer) is rewritten by space-to-depth: the padded input
splits into its four (row, column) parity phases, 4*C planes at half size, and the conv becomes a
stride-1 2x2 conv over them (``space_to_depth_weights``; the wide kernel runs it as a 3x3 whose
third row and column are zero). That is 16/9 (wide kernel: 4x) the multiply-adds of the original,
on a fast kernel, and far quicker than strided loads.

``conv2d_padded`` takes an input that already carries a zero border, so a caller that keeps its
activations in bordered buffers (nnlite.graph) never copies them to pad.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import VECTORS_512_BIT, carray, kernels_on, njit, prange, stack_floats
from nnlite.errors import ShapeError
from nnlite.ops._checks import as_window, check_window, pair, require_array, require_out
from nnlite.ops.conv_pixels import CHANNELS as PIXEL_BLOCK_CHANNELS
from nnlite.ops.conv_pixels import PIXELS as PIXELS_KERNEL_BLOCK
from nnlite.ops.conv_pixels import pack_pixels_weights, pixels_kernel_for, pixels_taps

LANES = 16  # output channels per vector in the lanes kernel: 16 float32 fill a 512-bit register
PIXEL_BLOCK = 16  # pixels per lanes-kernel block: 16 accumulators + 1 weight vector of the 32 registers
BLOCK_GROUP = 4  # pixel blocks that share each chunk of input channels
CHANNEL_CHUNK = 16  # input channels per pass over a block group: 16 x 9 weight vectors = 9 KB
# below 12 output channels most of each vector idles: in bench.ops the lanes kernel was 1.2-1.4x
# slower than the wide one on the 11->8 feathering conv and 2.2x slower on the 64->2 final conv
LANES_MIN_CHANNELS = 12
# the "pixels" kernel (nnlite/ops/conv_pixels.py) for the thin convs in between: 1.3-2x faster than
# the wide one on the feathering block's 11->8 and 8->3 at 256 px; with 2 output channels (the
# 64->2 final conv) most of its vector of sums idles and the wide kernel wins
PIXELS_MIN_CHANNELS = 3
WIDE_CHUNK = 512  # pixels per accumulator strip: 4 strips of 2 KB stay in L1
CHANNEL_BLOCK = 4
# strips 64 bytes longer than a chunk: at exactly 2 KB apart, the store to one accumulator and the
# load from the one two strips on sit 4 KB apart, and the CPU stalls the load as if it depended on
# the store (4K aliasing)
STRIP_PITCH = WIDE_CHUNK + 16


def conv2d_output_shape(x_shape, weight_shape, stride=1, padding=0, dilation=1):
    n, c, h, w = x_shape
    k, cw, r, s = weight_shape
    (sh, sw), (ph, pw), (dh, dw) = pair("stride", stride), pair("padding", padding), pair("dilation", dilation)
    ho = (h + 2 * ph - dh * (r - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (s - 1) - 1) // sw + 1
    return n, k, ho, wo


def zero_padded_input(op, x, kernel_hw, stride, padding, dilation):
    """(x with `padding` zeros around each plane, or x itself without padding; output (Ho, Wo)),
    for the conv ops' plain (unbordered) entry points."""
    ph, pw = pair("padding", padding)
    if ph < 0 or pw < 0:
        raise ShapeError(f"padding: must be >= 0, got {padding}")
    n, c, h, w = x.shape
    _, _, ho, wo = conv2d_output_shape(x.shape, (1, c) + tuple(kernel_hw), stride, padding, dilation)
    if ho < 1 or wo < 1:
        raise ShapeError(f"{op}: a {h}x{w} input is too small for a {kernel_hw[0]}x{kernel_hw[1]} kernel at dilation "
                         f"{dilation} and padding {padding}")
    if not (ph or pw):
        return x, (ho, wo)
    xpad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), np.float32)  # np.zeros and one copy: np.pad takes twice as long
    xpad[:, :, ph: ph + h, pw: pw + w] = x
    return xpad, (ho, wo)


def conv2d_reference(x, weight, bias=None, stride=1, padding=0, dilation=1, relu=False):
    """Slow and obviously right: one window dot product per output pixel, in float64."""
    (sh, sw), (ph, pw), (dh, dw) = pair("stride", stride), pair("padding", padding), pair("dilation", dilation)
    n, k, ho, wo = conv2d_output_shape(x.shape, weight.shape, stride, padding, dilation)
    r, s = weight.shape[2:]
    xpad = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, k, ho, wo))
    for y in range(ho):
        for x_ in range(wo):
            window = xpad[:, :, y * sh: y * sh + dh * (r - 1) + 1: dh, x_ * sw: x_ * sw + dw * (s - 1) + 1: dw]
            out[:, :, y, x_] = np.tensordot(window, weight.astype(np.float64), axes=([1, 2, 3], [1, 2, 3]))
    if bias is not None:
        out += bias[None, :, None, None]
    if relu:
        out = np.maximum(out, 0)
    return out.astype(np.float32)


@njit(parallel=True, fastmath=True)
def _conv3x3_wide_kernel(xpad, first_channel, weight, bias, oy, ox, dil, hout, wout, relu, out):
    batch, hb, wb = xpad.shape[0], xpad.shape[2], xpad.shape[3]
    cout, cin = weight.shape[0], weight.shape[1]
    planes = xpad.reshape(batch, xpad.shape[1], hb * wb)
    length = (hout - 1) * wb + wout
    chunks = (length + WIDE_CHUNK - 1) // WIDE_CHUNK
    blocks = (cout + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK
    jobs = batch * blocks * chunks
    # accumulator strips on a 64-byte boundary: a large np.empty comes from mmap at 16 bytes past a
    # page, and then every 64-byte vector load and store of an accumulator splits a cache line
    size = jobs * CHANNEL_BLOCK * STRIP_PITCH
    raw = np.empty(size + 16, np.float32)
    shift = (64 - raw.ctypes.data % 64) % 64 // 4
    strips = raw[shift: shift + size].reshape((jobs, CHANNEL_BLOCK, STRIP_PITCH))
    row = dil * wb
    for job in prange(jobs):
        b = job // (blocks * chunks)
        c0 = (job // chunks) % blocks * CHANNEL_BLOCK
        p0 = (job % chunks) * WIDE_CHUNK
        n = min(WIDE_CHUNK, length - p0)
        # a short last block repeats its last channel: same value written twice, no branch inside
        c1, c2, c3 = min(c0 + 1, cout - 1), min(c0 + 2, cout - 1), min(c0 + 3, cout - 1)
        a0, a1, a2, a3 = strips[job, 0], strips[job, 1], strips[job, 2], strips[job, 3]
        for i in range(n):
            a0[i] = bias[c0]
            a1[i] = bias[c1]
            a2[i] = bias[c2]
            a3[i] = bias[c3]
        base = p0 + oy * wb + ox
        for ci in range(cin):
            plane = planes[b, first_channel + ci]
            t0 = plane[base: base + n]
            t1 = plane[base + dil: base + dil + n]
            t2 = plane[base + 2 * dil: base + 2 * dil + n]
            t3 = plane[base + row: base + row + n]
            t4 = plane[base + row + dil: base + row + dil + n]
            t5 = plane[base + row + 2 * dil: base + row + 2 * dil + n]
            t6 = plane[base + 2 * row: base + 2 * row + n]
            t7 = plane[base + 2 * row + dil: base + 2 * row + dil + n]
            t8 = plane[base + 2 * row + 2 * dil: base + 2 * row + 2 * dil + n]
            w0, w1, w2, w3 = weight[c0, ci], weight[c1, ci], weight[c2, ci], weight[c3, ci]
            u00, u01, u02, u03, u04, u05, u06, u07, u08 = w0[0, 0], w0[0, 1], w0[0, 2], w0[1, 0], w0[1, 1], w0[1, 2], w0[2, 0], w0[2, 1], w0[2, 2]
            u10, u11, u12, u13, u14, u15, u16, u17, u18 = w1[0, 0], w1[0, 1], w1[0, 2], w1[1, 0], w1[1, 1], w1[1, 2], w1[2, 0], w1[2, 1], w1[2, 2]
            u20, u21, u22, u23, u24, u25, u26, u27, u28 = w2[0, 0], w2[0, 1], w2[0, 2], w2[1, 0], w2[1, 1], w2[1, 2], w2[2, 0], w2[2, 1], w2[2, 2]
            u30, u31, u32, u33, u34, u35, u36, u37, u38 = w3[0, 0], w3[0, 1], w3[0, 2], w3[1, 0], w3[1, 1], w3[1, 2], w3[2, 0], w3[2, 1], w3[2, 2]
            # two partial sums per output: two shorter chains of dependent FMAs instead of one of
            # nine, so the FMA unit is not left waiting on its own latency (a few %, near bench.ops noise)
            for i in range(n):
                v0, v1, v2, v3, v4, v5, v6, v7, v8 = t0[i], t1[i], t2[i], t3[i], t4[i], t5[i], t6[i], t7[i], t8[i]
                a0[i] = (a0[i] + u00 * v0 + u01 * v1 + u02 * v2 + u03 * v3) + (u04 * v4 + u05 * v5 + u06 * v6 + u07 * v7 + u08 * v8)
                a1[i] = (a1[i] + u10 * v0 + u11 * v1 + u12 * v2 + u13 * v3) + (u14 * v4 + u15 * v5 + u16 * v6 + u17 * v7 + u18 * v8)
                a2[i] = (a2[i] + u20 * v0 + u21 * v1 + u22 * v2 + u23 * v3) + (u24 * v4 + u25 * v5 + u26 * v6 + u27 * v7 + u28 * v8)
                a3[i] = (a3[i] + u30 * v0 + u31 * v1 + u32 * v2 + u33 * v3) + (u34 * v4 + u35 * v5 + u36 * v6 + u37 * v7 + u38 * v8)
        # scatter row by row: one division per strip, not one per pixel (a 64-bit divmod per
        # pixel cost as much as a third of the work of the thinner layers)
        y, x = divmod(p0, wb)
        i = 0
        while i < n:
            run = min(wb - x, n - i)  # this wide row's pixels within the strip
            keep = min(max(wout - x, 0), run)  # those that are real output columns
            o0, o1, o2, o3 = out[b, c0, y], out[b, c1, y], out[b, c2, y], out[b, c3, y]
            if relu:
                for j in range(keep):
                    o0[x + j] = max(a0[i + j], 0.0)
                    o1[x + j] = max(a1[i + j], 0.0)
                    o2[x + j] = max(a2[i + j], 0.0)
                    o3[x + j] = max(a3[i + j], 0.0)
            else:
                for j in range(keep):
                    o0[x + j] = a0[i + j]
                    o1[x + j] = a1[i + j]
                    o2[x + j] = a2[i + j]
                    o3[x + j] = a3[i + j]
            i += run
            y += 1
            x = 0
    return out


@njit(parallel=True, fastmath=True)
def _conv_lanes_kernel(xpad, first_channel, wpack, taps, bias, oy, ox, hout, wout, relu, out):
    batch, hb, wb = xpad.shape[0], xpad.shape[2], xpad.shape[3]
    cblocks, cin, cout = wpack.shape[0], wpack.shape[1], out.shape[1]
    planes = xpad.reshape(batch, xpad.shape[1], hb * wb)
    xblocks = (wout + PIXEL_BLOCK - 1) // PIXEL_BLOCK
    groups = (xblocks + BLOCK_GROUP - 1) // BLOCK_GROUP
    for job in prange(batch * cblocks * hout * groups):
        b = job // (cblocks * hout * groups)
        cb = job // (hout * groups) % cblocks
        y = job // groups % hout
        first_block = job % groups * BLOCK_GROUP
        blocks = min(BLOCK_GROUP, xblocks - first_block)
        acc = carray(stack_floats(256), 256)  # acc[16 * pixel + lane]: LANES == PIXEL_BLOCK == 16
        # the group's partial sums between input-channel chunks: each chunk's inputs and weights
        # then stay in L1 while the group's blocks reuse them
        partial = carray(stack_floats(1024), 1024)  # BLOCK_GROUP * 256
        for ci0 in range(0, cin, CHANNEL_CHUNK):
            for g in range(blocks):
                # a row's last block moves left to end where the row ends: it recomputes some of
                # its neighbour's pixels rather than read past the window
                x0 = min((first_block + g) * PIXEL_BLOCK, wout - PIXEL_BLOCK)
                p0 = (oy + y) * wb + ox + x0
                saved = partial[g * 256: g * 256 + 256]
                if ci0 == 0:
                    for k in range(LANES):
                        bk = bias[cb * LANES + k]
                        acc[0 + k] = bk; acc[16 + k] = bk; acc[32 + k] = bk; acc[48 + k] = bk
                        acc[64 + k] = bk; acc[80 + k] = bk; acc[96 + k] = bk; acc[112 + k] = bk
                        acc[128 + k] = bk; acc[144 + k] = bk; acc[160 + k] = bk; acc[176 + k] = bk
                        acc[192 + k] = bk; acc[208 + k] = bk; acc[224 + k] = bk; acc[240 + k] = bk
                else:
                    for i in range(256):
                        acc[i] = saved[i]
                for ci in range(ci0, min(ci0 + CHANNEL_CHUNK, cin)):
                    plane = planes[b, first_channel + ci]
                    wc = wpack[cb, ci]
                    for t in range(taps.shape[0]):
                        src = plane[p0 + taps[t]: p0 + taps[t] + PIXEL_BLOCK]
                        wv = wc[t]
                        # the pixel loop unrolled by hand: then LLVM turns the lane loop into one
                        # vector multiply-add per pixel and keeps all 16 sums in registers
                        v0, v1, v2, v3, v4, v5, v6, v7 = src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7]
                        v8, v9, v10, v11, v12, v13, v14, v15 = src[8], src[9], src[10], src[11], src[12], src[13], src[14], src[15]
                        for k in range(LANES):
                            w = wv[k]
                            acc[0 + k] += v0 * w; acc[16 + k] += v1 * w; acc[32 + k] += v2 * w; acc[48 + k] += v3 * w
                            acc[64 + k] += v4 * w; acc[80 + k] += v5 * w; acc[96 + k] += v6 * w; acc[112 + k] += v7 * w
                            acc[128 + k] += v8 * w; acc[144 + k] += v9 * w; acc[160 + k] += v10 * w; acc[176 + k] += v11 * w
                            acc[192 + k] += v12 * w; acc[208 + k] += v13 * w; acc[224 + k] += v14 * w; acc[240 + k] += v15 * w
                if ci0 + CHANNEL_CHUNK < cin:
                    for i in range(256):
                        saved[i] = acc[i]
                else:
                    for k in range(min(LANES, cout - cb * LANES)):
                        dst = out[b, cb * LANES + k, y]
                        for q in range(PIXEL_BLOCK):
                            value = acc[16 * q + k]
                            dst[x0 + q] = max(value, 0.0) if relu else value
    return out


def pack_lanes_weights(weight):
    """K x C x R x S -> ceil(K/16) x C x R*S x 16: a tap's weights for 16 output channels side by
    side (one vector), zero for the channels past K."""
    k, c, r, s = weight.shape
    blocks = (k + LANES - 1) // LANES
    packed = np.zeros((blocks * LANES, c, r * s), np.float32)
    packed[:k] = weight.reshape(k, c, r * s)
    return np.ascontiguousarray(packed.reshape(blocks, LANES, c, r * s).transpose(0, 2, 3, 1))


def conv2d_kernel_name(weight_shape, stride=1, dilation=1, out_width=1):
    """The kernel conv2d runs for a layer: "lanes", "pixels", "wide", "rows" or "numpy" (benchmarks print it)."""
    cout, _, kh, kw = weight_shape
    (sh, sw), (dh, dw) = pair("stride", stride), pair("dilation", dilation)
    if not kernels_on():
        return "numpy"
    if sh == sw == 1 and PIXELS_MIN_CHANNELS <= cout < LANES_MIN_CHANNELS:
        return "pixels"
    if kh == kw == 3 and sh == sw == 2 and dh == dw == 1 and cout >= PIXELS_MIN_CHANNELS:
        return "pixels"  # on the space-to-depth rewrite: 0.40 ms against 0.54 (lanes) for 3->13 at 256 px
    if (sh == sw == 1 and dh == dw) or (kh == kw == 3 and sh == sw == 2 and dh == dw == 1):
        if VECTORS_512_BIT and cout >= LANES_MIN_CHANNELS and out_width >= PIXEL_BLOCK:
            return "lanes"
        if kh == kw == 3:
            return "wide"
    return "rows"


def _run_lanes(xpad, first_channel, weight, bias, oy, ox, dil, hout, wout, relu, out):
    cout, _, kh, kw = weight.shape
    wb = xpad.shape[3]
    taps = np.array([r * dil * wb + s * dil for r in range(kh) for s in range(kw)], np.int64)
    padded_bias = np.zeros(-(-cout // LANES) * LANES, np.float32)
    padded_bias[:cout] = bias
    return _conv_lanes_kernel(xpad, first_channel, pack_lanes_weights(weight), taps, padded_bias,
                              oy, ox, hout, wout, relu, out)


def _run_pixels(xpad, first_channel, weight, bias, oy, ox, dilation, hout, wout, relu, out):
    cout = weight.shape[0]
    packed = pack_pixels_weights(weight)
    padded_bias = np.zeros(packed.shape[0] * PIXEL_BLOCK_CHANNELS, np.float32)
    padded_bias[:cout] = bias
    window = as_window(out)
    pixels_kernel_for(wout)(xpad, first_channel, oy, ox, hout, wout, pixels_taps(weight.shape[2:], dilation, xpad.shape[3]),
                        packed, padded_bias, cout, *window, False, 1 if relu else 0, *window)
    return out


@njit(parallel=True, fastmath=True)
def _conv2d_rows_kernel(xpad, first_channel, weight, bias, oy, ox, sh, sw, dh, dw, hout, wout, relu, out):
    batch = xpad.shape[0]
    cout, cin, kh, kw = weight.shape
    jobs = batch * cout * hout
    rows = np.empty((jobs, wout), np.float32)
    for job in prange(jobs):
        b = job // (cout * hout)
        co = (job // hout) % cout
        y = job % hout
        acc = rows[job]
        acc[:] = bias[co]
        for ci in range(cin):
            for r in range(kh):
                src = xpad[b, first_channel + ci, oy + y * sh + r * dh]
                for s in range(kw):
                    wv = weight[co, ci, r, s]
                    start = ox + s * dw
                    for x in range(wout):
                        acc[x] += wv * src[start + x * sw]
        for x in range(wout):
            out[b, co, y, x] = max(acc[x], 0.0) if relu else acc[x]
    return out


def _conv2d_numpy(xpad, first_channel, weight, bias, oy, ox, sh, sw, dh, dw, hout, wout, relu, out):
    """Vectorised fallback: one (K x C) @ (C x Ho*Wo) matrix product per tap."""
    batch = xpad.shape[0]
    cout, cin, kh, kw = weight.shape
    xpad = xpad[:, first_channel: first_channel + cin]
    acc = np.zeros((batch, cout, hout * wout), np.float32)
    for r in range(kh):
        for s in range(kw):
            y0, x0 = oy + r * dh, ox + s * dw
            tap = xpad[:, :, y0: y0 + sh * (hout - 1) + 1: sh, x0: x0 + sw * (wout - 1) + 1: sw]
            acc += np.matmul(weight[:, :, r, s], tap.reshape(batch, cin, hout * wout))
    acc += bias[None, :, None]
    if relu:
        np.maximum(acc, 0, out=acc)
    out[...] = acc.reshape(batch, cout, hout, wout)
    return out


def space_to_depth_weights(weight):
    """K x C x 3 x 3 stride-2 weights -> K x 4C x 3 x 3 stride-1 weights over the parity phases.

    Phase plane (c, py, px) holds xpad[2i + py, 2j + px]; tap r of the original = 2*qy + py.
    """
    k, c = weight.shape[:2]
    phased = np.zeros((k, c, 2, 2, 3, 3), np.float32)
    for r in range(3):
        for s in range(3):
            phased[:, :, r % 2, s % 2, r // 2, s // 2] = weight[:, :, r, s]
    return phased.reshape(k, 4 * c, 3, 3)


def _space_to_depth(xpad, first_channel, cin, oy, ox, hout, wout, phases=None):
    """N x 4C x (Ho + 2) x (Wo + 2) parity phases of the window, zero beyond it; into `phases`
    (N x C x 2 x 2 x (Ho + 2) x (Wo + 2), zeroed once by the caller) when given: each call
    writes the same region of it, so what lies beyond stays zero."""
    batch = xpad.shape[0]
    if phases is None:
        phases = np.zeros((batch, cin, 2, 2, hout + 2, wout + 2), np.float32)
    window = xpad[:, first_channel: first_channel + cin, oy:, ox:]
    for py in range(2):
        for px in range(2):
            part = window[:, :, py::2, px::2][:, :, : hout + 1, : wout + 1]
            phases[:, :, py, px, : part.shape[2], : part.shape[3]] = part
    return phases.reshape(batch, 4 * cin, hout + 2, wout + 2)


def conv2d_padded(xpad, weight, bias, origin, out_size, stride=1, dilation=1, relu=False, out=None, first_channel=0):
    """conv2d over a window of an already zero-padded input.

    xpad: N x Cb x Hb x Wb, C-contiguous, zero wherever the window reaches outside the real image;
    the conv reads channels first_channel .. first_channel + C - 1 (C = weight.shape[1]), so a layer
    can read the leading channels of a shared concat buffer without a copy.
    origin: (oy, ox), the window's top-left corner in xpad (the padded image starts there).
    out_size: (Ho, Wo). out: N x K x Ho x Wo, may be a strided view (e.g. a slice of a concat buffer).
    """
    require_array("x", xpad, 4, "N x C x H x W")
    require_array("weight", weight, 4, "K x C x R x S")
    if first_channel < 0 or first_channel + weight.shape[1] > xpad.shape[1]:
        raise ShapeError(f"weight: expects {weight.shape[1]} input channels from channel {first_channel}, x has {xpad.shape[1]}")
    cout, _, kh, kw = weight.shape
    bias = np.zeros(cout, np.float32) if bias is None else require_array("bias", bias, 1, "K")
    if bias.shape[0] != cout:
        raise ShapeError(f"bias: expected {cout} values, got {bias.shape[0]}")
    sh, sw, dh, dw, oy, ox, hout, wout = check_window("conv2d", xpad, origin, out_size, stride, dilation, (kh, kw))
    out = require_out(out, (xpad.shape[0], cout, hout, wout))
    xpad = np.ascontiguousarray(xpad)
    weight = np.ascontiguousarray(weight)
    kernel = conv2d_kernel_name(weight.shape, stride, dilation, wout)
    if kernel == "pixels" and (hout - 1) * xpad.shape[3] + wout < PIXELS_KERNEL_BLOCK:
        kernel = "wide" if kh == kw == 3 else "rows"  # fewer pixels than one block of the pixels kernel
    if kernel == "numpy":
        return _conv2d_numpy(xpad, first_channel, weight, bias, oy, ox, sh, sw, dh, dw, hout, wout, relu, out)
    if kernel == "rows":
        return _conv2d_rows_kernel(xpad, first_channel, weight, bias, oy, ox, sh, sw, dh, dw, hout, wout, relu, out)

    if sh == 2:  # the 3x3 stride-2 conv, as a stride-1 conv over the input's parity phases
        xpad = _space_to_depth(xpad, first_channel, weight.shape[1], oy, ox, hout, wout)
        weight = space_to_depth_weights(weight)
        if kernel in ("lanes", "pixels"):
            weight = np.ascontiguousarray(weight[:, :, :2, :2])  # a 2x2 conv: skip the zero taps
        first_channel, oy, ox, dh = 0, 0, 0, 1
    if kernel == "pixels":
        return _run_pixels(xpad, first_channel, weight, bias, oy, ox, (dh, dh), hout, wout, relu, out)
    if kernel == "lanes":
        return _run_lanes(xpad, first_channel, weight, bias, oy, ox, dh, hout, wout, relu, out)
    return _conv3x3_wide_kernel(xpad, first_channel, weight, bias, oy, ox, dh, hout, wout, relu, out)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, relu=False, out=None):
    """torch.nn.functional.conv2d (+ ReLU) on N x C x H x W float32; see the module docstring."""
    require_array("x", x, 4, "N x C x H x W")
    require_array("weight", weight, 4, "K x C x R x S")
    xpad, (ho, wo) = zero_padded_input("conv2d", x, weight.shape[2:], stride, padding, dilation)
    return conv2d_padded(xpad, weight, bias, (0, 0), (ho, wo), stride, dilation, relu, out)
