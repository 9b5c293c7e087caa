"""Outpainting a real photo: invert it into the model, render the whole canvas, blend it back.

The photo is placed on a canvas (default: centred horizontally, its middle row on the model's
horizon). ``inversion.invert`` finds the style and local latents that redraw it there; the canvas
is then rendered from the recipe holding those latents, so it can be re-rendered, windowed or
extended exactly like any other, at any size the generator supports. Finally the photo's own
pixels replace the rendered ones under a soft mask: exactly the photo inside, fading to the
render over ``feather`` pixels at every edge that borders generated canvas.

Sky models (``ModelConfig.sphere``) invert at their native scale: the photo is resampled by
native width / requested width, as the whole sky is, and blended back at full resolution.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from generator.errors import RequestError
from generator.files.colorspace import linear_to_model
from generator.files.imagefile import check_output
from generator.files.modelfile import LoadedModel, file_hash
from generator.files.recipe import Recipe, Window
from generator.rendering.inversion import DEFAULT_SETTINGS, Inversion, InversionSettings, invert
from generator.rendering.output import render_array, render_to_file
from generator.rendering.resample import resample_rows
from generator.rendering.sphere import is_sphere_request, native_sphere_recipe

OUTPAINT_KEY = "outpaint"
"""Where the recipe's ``extra`` records the photo (name, hash, placement) and the inversion."""


@dataclass(frozen=True)
class Placement:
    """The photo's rectangle in canvas pixels, and the width of its soft edge."""

    x: int
    y: int
    width: int
    height: int
    feather: int


def place_photo(
    model: LoadedModel,
    recipe: Recipe,
    photo_shape: tuple[int, ...],
    x: int | None = None,
    y: int | None = None,
    feather: int | None = None,
) -> Placement:
    """Where the photo goes; a one-line ``RequestError`` if it cannot go there."""
    height, width = photo_shape[:2]
    if width > recipe.width or height > recipe.height:
        raise RequestError(
            f"the photo ({width}x{height}) is larger than the canvas "
            f"({recipe.width}x{recipe.height}): ask for a bigger --width/--height"
        )
    if x is None:
        x = (recipe.width - width) // 2
    if y is None:
        if is_sphere_request(model, recipe):
            horizon = recipe.height // 2
        else:
            horizon = model.config.native_frame[0] // 2 - recipe.top
        y = min(max(horizon - height // 2, 0), recipe.height - height)
    if not (0 <= x <= recipe.width - width and 0 <= y <= recipe.height - height):
        raise RequestError(
            f"the photo at {x},{y} does not fit on the {recipe.width}x{recipe.height} canvas"
        )
    if feather is None:
        feather = max(2, min(width, height) // 16)
    if feather < 0:
        raise RequestError("feather must be >= 0 pixels")
    return Placement(int(x), int(y), int(width), int(height), int(feather))


def invert_photo(
    model: LoadedModel,
    recipe: Recipe,
    photo: np.ndarray,
    placement: Placement,
    settings: InversionSettings = DEFAULT_SETTINGS,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Inversion:
    """The recipe with latents that redraw ``photo`` (linear light) at ``placement``."""
    if recipe.window is not None:
        raise RequestError("outpaint renders the whole canvas: leave out the window")
    if model.config.alpha:
        raise RequestError("outpainting needs a model of whole photos, not one with alpha")
    target = linear_to_model(photo, model.config)
    if not is_sphere_request(model, recipe):
        return invert(model, recipe, target, placement.y, placement.x, settings, progress, cancel)
    canvas = native_sphere_recipe(model, recipe)
    scale = canvas.width / recipe.width
    top, left = round(placement.y * scale), round(placement.x * scale)
    bottom = max(top + 1, round((placement.y + placement.height) * scale))
    right = max(left + 1, round((placement.x + placement.width) * scale))
    height, width = bottom - top, right - left
    small = resample_rows(target, height, width, (0, height), wrap_x=False)
    found = invert(model, canvas, small, top, left, settings, progress, cancel)
    latents = {"styles": found.recipe.styles, "local_latents": found.recipe.local_latents}
    return Inversion(recipe.replace(**latents), found.psnr_db, found.first_cell, found.cells)


def photo_mask(placement: Placement, canvas: tuple[int, int], wrap_x: bool) -> np.ndarray:
    """(h, w) weights of the photo: 1 from ``feather`` pixels inwards, easing to exactly 0 on the
    edge pixels that border generated canvas (an edge on the canvas border stays the photo's:
    nothing is generated beyond it)."""
    p, (height, width) = placement, canvas

    def ramp(size: int, free_start: bool, free_end: bool) -> np.ndarray:
        pos = np.arange(size, dtype=np.float64)  # 0 on the edge pixel: it stays generated
        dist = np.full(size, np.inf)
        if free_start:
            dist = np.minimum(dist, pos)
        if free_end:
            dist = np.minimum(dist, size - 1 - pos)
        t = np.clip(dist / max(p.feather, 1e-9), 0.0, 1.0) if p.feather else np.ones(size)
        return t * t * (3.0 - 2.0 * t)

    full_width = p.width == width
    along_x = ramp(p.width, (p.x > 0 or wrap_x) and not full_width,
                   (p.x + p.width < width or wrap_x) and not full_width)  # fmt: skip
    along_y = ramp(p.height, p.y > 0, p.y + p.height < height)
    return (along_y[:, None] * along_x[None, :]).astype(np.float32)


BLEND_LEVELS = 3
"""Band-pass levels of the multi-band blend; the residual low-pass makes one more."""


def blend_photo(
    photo: np.ndarray,
    generated: np.ndarray,
    placement: Placement,
    canvas: tuple[int, int],
    wrap_x: bool,
) -> np.ndarray:
    """The photo merged into the generated pixels under it (both (h, w, 3), linear light).

    A multi-band blend (Burt and Adelson): fine detail switches over a narrow ramp at the edge,
    coarse tones over the full ``feather``, so the transition keeps the texture of both sides
    instead of averaging it away (a plain cross-fade of two textures is visibly calmer). Every
    level's mask is 0 on the photo's edge and 1 from ``feather`` inwards, so the result equals
    the generated canvas on the edge and the photo exactly further in.
    """
    feather = placement.feather
    widths = [max(1, feather >> (BLEND_LEVELS - level)) for level in range(BLEND_LEVELS)]
    masks = [
        photo_mask(replace(placement, feather=min(w, feather)), canvas, wrap_x)
        for w in [*widths, feather]
    ]
    photo_bands, generated_bands = _gaussian_bands(photo), _gaussian_bands(generated)
    out = np.zeros_like(photo)
    for mask, a, b in zip(masks, photo_bands, generated_bands, strict=True):
        out += mask[..., None] * a + (1.0 - mask[..., None]) * b
    whole, none = masks[-1], masks[0]
    for m in masks:
        whole, none = np.minimum(whole, m), np.maximum(none, m)
    out[whole == 1.0] = photo[whole == 1.0]
    out[none == 0.0] = generated[none == 0.0]
    return out


def _gaussian_bands(image: np.ndarray) -> list[np.ndarray]:
    """Differences of Gaussian blurs (sigma 1, 2, 4, ...) and the last blur: they sum to the
    image, at full resolution, so any per-level mask can weigh them."""
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    bands = []
    for level in range(BLEND_LEVELS):
        blurred = _blur(x, 2.0**level)
        bands.append((x - blurred)[0].permute(1, 2, 0).numpy())
        x = blurred
    bands.append(x[0].permute(1, 2, 0).numpy())
    return bands


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (1, C, h, w), edges extended (any size, however small)."""
    radius = int(3 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=x.dtype) / sigma) ** 2)
    taps = taps / taps.sum()
    channels = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, taps.reshape(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return F.conv2d(x, taps.reshape(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)


class PhotoBlend:
    """Pastes the blended photo region into output bands as they stream to the file."""

    def __init__(self, blended: np.ndarray, placement: Placement):
        self.blended, self.placement = blended, placement

    def __call__(self, band: np.ndarray, first_row: int) -> np.ndarray:
        p = self.placement
        top, bottom = max(first_row, p.y), min(first_row + band.shape[0], p.y + p.height)
        if top < bottom:
            rows = slice(top - first_row, bottom - first_row)
            band[rows, p.x : p.x + p.width] = self.blended[top - p.y : bottom - p.y]
        return band


def outpaint_to_file(
    model: LoadedModel,
    photo: np.ndarray,
    recipe: Recipe,
    placement: Placement,
    path: str | os.PathLike[str],
    *,
    photo_path: str | os.PathLike[str] | None = None,
    settings: InversionSettings = DEFAULT_SETTINGS,
    inversion_progress: Callable[[int, int], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    **render_options,
) -> Inversion:
    """Invert, render and blend into ``path`` (atomically); the file's recipe holds the latents
    and, under ``extra['outpaint']``, the placement and the photo file's name and SHA-256."""
    check_output(path, render_options.get("bit_depth"))
    found = invert_photo(model, recipe, photo, placement, settings, inversion_progress, cancel)
    source = {}
    if photo_path is not None:
        source = {"photo": Path(photo_path).name, "sha256": file_hash(photo_path)}
    record = {
        **source,
        **asdict(placement),
        "steps": settings.steps,
        "psnr_db": round(found.psnr_db, 2),
    }
    final = found.recipe.replace(extra={**found.recipe.extra, OUTPAINT_KEY: record})
    p = placement
    under = render_array(model, final.replace(window=Window(p.x, p.y, p.width, p.height)))
    canvas = (recipe.height, recipe.width)
    blended = blend_photo(photo, under, placement, canvas, "x" in recipe.wrap)
    blend = PhotoBlend(blended, placement)
    render_to_file(
        model, final, path, progress=progress, cancel=cancel, finish_band=blend, **render_options
    )
    return Inversion(final, found.psnr_db, found.first_cell, found.cells)
