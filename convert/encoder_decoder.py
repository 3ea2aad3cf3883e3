"""The torch reference of the encoder-decoder matting network: a segmentation network that sees the
whole frame, followed by the paper's feathering block (shared with convert/model.py).

The paper's light dense network sees about 80 px of its input: enough for a centred head and
shoulders, not to tell a person from a shop shelf. This family goes down to 1/16 or 1/32 of the
input with depthwise-separable blocks and comes back up with skip connections, the way small
portrait and selfie segmenters do (MobileNetV2/V3 encoders, U-Net style decoders).

For an input N x 3 x H x W (any H, W; the skip levels are resized to each other's sizes):

    stem      conv3x3 s2 3->stem, BN, act                                         H/2
    stages    inverted-residual blocks (MobileNetV2): [pw expand, BN, act]
              dw kxk stride s, BN, act, [squeeze-excite], pw project, BN
              (+ input when stride 1 and the channel counts agree)
    context   optional global gate at the deepest level (LR-ASPP, MobileNetV3):
              x * sigmoid(conv1x1(global_average_pool(x)))
    decoder   per skip level, coarse to fine:
              u = act(bilinear_resize(pw(x) -> D) + pw(skip) -> D)
              x = act(pw(act(dw3x3(u))))
    head      conv1x1 -> 2 logits at the finest decoder level, bilinear to H x W, softmax
    feather   the paper's feathering block on the image and the scores (convert/model.py); with
              "feather_scale": 2, a fast guided filter (He & Sun, 2015): the block's convs and box
              run on the image averaged 2x2 and the scores at H/2 x W/2 (the finest decoder
              level), and the box-averaged a, b, c, resized bilinearly to H x W, combine the
              full-size scores: a quarter of the block's cost, which at 256 px is a quarter of the
              network's time

Every conv is followed by BN in training (except the head and the SE convs); export folds them.
The architecture is a plain dict (ARCHITECTURES) stored as JSON in the weights file, and nnlite
builds the same graph from it (matting/encoder_decoder.py).
"""
from __future__ import annotations

import copy
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

from convert.model import DEFAULT_BOX_RADIUS, INPUT_MEAN, INPUT_STD, FeatheringBlock

MODEL_NAME = "fdm-encoder-decoder"

# stages: [expand, channels, blocks, stride, kernel, squeeze_excite] (stride of the stage's first block);
# the decoder takes a skip at every resolution but the deepest: the feature just before each stride-2
# stage, so it has one level per stride-2 stage.
ARCHITECTURES = {
    # A: MobileNetV2-like, ReLU, 3x3 depthwise, down to 1/32, no squeeze-excite, no global gate.
    "mnv2-unet": {
        "stem": 16, "act": "relu",
        "stages": [[1, 16, 1, 2, 3, 0], [4, 24, 2, 2, 3, 0], [4, 40, 3, 2, 3, 0], [4, 80, 3, 2, 3, 0]],
        "decoder": [40, 24, 16, 16], "global_gate": 0,
    },
    # B: MobileNetV3-like, hard-swish, 5x5 depthwise and squeeze-excite in the deep stages, down to
    # 1/16 with a global-average-pool gate (LR-ASPP) standing in for the deepest stage.
    "mnv3-lraspp": {
        "stem": 16, "act": "hardswish",
        "stages": [[1, 16, 1, 2, 3, 0], [4, 24, 2, 2, 3, 0], [4, 40, 3, 2, 5, 1], [4, 80, 3, 1, 5, 1]],
        "decoder": [40, 24, 16], "global_gate": 1,
    },
    # A, deeper where it is cheap: two residual stages of wide inverted bottlenecks (expansion 6) at
    # 1/16 and 1/32, where a 256 px input is 16x16 and 8x8 pixels. "mnv2-unet" underfits (IoU on
    # training photos no higher than on the test lists); these add capacity for what a person looks
    # like at a fraction of a millisecond, and can grow from "mnv2-unet" weights (grow_from).
    "mnv2-unet-deep": {
        "stem": 16, "act": "relu",
        "stages": [[1, 16, 1, 2, 3, 0], [4, 24, 2, 2, 3, 0], [4, 40, 3, 2, 3, 0], [6, 40, 2, 1, 3, 0],
                   [4, 80, 3, 2, 3, 0], [6, 80, 4, 1, 3, 0]],
        "decoder": [40, 24, 16, 16], "global_gate": 0,
    },
}
# "mnv2-unet-deep" with the feathering block at half resolution: the same tensors, so it starts
# from "mnv2-unet-deep" weights (grow_from copies them).
ARCHITECTURES["mnv2-unet-deep-fb2"] = {**ARCHITECTURES["mnv2-unet-deep"], "feather_scale": 2}
# "mnv2-unet-deep-fb2" with two more blocks in each of its residual stages at 1/16 and 1/32: it still
# underfits (EG1800 IoU 0.940 on 120 training photos, 0.942 on the test list; CCP 0.896 on 100
# training photos, 0.895 on val), 63 % of its EG1800 MSE lies away from the outline (whole regions
# wrong), and a block there costs about 0.15 ms at 256 px. Grows from "mnv2-unet-deep-fb2" weights.
ARCHITECTURES["mnv2-unet-deeper-fb2"] = {
    **ARCHITECTURES["mnv2-unet-deep-fb2"],
    "stages": [[1, 16, 1, 2, 3, 0], [4, 24, 2, 2, 3, 0], [4, 40, 3, 2, 3, 0], [6, 40, 4, 1, 3, 0],
               [4, 80, 3, 2, 3, 0], [6, 80, 6, 1, 3, 0]],
}
FEATHER_SCALES = (1, 2)


def activation(name: str):
    return {"relu": nn.ReLU(), "hardswish": nn.Hardswish(), "none": nn.Identity()}[name]


class ConvBN(nn.Module):
    """conv (no bias) + BN + activation; groups == channels makes it depthwise."""

    def __init__(self, cin, cout, kernel=1, stride=1, groups=1, act="none"):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = activation(act)
        self.act_name = act

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """x * sigmoid(up(relu(down(mean(x))))): two 1x1 convs with bias on the channel means."""

    def __init__(self, channels):
        super().__init__()
        hidden = max(8, channels // 4)
        self.down = nn.Conv2d(channels, hidden, 1)
        self.up = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.up(F.relu(self.down(x.mean((2, 3), keepdim=True)))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, kernel, squeeze_excite, act):
        super().__init__()
        hidden = cin * expand
        self.expand = ConvBN(cin, hidden, act=act) if expand != 1 else None
        self.depthwise = ConvBN(hidden, hidden, kernel, stride, groups=hidden, act=act)
        self.se = SqueezeExcite(hidden) if squeeze_excite else None
        self.project = ConvBN(hidden, cout)
        self.stride = stride
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


class GlobalGate(nn.Module):
    """x * sigmoid(conv1x1(mean(x))): the image-level context of LR-ASPP, one channel gate per image."""

    def __init__(self, channels):
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))


class DecoderLevel(nn.Module):
    def __init__(self, coarse_channels, skip_channels, channels, act):
        super().__init__()
        self.coarse = ConvBN(coarse_channels, channels)
        self.skip = ConvBN(skip_channels, channels)
        self.act = activation(act)
        self.depthwise = ConvBN(channels, channels, 3, groups=channels, act=act)
        self.pointwise = ConvBN(channels, channels, act=act)

    def forward(self, x, skip):
        up = F.interpolate(self.coarse(x), size=skip.shape[2:], mode="bilinear", align_corners=False)
        u = self.act(up + self.skip(skip))
        return self.pointwise(self.depthwise(u))


def skip_channels(arch: dict) -> list[int]:
    """Channel counts of the skip features, fine to coarse: the feature entering each stride-2 stage."""
    channels, current = [], arch["stem"]
    for expand, cout, count, stride, kernel, se in arch["stages"]:
        if stride == 2:
            channels.append(current)
        current = cout
    return channels


def validate_architecture(arch: dict) -> None:
    if len(arch["decoder"]) != len(skip_channels(arch)):
        raise ValueError(f"decoder has {len(arch['decoder'])} levels but the encoder gives {len(skip_channels(arch))} skips")
    if arch.get("feather_scale", 1) not in FEATHER_SCALES:
        raise ValueError(f"feather_scale must be one of {FEATHER_SCALES}")


class EncoderDecoderSegmenter(nn.Module):
    """Returns the two-channel score logits at the input resolution (before softmax)."""

    def __init__(self, arch: dict):
        super().__init__()
        validate_architecture(arch)
        act = arch["act"]
        self.stem = ConvBN(3, arch["stem"], 3, 2, act=act)
        blocks, cin = [], arch["stem"]
        for expand, cout, count, stride, kernel, se in arch["stages"]:
            for n in range(count):
                blocks.append(InvertedResidual(cin, cout, stride if n == 0 else 1, expand, kernel, se, act))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.gate = GlobalGate(cin) if arch["global_gate"] else None
        skips = skip_channels(arch)
        levels, coarse = [], cin
        for channels, skip in zip(arch["decoder"], reversed(skips)):
            levels.append(DecoderLevel(coarse, skip, channels, act))
            coarse = channels
        self.decoder = nn.ModuleList(levels)
        self.head = nn.Conv2d(coarse, 2, 1)

    def forward(self, x_normalised):
        return F.interpolate(self.coarse_logits(x_normalised), size=x_normalised.shape[2:], mode="bilinear", align_corners=False)

    def coarse_logits(self, x_normalised):
        """The head's logits at the finest decoder level (H/2 x W/2 for every design here)."""
        x = self.stem(x_normalised)
        skips = []
        for block in self.blocks:
            if block.stride == 2:
                skips.append(x)
            x = block(x)
        if self.gate is not None:
            x = self.gate(x)
        for level, skip in zip(self.decoder, reversed(skips)):
            x = level(x, skip)
        return self.head(x)


class EncoderDecoderMatting(nn.Module):
    """Same interface as convert.model.FastDeepMatting: forward -> (logits, scores, alpha_unclipped)."""

    def __init__(self, arch: dict | str = "mnv2-unet", box_radius: int = DEFAULT_BOX_RADIUS):
        super().__init__()
        self.arch = copy.deepcopy(ARCHITECTURES[arch] if isinstance(arch, str) else arch)
        self.segmenter = EncoderDecoderSegmenter(self.arch)
        self.feather = FeatheringBlock(box_radius)
        self.register_buffer("mean", torch.tensor(INPUT_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(INPUT_STD).view(1, 3, 1, 1))

    @property
    def architecture_json(self) -> str:
        return json.dumps(self.arch, sort_keys=True)

    def forward(self, image01):
        size = image01.shape[2:]
        coarse = self.segmenter.coarse_logits((image01 - self.mean) / self.std)
        logits = F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
        scores = torch.softmax(logits, 1)
        if self.arch.get("feather_scale", 1) == 1:
            return logits, scores, self.feather(image01, scores)
        image_half = F.avg_pool2d(image01, 2)  # = bilinear resizing by 0.5, which nnlite runs
        scores_half = torch.softmax(F.interpolate(coarse, size=image_half.shape[2:], mode="bilinear", align_corners=False), 1)
        abc = F.interpolate(self.feather.coefficients(image_half, scores_half), size=size, mode="bilinear", align_corners=False)
        return logits, scores, self.feather.combine(abc, scores)

    @torch.no_grad()
    def predict_alpha(self, image01):
        return self.forward(image01)[2].clamp(0.0, 1.0)


def _stage_blocks(arch: dict) -> list[list[int]]:
    """Block indices of each stage, in order."""
    stages, index = [], 0
    for stage in arch["stages"]:
        stages.append(list(range(index, index + stage[2])))
        index += stage[2]
    return stages


@torch.no_grad()
def grow_from(smaller: EncoderDecoderMatting, arch: dict | str) -> EncoderDecoderMatting:
    """A model of a deeper architecture that computes what `smaller` computes (in eval mode).

    The deeper design must keep every stage of the smaller one, in order, with at least as many
    blocks, and may add stride-1 residual stages between them or blocks at a stage's end. Blocks it
    keeps take the smaller model's weights; each added block is residual and starts as the identity:
    its projection's BN scale is zero (the zero-init residual of Goyal et al., 2017), so training goes
    on from where the smaller model stood, with the new capacity learning from the first step.
    A design that differs only in "feather_scale" takes every tensor as it is (the same function
    but for the feathering block's resolution, which training then adapts to).
    """
    grown = EncoderDecoderMatting(arch, smaller.feather.box_radius)
    old_stages, new_stages = smaller.arch["stages"], grown.arch["stages"]
    old_blocks, new_blocks = _stage_blocks(smaller.arch), _stage_blocks(grown.arch)
    block_map, o = {}, 0
    for n, stage in enumerate(new_stages):
        if o < len(old_stages) and stage[:2] + stage[3:] == old_stages[o][:2] + old_stages[o][3:] \
                and stage[2] >= old_stages[o][2]:
            block_map.update(zip(old_blocks[o], new_blocks[n]))
            o += 1
        elif stage[3] != 1 or (n > 0 and new_stages[n - 1][1] != stage[1]):
            raise ValueError(f"cannot grow: stage {stage} is neither one of the smaller design's nor a residual stage")
    if o != len(old_stages) or smaller.arch["decoder"] != grown.arch["decoder"] \
            or smaller.arch["stem"] != grown.arch["stem"] or smaller.arch["act"] != grown.arch["act"] \
            or smaller.arch["global_gate"] != grown.arch["global_gate"]:
        raise ValueError("cannot grow: the deeper design must keep the smaller one's stem, stages, decoder and gate")
    state = {}
    for name, value in smaller.state_dict().items():
        if name.startswith("segmenter.blocks."):
            _, _, index, rest = name.split(".", 3)
            name = f"segmenter.blocks.{block_map[int(index)]}.{rest}"
        state[name] = value
    for index in set(range(len(grown.segmenter.blocks))) - set(block_map.values()):
        block = grown.segmenter.blocks[index]
        if not block.residual:
            raise ValueError(f"cannot grow: added block {index} is not residual")
        block.project.bn.weight.zero_()
        state.update({f"segmenter.blocks.{index}.{k}": v for k, v in block.state_dict().items()})
    grown.load_state_dict(state)
    return grown
