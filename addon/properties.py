"""The panel's settings (saved with the scene) and the running job's progress (window manager).

Strength, rotation and tiling act on the nodes we built straight away, so they can be tuned
without generating again.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    FloatVectorProperty,
    IntProperty,
    IntVectorProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import PropertyGroup

from . import models, nodes, sunlamp
from .preferences import listed_models

SKY_RESOLUTIONS = {"2K": 2048, "4K": 4096, "8K": 8192, "16K": 16384}
MAX_SEED = 2**31 - 1


def _update_world(self: EB_Settings, context: bpy.types.Context) -> None:
    world = context.scene.world if context.scene else None
    if world is not None:
        nodes.set_world_look(world, self.strength, self.rotation)
    sunlamp.turn_sun_lamp(context.scene, self.rotation)


def _update_tiling(self: EB_Settings, context: bpy.types.Context) -> None:
    obj = context.active_object
    if obj is not None:
        nodes.set_terrain_tiling(obj, self.terrain_tiling)


def _model_menu(kind: str) -> EnumProperty:
    """``kind``'s model menu: only models that can make it; a new scene shows the kind's default.

    The choice is stored in the hidden ``<kind>_model_key`` (a bundled model's name or a file's
    path): an enum stores only a number, which cannot name a file that has gone missing.
    """
    key = f"{kind}_model_key"

    def items(self: EB_Settings, context: bpy.types.Context | None) -> list[tuple]:
        return models.menu_items(kind, getattr(self, key), listed_models(context))

    def get(self: EB_Settings) -> int:
        return models.menu_index(kind, getattr(self, key), listed_models())

    def set_(self: EB_Settings, index: int) -> None:
        setattr(self, key, models.menu_key(kind, index))

    return EnumProperty(
        name="Model",
        items=items,
        get=get,
        set=set_,
        description=f"The generator that paints the {models.KIND_LABELS[kind].lower()}",
    )


def _model_key() -> StringProperty:
    return StringProperty(options={"HIDDEN"})


class EB_Settings(PropertyGroup):
    sky_model: _model_menu("sky")
    terrain_model: _model_menu("terrain")
    matte_model: _model_menu("matte")
    ground_model: _model_menu("ground")
    clouds_model: _model_menu("clouds")
    sky_model_key: _model_key()
    terrain_model_key: _model_key()
    matte_model_key: _model_key()
    ground_model_key: _model_key()
    clouds_model_key: _model_key()
    device: EnumProperty(
        name="Device",
        items=(
            ("AUTO", "Auto", "A GPU when PyTorch sees one, else the CPU"),
            ("CPU", "CPU", "Always works; slower"),
            ("GPU", "GPU", "CUDA (NVIDIA) or Metal (Apple)"),
        ),
        default="AUTO",
    )
    file_format: EnumProperty(
        name="Format",
        items=(
            ("EXR", "HDR (EXR)", "Linear half-float OpenEXR: for lighting"),
            ("PNG", "LDR (PNG)", "16-bit sRGB PNG: for textures and paintings"),
        ),
        default="EXR",
    )
    seed: IntProperty(name="Seed", min=0, max=MAX_SEED, description="Picks the picture")
    use_fusion: BoolProperty(
        name="Style Fusion", description="Blend several styles around the horizon / across"
    )
    fusion_count: IntProperty(name="Styles", min=2, max=4, default=3)
    fusion_seeds: IntVectorProperty(
        name="Style Seeds", size=4, min=0, max=MAX_SEED, default=(1, 2, 3, 4)
    )

    sky_resolution: EnumProperty(
        name="Resolution",
        items=[(k, k, f"{v} x {v // 2} equirect") for k, v in SKY_RESOLUTIONS.items()]
        + [("CUSTOM", "Custom", "Any width (height is half of it)")],
        default="4K",
    )
    sky_width: IntProperty(
        name="Width", min=8, max=65536, default=4096, description="Equirect width; height is half"
    )
    strength: FloatProperty(
        name="Strength", min=0.0, soft_max=10.0, default=1.0, update=_update_world
    )
    rotation: FloatProperty(name="Rotation", subtype="ANGLE", default=0.0, update=_update_world)
    use_sun: BoolProperty(
        name="Sun",
        default=False,
        description="Add a sun disc to the sky: crisp shadows in Cycles (bundled sky models)",
    )
    sun_azimuth: FloatProperty(
        name="Azimuth",
        min=-180.0,
        max=180.0,
        default=60.0,
        description="Degrees right of the image's centre",
    )
    sun_elevation: FloatProperty(
        name="Elevation", min=-10.0, max=90.0, default=35.0, description="Degrees above horizon"
    )
    sun_stops: FloatProperty(
        name="Brightness",
        min=0.0,
        max=24.0,
        default=15.0,
        description="The disc's radiance is 2 to this power (the sky's median is near 2^-3)",
    )

    sky_source: EnumProperty(
        name="Sky",
        items=(
            (
                "PHYSICAL",
                "Physical Sky",
                "A physical atmosphere with clouds and ground, exposed like Blender's Sky "
                "Texture, lit by a matching Sun lamp",
            ),
            (
                "LEARNED",
                "Learned Panorama",
                "A whole 360-degree picture painted by a panorama model (the Model menu): for "
                "your own panorama collections",
            ),
        ),
        default="PHYSICAL",
    )
    sun_mode: EnumProperty(
        name="Sun Position",
        items=(
            ("ANGLES", "Angles", "Azimuth and elevation"),
            ("PLACE", "Time and Place", "The sun of a date, local time and place"),
        ),
        default="ANGLES",
    )
    sun_year: IntProperty(name="Year", min=1800, max=2100, default=2026)
    sun_month: IntProperty(name="Month", min=1, max=12, default=6)
    sun_day: IntProperty(name="Day", min=1, max=31, default=21)
    sun_hour: FloatProperty(
        name="Local Time",
        min=0.0,
        max=24.0,
        default=12.0,
        description="Hours after midnight on the clock of the time zone below (18.5 is 18:30)",
    )
    utc_offset: FloatProperty(
        name="Time Zone",
        min=-14.0,
        max=14.0,
        default=0.0,
        description="Hours ahead of UTC (Paris in summer: 2, New York in winter: -5)",
    )
    latitude: FloatProperty(
        name="Latitude", min=-90.0, max=90.0, default=48.85, description="Degrees, north positive"
    )
    longitude: FloatProperty(
        name="Longitude",
        min=-180.0,
        max=180.0,
        default=2.35,
        description="Degrees, east positive; north is the sky image's centre (the World's +X)",
    )
    cloud_cover: FloatProperty(
        name="Cloud Cover",
        min=0.0,
        max=1.0,
        default=0.4,
        subtype="FACTOR",
        description="0 clear, 0.5 broken, 1 overcast (needs a cloud model)",
    )
    cloud_style: IntProperty(
        name="Cloud Style",
        min=0,
        max=MAX_SEED,
        description="The clouds' look; Seed picks where they are (Style Fusion: a weather front)",
    )
    cloud_altitude: FloatProperty(
        name="Cloud Height",
        min=100.0,
        max=10000.0,
        default=1500.0,
        description="The cloud layer's height above the eye, m: higher clouds look smaller and "
        "crowd toward the horizon",
    )
    cloud_clustering: FloatProperty(
        name="Cloud Fields",
        min=0.0,
        max=3.0,
        default=1.2,
        description="How strongly the clouds gather into fields with clear sky between them: "
        "0 spreads them evenly",
    )
    cloud_edges: FloatProperty(
        name="Cloud Edges",
        min=0.0,
        max=1000.0,
        default=90.0,
        description="How far the clouds' edges are frayed into ragged, wispy outlines, m: "
        "0 keeps the cloud model's soft, rounded edges",
    )
    cirrus: FloatProperty(
        name="Cirrus",
        min=0.0,
        max=1.0,
        default=0.3,
        subtype="FACTOR",
        description="A high veil of ice cloud above the clouds: 0 none, 1 thick enough to dim "
        "the sun",
    )
    ground_source: EnumProperty(
        name="Ground",
        items=(
            ("MODEL", "Terrain", "Textured by a terrain model (Ground Model)"),
            ("COLOUR", "Colour", "A plain colour"),
            (
                "NONE",
                "None",
                "Transparent below the horizon, for compositing: the file has an alpha channel "
                "(the World shows black there)",
            ),
        ),
        default="MODEL",
    )
    ground_colour: FloatVectorProperty(
        name="Ground Colour",
        subtype="COLOR",
        size=3,
        min=0.0,
        max=1.0,
        default=(0.2, 0.16, 0.11),
        description="Its albedo (the share of light it reflects)",
    )
    horizon_hills: BoolProperty(
        name="Hills on the Horizon",
        default=True,
        description="Ranges of hills near and far on the skyline, hazed by the air (drawn "
        "from the seed); off, the ground runs flat to the horizon",
    )
    haze: FloatProperty(
        name="Haze",
        min=0.0,
        max=100.0,
        soft_max=10.0,
        default=1.0,
        description="Aerosol density: 1 a clean clear day, 5 a city, 10 a hazy day",
    )
    altitude: FloatProperty(
        name="Altitude",
        min=0.0,
        max=60000.0,
        default=100.0,
        description="The eye's height above sea level, metres",
    )
    use_sun_lamp: BoolProperty(
        name="Sun Lamp",
        default=True,
        description="Light the scene with a Sun lamp matched to the sky (clean, crisp shadows); "
        "off: the sun's disc is in the sky image instead",
    )

    auto_exposure: BoolProperty(
        name="Set Exposure",
        default=True,
        description="Set the scene's exposure (Color Management) as a camera's light meter "
        "would: a grey card lit by this sky shows its own grey (Blender's sky units are absolute: "
        "a sunny noon needs about -5)",
    )

    terrain_size: IntProperty(
        name="Size", min=8, max=32768, default=2048, description="Side of the square tile"
    )
    terrain_tiling: FloatProperty(
        name="Tiling",
        min=0.01,
        soft_max=100.0,
        default=4.0,
        update=_update_tiling,
        description="How often the texture repeats across the object's UVs",
    )

    detail: EnumProperty(
        name="Detail",
        items=(
            ("1", "Native", "The model's native scale: a bigger image shows more of the scene"),
            ("2", "2x", "The scene twice as large, with super-resolution detail"),
            ("4", "4x", "The scene four times as large"),
            ("8", "8x", "The scene eight times as large"),
            ("AUTO", "Auto", "Fit the model's frame to the height (matte) or the tile (terrain)"),
        ),
        default="1",
        description="How large the scene is drawn (previews always show the native scale)",
    )
    matte_width: IntProperty(name="Width", min=8, max=262144, default=8192)
    matte_height: IntProperty(name="Height", min=8, max=65536, default=2048)
    matte_plane: BoolProperty(
        name="Background Plane",
        default=True,
        description="Show it on a backdrop facing the camera: for the physical sky a curved "
        "wall around the camera (cylindrical) or a plane (perspective) on which the strip "
        "appears at its true angles, the horizon at the camera's eye level",
    )
    matte_distance: FloatProperty(
        name="Distance",
        min=0.01,
        default=100.0,
        subtype="DISTANCE",
        description="How far from the camera the backdrop stands",
    )
    matte_source: EnumProperty(
        name="Matte",
        items=(
            (
                "PHYSICAL",
                "Physical Sky",
                "The composed sky (the Sky's sun, air, clouds and ground) seen through a "
                "cylindrical or perspective camera",
            ),
            (
                "LEARNED",
                "Learned Model",
                "A flat strip painted by a model with a horizon (the Model menu): for your own "
                "models",
            ),
        ),
        default="PHYSICAL",
    )
    matte_camera: EnumProperty(
        name="Camera",
        items=(
            (
                "CYLINDRICAL",
                "Cylindrical",
                "Columns even in angle: any field of view, 360 degrees wraps as a cyclorama",
            ),
            ("PERSPECTIVE", "Perspective", "A pinhole camera: straight lines stay straight"),
        ),
        default="CYLINDRICAL",
    )
    matte_fov: FloatProperty(
        name="Field of View",
        min=1.0,
        max=360.0,
        default=120.0,
        precision=1,
        description="Degrees across the strip (360: a whole cyclorama whose ends meet; "
        "perspective: under 170)",
    )
    matte_horizon: FloatProperty(
        name="Horizon",
        min=0.0,
        max=1.0,
        default=0.6,
        subtype="FACTOR",
        description="Where the horizon lies, as a fraction of the height from the top",
    )
    matte_face_camera: BoolProperty(
        name="Face the Camera",
        default=True,
        description="Centre the strip where the active camera looks, so its sun stands where "
        "the World's and the Sun lamp's does; off: the Heading below",
    )
    matte_heading: FloatProperty(
        name="Heading",
        min=-180.0,
        max=180.0,
        default=0.0,
        description="The azimuth the strip's centre faces, degrees right of the sky's centre "
        "(the World's +X)",
    )
    matte_format: EnumProperty(
        name="File",
        items=(
            (
                "PNG8",
                "PNG 8-bit",
                "Exposed by the sky's light meter and toned as a photograph: a picture, small",
            ),
            (
                "EXR",
                "EXR Half",
                "Radiance in Blender's units (half float; 32-bit where the "
                "sun's disc is in view): for compositing and relighting",
            ),
            (
                "PNG16",
                "PNG 16-bit",
                "Like the 8-bit PNG with finer steps; about 2-3 times larger",
            ),
        ),
        default="PNG8",
    )
    matte_exposure: FloatProperty(
        name="Exposure",
        min=-10.0,
        max=10.0,
        default=0.0,
        description="PNG: stops brighter (+) or darker (-) than the sky's light meter reading",
    )
    matte_tone: EnumProperty(
        name="Tone",
        items=(
            (
                "FILMIC",
                "Filmic",
                "As a camera's picture, and as Blender's Filmic and AgX views show the World: "
                "a bright blue sky, white clouds",
            ),
            (
                "SHOULDER",
                "Shoulder",
                "Linear with a soft roll-off above 0.8 (sRGB): a darker, greyer blue, bright "
                "clouds keep their shape",
            ),
            ("STANDARD", "Standard", "A plain clip at white, as Blender's Standard view"),
        ),
        default="FILMIC",
    )

    preview_image: PointerProperty(type=bpy.types.Image, name="Preview")
    recipe_image: PointerProperty(
        type=bpy.types.Image, name="Image", description="An image we generated (carries a recipe)"
    )
    recipe_scale: EnumProperty(
        name="Size",
        items=(
            ("1", "Same Size", "Re-render the recipe exactly (e.g. after changing the format)"),
            ("2", "2x", "Twice as large: flat canvases grow around the old pixels"),
            ("4", "4x", "Four times as large"),
        ),
        default="2",
    )
    extend_sky: BoolProperty(
        name="360° Sky",
        description="Wrap the photo into a 360-degree sky for the World (else: a wider matte)",
    )
    extend_factor: IntProperty(
        name="Times Wider",
        min=2,
        max=16,
        default=4,
        description="How many times wider than the photo the result is (a sky: 360 degrees "
        "over the photo's field of view)",
    )

    def sky_size(self) -> int:
        return (
            self.sky_width
            if self.sky_resolution == "CUSTOM"
            else SKY_RESOLUTIONS[self.sky_resolution]
        )

    def style_seeds(self) -> tuple[int, ...]:
        return tuple(self.fusion_seeds[: self.fusion_count]) if self.use_fusion else ()

    def sun(self) -> tuple[float, float, float] | None:
        """(azimuth, elevation, stops) of the sky's sun, or None."""
        if not self.use_sun:
            return None
        return (self.sun_azimuth, self.sun_elevation, self.sun_stops)

    def has_model_for(self, kind: str, context: bpy.types.Context | None = None) -> bool:
        """Whether any listed model can fill ``kind``'s menu (the clouds may have none yet)."""
        return any(e.can_make(kind) for e in listed_models(context))

    def model_for(self, kind: str, context: bpy.types.Context | None = None) -> models.ModelEntry:
        """The model ``kind`` is made with (``models.ModelChoiceError`` if there is none)."""
        return models.chosen_model(kind, getattr(self, f"{kind}_model_key"), listed_models(context))


def settings(context: bpy.types.Context) -> EB_Settings:
    return context.scene.endless_backdrops


CLASSES = (EB_Settings,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.endless_backdrops = PointerProperty(type=EB_Settings)
    bpy.types.WindowManager.endless_backdrops_progress = FloatProperty(
        name="Progress", min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"}
    )
    bpy.types.WindowManager.endless_backdrops_status = StringProperty(options={"SKIP_SAVE"})


def unregister() -> None:
    del bpy.types.WindowManager.endless_backdrops_status
    del bpy.types.WindowManager.endless_backdrops_progress
    del bpy.types.Scene.endless_backdrops
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
