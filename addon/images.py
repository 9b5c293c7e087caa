"""Bringing a generated file into Blender as an image datablock (main thread only)."""

from __future__ import annotations

from pathlib import Path

import bpy


def load_image(path: Path) -> bpy.types.Image:
    """The image datablock showing ``path``, reloaded: a re-render may have replaced the file."""
    image = bpy.data.images.load(str(path), check_existing=True)
    image.reload()
    return image
