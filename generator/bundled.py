"""The default models shipped inside the package, found by name (``--model sky``).

They live in ``generator/models/NAME.safetensors``. A model argument that names an existing file is
always that file; otherwise a bare name (no folder, no extension) picks the bundled model. This
module imports nothing heavy, so the Blender add-on can list the bundled models before torch loads.
"""

from __future__ import annotations

import os
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
SUFFIX = ".safetensors"


def bundled_models() -> dict[str, Path]:
    """Name -> file of every bundled model, sorted by name."""
    if not MODELS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(MODELS_DIR.glob(f"*{SUFFIX}"))}


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """The file a ``--model`` argument means: a path as given, or a bundled model's file."""
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
