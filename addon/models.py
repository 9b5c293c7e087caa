"""Which model files the add-on offers, and which backdrops each of them can make.

Bundled models ship inside the ``generator`` package (its ``models/`` folder, installed from the
extension's wheel; found without importing it, so the list shows even before torch is installed)
or in the extension's own ``models/`` folder; users add any other ``.safetensors`` model in the
add-on preferences. Each kind (sky, terrain, matte) has its own menu offering only the models
that can make it; a choice is stored as a key (a bundled model's name, or a file's path) so that a
.blend file opened on another machine finds the same bundled model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bpy

from .backend import can_make

MODELS_DIR = Path(__file__).resolve().parent / "models"
NO_MODEL = "NONE"
KIND_LABELS = {
    "sky": "Sky",
    "terrain": "Terrain",
    "matte": "Matte Painting",
    "ground": "Ground",
    "clouds": "Clouds",
}
"""Every model menu: the three backdrops, and the physical sky's ground and cloud layer."""
CLOUDS_PRESET = "clouds"
"""The ``extra["preset"]`` a cloud model's config carries (``trainer``'s clouds preset)."""
NO_MODEL_HELP = (
    "No model yet: add a .safetensors model file in Preferences > Add-ons > Endless Backdrops"
)
MAX_HEADER = 100_000_000
"""Largest safetensors header read (the format's own limit): a bigger one is not a model."""


class ModelChoiceError(Exception):
    """The kind's chosen model cannot be used (none yet, or its file is gone); one UI line."""


@dataclass(frozen=True)
class ModelEntry:
    key: str
    """How a choice names it: a bundled model's name, or the file's absolute path."""
    path: str
    label: str
    bundled: bool
    horizon: bool | None
    """Whether the model sees vertical position (a scene with an up); None: header unreadable."""
    clouds: bool = False
    """Whether it draws cloud density (``generator.sky.cloudmap``) rather than a picture."""
    name: str = ""
    """A bundled model of the generator's: its name, which the generator resolves."""

    @property
    def reference(self) -> str:
        """How a composed sky's recipe names it: a bundled model by name, so that the recipe
        finds it on another machine (its own copy, checked by hash), else the file's path."""
        return self.name or self.path

    def can_make(self, kind: str) -> bool:
        """Unreadable files are offered everywhere: generating with one says what is wrong."""
        return self.horizon is None or makes(kind, self.horizon, self.clouds)


def makes(kind: str, horizon: bool, clouds: bool) -> bool:
    """Whether a model can fill ``kind``'s menu: a cloud layer only from a torus model trained on
    cloud density, the ground and terrain from any other torus model, skies and mattes from
    models with a horizon (``backend.can_make``)."""
    if kind == "clouds":
        return clouds and not horizon
    if kind == "ground":
        return not (horizon or clouds)
    return can_make(kind, horizon) and not (kind == "terrain" and clouds)


def read_header(path: str | os.PathLike[str]) -> tuple[bool | None, bool]:
    """(whether a model file's config conditions on vertical position, whether it is a cloud
    model); (None, False) if unreadable.

    Read from the safetensors header by hand because the menus must not import torch (seconds,
    and maybe missing); ``generator.load_model`` checks the whole file when it is added or used.
    """
    try:
        with open(path, "rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > MAX_HEADER:
                return None, False
            config = json.loads(json.loads(handle.read(size))["__metadata__"]["config"])
        preset = (config.get("extra") or {}).get("preset")
        return bool(config.get("vertical_conditioning", True)), preset == CLOUDS_PRESET
    except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error):
        return None, False


def _model_folders() -> list[Path]:
    folders = [MODELS_DIR]
    spec = importlib.util.find_spec("generator")
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) / "models" for p in spec.submodule_search_locations]
    return [f for f in folders if f.is_dir()]


FIRST = ("sky-360", "sky", "terrain", "clouds")
"""Bundled models in menu order: the whole-sphere sky model first (the Learned Panorama's and a
learned matte's default), then the ground and the cloud layer's."""
RENAMED = {"sky": "sky-360"}
"""Bundled models' former names: a .blend that chose the learned ``sky`` model before it was
renamed (``sky`` is now the bundled composition recipe, not a network) finds ``sky-360``."""


def bundled_models() -> list[ModelEntry]:
    """The default models (the learned sky first), one entry per name."""
    found: dict[str, tuple[Path, bool]] = {}
    for folder in _model_folders():
        ours = folder == MODELS_DIR
        for path in sorted(folder.glob("*.safetensors")):
            found.setdefault(path.stem, (path.resolve(), ours))
    order = {name: index for index, name in enumerate(FIRST)}
    names = sorted(found, key=lambda n: (order.get(n, len(FIRST)), n))
    return [
        ModelEntry(
            n,
            str(found[n][0]),
            n.replace("_", " ").replace("-", " ").title(),
            True,
            *read_header(found[n][0]),
            name="" if found[n][1] else n,
        )
        for n in names
    ]


def _current(key: str, entries: Sequence[ModelEntry]) -> str:
    """``key``, or the new name of a renamed bundled model when no model has the old one."""
    if key in RENAMED and all(e.key != key for e in entries):
        return RENAMED[key]
    return key


CACHE_SECONDS = 2.0
"""How long the list is reused: panels redraw many times a second (ten during a render) and
each draw asks for it, so a model on a slow network drive must not stall Blender's UI."""
_cached: tuple[tuple[str, ...], float, list[ModelEntry]] | None = None


def available_models(user_paths: Sequence[str]) -> list[ModelEntry]:
    """Bundled models, then the existing files of ``user_paths`` (no duplicates); looked up again
    once the paths (or the .blend file they may be relative to) change or ``CACHE_SECONDS``
    pass."""
    global _cached
    listed = (bpy.data.filepath, *user_paths)
    now = time.monotonic()
    if _cached is None or _cached[0] != listed or now - _cached[1] > CACHE_SECONDS:
        _cached = (listed, now, _find_models(listed[1:]))
    return list(_cached[2])


def _find_models(user_paths: Sequence[str]) -> list[ModelEntry]:
    entries = bundled_models()
    seen = {e.path for e in entries}
    for filepath in user_paths:
        if not filepath:
            continue
        path = str(Path(bpy.path.abspath(filepath)).resolve())
        if path not in seen and Path(path).is_file():
            seen.add(path)
            entries.append(ModelEntry(path, path, Path(path).stem, False, *read_header(path)))
    return entries


def is_missing(key: str, entries: Sequence[ModelEntry]) -> bool:
    """A choice whose file is gone (deleted, moved, or on another machine): said, never
    silently replaced by another model."""
    key = _current(key, entries)
    return bool(key) and all(e.key != key for e in entries) and not Path(key).is_file()


def chosen_model(kind: str, key: str, entries: Sequence[ModelEntry]) -> ModelEntry:
    """The entry ``key`` names for ``kind``; with no key (a new scene), or one that is no longer
    offered (removed from the list), the kind's default: the first model that can make it."""
    offered = [e for e in entries if e.can_make(kind)]
    key = _current(key, entries)
    if is_missing(key, entries):
        raise ModelChoiceError(
            f"The {KIND_LABELS[kind]} model file {key} is missing (moved or deleted): choose "
            "another in the Model menu, or put the file back"
        )
    for entry in offered:
        if entry.key == key:
            return entry
    if offered:
        return offered[0]
    if entries:
        raise ModelChoiceError(
            f"None of your models can make a {KIND_LABELS[kind]}: "
            + (
                "add one trained without vertical position (a texture that tiles both ways)"
                if kind in ("terrain", "ground")
                else "add one trained with vertical position (a scene with a horizon)"
            )
        )
    raise ModelChoiceError(NO_MODEL_HELP)


_enum_items: dict[str, list[tuple[str, str, str, str, int]]] = {kind: [] for kind in KIND_LABELS}


def menu_items(kind: str, key: str, entries: Sequence[ModelEntry]) -> list[tuple]:
    """Items of ``kind``'s model menu: the models that can make it, and a missing choice (shown
    as such). Kept in a module list because Blender does not copy the strings."""
    items = [
        (
            e.key,
            e.label,
            f"{'Bundled model' if e.bundled else 'Your model'}: {e.path}",
            "PACKAGE" if e.bundled else "FILE_BLANK",
            index,
        )
        for index, e in enumerate(e for e in entries if e.can_make(kind))
    ]
    if is_missing(key, entries):
        missing = f"The file is missing (moved or deleted): {key}"
        items.append((key, f"{Path(key).name} (missing)", missing, "ERROR", len(items)))
    if not items:
        label = "None yet" if kind == "clouds" else "No model yet"
        items = [(NO_MODEL, label, "Add a model file with the + button", "INFO", 0)]
    _enum_items[kind][:] = items
    return _enum_items[kind]


def menu_index(kind: str, key: str, entries: Sequence[ModelEntry]) -> int:
    """The menu item showing ``key``: itself, or the kind's default (always an item)."""
    items = menu_items(kind, key, entries)
    key = _current(key, entries)
    try:
        shown = key if is_missing(key, entries) else chosen_model(kind, key, entries).key
    except ModelChoiceError:
        return 0
    return next((item[4] for item in items if item[0] == shown), 0)


def menu_key(kind: str, index: int) -> str:
    """The key of the item Blender just mapped a choice to ('' for the placeholder)."""
    key = next((item[0] for item in _enum_items[kind] if item[4] == index), "")
    return "" if key == NO_MODEL else key
