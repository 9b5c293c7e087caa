"""Generating training patches: the generator at given frame positions, with fresh randomness.

Training does not need position-keyed randomness (each patch is independent), but it does need the
same coordinate encoding and size arithmetic as rendering, so a trained model renders what it
learned.
"""

from __future__ import annotations

import torch
from torch import Tensor

from generator.network import Generator, ModelConfig, Rect, encode_coordinates, required_latent_span


class TrainingFields:
    """``PositionFields`` for a batch of patches: coordinates by position, noise drawn fresh.

    With ``paired`` the second half of the batch reuses the first half's noise, so the diversity
    loss compares images that differ only through zl.
    """

    def __init__(
        self, config: ModelConfig, origins: Tensor, device: torch.device, paired: bool = False
    ) -> None:
        self.config, self.origins, self.device, self.paired = config, origins.cpu(), device, paired

    def coordinates(self, rect: Rect) -> Tensor:
        rows = self.origins[:, :1] + rect.top + torch.arange(rect.height)[None]
        cols = self.origins[:, 1:] + rect.left + torch.arange(rect.width)[None]
        coords = encode_coordinates(self.config, rows.numpy(), cols.numpy(), self.config.period)
        return torch.from_numpy(coords).to(self.device)

    def noise(self, layer: int, level: int, rect: Rect) -> Tensor:
        batch = len(self.origins)
        if self.paired:
            half = torch.randn(batch // 2, 1, rect.height, rect.width, device=self.device)
            return torch.cat([half, half])
        return torch.randn(batch, 1, rect.height, rect.width, device=self.device)

    def style_weights(self, level: int, rect: Rect) -> None:
        return None


def patch_context(config: ModelConfig, patch: int) -> tuple[int, int]:
    """(cells of context before the patch's first cell, latent cells per side) for a patch."""
    start, size = required_latent_span(config, 0, patch)
    return -start, size


def generate_patches(
    generator: Generator,
    zg: Tensor,
    tops: Tensor,
    lefts: Tensor,
    patch: int,
    *,
    zl: Tensor | None = None,
    w: Tensor | None = None,
    paired: bool = False,
) -> tuple[Tensor, Tensor]:
    """Patches (B, 3, patch, patch) whose top-left pixels sit at cells (tops, lefts) of the frame.

    ``zg`` is (B, zg_dim); ``w`` (B, w_dim), when given, replaces mapping(zg) so that gradients can
    flow to it. Returns the patches and the zl used (B, zl_dim, n, n).
    """
    config = generator.config
    device = zg.device
    before, cells = patch_context(config, patch)
    if zl is None:
        zl = torch.randn(len(zg), config.zl_dim, cells, cells, device=device)
    origins = torch.stack([tops, lefts], dim=1).long().cpu() - before
    fields = TrainingFields(config, origins, device, paired)
    zg = zg[:, None]
    w = generator.mapping(zg) if w is None else w[:, None]
    rgb, rect = generator.synthesize(zl, zg, w, fields, Rect(0, 0, cells, cells))
    offset = before * config.pixels_per_cell - rect.top
    return rgb[:, :, offset : offset + patch, offset : offset + patch], zl


def patch_position(config: ModelConfig, tops: Tensor, patch: int) -> Tensor:
    """Vertical position of patch centres in the native frame (-1 top edge, +1 bottom edge).

    The discriminator's auxiliary head learns to predict it; the generator must match it.
    """
    half = config.native_height / 2.0
    centre = tops.float() + patch / (2.0 * config.pixels_per_cell)
    return (centre - half) / half
