"""The matte painting's background plane: facing the active camera and filling its view height."""

from __future__ import annotations

import math

import bpy
from mathutils import Matrix, Vector

from .nodes import TAG, build_matte_material

PLANE_NAME = "EB Matte Plane"


def place_matte_plane(
    scene: bpy.types.Scene, image: bpy.types.Image, distance: float
) -> bpy.types.Object:
    """Our plane (reused when the scene has one), sized to the image, ``distance`` from the camera.

    Without a camera it stands at the origin facing -Y, 10 units tall.
    """
    obj = next((o for o in scene.objects if o.get(TAG) == "matte"), None)
    if obj is None:
        mesh = bpy.data.meshes.new(PLANE_NAME)
        obj = bpy.data.objects.new(PLANE_NAME, mesh)
        obj[TAG] = "matte"
        scene.collection.objects.link(obj)
    width, height = image.size
    aspect = width / height if height else 1.0
    camera = scene.camera
    if camera is not None:
        view_height = _view_height(scene, camera, distance)
        matrix = camera.matrix_world.normalized() @ Matrix.Translation((0.0, 0.0, -distance))
    else:
        view_height = 10.0
        matrix = Matrix.Rotation(math.pi / 2, 4, "X")
    _set_quad(obj.data, view_height * aspect, view_height)
    obj.matrix_world = matrix
    build_matte_material(obj, image)
    return obj


def _view_height(scene: bpy.types.Scene, camera: bpy.types.Object, distance: float) -> float:
    """Height of the camera's view at ``distance`` (orthographic views have one height)."""
    frame = camera.data.view_frame(scene=scene)
    height = max(v.y for v in frame) - min(v.y for v in frame)
    if camera.data.type == "ORTHO":
        return height
    return height * distance / abs(frame[0].z)


def _set_quad(mesh: bpy.types.Mesh, width: float, height: float) -> None:
    """A single face in the local XY plane, normal +Z (towards the camera), UVs over the image."""
    w, h = width / 2, height / 2
    mesh.clear_geometry()
    mesh.from_pydata(
        [Vector((-w, -h, 0)), Vector((w, -h, 0)), Vector((w, h, 0)), Vector((-w, h, 0))],
        [],
        [(0, 1, 2, 3)],
    )
    uv = mesh.uv_layers.new(name="UVMap")
    for loop, coords in zip(uv.data, ((0, 0), (1, 0), (1, 1), (0, 1)), strict=True):
        loop.uv = coords
    mesh.update()
