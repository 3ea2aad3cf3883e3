"""One file per op; each holds the contract, the output shape, a NumPy reference, the Numba kernel,
the vectorised NumPy fallback and the validating wrapper exported here."""
from nnlite.ops.batch_norm import fold_batch_norm
from nnlite.ops.box_filter import box_filter
from nnlite.ops.concat import concat
from nnlite.ops.conv2d import conv2d, conv2d_padded
from nnlite.ops.max_pool2d import max_pool2d
from nnlite.ops.resize_bilinear import resize_bilinear
from nnlite.ops.softmax import softmax

__all__ = ["box_filter", "concat", "conv2d", "conv2d_padded", "fold_batch_norm", "max_pool2d",
           "resize_bilinear", "softmax"]
