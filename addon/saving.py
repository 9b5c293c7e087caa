"""Backdrops made before a .blend file was first saved move beside it when it is saved.

A file never saved keeps its images in Blender's user data folder
(``preferences.unsaved_folder``), which no project folder carries: saved as they were, they would
be linked as '//../…' and lost once the project moved to another folder or machine. Just before
the save they move to the output folder the saved file will use (``backdrops/`` beside it) and
are linked relative to it, as images made after saving are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import bpy

from .preferences import OutputFolderError, output_folder, unsaved_folder


@bpy.app.handlers.persistent
def move_unsaved_backdrops(filepath: str | None = None, *_args: object) -> None:
    """save_pre handler: ``filepath`` is where the .blend file is about to be saved."""
    if not filepath:
        return
    try:
        source = unsaved_folder(create=False)
        target = output_folder(create=False, blend_path=filepath)
    except OutputFolderError as err:
        print(f"Endless Backdrops: images not moved beside {filepath}: {err}")
        return
    if target == source:
        return
    for image in bpy.data.images:
        if image.source != "FILE" or image.packed_file is not None or not image.filepath:
            continue
        old = Path(os.path.abspath(bpy.path.abspath(image.filepath)))
        if source not in old.parents:
            continue
        new = target / old.relative_to(source)
        try:
            _move(old, new)
        except OSError as err:
            print(f"Endless Backdrops: {old} stays where it is: {err.strerror or err}")
            continue
        image.filepath = _linked(new, Path(filepath).parent)


def _move(old: Path, new: Path) -> None:
    """Move the file (already moved for another image of it: nothing to do)."""
    if not old.is_file() and new.is_file():
        return
    new.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(old, new)
    except OSError:  # another drive
        try:
            shutil.copy2(old, new)
        except OSError:
            new.unlink(missing_ok=True)
            raise
        os.remove(old)


def _linked(path: Path, blend_dir: Path) -> str:
    """``path`` relative to the .blend file's folder ('//…'), absolute on another drive."""
    with contextlib.suppress(ValueError):
        return "//" + Path(os.path.relpath(path, blend_dir)).as_posix()
    return str(path)


def register() -> None:
    bpy.app.handlers.save_pre.append(move_unsaved_backdrops)


def unregister() -> None:
    with contextlib.suppress(ValueError):
        bpy.app.handlers.save_pre.remove(move_unsaved_backdrops)
