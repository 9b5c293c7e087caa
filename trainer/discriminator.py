"""StyleGAN2's residual discriminator with InfinityGAN's auxiliary vertical-position head.

Unlike the generator, the discriminator may pad: it judges whole patches and is never tiled.
For a model with alpha it sees all four channels, the colour premultiplied by the coverage
(``premultiplied``): land, its outline and how it fades, but not the colour a transparent pixel
happens to hold, which shows nowhere (real bands hold junk there, the masked-out sky).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generator.network import EqualLinear, leaky_relu_gain


class EqualConv2d(nn.Module):
    """Convolution with equalized learning rate, zero padding ``kernel // 2``, optional stride 2."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.stride = stride
        self.padding = kernel // 2 if stride == 1 else 0

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class Blur(nn.Module):
    """[1,3,3,1] low-pass before stride-2 downsampling (anti-aliasing, as in StyleGAN2)."""

    def __init__(self, channels: int, pad: tuple[int, int]) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = torch.outer(taps, taps)
        self.register_buffer(
            "kernel", (kernel / kernel.sum())[None, None].repeat(channels, 1, 1, 1)
        )
        self.pad, self.channels = pad, channels

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (self.pad[0], self.pad[1], self.pad[0], self.pad[1]))
        return F.conv2d(x, self.kernel, groups=self.channels)


class DownConv(nn.Module):
    """Blur then a stride-2 convolution: n -> ceil(n / 2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True) -> None:
        super().__init__()
        pad = (4 - 2) + (kernel - 1)
        self.blur = Blur(in_ch, ((pad + 1) // 2, pad // 2))
        self.conv = EqualConv2d(in_ch, out_ch, kernel, stride=2, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % 2:  # odd sizes: replicate one edge so the output is ceil(n / 2)
            x = F.pad(x, (0, 1, 0, 1), mode="replicate")
        return self.conv(self.blur(x))


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(in_ch, in_ch, 3)
        self.conv2 = DownConv(in_ch, out_ch, 3)
        self.skip = DownConv(in_ch, out_ch, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = leaky_relu_gain(self.conv2(leaky_relu_gain(self.conv1(x))))
        return (out + self.skip(x)) / math.sqrt(2.0)


def minibatch_stddev(x: Tensor, group: int = 4) -> Tensor:
    """Append the across-group standard deviation as a feature (discourages mode collapse)."""
    b, c, h, w = x.shape
    g = math.gcd(group, b)
    y = x.reshape(g, -1, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


def premultiplied(images: Tensor) -> Tensor:
    """RGBA model-space patches with their colour times the coverage ((alpha + 1) / 2, alpha
    being 2 * coverage - 1): colour where there is land, 0 where there is none. The alpha stays
    raw, as the colour judge sees raw colour: a judge that saw it clipped (the gradient passed
    straight through) let G's alpha run below -1 without bound, to empty sky everywhere.
    RGB patches are returned as they are."""
    if images.shape[1] != 4:
        return images
    alpha = images[:, 3:]
    return torch.cat([images[:, :3] * ((alpha + 1.0) * 0.5), alpha], dim=1)


class Discriminator(nn.Module):
    """Patch -> (realness logit, predicted vertical position in the native frame); ``channels``
    4 judges RGBA patches (``premultiplied``)."""

    def __init__(
        self, patch: int, base_width: int = 64, max_width: int = 512, channels: int = 3
    ) -> None:
        super().__init__()
        widths, size = [base_width], patch
        while size > 6:
            widths.append(min(max_width, widths[-1] * 2))
            size = -(-size // 2)
        self.from_rgb = EqualConv2d(channels, widths[0], 1)
        self.blocks = nn.ModuleList(ResBlock(a, b) for a, b in itertools.pairwise(widths))
        top = widths[-1]
        self.final_conv = EqualConv2d(top + 1, top, 3)
        self.final_linear = EqualLinear(top * size * size, top)
        self.score = EqualLinear(top, 1)
        self.position = EqualLinear(top, 1)
        self.patch = patch

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = leaky_relu_gain(self.from_rgb(premultiplied(images)))
        for block in self.blocks:
            x = block(x)
        x = leaky_relu_gain(self.final_conv(minibatch_stddev(x)))
        x = leaky_relu_gain(self.final_linear(x.flatten(1)))
        return self.score(x).squeeze(1), self.position(x).squeeze(1)
