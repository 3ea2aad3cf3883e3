"""The encoder-decoder matting network on nnlite, built from the architecture stored in its weights
file (the twin of convert/encoder_decoder.py, BatchNorm already folded by convert/export.py).

Graph layout (buffer: channels at its resolution; H x W is the network input):

    guide, x         the image and its normalised copy, as in matting/model.py
    stem             conv3x3 s2 (+ activation)                                        H/2
    b{i}.e, b{i}.d   block i's expansion (pw) and depthwise outputs; squeeze-excite scales b{i}.d
                     in place (b{i}.pool, b{i}.se1, b{i}.se2: 1 x 1); b{i}.out: the projection,
                     written with the block input added (residual) by the same kernel
    gate.*           the global gate of the deepest level (LR-ASPP), in place
    d{l}.c, d{l}.u   decoder level l: coarse projection, skip projection; the upsampled coarse one
                     is added into d{l}.u in place; d{l}.d, d{l}.out: depthwise-separable conv
    head             conv1x1 -> 2 logits at the finest decoder level; bilinear to H x W and softmax,
                     in one pass, -> guide[3:5]
    ...              the feathering block (matting/feathering.py) -> alpha

With "feather_scale": 2 the input goes to its own buffer (image), guide is at H/2 x W/2 (guide[0:3]:
the image's 2x2 averages; guide[3:5]: the scores at that size) and the full-size scores go to
scores[0:2], which the feathering block's resized coefficients combine.

Stride-2 depthwise convs read their zero-bordered input buffer directly; no layer copies to pad.
"""
from __future__ import annotations

import json

import numpy as np

from matting.feathering import Normalise, feathering_nodes, feathering_tensors
from nnlite.errors import ShapeError
from nnlite.graph import (Activation, AveragePool2x2, ChannelScale, Conv2d, DepthwiseConv2d, GlobalAvgPool, Graph, Node,
                          PointwiseConv2d, ResizeBilinearAdd, ResizeSoftmax2, Slot)
from nnlite.weights import Weights, load_weights

MODEL_NAME = "fdm-encoder-decoder"
ARCHITECTURE_KEYS = {"stem", "act", "stages", "decoder", "global_gate", "feather_scale"}
REQUIRED_ATTRS = ("model", "architecture", "feather_hidden", "box_radius", "input_mean", "input_std", "inference_size",
                  "size_multiple")


def parse_architecture(weights: Weights) -> dict:
    try:
        arch = json.loads(weights.attrs["architecture"])
        stages = [[int(v) for v in stage] for stage in arch["stages"]]
        unknown = sorted(set(arch) - ARCHITECTURE_KEYS)
        arch = {"stem": int(arch["stem"]), "act": str(arch["act"]), "stages": stages,
                "decoder": [int(v) for v in arch["decoder"]], "global_gate": int(arch["global_gate"]),
                "feather_scale": int(arch.get("feather_scale", 1))}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise weights.fail("attribute architecture is not a valid encoder-decoder description",
                           "re-export the file with python -m convert.export") from None
    if unknown:  # a design of a later version: running it without its new part would give wrong mattes
        raise weights.fail(f"architecture has settings this version does not know ({', '.join(unknown)})",
                           "upgrade fast-deep-matting, or export the weights with this version")
    if arch["feather_scale"] not in (1, 2):
        raise weights.fail(f"architecture: feather_scale {arch['feather_scale']} is not 1 or 2", "re-export the file")
    if arch["act"] not in ("relu", "hardswish") or any(len(s) != 6 or s[3] not in (1, 2) for s in stages):
        raise weights.fail("attribute architecture names an unknown activation or stage layout",
                           "re-export the file with python -m convert.export")
    if len(arch["decoder"]) != sum(1 for s in stages if s[3] == 2):
        raise weights.fail("architecture: one decoder level per stride-2 stage is needed", "re-export the file")
    return arch


def blocks_of(arch: dict):
    """(cin, cout, stride, expand, kernel, squeeze_excite) per inverted-residual block, in order."""
    cin = arch["stem"]
    for expand, cout, count, stride, kernel, se in arch["stages"]:
        for n in range(count):
            yield cin, cout, stride if n == 0 else 1, expand, kernel, se
            cin = cout


def se_hidden(channels: int) -> int:
    return max(8, channels // 4)


def expected_tensors(arch: dict, feather_hidden: int) -> dict:
    shapes = {}

    def conv(name, cout, cin_per_group, k):
        shapes[f"{name}/weight"] = (cout, cin_per_group, k, k)
        shapes[f"{name}/bias"] = (cout,)

    conv("segmenter.stem", arch["stem"], 3, 3)
    skips, current = [], arch["stem"]
    for i, (cin, cout, stride, expand, kernel, se) in enumerate(blocks_of(arch)):
        hidden = cin * expand
        if stride == 2:
            skips.append(cin)
        if expand != 1:
            conv(f"segmenter.blocks.{i}.expand", hidden, cin, 1)
        conv(f"segmenter.blocks.{i}.depthwise", hidden, 1, kernel)
        if se:
            conv(f"segmenter.blocks.{i}.se.down", se_hidden(hidden), hidden, 1)
            conv(f"segmenter.blocks.{i}.se.up", hidden, se_hidden(hidden), 1)
        conv(f"segmenter.blocks.{i}.project", cout, hidden, 1)
        current = cout
    if arch["global_gate"]:
        conv("segmenter.gate.fc", current, current, 1)
    for level, (channels, skip) in enumerate(zip(arch["decoder"], reversed(skips))):
        conv(f"segmenter.decoder.{level}.coarse", channels, current, 1)
        conv(f"segmenter.decoder.{level}.skip", channels, skip, 1)
        conv(f"segmenter.decoder.{level}.depthwise", channels, 1, 3)
        conv(f"segmenter.decoder.{level}.pointwise", channels, channels, 1)
        current = channels
    conv("segmenter.head", 2, current, 1)
    shapes.update(feathering_tensors(feather_hidden))
    return shapes


class EncoderDecoderNetwork:
    """Encoder-decoder + feathering block on nnlite. forward() takes N x 3 x H x W RGB in [0, 1]."""

    def __init__(self, weights: Weights | str):
        weights = load_weights(weights) if not isinstance(weights, Weights) else weights
        weights.require_attrs(REQUIRED_ATTRS)
        if weights.attrs["model"] != MODEL_NAME:
            raise weights.fail(f"model {weights.attrs['model']!r} is not {MODEL_NAME!r}", "use an encoder-decoder weights file")
        self.architecture = parse_architecture(weights)
        weights.require_tensors(expected_tensors(self.architecture, int(weights.attrs["feather_hidden"])))
        self.weights, self.attrs = weights, weights.attrs
        self.graph = self._build(weights.tensors)

    def _build(self, t: dict) -> Graph:
        arch, a = self.architecture, self.attrs
        act = arch["act"]
        half = arch["feather_scale"] == 2
        image = Slot("image", 0, 3) if half else Slot("guide", 0, 3)  # the graph's input
        buffers = {"guide": 11, "x": 3, **({"image": 3} if half else {})}
        nodes = [Node(Normalise(a["input_mean"], a["input_std"]), (image,), Slot("x", 0, 3))]
        if half:  # the feathering block's image: 2x2 averages (= bilinear resizing by 0.5)
            nodes.append(Node(AveragePool2x2(), (image,), Slot("guide", 0, 3)))

        def add(layer, inputs, name, channels, first=0):
            buffers.setdefault(name, channels)
            out = Slot(name, first, channels)
            nodes.append(Node(layer, tuple(inputs), out))
            return out

        def pw(name, source, out_name, activation="none", skip=None):
            weight, bias = t[f"{name}/weight"], t[f"{name}/bias"]
            return add(PointwiseConv2d(weight, bias, activation), (source,) + ((skip,) if skip else ()), out_name, weight.shape[0])

        def dw(name, source, out_name, stride, activation):
            weight, bias = t[f"{name}/weight"], t[f"{name}/bias"]
            pad = weight.shape[2] // 2
            return add(DepthwiseConv2d(weight, bias, stride, pad, 1, activation), (source,), out_name, weight.shape[0])

        def gate(name_down, name_up, source, prefix):
            """source *= sigmoid(up(relu(down(mean(source))))) or, without name_down, sigmoid(up(mean(source)))."""
            pooled = add(GlobalAvgPool(), (source,), f"{prefix}.pool", source.count)
            if name_down:
                pooled = pw(name_down, pooled, f"{prefix}.se1", "relu")
            logits = pw(name_up, pooled, f"{prefix}.se2")
            nodes.append(Node(ChannelScale("sigmoid"), (source, logits), source))

        stem_weight = t["segmenter.stem/weight"]
        x = add(Conv2d(stem_weight, t["segmenter.stem/bias"], stride=2, padding=1, relu=act == "relu"),
                (Slot("x", 0, 3),), "stem", stem_weight.shape[0])
        if act != "relu":
            nodes.append(Node(Activation(act), (x,), x))
        skips = []
        for i, (cin, cout, stride, expand, kernel, se) in enumerate(blocks_of(arch)):
            name = f"segmenter.blocks.{i}"
            if stride == 2:
                skips.append(x)
            inner = pw(f"{name}.expand", x, f"b{i}.e", act) if expand != 1 else x
            inner = dw(f"{name}.depthwise", inner, f"b{i}.d", stride, act)
            if se:
                gate(f"{name}.se.down", f"{name}.se.up", inner, f"b{i}")
            x = pw(f"{name}.project", inner, f"b{i}.out", skip=x if stride == 1 and cin == cout else None)
        if arch["global_gate"]:
            gate(None, "segmenter.gate.fc", x, "gate")
        for level, skip in enumerate(reversed(skips)):
            name = f"segmenter.decoder.{level}"
            coarse = pw(f"{name}.coarse", x, f"d{level}.c")
            fine = pw(f"{name}.skip", skip, f"d{level}.u")
            nodes.append(Node(ResizeBilinearAdd(act), (coarse, fine), fine))
            x = pw(f"{name}.pointwise", dw(f"{name}.depthwise", fine, f"d{level}.d", 1, act), f"d{level}.out", act)
        head = pw("segmenter.head", x, "head")
        nodes.append(Node(ResizeSoftmax2(), (head, Slot("guide", 0, 3)), Slot("guide", 3, 2)))
        if half:
            nodes.append(Node(ResizeSoftmax2(), (head, image), Slot("scores", 0, 2)))
            buffers["scores"] = 2
        for node in nodes:
            node.stage = "network"
        feather, feather_buffers = feathering_nodes(t, int(a["feather_hidden"]), int(a["box_radius"]), image if half else None)
        buffers.update(feather_buffers)
        self.scores = Slot("scores", 0, 2) if half else Slot("guide", 3, 2)
        return Graph(buffers, nodes + feather, image, keep=(self.scores.buffer, "alpha", "abc_mean"))

    def forward(self, image01: np.ndarray, timings: dict | None = None) -> dict:
        """Returns views (valid until the next call): "scores" N x 2 (S_B, S_F), "alpha" N x 1,
        "coefficients" N x 3 (box-averaged a, b, c)."""
        if image01.ndim != 4 or image01.shape[1] != 3:
            raise ShapeError(f"EncoderDecoderNetwork: expected N x 3 x H x W, got {image01.shape}")
        out = self.graph.forward(image01, timings)
        scores = out[self.scores.buffer][:, self.scores.first: self.scores.first + 2]
        return {"scores": scores, "alpha": out["alpha"], "coefficients": out["abc_mean"]}
