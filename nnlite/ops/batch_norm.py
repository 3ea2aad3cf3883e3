"""batch_norm (inference) and its folding into the preceding convolution.

Contract (matches ``torch.nn.functional.batch_norm(x, mean, var, gamma, beta, training=False, eps)``):

    x  N x C x H x W;  out[n,c] = (x[n,c] - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c]

nnlite never runs batch norm at inference: convert/export.py folds it into the conv before it
(``fold_batch_norm``), so conv(x) followed by BN becomes one conv with scaled weights and a new bias.
The fold is computed in float64 and rounded once to float32.
"""
from __future__ import annotations

import numpy as np


def batch_norm_reference(x, mean, var, gamma, beta, eps=1e-5):
    scale = gamma / np.sqrt(var.astype(np.float64) + eps)
    return ((x - mean[None, :, None, None]) * scale[None, :, None, None] + beta[None, :, None, None]).astype(np.float32)


def fold_batch_norm(weight, bias, mean, var, gamma, beta, eps=1e-5):
    """(K x C x R x S weight, K bias or None) and BN statistics -> folded (weight, bias), float32."""
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    bias = np.zeros(weight.shape[0]) if bias is None else bias.astype(np.float64)
    folded_weight = weight.astype(np.float64) * scale[:, None, None, None]
    folded_bias = (bias - mean) * scale + beta
    return folded_weight.astype(np.float32), folded_bias.astype(np.float32)
