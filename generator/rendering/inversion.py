"""GAN inversion: latents that make the model draw a given photo at a given place of a canvas.

The photo is compared with the network's output over exactly the pixels it covers (which depend
on the cells of ``geometry.required_latent_span``). What is optimised is the style ``zg`` and the
local latents ``zl`` of the cells *under* the photo (centre inside it): the cells around it that
only reach into the photo keep the seed's values, because latents fitted only to what they do
inside the photo draw a ring of unconstrained texture outside it (measured: photo seam 0.88 with
them, 0.94 without, on held-out textures). Noise stays position-keyed from the seed, so
everything away from the photo is the seed's own canvas.

The loss works in the model's space (log radiance for HDR models): a pixel term plus a
Laplacian-pyramid term that weighs edges and texture at every scale (no downloaded perceptual
network), and a prior that keeps ``zl`` standard-normal, because the rest of the canvas (and the
model) expects i.i.d. N(0, 1) latents next to these ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from generator.errors import Cancelled, RequestError
from generator.files.colorspace import model_range
from generator.files.modelfile import LoadedModel
from generator.files.recipe import LatentPatch, Recipe, Style
from generator.network.geometry import Rect, required_latent_span
from generator.rendering.render import CanvasRenderer

QUALITY_STEPS = {"fast": 100, "default": 300, "best": 1000}
PYRAMID_LEVELS = 4


@dataclass(frozen=True)
class InversionSettings:
    steps: int = QUALITY_STEPS["default"]
    lr: float = 0.1
    laplacian_weight: float = 1.0
    prior_weight: float = 0.05
    style_first: float = 0.5
    """Fraction of the steps that adjust only the style zg, before zl joins."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise RequestError("inversion needs at least 1 step")


DEFAULT_SETTINGS = InversionSettings()


@dataclass(frozen=True)
class Inversion:
    """The recipe that reproduces the photo, and how well (PSNR in the model's space, where a
    value range of 2 is full scale: [-1, 1] for sRGB models, 2 x log_stops stops for HDR);
    ``first_cell`` and ``cells`` give the block of local latents it replaced."""

    recipe: Recipe
    psnr_db: float
    first_cell: tuple[int, int]
    cells: tuple[int, int]


def invert(
    model: LoadedModel,
    recipe: Recipe,
    photo: np.ndarray,
    top: int,
    left: int,
    settings: InversionSettings = DEFAULT_SETTINGS,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Inversion:
    """Invert ``photo`` (h, w, 3 in the model's space) placed with its top-left pixel at canvas
    pixel (top, left) of ``recipe`` (a plain canvas at the model's native scale, one style)."""
    config, ppc = model.config, model.config.pixels_per_cell
    height, width = photo.shape[:2]
    if len(recipe.style_list) != 1:
        raise RequestError("a photo can be inverted on a single-style canvas only")
    renderer = CanvasRenderer(model, recipe.replace(window=None))
    g_top, g_left = recipe.top + top, recipe.left + left
    row0, rows = required_latent_span(config, g_top, height)
    col0, cols = required_latent_span(config, g_left, width)
    period_rows, period_cols = renderer.period_cells
    if (period_cols and cols > period_cols) or (period_rows and rows > period_rows):
        raise RequestError(
            "the photo is too large for a canvas that wraps: with the context the model needs "
            f"({cols * ppc}x{rows * ppc} px) it must fit in one period; make the canvas bigger"
        )
    device = renderer.device
    start = np.empty((config.zl_dim, rows, cols), dtype=np.float32)
    renderer.local_latents.window_into(start, row0, col0)
    under_rows = _cells_under(row0, rows, g_top, height, ppc)
    under_cols = _cells_under(col0, cols, g_left, width, ppc)
    seed_zl = torch.from_numpy(start).to(device)[None]
    zl = seed_zl[:, :, under_rows, under_cols].clone().requires_grad_(True)
    zg = renderer.zg[:1].clone().to(device)[None].requires_grad_(True)  # (1, 1, zg_dim)
    fields = renderer.position_fields(np.array([[row0, col0]]))
    target = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)))[None].to(device)
    generator = model.generator
    low, high = model_range(config)
    optimizer = torch.optim.Adam([{"params": [zl]}, {"params": [zg]}], lr=settings.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.steps)
    style_steps = round(settings.style_first * settings.steps)

    def draw() -> Tensor:
        every_zl = seed_zl.clone()
        every_zl[:, :, under_rows, under_cols] = zl
        rgb, rect = generator.synthesize(
            every_zl, zg, generator.mapping(zg), fields, Rect(0, 0, rows, cols)
        )
        y = g_top - row0 * ppc - rect.top
        x = g_left - col0 * ppc - rect.left
        return rgb[:, :, y : y + height, x : x + width].clamp(low, high)  # as rendering clips

    with torch.enable_grad():
        for step in range(settings.steps):
            if cancel is not None and cancel():
                raise Cancelled("inversion cancelled")
            optimizer.zero_grad(set_to_none=True)
            loss = _loss(draw(), target, zl, settings)
            loss.backward()
            if step < style_steps:  # the style first: zl alone would bend to the wrong style
                zl.grad = None
            optimizer.step()
            schedule.step()
            if progress is not None:
                progress(step + 1, settings.steps)
    with torch.no_grad():
        zl.copy_(zl.half().float())  # the recipe stores float16: measure what it will render
        mse = float(F.mse_loss(draw(), target))
    values = zl.detach()[0].cpu().numpy()
    first_row, first_col = row0 + under_rows.start, col0 + under_cols.start
    style = recipe.style_list[0]
    inverted = recipe.replace(
        styles=(Style(style.seed, style.x, style.y, tuple(zg.detach().cpu().numpy().ravel())),),
        local_latents=LatentPatch.from_array(first_row, first_col, values),
    )
    psnr = 10.0 * np.log10(4.0 / max(mse, 1e-12))
    return Inversion(inverted, float(psnr), (first_row, first_col), tuple(values.shape[1:]))


def _cells_under(first: int, count: int, start_px: int, size_px: int, ppc: int) -> slice:
    """The cells among ``first .. first + count`` whose centres lie in pixels
    [start_px, start_px + size_px): at least the one holding the photo's middle."""
    centres = (first + np.arange(count) + 0.5) * ppc
    inside = np.flatnonzero((centres >= start_px) & (centres < start_px + size_px))
    if inside.size == 0:
        middle = (start_px + size_px / 2) // ppc - first
        return slice(int(middle), int(middle) + 1)
    return slice(int(inside[0]), int(inside[-1]) + 1)


def _loss(drawn: Tensor, target: Tensor, zl: Tensor, settings: InversionSettings) -> Tensor:
    loss = F.mse_loss(drawn, target)
    a, b = drawn, target
    for _ in range(PYRAMID_LEVELS):
        if min(a.shape[-2:]) < 4:
            break
        small_a, small_b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        up_a = F.interpolate(small_a, size=a.shape[-2:], mode="bilinear", align_corners=False)
        up_b = F.interpolate(small_b, size=b.shape[-2:], mode="bilinear", align_corners=False)
        loss = loss + settings.laplacian_weight * F.l1_loss(a - up_a, b - up_b)
        a, b = small_a, small_b
    prior = (zl.square().mean() - 1.0).square() + zl.mean().square()
    return loss + settings.prior_weight * prior
