"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for training on 10-200 photos.

The same random colour, translation and cutout transforms are applied to every image the
discriminator sees, real and generated, so it cannot memorise the few real photos, and gradients
still reach the generator through them. An alpha model's fourth channel (coverage) moves with
the pixels but keeps its values: the colour transform changes the colour only, and what
translation and cutout fill in is empty sky (alpha -1), not half coverage (0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def color(x: Tensor) -> Tensor:
    """Random brightness, saturation and contrast per image. An RGBA image's alpha is left as
    it is and its contrast pivots on the land's mean colour (weighted by coverage): the colour
    under transparency must not move what D sees of the land."""
    b = x.shape[0]
    rgb = x[:, :3] + (torch.rand(b, 1, 1, 1, device=x.device) - 0.5)
    mean = rgb.mean(dim=1, keepdim=True)
    rgb = (rgb - mean) * (torch.rand(b, 1, 1, 1, device=x.device) * 2.0) + mean
    if x.shape[1] == 4:
        coverage = ((x[:, 3:] + 1.0) * 0.5).clamp(0.0, 1.0)
        total = 3.0 * coverage.sum(dim=(1, 2, 3), keepdim=True)
        mean = (rgb * coverage).sum(dim=(1, 2, 3), keepdim=True) / total.clamp_min(1e-6)
    else:
        mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    rgb = (rgb - mean) * (torch.rand(b, 1, 1, 1, device=x.device) + 0.5) + mean
    return rgb if x.shape[1] == 3 else torch.cat([rgb, x[:, 3:]], dim=1)


def translation(x: Tensor, ratio: float = TRANSLATION_RATIO) -> Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros (alpha -1)."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    if x.shape[1] == 4:
        padded = torch.cat([padded[:, :3], F.pad(x[:, 3:], (1, 1, 1, 1), value=-1.0)], dim=1)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = CUTOUT_RATIO) -> Tensor:
    """Zero a random square of ``ratio`` of the image's size in each image (alpha -1)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (b, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w, (b, 1, 1), device=x.device) - cw // 2
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    kept = (~inside)[:, None].to(x.dtype)
    if x.shape[1] == 4:
        return torch.cat([x[:, :3] * kept, x[:, 3:] * kept + kept - 1.0], dim=1)
    return x * kept


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def augment(x: Tensor, policy: tuple[str, ...]) -> Tensor:
    """Apply the transforms named in ``policy`` (in order), each with fresh randomness."""
    for name in policy:
        x = TRANSFORMS[name](x)
    return x
