"""The defaults shipped inside the package, found by name (``--model sky``).

They live in ``generator/models/``: learned models as ``NAME.safetensors`` (``terrain``, the cloud
layer model ``clouds``, the learned whole-sphere sky ``sky-360``) and composed skies as
``NAME.json`` sky recipes (``sky``: a physical atmosphere, the ``clouds`` layer and the
``terrain`` ground, rendered by ``generator.sky``). A model argument that names an existing file
is always that file; otherwise a bare name (no folder, no extension) picks the bundled one. This
module imports nothing heavy, so the Blender add-on can list the bundled names before torch
loads.
"""

from __future__ import annotations

import os
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
SUFFIX = ".safetensors"
"""A learned model's file."""
RECIPE_SUFFIX = ".json"
"""A bundled composed sky's file: a sky recipe (``generator.sky.skyfile.read_sky_recipe``)."""
LEARNED_SKY = "sky-360"
"""The bundled learned whole-sphere sky: what needs a learned sky model (outpaint, extend,
fine-tuning) and the default sky used to be."""


def bundled_models() -> dict[str, Path]:
    """Name -> file of everything bundled (learned models and sky recipes), sorted by name."""
    if not MODELS_DIR.is_dir():
        return {}
    found = [p for p in MODELS_DIR.iterdir() if p.suffix in (SUFFIX, RECIPE_SUFFIX)]
    return {p.stem: p for p in sorted(found, key=lambda p: (p.stem, p.suffix))}


def bundled_recipes() -> dict[str, Path]:
    """Name -> file of the bundled composed skies (sky recipes) alone."""
    return {n: p for n, p in bundled_models().items() if p.suffix == RECIPE_SUFFIX}


def is_sky_recipe(path: str | os.PathLike) -> bool:
    """Whether a resolved model argument (``resolve_model_path``) is a composed sky's recipe
    rather than a learned model."""
    return Path(path).suffix.lower() == RECIPE_SUFFIX


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """The file a ``--model`` argument means: a path as given, or a bundled model's or
    recipe's file."""
    path = Path(name_or_path)
    if path.exists() or path.suffix or len(path.parts) != 1:
        return path
    return bundled_models().get(path.name, path)


def unknown_model_hint(name_or_path: str | os.PathLike) -> str:
    """The end of a 'model not found' message: which bundled names exist, if it was a name."""
    path = Path(name_or_path)
    if path.suffix or len(path.parts) != 1:
        return ""
    names = ", ".join(bundled_models()) or "none in this installation"
    return f" (bundled models: {names})"
