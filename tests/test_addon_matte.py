"""The Matte panel's physical sky in Blender (real ``bpy``, headless): the strip's promised size
and format, its backdrop at the strip's true angles, Regenerate from Recipe for composed skies,
transparent ground, the renamed bundled models and one-line reports for the new controls.

Sizes are tiny, except the default preview (1024 x 256, what a user first sees).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from types import SimpleNamespace

import bpy
import numpy as np
import pytest
from conftest import make_model_file
from mathutils import Vector
from test_addon import LEARNED_SKY, files_in

from addon import models as addon_models
from addon import nodes, operators, physical, sunlamp
from generator import read_sky_recipe
from generator.files.imagefile import read_image
from generator.files.modelfile import file_hash
from generator.sky.strip import strip_rays


@pytest.fixture
def new_scene(tmp_path):
    """A new scene as a user first sees it (``test_addon.untouched``): the bundled models only,
    nothing chosen; only the output folder is set."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="addon")
    prefs = bpy.context.preferences.addons["addon"].preferences
    prefs.output_dir = str(tmp_path / "out")
    yield SimpleNamespace(props=bpy.context.scene.endless_backdrops, out=tmp_path / "out")
    bpy.ops.preferences.addon_disable(module="addon")


def png_bit_depth(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR: 2 is RGB, 6 RGBA."""
    data = path.read_bytes()[:32]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data[24], data[25]


def exr_pixel_types(path: Path) -> set[int]:
    """The pixel types of an OpenEXR's channels: 1 half, 2 float."""
    data = path.read_bytes()[:4096]
    start = data.index(b"channels\0chlist\0") + len(b"channels\0chlist\0")
    (size,) = struct.unpack("<i", data[start : start + 4])
    chlist, types, at = data[start + 4 : start + 4 + size], set(), 0
    while chlist[at] != 0:
        at = chlist.index(b"\0", at) + 1
        types.add(struct.unpack("<i", chlist[at : at + 4])[0])
        at += 16
    return types


def our_backdrop() -> bpy.types.Object:
    return next(o for o in bpy.context.scene.objects if o.get(nodes.TAG) == "matte")


def small_strip(props, width: int = 64, height: int = 16) -> None:
    """A cheap strip: clear sky over a plain ground."""
    props.matte_width, props.matte_height = width, height
    props.ground_source, props.cloud_cover = "COLOUR", 0.0


def test_matte_defaults_promise_an_8bit_png_strip_and_a_quick_preview(new_scene, monkeypatch):
    """As new, the Matte is the physical sky through a cylindrical camera: a 1024 x 256 preview
    (rendered here, the bundled clouds and terrain included), then 8192 x 2048 as an 8-bit PNG
    (the full render's request is checked, not rendered)."""
    props = new_scene.props
    assert (props.matte_source, props.matte_camera, props.matte_format) == (
        "PHYSICAL",
        "CYLINDRICAL",
        "PNG8",
    )
    assert (props.matte_width, props.matte_height) == (8192, 2048)
    assert (props.matte_fov, props.matte_plane) == (120.0, True)
    assert props.matte_horizon == pytest.approx(0.6)

    assert bpy.ops.endless_backdrops.generate(kind="MATTE", preview=True) == {"FINISHED"}
    (preview,) = files_in(new_scene.out)
    assert preview.parent.name == "previews" and preview.suffix == ".png"
    assert png_bit_depth(preview) == (8, 2), "8-bit RGB"
    assert read_image(preview).shape == (256, 1024, 3)
    recipe = read_sky_recipe(preview)
    assert (recipe.projection, recipe.camera.fov, recipe.camera.horizon) == (
        "cylindrical",
        120,
        0.6,
    )
    assert recipe.metered is not None, "exposed by the sky's meter"
    c = recipe.composition
    assert (c.clouds.model, c.ground.source) == ("clouds", "terrain"), "bundled, by name"
    assert props.preview_image.filepath.endswith(preview.name)
    assert our_backdrop().active_material.node_tree.nodes[nodes.MATTE_TEXTURE].image.filepath

    rendered = []

    def render(recipe, path, depth, *_args):
        rendered.append((recipe, path, depth))

    monkeypatch.setattr(physical, "_render", render)  # the full strip: its request only
    monkeypatch.setattr(operators, "load_image", lambda _path: props.preview_image)
    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    ((full, path, depth),) = rendered
    assert (full.width, full.height, path.suffix, depth) == (8192, 2048, ".png", 8)
    assert (full.camera.fov, full.camera.horizon, full.projection) == (120, 0.6, "cylindrical")
    assert physical.layer_tile(physical.StripView().sphere_width) == 2048


@pytest.mark.parametrize(
    ("choice", "suffix", "check"),
    [
        ("EXR", ".exr", lambda p: exr_pixel_types(p) == {1}),
        ("PNG16", ".png", lambda p: png_bit_depth(p) == (16, 2)),
    ],
)
def test_the_other_formats_are_half_exr_and_16bit_png(new_scene, choice, suffix, check):
    props = new_scene.props
    small_strip(props)
    props.matte_format = choice
    props.sun_azimuth = 170.0  # behind the camera: no disc, so the EXR stays half float
    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    (strip,) = files_in(new_scene.out)
    assert strip.suffix == suffix and check(strip)
    assert read_image(strip).shape == (16, 64, 3)


def test_an_exr_with_the_sun_in_view_is_32bit_float(new_scene):
    props = new_scene.props
    small_strip(props, 128, 32)
    props.matte_format, props.sun_azimuth, props.sun_elevation = "EXR", 10.0, 5.0
    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    (strip,) = files_in(new_scene.out)
    assert exr_pixel_types(strip) == {2}
    assert read_sky_recipe(strip).composition.sky.sun_disc
    image = read_image(strip)
    assert image.max() > 1000 * np.median(image), "the disc, in float"


def world_direction(sky: np.ndarray, rotation: float) -> Vector:
    return sunlamp.world_direction(tuple(float(v) for v in sky), rotation)


@pytest.mark.parametrize(("camera", "fov"), [("CYLINDRICAL", 90.0), ("PERSPECTIVE", 70.0)])
def test_the_backdrop_shows_each_pixel_where_it_was_rendered_for(new_scene, camera, fov):
    """Seen from the active camera, every point of the backdrop lies in the direction its pixel
    of the strip looks (the World turned too), so the horizon is at eye level, the aspect is
    the strip's and the strip is centred where the camera looks; it faces the camera."""
    props = new_scene.props
    small_strip(props, 96, 32)
    props.matte_camera, props.matte_fov, props.matte_horizon = camera, fov, 0.7
    props.matte_distance, props.rotation = 50.0, math.radians(25.0)
    bpy.ops.object.camera_add(location=(3, -8, 1.5), rotation=(math.radians(85), 0, 0.6))
    scene = bpy.context.scene
    scene.camera = bpy.context.active_object
    eye = scene.camera.matrix_world.translation

    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    (strip,) = files_in(new_scene.out)
    recipe = read_sky_recipe(strip)
    backdrop = our_backdrop()
    mesh, matrix = backdrop.data, backdrop.matrix_world
    uv = mesh.uv_layers.active.data
    checked = 0
    for polygon in mesh.polygons:
        centre = matrix @ polygon.center
        normal = (matrix.to_3x3() @ polygon.normal).normalized()
        to_eye = (eye - centre).normalized()
        assert normal.dot(to_eye) > 0.9, "it faces the camera"
        for loop in polygon.loop_indices:
            point = matrix @ mesh.vertices[mesh.loops[loop].vertex_index].co
            u, v = uv[loop].uv
            column, row = u * 96 - 0.5, (1 - v) * 32 - 0.5  # pixel-centre coordinates
            ray = strip_rays(recipe.projection, recipe.camera, 96, [row], [column])
            sky = np.array([ray.x.flat[0], ray.y.flat[0], ray.z.flat[0]])
            expected = world_direction(sky / np.linalg.norm(sky), props.rotation)
            assert (point - eye).normalized().dot(expected) == pytest.approx(1.0, abs=1e-6)
            checked += 1
    assert checked >= 4
    # the centre of the strip is straight ahead of the camera (Face the Camera)
    forward = scene.camera.matrix_world.to_3x3() @ Vector((0, 0, -1))
    mid = strip_rays(recipe.projection, recipe.camera, 96, [0], [48 - 0.5])
    centre = world_direction(np.array([mid.x.flat[0], 0.0, mid.z.flat[0]]), props.rotation)
    flat = Vector((forward.x, forward.y, 0)).normalized()
    assert centre.normalized().dot(flat) == pytest.approx(1.0, abs=1e-4)


def test_a_360_degree_strip_is_a_closed_cyclorama(new_scene):
    props = new_scene.props
    small_strip(props, 128, 16)
    props.matte_fov = 360.0
    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    (strip,) = files_in(new_scene.out)
    image = read_image(strip)
    assert read_sky_recipe(strip).camera.wraps
    np.testing.assert_allclose(image[:, 0], image[:, -1], atol=0.05)  # neighbours across the seam
    vertices = our_backdrop().data.vertices
    first, last = vertices[0].co, vertices[len(vertices) - 2].co
    assert (first - last).length < 1e-4, "the ends meet"
    texture = our_backdrop().active_material.node_tree.nodes[nodes.MATTE_TEXTURE]
    assert texture.interpolation == "Cubic", "Linear drew stray lines on the wall in Eevee"


def test_ground_none_makes_a_transparent_strip_and_an_alpha_sky_in_the_world(new_scene, tmp_path):
    props = new_scene.props
    small_strip(props)
    props.ground_source = "NONE"
    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    (strip,) = files_in(new_scene.out)
    assert png_bit_depth(strip) == (8, 6), "8-bit RGBA"
    rgba = read_image(strip, alpha=True)
    assert rgba[0, :, 3].min() == 1.0 and rgba[-1, :, 3].max() == 0.0
    tree = our_backdrop().active_material.node_tree
    assert tree.nodes[nodes.MATTE_MIX].inputs["Fac"].links[0].from_socket.name == "Alpha"

    props.sky_resolution, props.sky_width = "CUSTOM", 64
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    world = bpy.context.scene.world
    image = world.node_tree.nodes[nodes.SKY_TEXTURE].image
    assert image.filepath.endswith(".exr") and image.channels == 4
    pixels = np.array(image.pixels[:]).reshape(32, 64, 4)  # bottom row first
    assert pixels[0, :, 3].max() == 0.0 and pixels[-1, :, 3].min() == 1.0
    assert pixels[-1, :, :3].min() > 0.0, "the sky above"

    # The World still lights a Cycles render: bright looking up, black looking down.
    scene = bpy.context.scene
    data = bpy.data.cameras.new("Look")
    look = bpy.data.objects.new("Look", data)
    scene.collection.objects.link(look)
    scene.camera = look
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 1, False
    scene.render.resolution_x = scene.render.resolution_y = 8
    scene.render.image_settings.file_format = "OPEN_EXR"
    seen = {}
    for name, tilt in (("up", math.pi), ("down", 0.0)):  # a camera looks along its -Z
        look.rotation_euler = (tilt, 0.0, 0.0)
        scene.render.filepath = str(tmp_path / f"{name}.exr")
        bpy.ops.render.render(write_still=True)
        seen[name] = read_image(tmp_path / f"{name}.exr").mean()
    assert seen["up"] > 0.1 and seen["down"] < 1e-4 * seen["up"]


def test_a_composed_sky_regenerates_from_its_recipe(new_scene):
    """The same width re-renders the same pixels; twice the width the same sky and lamp."""
    props = new_scene.props
    props.sky_resolution, props.sky_width = "CUSTOM", 64
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    world_texture = bpy.context.scene.world.node_tree.nodes[nodes.SKY_TEXTURE]
    first = Path(bpy.path.abspath(world_texture.image.filepath))
    original, recipe = read_image(first), read_sky_recipe(first)
    assert recipe.composition.clouds is not None and recipe.composition.ground.kind == "model"
    (lamp,) = [o for o in bpy.data.objects if o.get(nodes.TAG) == sunlamp.KIND]
    before = (lamp.data.energy, lamp.data.angle, tuple(lamp.data.color), lamp.matrix_world.copy())
    exposure = bpy.context.scene.view_settings.exposure

    props.recipe_image, props.recipe_scale = world_texture.image, "1"
    assert bpy.ops.endless_backdrops.regenerate() == {"FINISHED"}
    again = Path(bpy.path.abspath(world_texture.image.filepath))
    assert again != first, "the recipe as written (models' hashes in it) names its own file"
    np.testing.assert_array_equal(read_image(again), original)

    sunlamp.remove_sun_lamp(bpy.context.scene)
    bpy.context.scene.view_settings.exposure = 0.0
    props.recipe_scale = "2"
    assert bpy.ops.endless_backdrops.regenerate() == {"FINISHED"}
    bigger = Path(bpy.path.abspath(world_texture.image.filepath))
    assert tuple(world_texture.image.size) == (128, 64)
    assert read_sky_recipe(bigger).composition == read_sky_recipe(again).composition
    (lamp,) = [o for o in bpy.data.objects if o.get(nodes.TAG) == sunlamp.KIND]
    assert lamp.data.energy == pytest.approx(before[0]) and lamp.data.angle == before[1]
    assert tuple(lamp.data.color) == pytest.approx(before[2])
    assert lamp.matrix_world == before[3]
    assert bpy.context.scene.view_settings.exposure == pytest.approx(exposure)


def test_a_matte_strip_regenerates_from_its_recipe(new_scene):
    props = new_scene.props
    small_strip(props)
    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    (first,) = files_in(new_scene.out)
    props.recipe_scale = "1"
    assert bpy.ops.endless_backdrops.regenerate() == {"FINISHED"}
    again = Path(bpy.path.abspath(props.recipe_image.filepath))
    assert again != first and again.suffix == ".png"
    np.testing.assert_array_equal(read_image(again), read_image(first))
    assert our_backdrop().active_material.node_tree.nodes[nodes.MATTE_TEXTURE].image.filepath == (
        props.recipe_image.filepath
    )


def one_line(raised: pytest.ExceptionInfo) -> str:
    message = str(raised.value).strip()
    assert "\n" not in message and "Traceback" not in message
    return message


def test_user_errors_in_the_new_controls_are_one_line_reports(new_scene, tmp_path):
    props = new_scene.props
    small_strip(props)
    props.matte_camera, props.matte_fov = "PERSPECTIVE", 200.0
    with pytest.raises(RuntimeError, match="perspective camera cannot see 200") as raised:
        bpy.ops.endless_backdrops.generate(kind="MATTE")
    assert "Cylindrical" in one_line(raised)

    props.matte_fov, props.matte_horizon = 1.0, 0.0  # pitched 87 degrees down
    props.matte_width, props.matte_height = 8, 16384
    with pytest.raises(RuntimeError, match="horizon is too far") as raised:
        bpy.ops.endless_backdrops.generate(kind="MATTE")
    one_line(raised)
    assert files_in(new_scene.out) == []

    # a composed sky whose cloud model has gone since
    clouds = make_model_file(
        tmp_path / "my-clouds.safetensors", vertical=False, seed=5, extra={"preset": "clouds"}
    )
    assert bpy.ops.endless_backdrops.model_add(filepath=str(clouds)) == {"FINISHED"}
    props.matte_camera, props.matte_fov, props.matte_horizon = "CYLINDRICAL", 90.0, 0.6
    props.matte_width, props.matte_height, props.cloud_cover = 64, 16, 0.5
    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    assert read_sky_recipe(props.recipe_image.filepath).composition.clouds.model == str(
        clouds.resolve()
    )
    clouds.rename(tmp_path / "moved.safetensors")
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.endless_backdrops.regenerate()
    assert "my-clouds" in one_line(raised)


def test_the_bundled_names_in_the_menus(new_scene, monkeypatch):
    """``sky-360`` is the learned sky (the Learned Panorama's and a learned matte's); ``clouds``
    only draws the cloud layer, never a terrain or ground; a .blend that chose the learned
    ``sky`` before the rename gets ``sky-360``."""
    props = new_scene.props
    entries = {e.key: e for e in addon_models.bundled_models()}
    assert {LEARNED_SKY, "terrain", "clouds"} <= entries.keys()
    clouds = entries["clouds"]
    assert clouds.can_make("clouds") and clouds.reference == "clouds"
    assert not any(clouds.can_make(kind) for kind in ("terrain", "ground", "sky", "matte"))
    items = {kind: [i[0] for i in addon_models.menu_items(kind, "", entries.values())]
             for kind in ("sky", "matte", "terrain", "ground", "clouds")}  # fmt: skip
    assert items["sky"][0] == items["matte"][0] == LEARNED_SKY
    assert "clouds" not in items["terrain"] + items["ground"] and items["clouds"] == ["clouds"]
    props.sky_model_key = props.matte_model_key = "sky"
    assert props.sky_model == props.matte_model == LEARNED_SKY
    assert props.model_for("sky").path == entries[LEARNED_SKY].path
    assert file_hash(props.model_for("clouds").path) == file_hash(clouds.path)


def test_the_matte_panel_draws_its_controls(new_scene):
    from test_addon import FakeLayout

    from addon import panels

    props = new_scene.props
    log: list[str] = []
    panels.draw_matte(FakeLayout(log), bpy.context)
    expected = [
        "matte_source",
        "matte_camera",
        "matte_fov",
        "matte_horizon",
        "matte_face_camera",
        "matte_heading",
        "matte_width",
        "matte_height",
        "matte_format",
        "matte_exposure",
        "matte_tone",
        "sun_azimuth",
        "cloud_cover",
        "ground_source",
        "matte_plane",
    ]
    assert {f"prop {name}" for name in expected} <= set(log)
    assert "prop use_sun_lamp" not in log, "a matte has no lamp"
    log.clear()
    props.matte_source = "LEARNED"
    panels.draw_matte(FakeLayout(log), bpy.context)
    assert "prop matte_model" in log and "prop matte_fov" not in log
