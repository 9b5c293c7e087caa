"""The InfinityGAN generator: structure synthesizer Gs and texture synthesizer Gt.

Gs is an implicit function of (zg, zl, coordinates): zg modulates every layer, zl is a local latent
per latent cell, and the coordinate encoding is concatenated before every layer, whose k x k valid
convolution is the k x k feature unfolding followed by a pointwise modulated projection (the same
function, without materialising the unfolded tensor). Gt is StyleGAN2 with Gs's output in place of
the constant input, per-pixel noise, ToRGB skips, and no padding anywhere.

Everything that depends on position (coordinates, noise, per-pixel style weights) comes from a
``PositionFields`` object, looked up by the rect a feature map covers. The model itself is
translation-equivariant, which is what lets independent tiles stitch exactly.
"""

from __future__ import annotations

import itertools
from typing import Protocol

import torch
from torch import Tensor, nn

from generator.network.config import ModelConfig
from generator.network.geometry import Rect
from generator.network.layers import MappingNetwork, StyledLayer, ToRGB, crop, upsample2x_valid


class PositionFields(Protocol):
    """Per-sample, position-keyed inputs for a batch of tiles (rects are local to each sample)."""

    def coordinates(self, rect: Rect) -> Tensor:
        """(B, coord_channels, h, w) coordinate encoding at level 0."""

    def noise(self, layer: int, level: int, rect: Rect) -> Tensor:
        """(B, 1, h, w) noise zn of Gt layer ``layer`` at ``level``."""

    def style_weights(self, level: int, rect: Rect) -> Tensor | None:
        """(B, n_styles, h, w) partition of unity over the styles, or None for a single style."""


def mix_styles(styles: Tensor, weights: Tensor | None) -> Tensor:
    """Per-sample styles (B, n, C) mixed per pixel by ``weights`` (B, n, h, w).

    One style gives a (B, C, 1, 1) tensor, which broadcasts over every pixel.
    """
    if weights is None:
        return styles[:, 0, :, None, None]
    return torch.einsum("bnhw,bnc->bchw", weights, styles)


class StructureSynthesizer(nn.Module):
    """Gs: zl plus coordinates, modulated by zg, to a structure feature map at latent resolution."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        coord = config.coord_channels
        widths = [config.zl_dim] + [config.gs_width] * config.gs_layers
        self.layers = nn.ModuleList(
            StyledLayer(widths[i] + coord, widths[i + 1], config.gs_kernel, config.zg_dim)
            for i in range(config.gs_layers)
        )

    def forward(
        self, zl: Tensor, zg: Tensor, fields: PositionFields, rect: Rect
    ) -> tuple[Tensor, Rect]:
        x = zl
        for layer in self.layers:
            x = torch.cat([x, fields.coordinates(rect).to(x.dtype)], dim=1)
            out_rect = rect.shrink(layer.conv.shrink())
            style = mix_styles(layer.conv.affine(zg), fields.style_weights(0, rect))
            x = layer(x, style, _crop_style(style, rect, out_rect), noise=None)
            rect = out_rect
        return x, rect


class TextureSynthesizer(nn.Module):
    """Gt: StyleGAN2 synthesis from Gs's features, one 2x upsampling stage per extra width."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        ch, w_dim = config.gt_channels, config.w_dim
        self.layers = nn.ModuleList([StyledLayer(config.gs_width, ch[0], 3, w_dim)])
        out = config.channels
        self.to_rgb = nn.ModuleList([ToRGB(ch[0], w_dim, out)])
        for prev, cur in itertools.pairwise(ch):
            self.layers.append(StyledLayer(prev, cur, 3, w_dim, upsample=True))
            self.layers.append(StyledLayer(cur, cur, 3, w_dim))
            self.to_rgb.append(ToRGB(cur, w_dim, out))

    def forward(
        self, x: Tensor, w: Tensor, fields: PositionFields, rect: Rect
    ) -> tuple[Tensor, Rect]:
        x, rect = self._layer(0, x, w, fields, 0, rect)
        rgb, rgb_rect = self._rgb(0, x, w, fields, 0, rect), rect
        for stage in range(1, len(self.to_rgb)):
            x, rect = self._layer(2 * stage - 1, x, w, fields, stage - 1, rect)
            x, rect = self._layer(2 * stage, x, w, fields, stage, rect)
            skip = upsample2x_valid(rgb)
            skip = crop(skip, *rect.offset_in(rgb_rect.upsampled()), rect.height, rect.width)
            rgb, rgb_rect = skip + self._rgb(stage, x, w, fields, stage, rect), rect
        return rgb, rect

    def _layer(
        self, index: int, x: Tensor, w: Tensor, fields: PositionFields, level: int, rect: Rect
    ) -> tuple[Tensor, Rect]:
        layer = self.layers[index]
        if layer.conv.upsample:
            out_level, out_rect = level + 1, rect.upsampled().shrink(1)
            style_in = mix_styles(layer.conv.affine(w), fields.style_weights(level, rect))
            style_out = mix_styles(layer.conv.affine(w), fields.style_weights(out_level, out_rect))
        else:
            out_level, out_rect = level, rect.shrink(layer.conv.shrink())
            style_in = mix_styles(layer.conv.affine(w), fields.style_weights(level, rect))
            style_out = _crop_style(style_in, rect, out_rect)
        noise = fields.noise(index, out_level, out_rect).to(x.dtype)
        return layer(x, style_in, style_out, noise), out_rect

    def _rgb(
        self, stage: int, x: Tensor, w: Tensor, fields: PositionFields, level: int, rect: Rect
    ) -> Tensor:
        to_rgb = self.to_rgb[stage]
        return to_rgb(x, mix_styles(to_rgb.conv.affine(w), fields.style_weights(level, rect)))


def _crop_style(style: Tensor, rect: Rect, out_rect: Rect) -> Tensor:
    """The style map of ``rect`` restricted to ``out_rect`` (a per-sample style is unchanged)."""
    if style.shape[-1] == 1 and style.shape[-2] == 1:
        return style
    return crop(style, *out_rect.offset_in(rect), out_rect.height, out_rect.width)


class Generator(nn.Module):
    """Gs + Gt + mapping: (zl, zg, position fields) -> RGB (RGBA with ``config.alpha``), all
    valid (padding-free).

    ``zl`` covers ``rect`` at level 0 (usually ``Rect(0, 0, h, w)`` local to each sample) and
    ``zg`` holds one or more global latents per sample, ``(B, n_styles, zg_dim)``, mixed per
    pixel by ``fields.style_weights``. Returns the RGB tensor and the rect it covers at the output
    level (``config.upsampling_stages``).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(config.zg_dim, config.w_dim, config.mapping_layers)
        self.structure = StructureSynthesizer(config)
        self.texture = TextureSynthesizer(config)

    def forward(
        self, zl: Tensor, zg: Tensor, fields: PositionFields, rect: Rect
    ) -> tuple[Tensor, Rect]:
        return self.synthesize(zl, zg, self.mapping(zg), fields, rect)

    def synthesize(
        self, zl: Tensor, zg: Tensor, w: Tensor, fields: PositionFields, rect: Rect
    ) -> tuple[Tensor, Rect]:
        """Forward pass with Gt's styles ``w`` given (path-length regularisation needs them)."""
        features, rect = self.structure(zl, zg, fields, rect)
        return self.texture(features, w, fields, rect)
