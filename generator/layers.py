"""Padding-free StyleGAN2 building blocks.

Every spatial op is a *valid* operation: it never pads, so each output depends only on inputs that
really exist, and a pixel's value does not depend on where a tile boundary falls. The shrink each op
causes is mirrored exactly by ``generator.geometry``.

Modulation uses the "scale the input, convolve, demodulate" form, which accepts a style per sample
(``(B, C, 1, 1)``) or per pixel (``(B, C, h, w)``, for spatial style fusion) with one code path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
DEMOD_EPS = 1e-8


def leaky_relu_gain(x: Tensor) -> Tensor:
    """StyleGAN's activation: leaky ReLU rescaled to keep unit variance."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


def crop(x: Tensor, top: int, left: int, height: int, width: int) -> Tensor:
    return x[..., top : top + height, left : left + width]


def upsample2x_valid(x: Tensor) -> Tensor:
    """Bilinear 2x upsampling (the [1,3,3,1] filter) keeping only samples with full support.

    n samples become 2n - 2: output o is child o + 1 of the input's first cell.
    """
    up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    return up[..., 1:-1, 1:-1]


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (weights scaled at run time)."""

    def __init__(
        self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class MappingNetwork(nn.Module):
    """MLP from the global latent zg to the intermediate style space w."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(
            EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul) for i in range(layers)
        )

    def forward(self, z: Tensor) -> Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=-1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = leaky_relu_gain(layer(x))
        return x


class ModulatedConv(nn.Module):
    """Modulated (optionally demodulated) k x k convolution, valid, optionally 2x upsampling.

    ``affine`` maps a style vector to per-input-channel scales. ``forward`` receives the scales
    already mixed: ``style_in`` at the input's positions and, for demodulation, ``style_out`` at
    the output's positions (both broadcastable, so a per-sample style is a ``(B, C, 1, 1)``).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.kernel = in_ch, out_ch, kernel
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.affine = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.demodulate = demodulate
        self.upsample = upsample
        if upsample:
            taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
            blur = torch.outer(taps, taps)
            blur = blur / blur.sum() * 4.0  # zero-insertion upsampling loses 3/4 of the energy
            self.register_buffer("blur", blur[None, None].repeat(out_ch, 1, 1, 1), persistent=False)

    def forward(self, x: Tensor, style_in: Tensor, style_out: Tensor) -> Tensor:
        weight = self.weight * self.scale
        x = x * style_in
        if self.upsample:
            # Transposed conv then [1,3,3,1] blur: the same function as bilinear-upsample-then-conv
            # at a quarter of the multiply-adds. Edge outputs of the transposed conv lack taps.
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)[..., 1:-1, 1:-1]
            x = F.conv2d(x, self.blur, groups=self.out_ch)
        else:
            x = F.conv2d(x, weight)
        if self.demodulate:
            power = weight.square().sum(dim=(2, 3))[:, :, None, None]
            x = x * torch.rsqrt(F.conv2d(style_out.square(), power) + DEMOD_EPS)
        return x

    def shrink(self) -> int:
        """Samples lost on each side (at the output's resolution)."""
        return 2 if self.upsample else (self.kernel - 1) // 2


class StyledLayer(nn.Module):
    """Modulated conv + per-pixel noise + bias + activation: one synthesis layer."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, style_dim: int, upsample: bool = False
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, kernel, style_dim, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(
        self, x: Tensor, style_in: Tensor, style_out: Tensor, noise: Tensor | None
    ) -> Tensor:
        x = self.conv(x, style_in, style_out)
        if noise is not None:
            x = x + self.noise_strength * noise
        return leaky_relu_gain(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """Modulated 1x1 projection to RGB (no demodulation), added to the upsampled skip."""

    def __init__(self, in_ch: int, style_dim: int, out_ch: int = 3) -> None:
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        return self.conv(x, style, style) + self.bias[None, :, None, None]
