"""The "pixels" convolution kernel: vectors over output pixels, a block of output channels' sums in
registers. Shared by pointwise_conv2d (1x1) and conv2d (thin stride-1 convs, the feathering block).

A block of PIXELS output pixels (one vector: 16 with 512-bit vectors, 8 with 256- or 128-bit
ones) times CHANNELS output channels keeps its sums in a stack buffer that LLVM promotes to
registers, for the whole loop over input channels and taps; each multiply-add takes one weight
broadcast from memory and the block's input vector for that channel and tap, loaded once for all
the block's channels. A job is a run of blocks over all output channels, so a block's inputs
stay in L1 while every channel block reads them.

The pixels are taken as one flat run over the input's row pitch (as conv2d's wide kernel does):
the columns between the output's rows (the border of a padded input) are computed and thrown
away, which costs little and lets blocks span rows, so 8x8 planes at 1/32 of the input still
fill whole vectors. The last block of a run moves left to end where the run ends. Bias, an
optional residual input and the activation are applied while the sums are written out.
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import VECTORS_512_BIT, carray, njit, prange, prefetch, stack_floats
from nnlite.ops.activation import activate

PIXELS = 16 if VECTORS_512_BIT else 8  # pixels per block: one vector of float32
# output channels per block: 16 vectors of sums of the 32 registers of AVX-512 (8 would leave the
# multiply-adds waiting on their own latency); 8 of the 16 registers of AVX2 / NEON
CHANNELS = 16 if VECTORS_512_BIT else 8
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
                        # vector multiply-add per channel, sums kept in registers (a loop over the
                        # channels was compiled to gathers); a block of at most 8 real channels (24 =
                        # 16 + 8) takes the 8-channel body, the only one where CHANNELS is 8
                        if CHANNELS == 16 and kcount > 8:
                            w0, w1, w2, w3, w4, w5, w6, w7 = wv[0], wv[1], wv[2], wv[3], wv[4], wv[5], wv[6], wv[7]
                            w8, w9, w10, w11, w12, w13, w14, w15 = wv[8], wv[9], wv[10], wv[11], wv[12], wv[13], wv[14], wv[15]
                            for q in range(U_PIXELS):
                                v = xf[src + q]
                                acc[0, q] += w0 * v; acc[1, q] += w1 * v; acc[2, q] += w2 * v; acc[3, q] += w3 * v
                                acc[4, q] += w4 * v; acc[5, q] += w5 * v; acc[6, q] += w6 * v; acc[7, q] += w7 * v
                                acc[8, q] += w8 * v; acc[9, q] += w9 * v; acc[10, q] += w10 * v; acc[11, q] += w11 * v
                                acc[12, q] += w12 * v; acc[13, q] += w13 * v; acc[14, q] += w14 * v; acc[15, q] += w15 * v
                        else:
                            w0, w1, w2, w3, w4, w5, w6, w7 = wv[0], wv[1], wv[2], wv[3], wv[4], wv[5], wv[6], wv[7]
                            for q in range(U_PIXELS):
                                v = xf[src + q]
                                acc[0, q] += w0 * v; acc[1, q] += w1 * v; acc[2, q] += w2 * v; acc[3, q] += w3 * v
                                acc[4, q] += w4 * v; acc[5, q] += w5 * v; acc[6, q] += w6 * v; acc[7, q] += w7 * v
                # the block's wide positions, row segment by row segment (border columns dropped)
                y, x = q0 // xw, q0 % xw
                done = 0
                while done < PIXELS:
                    span = min(xw - x, PIXELS - done)
                    keep = np.uint64(min(max(width - x, 0), span))
                    first = np.uint64(done)
                    for k in range(kcount):
                        kk = cb * CHANNELS + k
                        bk = bias[kk]
                        dst = np.uint64(((b * oc + o_first + kk) * oh + o_oy + y) * ow + o_ox + x)
                        # a whole block's row (the common case) as a loop of constant length: LLVM
                        # vectorises variable-length loops in steps of 64 values and leaves anything
                        # shorter to a scalar remainder loop
                        if has_skip:
                            res = np.uint64(((b * sc + s_first + kk) * sh + s_oy + y) * sw + s_ox + x)
                            if keep == U_PIXELS:
                                for j in range(U_PIXELS):
                                    of[dst + j] = activate(acc[k, j] + bk + sf[res + j], code)
                            else:
                                for j in range(keep):
                                    of[dst + j] = activate(acc[k, first + j] + bk + sf[res + j], code)
                        elif keep == U_PIXELS:
                            for j in range(U_PIXELS):
                                of[dst + j] = activate(acc[k, j] + bk, code)
                        else:
                            for j in range(keep):
                                of[dst + j] = activate(acc[k, first + j] + bk, code)
                    done += span
                    y += 1
                    x = 0
    return obuf
