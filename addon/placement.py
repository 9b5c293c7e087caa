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


SEGMENT_DEGREES = 3.0
"""The curved backdrop's facets: a chord of 3 degrees strays 0.03% from the true cylinder."""
CURVED_INTERPOLATION = "Cubic"
"""The strip's texture filter on our backdrop: with Linear, Eevee (seen headless, software
OpenGL) drew one-pixel vertical lines of the wrong texels at two places on the curved wall
(a mip level jumping); Cubic draws none, and Cycles shows the same either way."""


def camera_heading(scene: bpy.types.Scene, rotation: float) -> float:
    """The sky azimuth (degrees right of the sky's centre) the active camera looks toward, with
    the World turned by ``rotation`` (``sunlamp.world_direction``'s inverse); 0 without one."""
    camera = scene.camera
    if camera is None:
        return 0.0
    forward = camera.matrix_world.to_3x3() @ Vector((0.0, 0.0, -1.0))
    if math.hypot(forward.x, forward.y) < 1e-9:
        return 0.0  # looking straight up or down: no heading
    yaw = math.atan2(forward.y, forward.x)
    return (math.degrees(-yaw - rotation) + 180.0) % 360.0 - 180.0


def _to_world(x: float, y: float, z: float, rotation: float) -> Vector:
    """A vector of the sky's frame (y up, z the sky's centre, x its right) in the World."""
    return Matrix.Rotation(-rotation, 3, "Z") @ Vector((z, -x, y))


def place_strip_backdrop(
    scene: bpy.types.Scene,
    image: bpy.types.Image,
    view,
    distance: float,
    rotation: float,
) -> bpy.types.Object:
    """Our backdrop (reused) showing a matte strip of the physical sky at its true angles from
    the active camera's position (the origin without one): a cylindrical strip on a section
    of a vertical cylinder of radius ``distance`` (a whole one at 360 degrees: a cyclorama),
    a perspective strip on the plane ``distance`` ahead of its pinhole. Each pixel then lies
    in the direction it was rendered for, so the horizon is at the eye's level and the sun where
    the World (turned by ``rotation``) and its Sun lamp have it. ``view``: the strip's
    ``camera`` ('cylindrical'/'perspective'), ``fov``, ``horizon`` and ``heading``
    (``physical.StripView``); its width and height are the image's."""
    obj = _our_backdrop(scene)
    width, height = image.size
    eye = scene.camera.matrix_world.translation.copy() if scene.camera else Vector()
    if view.camera == "cylindrical":
        vertices, faces, uvs = _cylinder(view, width, height, distance, rotation)
    else:
        vertices, faces, uvs = _pinhole_plane(view, width, height, distance, rotation)
    mesh = obj.data
    mesh.clear_geometry()
    mesh.from_pydata(vertices, [], faces)
    uv = mesh.uv_layers.new(name="UVMap")
    for polygon, corners in zip(mesh.polygons, uvs, strict=True):
        for loop_index, coords in zip(polygon.loop_indices, corners, strict=True):
            uv.data[loop_index].uv = coords
    mesh.update()
    obj.matrix_world = Matrix.Translation(eye)
    build_matte_material(obj, image, CURVED_INTERPOLATION)
    return obj


def _our_backdrop(scene: bpy.types.Scene) -> bpy.types.Object:
    obj = next((o for o in scene.objects if o.get(TAG) == "matte"), None)
    if obj is None:
        obj = bpy.data.objects.new(PLANE_NAME, bpy.data.meshes.new(PLANE_NAME))
        obj[TAG] = "matte"
        scene.collection.objects.link(obj)
    return obj


def _cylinder(view, width: int, height: int, distance: float, rotation: float):
    """Rows of a cylindrical strip are even in tan(elevation): heights on the cylinder, so one
    band of quads, linear in v, is exact; columns even in azimuth, around the axis."""
    scale = height * math.radians(view.fov) / width  # tan(elevation) per unit of height
    top, bottom = distance * view.horizon * scale, distance * (view.horizon - 1.0) * scale
    count = max(1, math.ceil(view.fov / SEGMENT_DEGREES))
    vertices, faces, uvs = [], [], []
    for i in range(count + 1):
        azimuth = math.radians(view.heading + (i / count - 0.5) * view.fov)
        out = _to_world(math.sin(azimuth), 0.0, math.cos(azimuth), rotation) * distance
        vertices += [out + Vector((0.0, 0.0, bottom)), out + Vector((0.0, 0.0, top))]
    for i in range(count):
        b0, t0, b1, t1 = 2 * i, 2 * i + 1, 2 * i + 2, 2 * i + 3
        faces.append((b0, b1, t1, t0))  # counter-clockwise seen from the axis: facing it
        u0, u1 = i / count, (i + 1) / count
        uvs.append(((u0, 0.0), (u1, 0.0), (u1, 1.0), (u0, 1.0)))
    return vertices, faces, uvs


def _pinhole_plane(view, width: int, height: int, distance: float, rotation: float):
    """The image plane of ``generator.sky.strip``'s perspective camera, ``distance`` ahead."""
    focal = 0.5 * width / math.tan(math.radians(view.fov) / 2.0)
    pitch = math.atan((view.horizon - 0.5) * height / focal)
    heading = math.radians(view.heading)
    sp, cp, sh, ch = math.sin(pitch), math.cos(pitch), math.sin(heading), math.cos(heading)
    forward = _to_world(sh * cp, sp, ch * cp, rotation)
    right = _to_world(ch, 0.0, -sh, rotation)
    up = _to_world(-sh * sp, cp, -ch * sp, rotation)

    def at(column: float, row: float) -> Vector:
        u, v = (column - 0.5 * width) / focal, (row - 0.5 * height) / focal
        return (forward + u * right - v * up) * distance

    vertices = [at(0, height), at(width, height), at(width, 0), at(0, 0)]
    return vertices, [(0, 1, 2, 3)], [((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))]
