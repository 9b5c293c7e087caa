"""Bringing a generated file into Blender as an image datablock (main thread only)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import bpy


def load_image(path: Path) -> bpy.types.Image:
    """The image datablock showing ``path``, reloaded: a re-render may have replaced the file.
    Linked relative to a saved .blend file (as Blender does by default), so a project folder can
    move to another machine with its backdrops."""
    image = bpy.data.images.load(str(path), check_existing=True)
    if bpy.data.filepath and not image.filepath.startswith("//"):
        with contextlib.suppress(ValueError):  # on another drive (Windows): stays absolute
            image.filepath = bpy.path.relpath(str(path))
    image.reload()
    return image
