"""The "pixels" convolution kernel: vectors over output pixels, a block of output channels' sums in
registers. Shared by pointwise_conv2d (1x1) and conv2d (thin stride-1 convs, the feathering block).

A block of PIXELS (16) output pixels times CHANNELS output channels keeps its sums in a stack
buffer that LLVM promotes to registers, for the whole loop over input channels and taps; each
multiply-add takes one weight broadcast from memory and the block's input vector(s) for that
channel and tap, loaded once for all the block's channels. A job is a run of blocks over all output channels, so a block's inputs
stay in L1 while every channel block reads them.

The pixels are taken as one flat run over the input's row pitch (as conv2d's wide kernel does):
the columns between the output's rows (the border of a padded input) are computed and thrown
away, which costs little and lets blocks span rows, so 8x8 planes at 1/32 of the input still
fill whole vectors. The last block of a run moves left to end where the run ends. Bias, an
optional residual input and the activation are applied while the sums are written out.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import VECTORS_512_BIT, carray, njit, prange, prefetch, stack_floats, store_bias_act_row
from nnlite.ops.activation import ACTIVATION_CODES, activate

SIGMOID = ACTIVATION_CODES["sigmoid"]

# Pixels per block: 16 on every CPU, one vector of AVX-512, two of AVX2, four of NEON. Not fewer:
# LLVM's loop vectoriser leaves loops of a constant trip count below 16 to scalar code, and the
# 8-pixel blocks that AVX2 and NEON once had compiled to scalar multiply-adds (found with
# bench.ops --emulate-avx2 once the emulation really turned AVX-512 off).
PIXELS = 16
# Output channels per block: 16 (16 vectors of sums of the 32 registers of AVX-512; 8 would leave
# the multiply-adds waiting on their own latency); 4 on AVX2 and NEON (4 x 2 vectors of sums of the
# 16 registers of AVX2, 4 x 4 of the 32 of NEON, beside the weights and the inputs).
CHANNELS = 16 if VECTORS_512_BIT else 4
BLOCKS_PER_JOB = 8
U_PIXELS = np.uint64(PIXELS)


def pack_pixels_weights(weight):
    """K x C x R x S -> ceil(K/CHANNELS) x C x R*S x CHANNELS: for each input channel and tap, the
    weights of a block of output channels side by side, zero past K."""
    k, c, r, s = weight.shape
    blocks = -(-k // CHANNELS)
    packed = np.zeros((blocks * CHANNELS, c, r * s), np.float32)
    packed[:k] = weight.reshape(k, c, r * s)
    return np.ascontiguousarray(packed.reshape(blocks, CHANNELS, c, r * s).transpose(0, 2, 3, 1))


def pixels_taps(kernel_size, dilation, pitch):
    """uint64 flat offsets of the taps of a kernel_size (R, S) filter in an input of row pitch `pitch`."""
    (r, s), (dh, dw) = kernel_size, dilation
    return np.array([i * dh * pitch + j * dw for i in range(r) for j in range(s)], np.uint64)


@njit(fastmath=True, inline="always")
def write_block(of, dst, o_plane, acc, bias, first, sf, res, s_plane, has_skip, code, kcount):
    """Writes a block's whole rows, act(sums + bias [+ skip]), channel by channel: kcount rows of
    PIXELS values from the sums acc (CHANNELS x PIXELS) to of[dst + k * o_plane], reading the skip at
    sf[res + k * s_plane] and the bias at bias[first + k]. Activations 0-2 only (sigmoid: the caller's
    scalar loop).

    One call per channel with the channel a constant: each then reads its sums at a fixed place in
    the stack buffer, which LLVM forwards from the registers that held them (a loop over the
    channels reads them at a variable place, so every sum went through memory in the multiply-add
    loop as well), and store_bias_act_row makes the write one vector operation (a 16-value loop
    written in Numba stays scalar, and cost more than the multiply-adds for small channel counts)."""
    store_bias_act_row(of, dst + np.uint64(0) * o_plane, acc, 0, bias[first + 0], sf, res + np.uint64(0) * s_plane, has_skip, code)
    if kcount > 1:
        store_bias_act_row(of, dst + np.uint64(1) * o_plane, acc, 16, bias[first + 1], sf, res + np.uint64(1) * s_plane, has_skip, code)
    if kcount > 2:
        store_bias_act_row(of, dst + np.uint64(2) * o_plane, acc, 32, bias[first + 2], sf, res + np.uint64(2) * s_plane, has_skip, code)
    if kcount > 3:
        store_bias_act_row(of, dst + np.uint64(3) * o_plane, acc, 48, bias[first + 3], sf, res + np.uint64(3) * s_plane, has_skip, code)
    if kcount > 4:
        store_bias_act_row(of, dst + np.uint64(4) * o_plane, acc, 64, bias[first + 4], sf, res + np.uint64(4) * s_plane, has_skip, code)
    if kcount > 5:
        store_bias_act_row(of, dst + np.uint64(5) * o_plane, acc, 80, bias[first + 5], sf, res + np.uint64(5) * s_plane, has_skip, code)
    if kcount > 6:
        store_bias_act_row(of, dst + np.uint64(6) * o_plane, acc, 96, bias[first + 6], sf, res + np.uint64(6) * s_plane, has_skip, code)
    if kcount > 7:
        store_bias_act_row(of, dst + np.uint64(7) * o_plane, acc, 112, bias[first + 7], sf, res + np.uint64(7) * s_plane, has_skip, code)
    if kcount > 8:
        store_bias_act_row(of, dst + np.uint64(8) * o_plane, acc, 128, bias[first + 8], sf, res + np.uint64(8) * s_plane, has_skip, code)
    if kcount > 9:
        store_bias_act_row(of, dst + np.uint64(9) * o_plane, acc, 144, bias[first + 9], sf, res + np.uint64(9) * s_plane, has_skip, code)
    if kcount > 10:
        store_bias_act_row(of, dst + np.uint64(10) * o_plane, acc, 160, bias[first + 10], sf, res + np.uint64(10) * s_plane, has_skip, code)
    if kcount > 11:
        store_bias_act_row(of, dst + np.uint64(11) * o_plane, acc, 176, bias[first + 11], sf, res + np.uint64(11) * s_plane, has_skip, code)
    if kcount > 12:
        store_bias_act_row(of, dst + np.uint64(12) * o_plane, acc, 192, bias[first + 12], sf, res + np.uint64(12) * s_plane, has_skip, code)
    if kcount > 13:
        store_bias_act_row(of, dst + np.uint64(13) * o_plane, acc, 208, bias[first + 13], sf, res + np.uint64(13) * s_plane, has_skip, code)
    if kcount > 14:
        store_bias_act_row(of, dst + np.uint64(14) * o_plane, acc, 224, bias[first + 14], sf, res + np.uint64(14) * s_plane, has_skip, code)
    if kcount > 15:
        store_bias_act_row(of, dst + np.uint64(15) * o_plane, acc, 240, bias[first + 15], sf, res + np.uint64(15) * s_plane, has_skip, code)


@njit(parallel=True, fastmath=True)
def _conv_pixels_kernel(xbuf, x_first, x_oy, x_ox, height, width, taps, wpack, bias, cout,
                      sbuf, s_first, s_oy, s_ox, has_skip, code, obuf, o_first, o_oy, o_ox):
    """Each array is a whole C-contiguous N x C x H x W buffer with a window given by its first
    channel and the top-left corner (oy, ox): of the padded input window for x, of the height x
    width output for out and skip. taps: uint64 flat offset of each filter tap in the input
    (r * dilation * W + s * dilation); wpack: blocks x C x taps x CHANNELS. Indices into the
    flattened buffers are uint64: Numba then adds no wraparound for negative indices, which
    made LLVM turn the loops into gathers and scatters, and no array views are made inside the
    loops (each view costs reference counting)."""
    batch, xc, xh, xw = xbuf.shape
    sc, sh, sw = sbuf.shape[1], sbuf.shape[2], sbuf.shape[3]
    oc, oh, ow = obuf.shape[1], obuf.shape[2], obuf.shape[3]
    cblocks, cin, ntaps = wpack.shape[0], wpack.shape[1], wpack.shape[2]
    xf, sf, of = xbuf.reshape(-1), sbuf.reshape(-1), obuf.reshape(-1)
    x_plane = np.uint64(xh * xw)
    o_plane, s_plane = np.uint64(oh * ow), np.uint64(sh * sw)
    run = (height - 1) * xw + width
    blocks = (run + PIXELS - 1) // PIXELS
    groups = (blocks + BLOCKS_PER_JOB - 1) // BLOCKS_PER_JOB
    for job in prange(batch * groups):
        b = job // groups
        first_block = job % groups * BLOCKS_PER_JOB
        acc = carray(stack_floats(256), (CHANNELS, PIXELS))  # CHANNELS * PIXELS <= 256
        for blk in range(first_block, min(first_block + BLOCKS_PER_JOB, blocks)):
            q0 = min(blk * PIXELS, run - PIXELS)
            in0 = np.uint64(((b * xc + x_first) * xh + x_oy) * xw + x_ox + q0)
            # the next block's inputs, one cache line per input channel, while this block computes:
            # a block reads one line of each of its C planes, more streams than the hardware
            # prefetcher follows when the input is not in the caches already
            ahead = np.uint64(min((blk + 1) * PIXELS, run - PIXELS) - q0) + in0
            for ci in range(cin):
                prefetch(xf, ahead + np.uint64(ci) * x_plane)
            for cb in range(cblocks):
                kcount = min(CHANNELS, cout - cb * CHANNELS)
                for k in range(CHANNELS):
                    for q in range(U_PIXELS):
                        acc[k, q] = 0.0
                for ci in range(cin):
                    for t in range(ntaps):
                        src = in0 + np.uint64(ci) * x_plane + taps[t]
                        wv = wpack[cb, ci, t]
                        # the channel loop unrolled by hand: LLVM then makes the pixel loop one
                        # vector multiply-add per channel and vector, sums kept in registers (a loop
                        # over the channels was compiled to gathers); with CHANNELS 16, a block of at
                        # most 8 real channels (24 = 16 + 8) takes the 8-channel body
                        if CHANNELS == 16 and kcount > 8:
                            w0, w1, w2, w3, w4, w5, w6, w7 = wv[0], wv[1], wv[2], wv[3], wv[4], wv[5], wv[6], wv[7]
                            w8, w9, w10, w11, w12, w13, w14, w15 = wv[8], wv[9], wv[10], wv[11], wv[12], wv[13], wv[14], wv[15]
                            for q in range(U_PIXELS):
                                v = xf[src + q]
                                acc[0, q] += w0 * v; acc[1, q] += w1 * v; acc[2, q] += w2 * v; acc[3, q] += w3 * v
                                acc[4, q] += w4 * v; acc[5, q] += w5 * v; acc[6, q] += w6 * v; acc[7, q] += w7 * v
                                acc[8, q] += w8 * v; acc[9, q] += w9 * v; acc[10, q] += w10 * v; acc[11, q] += w11 * v
                                acc[12, q] += w12 * v; acc[13, q] += w13 * v; acc[14, q] += w14 * v; acc[15, q] += w15 * v
                        elif CHANNELS == 16:
                            w0, w1, w2, w3, w4, w5, w6, w7 = wv[0], wv[1], wv[2], wv[3], wv[4], wv[5], wv[6], wv[7]
                            for q in range(U_PIXELS):
                                v = xf[src + q]
                                acc[0, q] += w0 * v; acc[1, q] += w1 * v; acc[2, q] += w2 * v; acc[3, q] += w3 * v
                                acc[4, q] += w4 * v; acc[5, q] += w5 * v; acc[6, q] += w6 * v; acc[7, q] += w7 * v
                        else:
                            w0, w1, w2, w3 = wv[0], wv[1], wv[2], wv[3]
                            for q in range(U_PIXELS):
                                v = xf[src + q]
                                acc[0, q] += w0 * v; acc[1, q] += w1 * v; acc[2, q] += w2 * v; acc[3, q] += w3 * v
                # the block's wide positions, row segment by row segment (border columns dropped)
                y, x = q0 // xw, q0 % xw
                done = 0
                while done < PIXELS:
                    span = min(xw - x, PIXELS - done)
                    keep = np.uint64(min(max(width - x, 0), span))
                    first = np.uint64(done)
                    if keep == U_PIXELS and code != SIGMOID:  # a whole block's row: the common case
                        dst = np.uint64(((b * oc + o_first + cb * CHANNELS) * oh + o_oy + y) * ow + o_ox + x)
                        res = np.uint64(((b * sc + s_first + cb * CHANNELS) * sh + s_oy + y) * sw + s_ox + x)
                        write_block(of, dst, o_plane, acc, bias, cb * CHANNELS, sf, res, s_plane, has_skip, code, kcount)
                        keep = np.uint64(0)
                    for k in range(kcount if keep > 0 else 0):
                        kk = cb * CHANNELS + k
                        bk = bias[kk]
                        dst = np.uint64(((b * oc + o_first + kk) * oh + o_oy + y) * ow + o_ox + x)
                        if has_skip:
                            res = np.uint64(((b * sc + s_first + kk) * sh + s_oy + y) * sw + s_ox + x)
                            for j in range(keep):
                                of[dst + j] = activate(acc[k, first + j] + bk + sf[res + j], code)
                        else:
                            for j in range(keep):
                                of[dst + j] = activate(acc[k, first + j] + bk, code)
                    done += span
                    y += 1
                    x = 0
    return obuf


@njit(fastmath=True, inline="always")
def _two_blocks(xf, row_in, width, cin, ntaps, x_plane, taps, wpack, cb, acc, pair, of, row_out, o_plane, bias,
                sf, row_skip, s_plane, has_skip, code, kcount):
    """_pixel_rows_kernel's row for one block of at most 8 output channels, two blocks of pixels
    (sums in acc and pair) per pass over the inputs."""
    row_blocks = (width + PIXELS - 1) // PIXELS
    for rp in range(0, row_blocks, 2):
        xa = np.uint64(min(rp * PIXELS, width - PIXELS))
        xb = np.uint64(min((rp + 1) * PIXELS, width - PIXELS))  # = xa for the last block of an odd count
        for k in range(8):
            for q in range(U_PIXELS):
                acc[k, q] = 0.0
                pair[k, q] = 0.0
        for ci in range(cin):
            for t in range(ntaps):
                src = row_in + np.uint64(ci) * x_plane + taps[t]
                wv = wpack[cb, ci, t]
                w0, w1, w2, w3, w4, w5, w6, w7 = wv[0], wv[1], wv[2], wv[3], wv[4], wv[5], wv[6], wv[7]
                for q in range(U_PIXELS):
                    va = xf[src + xa + q]
                    vb = xf[src + xb + q]
                    acc[0, q] += w0 * va; acc[1, q] += w1 * va; acc[2, q] += w2 * va; acc[3, q] += w3 * va
                    acc[4, q] += w4 * va; acc[5, q] += w5 * va; acc[6, q] += w6 * va; acc[7, q] += w7 * va
                    pair[0, q] += w0 * vb; pair[1, q] += w1 * vb; pair[2, q] += w2 * vb; pair[3, q] += w3 * vb
                    pair[4, q] += w4 * vb; pair[5, q] += w5 * vb; pair[6, q] += w6 * vb; pair[7, q] += w7 * vb
        first = cb * CHANNELS
        write_block(of, row_out + xa, o_plane, acc, bias, first, sf, row_skip + xa, s_plane, has_skip, code, kcount)
        write_block(of, row_out + xb, o_plane, pair, bias, first, sf, row_skip + xb, s_plane, has_skip, code, kcount)


@njit(fastmath=True, inline="always")
def _four_blocks(xf, row_in, width, cin, ntaps, x_plane, taps, wpack, cb, acc, of, row_out, o_plane, bias,
                 sf, row_skip, s_plane, has_skip, code, kcount):
    """_pixel_rows_kernel's row for one block of at most 4 output channels (the feathering block's
    a, b, c; a 2-score head), four blocks of pixels per pass over the inputs: rows 0-3 of acc hold
    the first block's sums, rows 4-7 the second's, and so on."""
    row_blocks = (width + PIXELS - 1) // PIXELS
    for rq in range(0, row_blocks, 4):
        x0 = np.uint64(min(rq * PIXELS, width - PIXELS))
        x1 = np.uint64(min((rq + 1) * PIXELS, width - PIXELS))  # past the row's end: its last block again
        x2 = np.uint64(min((rq + 2) * PIXELS, width - PIXELS))
        x3 = np.uint64(min((rq + 3) * PIXELS, width - PIXELS))
        for k in range(16):
            for q in range(U_PIXELS):
                acc[k, q] = 0.0
        for ci in range(cin):
            for t in range(ntaps):
                src = row_in + np.uint64(ci) * x_plane + taps[t]
                wv = wpack[cb, ci, t]
                w0, w1, w2, w3 = wv[0], wv[1], wv[2], wv[3]
                for q in range(U_PIXELS):
                    v0, v1, v2, v3 = xf[src + x0 + q], xf[src + x1 + q], xf[src + x2 + q], xf[src + x3 + q]
                    acc[0, q] += w0 * v0; acc[1, q] += w1 * v0; acc[2, q] += w2 * v0; acc[3, q] += w3 * v0
                    acc[4, q] += w0 * v1; acc[5, q] += w1 * v1; acc[6, q] += w2 * v1; acc[7, q] += w3 * v1
                    acc[8, q] += w0 * v2; acc[9, q] += w1 * v2; acc[10, q] += w2 * v2; acc[11, q] += w3 * v2
                    acc[12, q] += w0 * v3; acc[13, q] += w1 * v3; acc[14, q] += w2 * v3; acc[15, q] += w3 * v3
        first = cb * CHANNELS
        write_block4(of, row_out + x0, o_plane, acc, 0, bias, first, sf, row_skip + x0, s_plane, has_skip, code, kcount)
        write_block4(of, row_out + x1, o_plane, acc, 4, bias, first, sf, row_skip + x1, s_plane, has_skip, code, kcount)
        write_block4(of, row_out + x2, o_plane, acc, 8, bias, first, sf, row_skip + x2, s_plane, has_skip, code, kcount)
        write_block4(of, row_out + x3, o_plane, acc, 12, bias, first, sf, row_skip + x3, s_plane, has_skip, code, kcount)


@njit(fastmath=True, inline="always")
def write_block4(of, dst, o_plane, acc, row, bias, first, sf, res, s_plane, has_skip, code, kcount):
    """write_block for at most 4 channels whose sums are rows row.. row + 3 of acc (row a constant)."""
    store_bias_act_row(of, dst, acc, row * 16, bias[first], sf, res, has_skip, code)
    if kcount > 1:
        store_bias_act_row(of, dst + o_plane, acc, (row + 1) * 16, bias[first + 1], sf, res + s_plane, has_skip, code)
    if kcount > 2:
        store_bias_act_row(of, dst + np.uint64(2) * o_plane, acc, (row + 2) * 16, bias[first + 2], sf, res + np.uint64(2) * s_plane, has_skip, code)
    if kcount > 3:
        store_bias_act_row(of, dst + np.uint64(3) * o_plane, acc, (row + 3) * 16, bias[first + 3], sf, res + np.uint64(3) * s_plane, has_skip, code)


@njit(parallel=True, fastmath=True)
def _pixel_rows_kernel(xbuf, x_first, x_oy, x_ox, height, width, taps, wpack, bias, cout,
                      sbuf, s_first, s_oy, s_ox, has_skip, code, obuf, o_first, o_oy, o_ox):
    """The same contract as _conv_pixels_kernel, for outputs at least PIXELS wide: a job is one
    output row, walked in blocks of PIXELS (the last one moved left to end at the row's end) for
    each block of output channels, so that every block is a whole row segment and is written by
    write_block. Its input rows (C planes x taps) stay in L1 while the channel blocks reuse them."""
    batch, xc, xh, xw = xbuf.shape
    sc, sh, sw = sbuf.shape[1], sbuf.shape[2], sbuf.shape[3]
    oc, oh, ow = obuf.shape[1], obuf.shape[2], obuf.shape[3]
    cblocks, cin, ntaps = wpack.shape[0], wpack.shape[1], wpack.shape[2]
    xf, sf, of = xbuf.reshape(-1), sbuf.reshape(-1), obuf.reshape(-1)
    x_plane, s_plane, o_plane = np.uint64(xh * xw), np.uint64(sh * sw), np.uint64(oh * ow)
    row_blocks = (width + PIXELS - 1) // PIXELS
    offsets = np.empty(cin * ntaps, np.uint64)  # input offset of each (input channel, tap), as wflat orders them
    for ci in range(cin):
        for t in range(ntaps):
            offsets[ci * ntaps + t] = np.uint64(ci) * x_plane + taps[t]
    wflat = wpack.reshape(cblocks, cin * ntaps, CHANNELS)
    for job in prange(batch * height):
        b, y = job // height, job % height
        acc = carray(stack_floats(256), (CHANNELS, PIXELS))  # CHANNELS * PIXELS <= 256
        pair = carray(stack_floats(128), (8, PIXELS))
        row_in = np.uint64(((b * xc + x_first) * xh + x_oy + y) * xw + x_ox)
        # the next job's new input row (one below the lowest tap) in every input plane, while this
        # one computes: C planes are more streams than the hardware prefetcher follows
        if y + 1 < height:
            ahead = row_in + np.uint64(xw) + taps[ntaps - 1]
            for ci in range(cin):
                for line in range(0, width, 16):
                    prefetch(xf, ahead + np.uint64(ci) * x_plane + np.uint64(line))
        for cb in range(cblocks):
            kcount = min(CHANNELS, cout - cb * CHANNELS)
            if CHANNELS == 16 and 4 < kcount <= 8 and code != SIGMOID:
                # few output channels (the feathering block's 11->8 and 8->3 convs, a 2-score head):
                # two blocks of pixels at once, 8 channels x 2 vectors of sums, so that each weight
                # broadcast serves two multiply-adds and 16 sums hide the multiply-add latency
                _two_blocks(xf, row_in, width, cin, ntaps, x_plane, taps, wpack, cb, acc, pair,
                            of, np.uint64(((b * oc + o_first + cb * CHANNELS) * oh + o_oy + y) * ow + o_ox), o_plane, bias,
                            sf, np.uint64(((b * sc + s_first + cb * CHANNELS) * sh + s_oy + y) * sw + s_ox), s_plane,
                            has_skip, code, kcount)
                continue
            if CHANNELS == 16 and kcount <= 4 and code != SIGMOID:  # the same, four blocks of 4 channels
                _four_blocks(xf, row_in, width, cin, ntaps, x_plane, taps, wpack, cb, acc,
                             of, np.uint64(((b * oc + o_first + cb * CHANNELS) * oh + o_oy + y) * ow + o_ox), o_plane, bias,
                             sf, np.uint64(((b * sc + s_first + cb * CHANNELS) * sh + s_oy + y) * sw + s_ox), s_plane,
                             has_skip, code, kcount)
                continue
            for rb in range(row_blocks):
                x0 = np.uint64(min(rb * PIXELS, width - PIXELS))
                for k in range(CHANNELS):
                    for q in range(U_PIXELS):
                        acc[k, q] = 0.0
                for j in range(cin * ntaps):  # one loop over (input channel, tap): no inner loop of one tap
                    src = row_in + x0 + offsets[j]
                    wv = wflat[cb, j]
                    # _conv_pixels_kernel's body, written out again: shared as an inlined helper it
                    # compiled to slower code (pointwise 128->32 + residual: 0.81x -> 1.18x torch's time)
                    if CHANNELS == 16 and kcount > 8:
                        w0, w1, w2, w3, w4, w5, w6, w7 = wv[0], wv[1], wv[2], wv[3], wv[4], wv[5], wv[6], wv[7]
                        w8, w9, w10, w11, w12, w13, w14, w15 = wv[8], wv[9], wv[10], wv[11], wv[12], wv[13], wv[14], wv[15]
                        for q in range(U_PIXELS):
                            v = xf[src + q]
                            acc[0, q] += w0 * v; acc[1, q] += w1 * v; acc[2, q] += w2 * v; acc[3, q] += w3 * v
                            acc[4, q] += w4 * v; acc[5, q] += w5 * v; acc[6, q] += w6 * v; acc[7, q] += w7 * v
                            acc[8, q] += w8 * v; acc[9, q] += w9 * v; acc[10, q] += w10 * v; acc[11, q] += w11 * v
                            acc[12, q] += w12 * v; acc[13, q] += w13 * v; acc[14, q] += w14 * v; acc[15, q] += w15 * v
                    elif CHANNELS == 16:
                        w0, w1, w2, w3, w4, w5, w6, w7 = wv[0], wv[1], wv[2], wv[3], wv[4], wv[5], wv[6], wv[7]
                        for q in range(U_PIXELS):
                            v = xf[src + q]
                            acc[0, q] += w0 * v; acc[1, q] += w1 * v; acc[2, q] += w2 * v; acc[3, q] += w3 * v
                            acc[4, q] += w4 * v; acc[5, q] += w5 * v; acc[6, q] += w6 * v; acc[7, q] += w7 * v
                    else:
                        w0, w1, w2, w3 = wv[0], wv[1], wv[2], wv[3]
                        for q in range(U_PIXELS):
                            v = xf[src + q]
                            acc[0, q] += w0 * v; acc[1, q] += w1 * v; acc[2, q] += w2 * v; acc[3, q] += w3 * v
                dst = np.uint64(((b * oc + o_first + cb * CHANNELS) * oh + o_oy + y) * ow + o_ox) + x0
                res = np.uint64(((b * sc + s_first + cb * CHANNELS) * sh + s_oy + y) * sw + s_ox) + x0
                if code != SIGMOID:
                    write_block(of, dst, o_plane, acc, bias, cb * CHANNELS, sf, res, s_plane, has_skip, code, kcount)
                else:
                    for k in range(kcount):
                        bk = bias[cb * CHANNELS + k]
                        for q in range(U_PIXELS):
                            extra = sf[res + q] if has_skip else np.float32(0)
                            of[dst + q] = activate(acc[k, q] + bk + extra, code)
                        dst += o_plane
                        res += s_plane
    return obuf


def pixels_kernel_for(width: int):
    """The kernel for an output this wide: whole-row blocks from PIXELS up, else one flat run
    across rows (planes of 8x8 at 1/32 of the input still fill vectors)."""
    return _pixel_rows_kernel if width >= PIXELS else _conv_pixels_kernel
