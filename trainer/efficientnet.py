"""EfficientNet-Lite0's convolutional blocks (Tan & Le 2019; the Lite variant: ReLU6, no
squeeze-excitation), frozen, as the feature extractor of the projected discriminator.

Written here rather than taken from a one-author package: only the pinned ImageNet state dict
is read (``trainer.pretrained``). Batch norms are folded into their convolutions (the network
is only ever evaluated), and every weight is a non-persistent buffer: no optimiser sees it and
no checkpoint stores it, since the package holds it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BN_EPS = 1e-3
STEM = 32
STAGES = (  # (repeats, kernel, stride, expansion, output channels) of EfficientNet-Lite0
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
FEATURE_BLOCKS = (2, 4, 10, 15)
"""Blocks whose outputs are the features, at 1/4, 1/8, 1/16 and 1/32 of the input's side (the
last block of the 24-, 40-, 112- and 320-channel stages), as Projected GAN takes them."""
FEATURE_CHANNELS = (24, 40, 112, 320)


class FoldedConv(nn.Module):
    """A frozen convolution with its batch norm folded in and TensorFlow's "same" padding (the
    weights were trained with it: for stride 2 the extra pixel goes right and bottom)."""

    def __init__(
        self, state: dict[str, Tensor], conv: str, bn: str, stride: int, groups: int
    ) -> None:
        super().__init__()
        scale = state[f"{bn}.weight"] / torch.sqrt(state[f"{bn}.running_var"] + BN_EPS)
        weight = state[f"{conv}.weight"] * scale[:, None, None, None]
        bias = state[f"{bn}.bias"] - state[f"{bn}.running_mean"] * scale
        self.register_buffer("weight", weight.float().contiguous(), persistent=False)
        self.register_buffer("bias", bias.float().contiguous(), persistent=False)
        self.stride, self.groups = stride, groups

    def forward(self, x: Tensor) -> Tensor:
        kernel = self.weight.shape[-1]
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
            total = max((math.ceil(size / self.stride) - 1) * self.stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise convolution, 1x1 projection."""

    def __init__(
        self, state: dict[str, Tensor], name: str, stride: int, expand: bool, residual: bool
    ) -> None:
        super().__init__()
        self.expand = (
            FoldedConv(state, f"{name}._expand_conv", f"{name}._bn0", 1, 1) if expand else None
        )
        channels = state[f"{name}._depthwise_conv.weight"].shape[0]
        self.depthwise = FoldedConv(
            state, f"{name}._depthwise_conv", f"{name}._bn1", stride, channels
        )
        self.project = FoldedConv(state, f"{name}._project_conv", f"{name}._bn2", 1, 1)
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu6(self.expand(x)) if self.expand is not None else x
        out = self.project(F.relu6(self.depthwise(out)))
        return out + x if self.residual else out


class EfficientNetLiteFeatures(nn.Module):
    """(N, 3, H, W) normalised as (v - 127) / 128 for 0-255 sRGB -> the features of
    FEATURE_BLOCKS, finest first."""

    def __init__(self, state: dict[str, Tensor]) -> None:
        super().__init__()
        self.stem = FoldedConv(state, "_conv_stem", "_bn0", 2, 1)
        blocks, channels = [], STEM
        for repeats, _, stride, expansion, out in STAGES:
            for repeat in range(repeats):
                first = repeat == 0
                residual = not first or (stride == 1 and channels == out)
                name, step = f"_blocks.{len(blocks)}", stride if first else 1
                blocks.append(MBConv(state, name, step, expansion != 1, residual))
                channels = out
        self.blocks = nn.ModuleList(blocks[: FEATURE_BLOCKS[-1] + 1])

    def forward(self, x: Tensor) -> list[Tensor]:
        x = F.relu6(self.stem(x))
        features = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in FEATURE_BLOCKS:
                features.append(x)
        return features
