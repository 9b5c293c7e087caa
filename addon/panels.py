"""Panels: Properties > World, and the "Backdrops" tab of the 3D viewport's sidebar (N)."""

from __future__ import annotations

import bpy
from bpy.types import Panel

from . import jobs
from .preferences import listed_models
from .properties import settings


def draw_common(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """Device, format, seed, style fusion; the progress bar while a render runs."""
    props = settings(context)
    running = jobs.active_job()
    if running is not None and running.cancel_requested:
        layout.label(text="Stopping the cancelled render", icon="CANCEL")
    elif running is not None:
        wm = context.window_manager
        layout.progress(
            factor=wm.endless_backdrops_progress,
            type="BAR",
            text=wm.endless_backdrops_status or "Generating",
        )
        layout.operator("endless_backdrops.cancel", icon="CANCEL")
    if not listed_models(context):
        box = layout.box()
        box.label(text="No model yet", icon="INFO")
        col = box.column(align=True)
        col.label(text="Add a trained Endless Backdrops")
        col.label(text="model file (.safetensors).")
        box.operator("endless_backdrops.model_add", icon="FILE_FOLDER")
        box.operator("endless_backdrops.open_preferences", icon="PREFERENCES")
        return
    layout.prop(props, "device", expand=True)
    layout.prop(props, "file_format", expand=True)
    row = layout.row(align=True)
    row.prop(props, "seed")
    row.operator("endless_backdrops.random_seed", text="", icon="FILE_REFRESH")
    layout.prop(props, "use_fusion")
    if props.use_fusion:
        col = layout.column(align=True)
        col.prop(props, "fusion_count")
        for index in range(props.fusion_count):
            col.prop(props, "fusion_seeds", index=index, text=f"Style {index + 1}")
        col.operator(
            "endless_backdrops.random_seed", text="Roll Styles", icon="FILE_REFRESH"
        ).styles = True


def _model_menu(layout: bpy.types.UILayout, context: bpy.types.Context, kind: str) -> None:
    """The kind's own model menu: it offers only the models that can make this kind."""
    row = layout.row(align=True)
    row.prop(settings(context), f"{kind}_model", text="Model")
    row.operator("endless_backdrops.model_add", text="", icon="ADD")


def _buttons(layout: bpy.types.UILayout, kind: str) -> None:
    row = layout.row(align=True)
    row.enabled = jobs.active_job() is None
    preview = row.operator("endless_backdrops.generate", text="Preview", icon="HIDE_OFF")
    preview.kind, preview.preview = kind, True
    row.operator("endless_backdrops.generate", text="Generate", icon="RENDER_STILL").kind = kind


def _thumbnail(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    image = settings(context).preview_image
    if image is not None and image.preview is not None:
        layout.template_icon(icon_value=image.preview.icon_id, scale=6.0)


def draw_sky(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    props = settings(context)
    layout.prop(props, "sky_source", expand=True)
    physical = props.sky_source == "PHYSICAL"
    if physical:
        _draw_physical(layout, context)
    else:
        _model_menu(layout, context, "sky")
    layout.prop(props, "sky_resolution", expand=True)
    if props.sky_resolution == "CUSTOM":
        layout.prop(props, "sky_width")
    layout.prop(props, "strength")
    layout.prop(props, "rotation")
    if not physical:
        layout.prop(props, "use_sun")
        if props.use_sun:
            col = layout.column(align=True)
            col.prop(props, "sun_azimuth")
            col.prop(props, "sun_elevation")
            col.prop(props, "sun_stops")
    _buttons(layout, "SKY")


def _draw_physical(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """Sun, air, clouds, ground and the Sun lamp of the physical sky."""
    props = settings(context)
    draw_composition(layout, context)
    layout.prop(props, "use_sun_lamp")
    layout.prop(props, "auto_exposure")


def draw_composition(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """What the Sky and the Matte share of the physical sky: sun, air, clouds and ground."""
    props = settings(context)
    layout.prop(props, "sun_mode", expand=True)
    col = layout.column(align=True)
    if props.sun_mode == "ANGLES":
        col.prop(props, "sun_azimuth")
        col.prop(props, "sun_elevation")
    else:
        row = col.row(align=True)
        for name in ("sun_year", "sun_month", "sun_day"):
            row.prop(props, name)
        col.prop(props, "sun_hour")
        col.prop(props, "utc_offset")
        col.prop(props, "latitude")
        col.prop(props, "longitude")
    col = layout.column(align=True)
    col.prop(props, "haze")
    col.prop(props, "altitude")
    _model_menu(layout, context, "clouds")
    col = layout.column(align=True)
    col.enabled = props.has_model_for("clouds", context)
    col.prop(props, "cloud_cover")
    col.prop(props, "cloud_style")
    col.prop(props, "cloud_altitude")
    col.prop(props, "cloud_clustering")
    col.prop(props, "cloud_edges")
    if not col.enabled:
        layout.label(text="No cloud model yet: the sky stays clear", icon="INFO")
    layout.prop(props, "cirrus")
    layout.prop(props, "ground_source", expand=True)
    if props.ground_source == "MODEL":
        _model_menu(layout, context, "ground")
    elif props.ground_source == "COLOUR":
        layout.prop(props, "ground_colour")
    elif props.ground_source == "NONE":
        layout.label(text="Transparent below the horizon (alpha)", icon="INFO")
    layout.prop(props, "horizon_hills")


def draw_terrain(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    props = settings(context)
    _model_menu(layout, context, "terrain")
    layout.prop(props, "terrain_size")
    layout.prop(props, "detail")
    layout.prop(props, "terrain_tiling")
    obj = context.active_object
    if obj is None or obj.type != "MESH":
        layout.label(text="Select a mesh object", icon="INFO")
    _buttons(layout, "TERRAIN")


def draw_matte(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    props = settings(context)
    layout.prop(props, "matte_source", expand=True)
    physical = props.matte_source == "PHYSICAL"
    if physical:
        layout.prop(props, "matte_camera", expand=True)
        col = layout.column(align=True)
        col.prop(props, "matte_fov")
        col.prop(props, "matte_horizon")
        col.prop(props, "matte_face_camera")
        row = col.row()
        row.enabled = not props.matte_face_camera
        row.prop(props, "matte_heading")
    else:
        _model_menu(layout, context, "matte")
    col = layout.column(align=True)
    col.prop(props, "matte_width")
    col.prop(props, "matte_height")
    if physical:
        layout.prop(props, "matte_format", expand=True)
        col = layout.column(align=True)
        col.enabled = props.matte_format != "EXR"
        col.prop(props, "matte_exposure")
        col.prop(props, "matte_tone", expand=True)
        box = layout.box()
        box.label(text="Sun, air, clouds and ground (shared with the Sky)")
        draw_composition(box, context)
    else:
        layout.prop(props, "detail")
    layout.prop(props, "matte_plane")
    if props.matte_plane:
        layout.prop(props, "matte_distance")
    _buttons(layout, "MATTE")


def draw_recipe(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    props = settings(context)
    layout.template_ID(props, "recipe_image", open="image.open")
    layout.prop(props, "recipe_scale", expand=True)
    row = layout.row()
    row.enabled = jobs.active_job() is None and props.recipe_image is not None
    row.operator("endless_backdrops.regenerate", icon="FILE_REFRESH")
    layout.separator()
    layout.label(text="Extend a photo (any image file):")
    row = layout.row(align=True)
    row.prop(props, "extend_sky")
    row.prop(props, "extend_factor")
    row = layout.row()
    row.enabled = jobs.active_job() is None and props.recipe_image is not None
    row.operator("endless_backdrops.extend_image", icon="FULLSCREEN_ENTER")


def _has_models(context: bpy.types.Context) -> bool:
    return bool(listed_models(context))


class EB_PT_world(Panel):
    bl_idname = "EB_PT_world"
    bl_label = "Endless Backdrops"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "world"

    def draw(self, context: bpy.types.Context) -> None:
        draw_common(self.layout, context)
        if _has_models(context):
            draw_sky(self.layout, context)
            _thumbnail(self.layout, context)


class EB_PT_world_recipe(Panel):
    bl_label = "Regenerate from Recipe"
    bl_parent_id = "EB_PT_world"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "world"
    bl_options = frozenset({"DEFAULT_CLOSED"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _has_models(context)

    def draw(self, context: bpy.types.Context) -> None:
        draw_recipe(self.layout, context)


class _Sidebar:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Backdrops"


class EB_PT_sidebar(_Sidebar, Panel):
    bl_idname = "EB_PT_sidebar"
    bl_label = "Endless Backdrops"

    def draw(self, context: bpy.types.Context) -> None:
        draw_common(self.layout, context)
        _thumbnail(self.layout, context)


class _SidebarChild(_Sidebar):
    bl_parent_id = "EB_PT_sidebar"
    bl_options = frozenset({"DEFAULT_CLOSED"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _has_models(context)


class EB_PT_sidebar_sky(_SidebarChild, Panel):
    bl_label = "Sky"
    bl_options = frozenset()

    def draw(self, context: bpy.types.Context) -> None:
        draw_sky(self.layout, context)


class EB_PT_sidebar_terrain(_SidebarChild, Panel):
    bl_label = "Terrain Material"

    def draw(self, context: bpy.types.Context) -> None:
        draw_terrain(self.layout, context)


class EB_PT_sidebar_matte(_SidebarChild, Panel):
    bl_label = "Matte Painting"

    def draw(self, context: bpy.types.Context) -> None:
        draw_matte(self.layout, context)


class EB_PT_sidebar_recipe(_SidebarChild, Panel):
    bl_label = "Regenerate from Recipe"

    def draw(self, context: bpy.types.Context) -> None:
        draw_recipe(self.layout, context)


CLASSES = (
    EB_PT_world,
    EB_PT_world_recipe,
    EB_PT_sidebar,
    EB_PT_sidebar_sky,
    EB_PT_sidebar_terrain,
    EB_PT_sidebar_matte,
    EB_PT_sidebar_recipe,
)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
