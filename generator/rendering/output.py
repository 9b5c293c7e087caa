"""Rendering straight to image files, with the recipe embedded, and reading recipes back."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from generator.errors import BackdropError, RequestError
from generator.files.imagefile import band_dither, open_image_writer, read_metadata
from generator.files.modelfile import LoadedModel
from generator.files.recipe import RECIPE_KEY, Recipe
from generator.rendering.pick import make_renderer
from generator.rendering.render import (
    DEFAULT_BATCH,
    DEFAULT_TILE,
    PRECISION_KEY,
    CancelFn,
    ProgressFn,
)

SOFTWARE = "Endless Backdrops"


def render_array(
    model: LoadedModel,
    recipe: Recipe,
    *,
    tile: int | None = DEFAULT_TILE,
    batch: int | None = DEFAULT_BATCH,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    precision: str | None = None,
    memory_budget_mib: float | None = None,
) -> np.ndarray:
    """The recipe's canvas (or window) as a (h, w, 3) float32 linear-light array ((h, w, 4),
    coverage last, for a model with alpha).

    ``tile``/``batch`` None: chosen from ``memory_budget_mib`` (see
    ``generator.rendering.planning``). ``precision`` None: the recipe's (fp32 unless it records
    another).
    """
    renderer = make_renderer(
        model,
        with_precision(recipe, precision),
        tile=tile,
        batch=batch,
        memory_budget_mib=memory_budget_mib,
    )
    return renderer.render(progress, cancel)


def with_precision(recipe: Recipe, precision: str | None) -> Recipe:
    """The recipe recording ``precision`` (fp32, the default, is recorded by leaving it out)."""
    if precision is None or precision == recipe.extra.get(PRECISION_KEY, "fp32"):
        return recipe
    extra = {k: v for k, v in recipe.extra.items() if k != PRECISION_KEY}
    if precision != "fp32":
        extra[PRECISION_KEY] = precision
    return recipe.replace(extra=extra)


def render_to_file(
    model: LoadedModel,
    recipe: Recipe,
    path: str | os.PathLike,
    *,
    bit_depth: int | None = None,
    tile: int | None = DEFAULT_TILE,
    batch: int | None = DEFAULT_BATCH,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    precision: str | None = None,
    memory_budget_mib: float | None = None,
    finish_band: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> Path:
    """Stream the render into ``path`` (format from its extension), atomically.

    The file appears only once it is complete; a failure or cancellation leaves nothing behind.
    A model with alpha writes an alpha channel (its coverage).
    A ``precision`` other than the recipe's is recorded in the file's recipe. ``finish_band``,
    if given, edits each band (rows from its second argument on) before it is written.
    """
    recipe = with_precision(recipe, precision)
    renderer = make_renderer(
        model, recipe, tile=tile, batch=batch, memory_budget_mib=memory_budget_mib
    )
    height, width, channels = renderer.output_shape
    metadata = {RECIPE_KEY: recipe.to_json(), "Software": SOFTWARE}
    top, columns = image_place(recipe)
    with open_image_writer(
        path, width, height, bit_depth=bit_depth, metadata=metadata, alpha=channels == 4
    ) as writer:
        row = 0
        for band in renderer.bands(progress, cancel):
            if finish_band is not None:
                band = finish_band(band, row)
            rows = np.arange(top + row, top + row + len(band))
            writer.write_rows(band, band_dither(writer, band, rows, columns))
            row += len(band)
            del band  # else it stays alive while the next band renders: two bands, not one
        writer.commit()
    return Path(path)


def image_place(recipe: Recipe) -> tuple[int, np.ndarray]:
    """The first row and the columns of the whole image that the recipe's output holds (its
    window's; a 360-degree sky's columns wrap), which an 8-bit file's dither is keyed to, so a
    window is dithered as the whole is."""
    window = recipe.window
    if window is None:
        return 0, np.arange(recipe.width)
    columns = np.arange(window.x, window.x + window.width)
    if recipe.projection == "equirect":
        columns = np.mod(columns, recipe.width)
    return window.y, columns


def read_recipe(path: str | os.PathLike) -> Recipe:
    """The recipe embedded in an image we wrote, or stored as JSON in a ``.json`` file."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            return Recipe.from_json(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise BackdropError(f"cannot read {path}: {err.strerror}") from None
        except UnicodeDecodeError:
            raise BackdropError(f"cannot read {path}: not UTF-8 text (save it as UTF-8)") from None
    text = read_metadata(path).get(RECIPE_KEY)
    if text is None:
        raise RequestError(f"{path} carries no Endless Backdrops recipe")
    return Recipe.from_json(text)
