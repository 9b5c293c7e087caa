"""Which model files the add-on offers: the bundled defaults, then the user's own.

Bundled models ship inside the ``generator`` package (its ``models/`` folder, installed from the
extension's wheel; found without importing it, so the list shows even before torch is installed)
or in the extension's own ``models/`` folder; users add any other ``.safetensors`` model in the
add-on preferences.
"""

from __future__ import annotations

import importlib.util
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import bpy

from .preferences import addon_preferences

MODELS_DIR = Path(__file__).resolve().parent / "models"
NO_MODEL = "NONE"


@dataclass(frozen=True)
class ModelEntry:
    path: str
    label: str
    bundled: bool


def _model_folders() -> list[Path]:
    folders = [MODELS_DIR]
    spec = importlib.util.find_spec("generator")
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) / "models" for p in spec.submodule_search_locations]
    return [f for f in folders if f.is_dir()]


def bundled_models() -> list[ModelEntry]:
    """The default models (sky first: it is what a new World wants), one entry per name."""
    found: dict[str, Path] = {}
    for folder in _model_folders():
        for path in sorted(folder.glob("*.safetensors")):
            found.setdefault(path.stem, path.resolve())
    names = sorted(found, key=lambda n: (n != "sky", n))
    return [ModelEntry(str(found[n]), n.replace("_", " ").title(), True) for n in names]


CACHE_SECONDS = 2.0
"""How long the list is reused: panels redraw many times a second (ten during a render) and
each draw asks for it, so a model on a slow network drive must not stall Blender's UI."""
_cached: tuple[tuple[str, ...], float, list[ModelEntry]] | None = None


def available_models(context: bpy.types.Context | None = None) -> list[ModelEntry]:
    """Bundled models, then the existing files listed in the preferences (no duplicates);
    looked up again once the list in the preferences changes or ``CACHE_SECONDS`` pass."""
    global _cached
    prefs = addon_preferences(context)
    listed = (bpy.data.filepath, *(item.filepath for item in (prefs.model_paths if prefs else ())))
    now = time.monotonic()
    if _cached is None or _cached[0] != listed or now - _cached[1] > CACHE_SECONDS:
        _cached = (listed, now, _find_models(listed[1:]))
    return list(_cached[2])


def _find_models(user_paths: tuple[str, ...]) -> list[ModelEntry]:
    entries = bundled_models()
    seen = {e.path for e in entries}
    for filepath in user_paths:
        if not filepath:
            continue
        path = str(Path(bpy.path.abspath(filepath)).resolve())
        if path not in seen and Path(path).is_file():
            seen.add(path)
            entries.append(ModelEntry(path, Path(path).stem, False))
    return entries


_enum_items: list[tuple[str, str, str, str, int]] = []


def model_enum_items(_self: object, context: bpy.types.Context | None) -> list[tuple]:
    """Items of the model menu, kept in a module list because Blender does not copy the strings.

    Each item's number comes from its path, so the saved choice survives models being added or
    removed before it in the list.
    """
    _enum_items[:] = [
        (
            e.path,
            e.label,
            f"{'Bundled model' if e.bundled else 'Your model'}: {e.path}",
            "PACKAGE" if e.bundled else "FILE_BLANK",
            zlib.crc32(e.path.encode()) & 0x7FFFFFFF,
        )
        for e in available_models(context)
    ] or [(NO_MODEL, "No model yet", "Add a model file in the add-on preferences", "INFO", 0)]
    return _enum_items
