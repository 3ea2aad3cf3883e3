"""resize_area_to_planes: a photo shrunk to the network's size by area averaging, straight into the
network's float planes, in one pass over the photo. Before, OpenCV's INTER_AREA on uint8 (its
generic path for non-integer factors: 5-6 ms for 1080p -> 256 x 144 on one AVX-512 core, more
with its own threads fighting the video pipeline's), a channel swap, a float conversion and a
transpose each went over the data; this reads each photo byte once.

Contract (area averaging, as OpenCV's INTER_AREA when shrinking, without rounding to 8 bits):

    image   H x W x C uint8 (C = 3 or 4), as OpenCV holds photos
    height, width   the output size, at most H and W (this op only shrinks)
    order   which image channel each output plane takes, e.g. (2, 1, 0): BGR photo -> RGB planes
    out     len(order) x height x width float32,
            out[c, i, j] = sum over the pixels (y, x) of the photo of
                           wy(i, y) * wx(j, x) * image[y, x, order[c]] / 255
            where wy(i, y) is the length of [y, y + 1) inside [i * H / height, (i + 1) * H / height),
            divided by H / height (the same along x): each output pixel is the mean of the photo
            area it covers, pixels cut by its border weighted by the part inside.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from nnlite._jit import kernels_on, njit, prange
from nnlite.errors import ShapeError


@lru_cache(maxsize=32)
def area_weights(size_in: int, size_out: int):
    """-> (start, weights): output index o averages source indices start[o] + k with weights[o, k]
    (float32, each row summing to 1), k < weights.shape[1]; every index stays inside [0, size_in)."""
    scale = size_in / size_out
    taps = min(size_in, int(np.ceil(scale)) + 1)
    low = np.arange(size_out, dtype=np.float64) * scale
    start = np.clip(np.floor(low).astype(np.int64), 0, size_in - taps)
    source = start[:, None] + np.arange(taps)
    overlap = np.minimum(source + 1, low[:, None] + scale) - np.maximum(source, low[:, None])
    weights = np.maximum(overlap, 0) / scale
    start.setflags(write=False)
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return start, weights


def resize_area_matrix(size_in: int, size_out: int) -> np.ndarray:
    """The dense size_out x size_in averaging matrix of the contract (float64), for the reference."""
    start, weights = area_weights(size_in, size_out)
    matrix = np.zeros((size_out, size_in))
    for o in range(size_out):
        matrix[o, start[o]:start[o] + weights.shape[1]] = weights[o]
    return matrix


def resize_area_to_planes_reference(image, height, width, order):
    rows = resize_area_matrix(image.shape[0], height)
    columns = resize_area_matrix(image.shape[1], width)
    planes = [rows @ image[..., c].astype(np.float64) @ columns.T / 255 for c in order]
    return np.stack(planes).astype(np.float32)


# Rows first: each output row sums its few photo rows into one W*C accumulator, a flat loop over
# contiguous bytes with unsigned indices that vectorises (with signed ones it stayed scalar: 8 ms
# for 1080p -> 256 x 144, against 0.7); the columns then take a handful of taps per output pixel
# from that accumulator, work proportional to the small output.
@njit(parallel=True, fastmath=True)
def _resize_area_kernel(image, row_start, row_weights, column_start, column_weights, order, out):
    planes, height, width = out.shape
    channels = image.shape[2]
    span = image.shape[1] * channels
    flat = image.reshape(-1)
    row_taps, column_taps = row_weights.shape[1], column_weights.shape[1]
    for i in prange(height):
        sums = np.zeros(span, np.float32)
        for k in range(row_taps):
            weight = row_weights[i, k]
            base = np.uint64((row_start[i] + k) * span)
            for x in range(np.uint64(span)):
                sums[x] += weight * np.float32(flat[base + x])
        for j in range(width):
            first = column_start[j] * channels
            for c in range(planes):
                total = np.float32(0.0)
                for k in range(column_taps):
                    total += column_weights[j, k] * sums[first + k * channels + order[c]]
                out[c, i, j] = total * np.float32(1.0 / 255.0)
    return out


def resize_area_to_planes(image, height: int, width: int, order=(2, 1, 0)):
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (3, 4)):
        raise ShapeError(f"resize_area_to_planes: image must be H x W x 3 or 4 uint8, got {getattr(image, 'shape', None)} "
                         f"{getattr(image, 'dtype', type(image).__name__)}")
    if not (1 <= height <= image.shape[0] and 1 <= width <= image.shape[1]):
        raise ShapeError(f"resize_area_to_planes: only shrinks; {image.shape[0]} x {image.shape[1]} cannot become "
                         f"{height} x {width}")
    order = np.asarray(order, np.int64)
    if order.ndim != 1 or not order.size or order.min() < 0 or order.max() >= image.shape[2]:
        raise ShapeError(f"resize_area_to_planes: order {order.tolist()} must name channels of a {image.shape[2]}-channel image")
    out = np.empty((order.size, height, width), np.float32)
    row_start, row_weights = area_weights(image.shape[0], height)
    column_start, column_weights = area_weights(image.shape[1], width)
    if kernels_on():
        return _resize_area_kernel(np.ascontiguousarray(image), row_start, row_weights, column_start, column_weights,
                                   order, out)
    # NumPy path: the rows by their taps (a photo row per output row and tap, so no float copy of a
    # whole huge photo is made), then the columns as one matrix product per plane
    columns = resize_area_matrix(image.shape[1], width).astype(np.float32).T
    rows = np.zeros((height, image.shape[1], image.shape[2]), np.float32)
    taps = row_weights.shape[1]
    for k in range(taps):
        rows += row_weights[:, k, None, None] * image[row_start + k].astype(np.float32)
    for c, channel in enumerate(order):
        out[c] = rows[..., channel] @ columns * np.float32(1 / 255)
    return out
