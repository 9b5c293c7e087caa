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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from generator.colorspace import linear_to_model
from generator.errors import RequestError
from generator.inversion import DEFAULT_SETTINGS, Inversion, InversionSettings, invert
from generator.modelfile import LoadedModel, file_hash
from generator.output import render_to_file
from generator.recipe import Recipe
from generator.resample import axis_weights
from generator.sphere import is_sphere_request, native_sphere_recipe

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
            horizon = model.config.native_height * model.config.pixels_per_cell // 2 - recipe.top
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
    target = linear_to_model(photo, model.config)
    if not is_sphere_request(model, recipe):
        return invert(model, recipe, target, placement.y, placement.x, settings, progress, cancel)
    canvas = native_sphere_recipe(model, recipe)
    scale = canvas.width / recipe.width
    top, left = round(placement.y * scale), round(placement.x * scale)
    bottom = max(top + 1, round((placement.y + placement.height) * scale))
    right = max(left + 1, round((placement.x + placement.width) * scale))
    small = _resize(target, bottom - top, right - left)
    found = invert(model, canvas, small, top, left, settings, progress, cancel)
    latents = {"styles": found.recipe.styles, "local_latents": found.recipe.local_latents}
    return Inversion(recipe.replace(**latents), found.psnr_db, found.first_cell, found.cells)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = axis_weights(height, image.shape[0], periodic=False)
    cols = axis_weights(width, image.shape[1], periodic=False)
    tall = np.einsum("rt,rtwc->rwc", rows.weights, image[rows.indices])
    return np.einsum("wt,rwtc->rwc", cols.weights, tall[:, cols.indices]).astype(np.float32)


def photo_mask(placement: Placement, canvas: tuple[int, int], wrap_x: bool) -> np.ndarray:
    """(h, w) weights of the photo: 1 inside, easing to 0 at edges that border generated canvas
    (an edge on the canvas border stays hard: nothing is generated beyond it)."""
    p, (height, width) = placement, canvas

    def ramp(size: int, free_start: bool, free_end: bool) -> np.ndarray:
        pos = np.arange(size, dtype=np.float64) + 0.5
        dist = np.full(size, np.inf)
        if free_start:
            dist = np.minimum(dist, pos)
        if free_end:
            dist = np.minimum(dist, size - pos)
        t = np.clip(dist / max(p.feather, 1e-9), 0.0, 1.0) if p.feather else np.ones(size)
        return t * t * (3.0 - 2.0 * t)

    full_width = p.width == width
    along_x = ramp(p.width, (p.x > 0 or wrap_x) and not full_width,
                   (p.x + p.width < width or wrap_x) and not full_width)  # fmt: skip
    along_y = ramp(p.height, p.y > 0, p.y + p.height < height)
    return (along_y[:, None] * along_x[None, :]).astype(np.float32)


class PhotoBlend:
    """Blends the photo into output bands as they stream to the file (rows top to bottom)."""

    def __init__(
        self, photo: np.ndarray, placement: Placement, canvas: tuple[int, int], wrap_x: bool
    ):
        self.photo, self.placement = photo, placement
        self.mask = photo_mask(placement, canvas, wrap_x)[..., None]

    def __call__(self, band: np.ndarray, first_row: int) -> np.ndarray:
        p = self.placement
        top, bottom = max(first_row, p.y), min(first_row + band.shape[0], p.y + p.height)
        if top >= bottom:
            return band
        rows = slice(top - first_row, bottom - first_row)
        inside = slice(top - p.y, bottom - p.y)
        mask = self.mask[inside]
        generated = band[rows, p.x : p.x + p.width]
        band[rows, p.x : p.x + p.width] = mask * self.photo[inside] + (1.0 - mask) * generated
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
    blend = PhotoBlend(photo, placement, (recipe.height, recipe.width), "x" in recipe.wrap)
    render_to_file(
        model, final, path, progress=progress, cancel=cancel, finish_band=blend, **render_options
    )
    return Inversion(final, found.psnr_db, found.first_cell, found.cells)
