"""Add-on preferences: the user's model files and where generated images are saved."""

from __future__ import annotations

import os
from pathlib import Path

import bpy
from bpy.props import CollectionProperty, StringProperty
from bpy.types import AddonPreferences, PropertyGroup

ADDON_ID = __package__
"""'bl_ext.<repository>.endless_backdrops' as an extension, 'addon' from the repository."""
EXTENSION_DIR = Path(__file__).resolve().parent


class OutputFolderError(Exception):
    """The output folder cannot be used; the message is one line for the UI."""


class EB_ModelPath(PropertyGroup):
    filepath: StringProperty(
        name="Model File",
        subtype="FILE_PATH",
        description="An Endless Backdrops .safetensors model",
    )


class EB_Preferences(AddonPreferences):
    bl_idname = ADDON_ID

    model_paths: CollectionProperty(type=EB_ModelPath)
    output_dir: StringProperty(
        name="Output Folder",
        subtype="DIR_PATH",
        description="Where generated images are saved (empty: the extension's user folder)",
    )

    def draw(self, context: bpy.types.Context) -> None:
        from .models import bundled_models

        layout = self.layout
        layout.prop(self, "output_dir")
        try:
            layout.label(text=f"Images are saved in {output_folder(context, create=False)}")
        except OutputFolderError as err:
            layout.label(text=str(err), icon="ERROR")
        box = layout.box()
        box.label(text="Models")
        bundled = bundled_models()
        for entry in bundled:
            box.label(text=f"{entry.label} (bundled)", icon="LOCKED")
        for index, item in enumerate(self.model_paths):
            row = box.row(align=True)
            row.prop(item, "filepath", text="")
            row.operator("endless_backdrops.model_remove", text="", icon="X").index = index
        if not bundled and not len(self.model_paths):
            box.label(text="No model yet: add a trained .safetensors model file", icon="INFO")
        box.operator("endless_backdrops.model_add", icon="ADD")


def addon_preferences(context: bpy.types.Context | None = None) -> EB_Preferences | None:
    """The preferences, or None while the add-on is registered but not enabled (scripts, tests)."""
    addon = (context or bpy.context).preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def output_folder(context: bpy.types.Context | None = None, *, create: bool = True) -> Path:
    """The chosen folder, else the extension's user folder, never the extension's own folder."""
    prefs = addon_preferences(context)
    if prefs is not None and prefs.output_dir:
        folder = Path(bpy.path.abspath(prefs.output_dir))
    elif ADDON_ID.startswith("bl_ext."):
        folder = Path(bpy.utils.extension_path_user(ADDON_ID, path="backdrops", create=create))
    else:
        base = bpy.utils.user_resource("DATAFILES", path="endless_backdrops", create=create)
        folder = Path(base) / "backdrops"
    folder = Path(os.path.abspath(folder))
    if folder == EXTENSION_DIR or EXTENSION_DIR in folder.parents:
        raise OutputFolderError(
            "the output folder is inside the extension, which is replaced on every update: "
            "choose another one in the preferences"
        )
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputFolderError(
                f"cannot create the output folder {folder}: {err.strerror}"
            ) from None
    return folder


CLASSES = (EB_ModelPath, EB_Preferences)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
