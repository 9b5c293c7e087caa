"""Add-on preferences: the user's model files and where generated images are saved."""

from __future__ import annotations

import os
from pathlib import Path

import bpy
from bpy.props import CollectionProperty, StringProperty
from bpy.types import AddonPreferences, PropertyGroup

from .models import ModelEntry, available_models, bundled_models

ADDON_ID = __package__
"""'bl_ext.<repository>.endless_backdrops' as an extension, 'addon' from the repository."""
EXTENSION_DIR = Path(__file__).resolve().parent


def _blend_relative_options() -> set[str]:
    """A '//' output folder is resolved here, beside the saved .blend; Blender 4.5+ wants that
    declared (it warns otherwise), older versions do not know the flag."""
    try:
        StringProperty(options={"PATH_SUPPORTS_BLEND_RELATIVE"})
    except (TypeError, ValueError):
        return set()
    return {"PATH_SUPPORTS_BLEND_RELATIVE"}


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
        options=_blend_relative_options(),
        description="Where generated images are saved (empty: a 'backdrops' folder beside the "
        "saved .blend file, or Blender's user data folder while the file is unsaved)",
    )

    def draw(self, context: bpy.types.Context) -> None:
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


def listed_models(context: bpy.types.Context | None = None) -> list[ModelEntry]:
    """Every model the menus may offer: the bundled ones, then those listed here."""
    prefs = addon_preferences(context)
    return available_models([item.filepath for item in (prefs.model_paths if prefs else ())])


def unsaved_folder(*, create: bool = True) -> Path:
    """Where a file never saved keeps its backdrops until it is saved (``saving``)."""
    base = bpy.utils.user_resource("DATAFILES", path="endless_backdrops", create=create)
    if not base:
        raise OutputFolderError("Blender has no user data folder: choose an output folder")
    return Path(os.path.abspath(base)) / "backdrops"


def output_folder(
    context: bpy.types.Context | None = None, *, create: bool = True, blend_path: str | None = None
) -> Path:
    """The chosen folder; else ``backdrops/`` beside the saved .blend file (``blend_path``, by
    default the open one), so the images travel with the project (linked relatively); else, for
    a file never saved, Blender's user data folder. Never the extension's own folders: Blender
    replaces or deletes them on an update or an uninstall, and with them every backdrop a scene
    uses."""
    prefs = addon_preferences(context)
    chosen = prefs.output_dir if prefs is not None else ""
    blend = bpy.data.filepath if blend_path is None else blend_path
    if chosen.startswith("//") and not blend:
        raise OutputFolderError(
            f"the output folder {chosen} is relative to the .blend file: save the file first"
        )
    if chosen:
        folder = Path(bpy.path.abspath(chosen, start=os.path.dirname(blend)))
    elif blend:
        folder = Path(blend).parent / "backdrops"
    else:
        folder = unsaved_folder(create=create)
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
