"""The torch reference of the fast deep matting network (Zhu et al., ACM MM 2017).

Light dense network (LDN), paper Fig. 3, for an input of N x 3 x H x W (H, W even):

    initial   concat[relu(bn(conv3x3 s2 3->13)), maxpool2x2(x)]           -> 16 x H/2 x W/2
    dense_k   relu(bn(conv3x3, dilation d_k)) over concat[block input, dense_1..dense_{k-1}]
              d = 2, 4, 6, 8; inputs 16, 32, 48, 64; growth 16
    final     conv3x3 over concat[dense_1..dense_4] (64 -> 2)
              (growth is a parameter, stored in the weights file: 16 is the paper's reading of
              Fig. 3 and the shipped default; wider blocks trade speed for capacity)
    upsample  bilinear x2 (align_corners=False), softmax over channels -> S = (S_B, S_F)

Feathering block (FB), paper Fig. 4:

    guide     concat[I, S_B, S_F, I*I, I*S_F]                              -> 11 channels
              I is the RGB image scaled to [0, 1] (not mean-normalised), so I*I and I*S_F are
              the guided filter's products on the same scale as the scores.
    coeffs    conv3x3 11->8 + BN + ReLU, conv3x3 8->3                      -> a, b, c
    alpha     clip(box(a) * S_F + box(b) * S_B + box(c), 0, 1)
              box = mean over a (2r+1)^2 window, count-normalised at the border
              (avg_pool2d with count_include_pad=False).

The last FB conv starts at a = 1, b = c = 0 (zero weights), so an untrained FB passes S_F through:
stage 2 then starts from the LDN's own error and can only learn to lower it.

BatchNorm layers exist for training only; convert/export.py folds them into the convolutions.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

DILATIONS = (2, 4, 6, 8)
GROWTH = 16
INITIAL_CONV_CHANNELS = 13
FEATHER_HIDDEN = 8
FEATHER_GUIDE_CHANNELS = 11
DEFAULT_BOX_RADIUS = 2

# ImageNet statistics on RGB in [0, 1]: the LDN input normalisation, stored in the weights file.
INPUT_MEAN = (0.485, 0.456, 0.406)
INPUT_STD = (0.229, 0.224, 0.225)


class ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class LightDenseNet(nn.Module):
    """Returns the two-channel score logits at the input resolution (before softmax)."""

    def __init__(self, growth: int = GROWTH):
        super().__init__()
        self.growth = growth
        self.initial = ConvBNReLU(3, INITIAL_CONV_CHANNELS, stride=2)
        block_in = INITIAL_CONV_CHANNELS + 3
        self.dense = nn.ModuleList(
            ConvBNReLU(block_in + k * growth, growth, dilation=d) for k, d in enumerate(DILATIONS)
        )
        self.final = nn.Conv2d(len(DILATIONS) * growth, 2, 3, padding=1)

    def forward(self, x_normalised):
        x = torch.cat([self.initial(x_normalised), F.max_pool2d(x_normalised, 2)], 1)
        features = [x]
        for layer in self.dense:
            features.append(layer(torch.cat(features, 1)))
        logits = self.final(torch.cat(features[1:], 1))
        return F.interpolate(logits, scale_factor=2, mode="bilinear", align_corners=False)


def box_mean(x, radius: int):
    """Mean over a (2r+1)^2 window, count-normalised at the border (avg_pool2d with
    count_include_pad=False). On a channels-last tensor (the encoder-decoder's training) the same
    mean as a depthwise conv of ones over the window's in-image count: torch's CPU avg_pool2d takes
    21.6 ms forward and backward there against 4.4 (16 x 3 x 96 x 96, one core). NCHW tensors (fdm-128's
    training, torch's side of the parity tests and benchmarks) and single planes, where avg_pool2d is
    as fast or faster, keep it."""
    if not x.is_contiguous(memory_format=torch.channels_last) or x.shape[1] == 1:
        return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)
    side = 2 * radius + 1
    ones = x.new_ones(x.shape[1], 1, side, side)
    count = F.conv2d(x.new_ones(1, 1, *x.shape[2:]), ones[:1], padding=radius)
    return F.conv2d(x, ones, padding=radius, groups=x.shape[1]) / count


class FeatheringBlock(nn.Module):
    def __init__(self, box_radius: int = DEFAULT_BOX_RADIUS):
        super().__init__()
        self.box_radius = box_radius
        self.hidden = ConvBNReLU(FEATHER_GUIDE_CHANNELS, FEATHER_HIDDEN)
        self.coeffs = nn.Conv2d(FEATHER_HIDDEN, 3, 3, padding=1)
        nn.init.zeros_(self.coeffs.weight)
        with torch.no_grad():
            self.coeffs.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))

    def coefficients(self, image01, scores):
        """The box-averaged a, b, c (N x 3) at the image's and scores' resolution."""
        s_f = scores[:, 1:2]
        guide = torch.cat([image01, scores, image01 * image01, image01 * s_f], 1)
        return box_mean(self.coeffs(self.hidden(guide)), self.box_radius)

    @staticmethod
    def combine(abc, scores):
        """alpha (unclipped) = mean(a) * S_F + mean(b) * S_B + mean(c)."""
        return abc[:, 0:1] * scores[:, 1:2] + abc[:, 1:2] * scores[:, 0:1] + abc[:, 2:3]

    def forward(self, image01, scores):
        return self.combine(self.coefficients(image01, scores), scores)


class FastDeepMatting(nn.Module):
    def __init__(self, box_radius: int = DEFAULT_BOX_RADIUS, growth: int = GROWTH):
        super().__init__()
        self.ldn = LightDenseNet(growth)
        self.feather = FeatheringBlock(box_radius)
        self.register_buffer("mean", torch.tensor(INPUT_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(INPUT_STD).view(1, 3, 1, 1))

    def forward(self, image01):
        """image01: N x 3 x H x W RGB in [0, 1]. Returns (logits, scores, alpha_unclipped)."""
        logits = self.ldn((image01 - self.mean) / self.std)
        scores = torch.softmax(logits, 1)
        return logits, scores, self.feather(image01, scores)

    @torch.no_grad()
    def predict_alpha(self, image01):
        return self.forward(image01)[2].clamp(0.0, 1.0)
