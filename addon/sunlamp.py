"""The Sun lamp matched to a physical sky: one object of ours, reused, never the user's lights.

The sky's file records its lamp in the sky's frame (y up, z toward the image's centre column, x to
its right). The World shows the image's centre toward +X and its right toward -Y (Blender's
equirect mapping), and the World's Mapping node turns what it looks up by ``rotation`` about Z,
which turns the sky the other way: the lamp turns with it, so its light always comes from the disc.
"""

from __future__ import annotations

import math

import bpy
from mathutils import Matrix, Vector

from .nodes import TAG

LAMP_NAME = "EB Sun"
KIND = "sun"
DIRECTION = "endless_backdrops_sun_direction"
"""Custom property: the sun's direction in the sky's frame, so a rotation can re-aim the lamp."""


def world_direction(sky_direction: tuple[float, float, float], rotation: float) -> Vector:
    """Where the sun is in the World: the sky's frame mapped as the Environment Texture maps it,
    turned back by the Mapping node's ``rotation`` (radians about Z)."""
    x, y, z = sky_direction
    return Matrix.Rotation(-rotation, 3, "Z") @ Vector((z, -x, y))


def our_sun_lamp(scene: bpy.types.Scene) -> bpy.types.Object | None:
    return next((o for o in scene.objects if o.get(TAG) == KIND), None)


def place_sun_lamp(scene: bpy.types.Scene, lamp: dict, rotation: float) -> bpy.types.Object:
    """Our Sun lamp (created on first use) set to ``lamp`` (the file's record: direction,
    angular_diameter in degrees, colour, strength in W/m^2, which a Sun lamp takes as is)."""
    obj = our_sun_lamp(scene)
    if obj is None:
        obj = bpy.data.objects.new(LAMP_NAME, bpy.data.lights.new(LAMP_NAME, "SUN"))
        obj[TAG] = KIND
        scene.collection.objects.link(obj)
    light = obj.data
    light.angle = math.radians(lamp["angular_diameter"])
    light.energy = lamp["strength"]
    light.color = lamp["colour"]
    obj[DIRECTION] = list(lamp["direction"])
    turn_sun_lamp(scene, rotation)
    return obj


def turn_sun_lamp(scene: bpy.types.Scene | None, rotation: float) -> None:
    """Aim our lamp (if any) from its sun: its -Z axis, the light's travel, away from the sun."""
    obj = our_sun_lamp(scene) if scene is not None else None
    if obj is None or DIRECTION not in obj:
        return
    toward_sun = world_direction(tuple(obj[DIRECTION]), rotation)
    obj.rotation_mode = "QUATERNION"
    obj.rotation_quaternion = toward_sun.to_track_quat("Z", "Y")


def remove_sun_lamp(scene: bpy.types.Scene) -> None:
    """Take our lamp away (the disc is in the sky now); its light goes when nothing uses it."""
    obj = our_sun_lamp(scene)
    if obj is None:
        return
    light = obj.data
    bpy.data.objects.remove(obj)
    if light is not None and light.users == 0:
        bpy.data.lights.remove(light)
