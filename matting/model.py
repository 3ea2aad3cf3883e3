"""The fast deep matting network built from nnlite layers and an nnlite weights file.

Layout of the graph (buffer: channels, at input size H x W unless said):

    guide   11   [I (RGB in [0,1]), S_B, S_F, I*I, I*S_F]; the graph input is written to guide[0:3]
    x        3   (I - mean) / std                                   Normalise
    dense   80   at H/2: [initial conv 13 | max-pool 3 | dense_1..dense_4 16 each]
    half     2   final conv logits at H/2;  logits 2: bilinear x2;  softmax writes guide[3:5]
    ...          the feathering block (matting/feathering.py) -> alpha

This mirrors convert/model.py layer for layer (BatchNorm already folded by convert/export.py).
"""
from __future__ import annotations

import numpy as np

from matting.feathering import Normalise, feathering_nodes, feathering_tensors
from nnlite.errors import ShapeError
from nnlite.graph import Conv2d, Graph, MaxPool2d, Node, ResizeBilinear, Slot, Softmax
from nnlite.weights import Weights, load_weights

MODEL_NAME = "fast-deep-matting"
REQUIRED_ATTRS = ("model", "dilations", "growth", "initial_channels", "feather_hidden", "box_radius",
                  "input_mean", "input_std", "inference_size")


def expected_tensors(attrs: dict) -> dict:
    """Tensor name -> shape for the architecture described by the weights file's attributes."""
    growth, initial, hidden = attrs["growth"], attrs["initial_channels"], attrs["feather_hidden"]
    dilations = attrs["dilations"]
    block_in = initial + 3
    shapes = {"ldn.initial/weight": (initial, 3, 3, 3), "ldn.initial/bias": (initial,)}
    for k in range(len(dilations)):
        shapes[f"ldn.dense.{k}/weight"] = (growth, block_in + k * growth, 3, 3)
        shapes[f"ldn.dense.{k}/bias"] = (growth,)
    shapes["ldn.final/weight"] = (2, len(dilations) * growth, 3, 3)
    shapes["ldn.final/bias"] = (2,)
    shapes.update(feathering_tensors(hidden))
    return shapes


class MattingNetwork:
    """LDN + feathering block on nnlite. forward() takes N x 3 x H x W RGB in [0, 1] (H, W even)."""

    def __init__(self, weights: Weights | str):
        weights = load_weights(weights) if not isinstance(weights, Weights) else weights
        weights.require_attrs(REQUIRED_ATTRS)
        if weights.attrs["model"] != MODEL_NAME:
            raise weights.fail(f"model {weights.attrs['model']!r} is not {MODEL_NAME!r}", "use a fast deep matting weights file")
        weights.require_tensors(expected_tensors(weights.attrs))
        self.weights = weights
        self.attrs = weights.attrs
        self.graph = self._build(weights)

    def _build(self, weights: Weights) -> Graph:
        a, t = weights.attrs, weights.tensors
        growth, initial, hidden = a["growth"], a["initial_channels"], a["feather_hidden"]
        dilations = a["dilations"]
        block_in = initial + 3
        dense_channels = block_in + len(dilations) * growth

        def conv(name, **kw):
            return Conv2d(t[f"{name}/weight"], t[f"{name}/bias"], **kw)

        nodes = [
            Node(Normalise(a["input_mean"], a["input_std"]), (Slot("guide", 0, 3),), Slot("x", 0, 3)),
            Node(conv("ldn.initial", stride=2, padding=1, relu=True), (Slot("x", 0, 3),), Slot("dense", 0, initial)),
            Node(MaxPool2d(2), (Slot("x", 0, 3),), Slot("dense", initial, 3)),
        ]
        for k, d in enumerate(dilations):
            nodes.append(Node(conv(f"ldn.dense.{k}", padding=d, dilation=d, relu=True),
                              (Slot("dense", 0, block_in + k * growth),), Slot("dense", block_in + k * growth, growth)))
        nodes += [
            Node(conv("ldn.final", padding=1), (Slot("dense", block_in, len(dilations) * growth),), Slot("half", 0, 2)),
            Node(ResizeBilinear(scale_factor=2), (Slot("half", 0, 2),), Slot("logits", 0, 2)),
            Node(Softmax(), (Slot("logits", 0, 2),), Slot("guide", 3, 2)),
        ]
        for node in nodes:
            node.stage = "network"
        feather, feather_buffers = feathering_nodes(t, hidden, a["box_radius"])
        return Graph({"guide": 11, "x": 3, "dense": dense_channels, "half": 2, "logits": 2, **feather_buffers},
                     nodes + feather, Slot("guide", 0, 3))

    def forward(self, image01: np.ndarray, timings: dict | None = None) -> dict:
        """Returns views (valid until the next call): "scores" N x 2 (S_B, S_F), "alpha" N x 1,
        "coefficients" N x 3 (box-averaged a, b, c)."""
        if image01.ndim != 4 or image01.shape[1] != 3 or image01.shape[2] % 2 or image01.shape[3] % 2:
            raise ShapeError(f"MattingNetwork: expected N x 3 x H x W with even H and W, got {image01.shape}")
        out = self.graph.forward(image01, timings)
        return {"scores": out["guide"][:, 3:5], "alpha": out["alpha"], "coefficients": out["abc_mean"]}
