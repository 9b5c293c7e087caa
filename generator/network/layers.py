"""Padding-free StyleGAN2 building blocks.

Every spatial op is a *valid* operation: it never pads, so each output depends only on inputs that
really exist, and a pixel's value does not depend on where a tile boundary falls. The shrink each op
causes is mirrored exactly by ``generator.network.geometry``.

Modulation uses the "scale the input, convolve, demodulate" form, which accepts a style per sample
(``(B, C, 1, 1)``) or per pixel (``(B, C, h, w)``, for spatial style fusion) with one code path.

Inference (no autograd) with a per-sample style takes a folded path instead: style, demodulation,
the activation gain and the bias go into the convolution's weights (one set when every sample has
the same style, else a grouped convolution), noise and the leaky ReLU are applied in place, and
feature maps are channels-last (oneDNN's fast layout on CPUs, tensor-core friendly on GPUs). It is
the same function up to float rounding (~1e-7 relative), and training keeps the reference path.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
DEMOD_EPS = 1e-8


def leaky_relu_gain(x: Tensor) -> Tensor:
    """StyleGAN's activation: leaky ReLU rescaled to keep unit variance."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


_folding = [True]


@contextlib.contextmanager
def reference_path() -> Iterator[None]:
    """Within this block inference takes the reference (unfolded) path too: tests, benchmarks."""
    _folding.append(False)
    try:
        yield
    finally:
        _folding.pop()


def _per_sample(style: Tensor) -> bool:
    return style.dim() == 4 and style.shape[-1] == 1 and style.shape[-2] == 1


def folded_path(x: Tensor, style_in: Tensor, style_out: Tensor) -> bool:
    """Whether the folded inference path applies: no autograd, one style per sample."""
    return (
        _folding[-1]
        and not torch.is_grad_enabled()
        and _per_sample(style_in)
        and (style_out is style_in or (_per_sample(style_out) and torch.equal(style_in, style_out)))
    )


def channels_last(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _add_per_pixel_(x: Tensor, per_pixel: Tensor) -> Tensor:
    """``x`` (a fresh convolution output, overwritten where it is dense) plus a (B, 1, h, w) map
    broadcast over channels, as a dense channels-last map.

    Added in the (B, h, w, C) view, channels innermost: in place on a dense map (2.3x faster
    than out of place), and a cropped one (the upsampling layers') is read where it lies instead
    of being copied first (1.7x faster than adding in NCHW order and copying).
    """
    pixels, added = x.permute(0, 2, 3, 1), per_pixel.permute(0, 2, 3, 1)
    if x.is_contiguous(memory_format=torch.channels_last):
        pixels.add_(added)
        return x
    return torch.add(pixels, added).permute(0, 3, 1, 2)


def _shared_style(style: Tensor) -> bool:
    """All samples carry the same style (the renderer's case): one set of weights serves all."""
    return style.shape[0] == 1 or bool((style == style[:1]).all())


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

    def folded_weight(self, style: Tensor, gain: float = 1.0) -> Tensor:
        """Per-sample weights (B, out, in, k, k) with style, demodulation and ``gain`` folded in."""
        s = style.reshape(style.shape[0], 1, self.in_ch, 1, 1).to(self.weight.dtype)
        weight = self.weight[None] * (self.scale * s)
        if self.demodulate:
            weight = weight * torch.rsqrt(
                weight.square().sum(dim=(2, 3, 4), keepdim=True) + DEMOD_EPS
            )
        return weight * gain if gain != 1.0 else weight

    def forward_folded(self, x: Tensor, style: Tensor, gain: float, bias: Tensor | None) -> Tensor:
        """The modulated conv (times ``gain``, plus ``bias``) with the style folded into weights."""
        batch = x.shape[0]
        shared = _shared_style(style)
        weight = self.folded_weight(style[:1] if shared else style, gain)
        groups = 1 if shared else batch
        weight = weight.reshape(-1, *weight.shape[2:])  # (groups * out, in, k, k)
        if not shared:
            x = x.reshape(1, batch * self.in_ch, *x.shape[2:])
            if bias is not None:
                bias = bias.repeat(batch)
        x = channels_last(x)
        if self.upsample:
            # (groups * in, out, k, k) for the transposed conv
            w_t = weight.reshape(groups, self.out_ch, self.in_ch, self.kernel, self.kernel)
            w_t = w_t.transpose(1, 2).reshape(groups * self.in_ch, self.out_ch, *weight.shape[2:])
            x = F.conv_transpose2d(x, w_t, stride=2, groups=groups)
            blur = self.blur if groups == 1 else self.blur.repeat(groups, 1, 1, 1)
            # Blur the whole transposed-conv output, crop after: the same samples, no copy.
            x = F.conv2d(x, blur.to(x.dtype), bias, groups=groups * self.out_ch)[..., 1:-1, 1:-1]
        else:
            x = F.conv2d(x, weight, bias, groups=groups)
        if not shared:
            x = x.reshape(batch, self.out_ch, *x.shape[2:])
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
        if folded_path(x, style_in, style_out):
            return self.forward_folded(x, style_in, noise)
        x = self.conv(x, style_in, style_out)
        if noise is not None:
            x = x + self.noise_strength * noise
        return leaky_relu_gain(x + self.bias[None, :, None, None])

    def forward_folded(self, x: Tensor, style: Tensor, noise: Tensor | None) -> Tensor:
        """lrelu(g z) = g lrelu(z) for g > 0: the gain goes into weights, bias and noise."""
        x = self.conv.forward_folded(x, style, LRELU_GAIN, self.bias * LRELU_GAIN)
        if noise is not None:
            strength = self.noise_strength * LRELU_GAIN
            x = _add_per_pixel_(x, noise.to(x.dtype) * strength.to(x.dtype))
        elif not x.is_contiguous(memory_format=torch.channels_last):
            x = channels_last(x)
        return F.leaky_relu_(x, LRELU_SLOPE)


class ToRGB(nn.Module):
    """Modulated 1x1 projection to RGB (or RGBA, ``out_ch`` 4: an alpha model's), no
    demodulation, added to the upsampled skip."""

    def __init__(self, in_ch: int, style_dim: int, out_ch: int = 3) -> None:
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        if folded_path(x, style, style):
            return self._forward_folded(x, style)
        return self.conv(x, style, style) + self.bias[None, :, None, None]

    def _forward_folded(self, x: Tensor, style: Tensor) -> Tensor:
        """A 1x1 projection to 3 (or 4) channels is a matrix product over channels-last pixels.

        Always in float32, also under autocast: the RGB sum of all stages is the output.
        """
        shared = _shared_style(style)
        weight = self.conv.folded_weight(style[:1] if shared else style)[:, :, :, 0, 0]
        pixels = channels_last(x).permute(0, 2, 3, 1)  # (B, h, w, C), a dense view
        with torch.autocast(x.device.type, enabled=False):
            pixels = pixels.float()
            if shared:
                rgb = F.linear(pixels, weight[0].float(), self.bias.float())
            else:
                rgb = torch.einsum("bhwc,boc->bhwo", pixels, weight.float()) + self.bias.float()
        return rgb.permute(0, 3, 1, 2)
