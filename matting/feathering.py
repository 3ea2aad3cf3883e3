"""The pieces every network here shares: the input normalisation and the paper's feathering block
(FB), a learned guided filter on the image and the segmentation scores. Written once, used by the
paper's light dense network (matting/model.py) and the encoder-decoder (matting/encoder_decoder.py).

The FB's graph layout (buffer: channels, at the network's input size H x W):

    guide     11  [I (RGB in [0,1]), S_B, S_F, I*I, I*S_F]; the graph input is written to guide[0:3]
                  and the segmentation network's softmax to guide[3:5]
    hidden     8  relu(conv3x3 11->8);  abc 3: conv3x3 8->3;  abc_mean 3: box filter radius r
    alpha      1  clip(mean(a) * S_F + mean(b) * S_B + mean(c), 0, 1)

At half resolution (the encoder-decoder's "feather_scale": 2), guide, hidden and abc are at
H/2 x W/2, the box writes abc_mean_low, resized bilinearly to abc_mean at H x W, and the scores
of the combination are the full-size ones in their own buffer (scores: 2).
"""
from __future__ import annotations

import numpy as np

from nnlite._jit import kernels_on
from nnlite.errors import ShapeError
from nnlite.graph import BoxFilter, Conv2d, Layer, Node, ResizeBilinear, Slot
from nnlite.ops.feather_combine import _feather_combine_kernel, feather_combine
from nnlite.ops.multiply import _multiply_kernel
from nnlite.ops.normalise_channels import _normalise_channels_kernel, normalise_channels

GUIDE_CHANNELS = 11


def feathering_tensors(hidden: int) -> dict:
    """Tensor name -> shape of the FB in a weights file."""
    return {"feather.hidden/weight": (hidden, GUIDE_CHANNELS, 3, 3), "feather.hidden/bias": (hidden,),
            "feather.coeffs/weight": (3, hidden, 3, 3), "feather.coeffs/bias": (3,)}


class Normalise(Layer):
    def __init__(self, mean, std):
        self.mean = np.asarray(mean, np.float32)
        self.inv_std = (1.0 / np.asarray(std, np.float32)).astype(np.float32)

    def run(self, inputs, out):
        normalise_channels(inputs[0].interior, self.mean, self.inv_std, out=out)

    def bind(self, inputs, out):
        if not kernels_on():
            return super().bind(inputs, out)
        args = (*out.hw, 3, *inputs[0].window, self.mean, self.inv_std, *out.window)
        return lambda: _normalise_channels_kernel(*args)


class FeatherProducts(Layer):
    """guide[0:5] = [I, S_B, S_F] -> guide[5:11] = [I*I, I*S_F]."""

    def check_channels(self, input_channels, output_channels):
        if input_channels != [5] or output_channels != 6:
            raise ShapeError("FeatherProducts: reads [I, S_B, S_F] (5 channels), writes [I*I, I*S_F] (6)")

    def run(self, inputs, out):
        guide = inputs[0].interior
        image, s_f = guide[:, 0:3], guide[:, 4:5]
        np.multiply(image, image, out=out[:, 0:3])
        np.multiply(image, s_f, out=out[:, 3:6])

    def bind(self, inputs, out):
        if not kernels_on():
            return super().bind(inputs, out)
        guide, first, oy, ox = inputs[0].window
        (h, w), o_first = out.hw, out.slot.first
        squares = (h, w, 3, guide, first, oy, ox, guide, first, oy, ox, 1, *out.array_window(o_first))
        products = (h, w, 3, guide, first, oy, ox, guide, first + 4, oy, ox, 0, *out.array_window(o_first + 3))

        def run():
            _multiply_kernel(*squares)
            _multiply_kernel(*products)
        return run


class FeatherCombine(Layer):
    """alpha = clip(mean(a) * S_F + mean(b) * S_B + mean(c), 0, 1); inputs: abc_mean, guide[3:5]."""

    def check_channels(self, input_channels, output_channels):
        if input_channels != [3, 2] or output_channels != 1:
            raise ShapeError("FeatherCombine: reads a, b, c and S_B, S_F, writes alpha")

    def run(self, inputs, out):
        feather_combine(inputs[0].interior, inputs[1].interior, out=out)

    def bind(self, inputs, out):
        if not kernels_on():
            return super().bind(inputs, out)
        args = (*out.hw, *inputs[0].window, *inputs[1].window, *out.window)
        return lambda: _feather_combine_kernel(*args)


def feathering_nodes(tensors: dict, hidden: int, box_radius: int, full_size: Slot | None = None) -> tuple[list, dict]:
    """The FB's nodes (reading guide[0:5], writing alpha) and the buffers they add: name -> channels.

    With `full_size` (a slot of the network's input, only its size is read), the guide is at a lower
    resolution (the fast guided filter): the box-averaged a, b, c are resized bilinearly to that
    size, into abc_mean, and combine the full-size scores, which the caller writes to scores[0:2]."""
    conv = lambda name, **kw: Conv2d(tensors[f"{name}/weight"], tensors[f"{name}/bias"], **kw)
    box_out = "abc_mean" if full_size is None else "abc_mean_low"
    nodes = [
        Node(FeatherProducts(), (Slot("guide", 0, 5),), Slot("guide", 5, 6), "feathering"),
        Node(conv("feather.hidden", padding=1, relu=True), (Slot("guide", 0, GUIDE_CHANNELS),), Slot("hidden", 0, hidden), "feathering"),
        Node(conv("feather.coeffs", padding=1), (Slot("hidden", 0, hidden),), Slot("abc", 0, 3), "feathering"),
        Node(BoxFilter(box_radius), (Slot("abc", 0, 3),), Slot(box_out, 0, 3), "feathering"),
    ]
    buffers = {"hidden": hidden, "abc": 3, box_out: 3, "alpha": 1}
    scores = Slot("guide", 3, 2)
    if full_size is not None:
        nodes.append(Node(ResizeBilinear(), (Slot(box_out, 0, 3), full_size), Slot("abc_mean", 0, 3), "feathering"))
        buffers["abc_mean"] = 3
        scores = Slot("scores", 0, 2)
    nodes.append(Node(FeatherCombine(), (Slot("abc_mean", 0, 3), scores), Slot("alpha", 0, 1), "feathering"))
    return nodes, buffers
