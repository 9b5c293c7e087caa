"""Rendering straight to image files, with the recipe embedded, and reading recipes back."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from generator.errors import BackdropError, RequestError
from generator.imagefile import open_image_writer, read_metadata
from generator.modelfile import LoadedModel
from generator.recipe import RECIPE_KEY, Recipe
from generator.render import DEFAULT_BATCH, DEFAULT_TILE, CancelFn, CanvasRenderer, ProgressFn

SOFTWARE = "Endless Backdrops"


def render_array(
    model: LoadedModel,
    recipe: Recipe,
    *,
    tile: int = DEFAULT_TILE,
    batch: int = DEFAULT_BATCH,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """The recipe's canvas (or window) as a (h, w, 3) float32 linear-light array."""
    return CanvasRenderer(model, recipe, tile=tile, batch=batch).render(progress, cancel)


def render_to_file(
    model: LoadedModel,
    recipe: Recipe,
    path: str | os.PathLike,
    *,
    bit_depth: int | None = None,
    tile: int = DEFAULT_TILE,
    batch: int = DEFAULT_BATCH,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Path:
    """Stream the render into ``path`` (format from its extension), atomically.

    The file appears only once it is complete; a failure or cancellation leaves nothing behind.
    """
    renderer = CanvasRenderer(model, recipe, tile=tile, batch=batch)
    height, width, _ = renderer.output_shape
    metadata = {RECIPE_KEY: recipe.to_json(), "Software": SOFTWARE}
    with open_image_writer(path, width, height, bit_depth=bit_depth, metadata=metadata) as writer:
        for band in renderer.bands(progress, cancel):
            writer.write_rows(band)
        writer.commit()
    return Path(path)


def read_recipe(path: str | os.PathLike) -> Recipe:
    """The recipe embedded in an image we wrote, or stored as JSON in a ``.json`` file."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            return Recipe.from_json(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise BackdropError(f"cannot read {path}: {err.strerror}") from None
    text = read_metadata(path).get(RECIPE_KEY)
    if text is None:
        raise RequestError(f"{path} carries no Endless Backdrops recipe")
    return Recipe.from_json(text)
