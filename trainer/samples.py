"""Sample images during training, rendered by the generator exactly as users will render them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generator.files import LoadedModel, new_recipe, open_image_writer
from generator.network import Generator
from generator.rendering import render_array

GRID_SEEDS = tuple(range(8))
GRID_COLUMNS = 4
STRIP_FRAMES = 4


def write_samples(generator: Generator, folder: Path, step: int) -> list[Path]:
    """A grid of full frames (fixed seeds, so runs are comparable over time) and a wide strip
    that wraps horizontally, written as PNGs named by step (RGBA for a model with alpha)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = LoadedModel(generator, generator.config, hash="")
    config = generator.config
    height, width = config.native_frame
    frames = [
        render_array(model, new_recipe(config, "", width, height, seed=seed, projection="flat"))
        for seed in GRID_SEEDS
    ]
    rows = [
        np.concatenate(frames[i : i + GRID_COLUMNS], axis=1)
        for i in range(0, len(frames), GRID_COLUMNS)
    ]
    grid = np.concatenate(rows, axis=0)
    strip = render_array(
        model, new_recipe(config, "", STRIP_FRAMES * width, height, seed=0, wrap="x")
    )
    paths = []
    for name, image in (("grid", grid), ("strip", strip)):
        path = folder / f"step-{step:07d}-{name}.png"
        alpha = image.shape[2] == 4
        with open_image_writer(path, image.shape[1], image.shape[0], alpha=alpha) as writer:
            writer.write_rows(image)
            writer.commit()
        paths.append(path)
    return paths
