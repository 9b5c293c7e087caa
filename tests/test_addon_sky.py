"""The physical sky in Blender (real ``bpy``, headless): the World, the matched Sun lamp, the sun
of a time and place, the cloud menu, and the quick sky shown first.

Sizes are tiny and the ground is often left out, so the tables and the terrain tile stay cheap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import bpy
import numpy as np
import pytest
from conftest import make_model_file
from mathutils import Vector
from test_addon import files_in, untouched  # noqa: F401 (a fixture)

from addon import models as addon_models
from addon import nodes, physical, sunlamp
from generator import GroundSettings, read_sky_recipe, render_sky_to_file
from generator.files.imagefile import read_image
from generator.files.modelfile import file_hash
from generator.sky import solar_position


def our_lamps() -> list[bpy.types.Object]:
    return [o for o in bpy.data.objects if o.get(nodes.TAG) == sunlamp.KIND]


def sky_file(props) -> Path:
    image = bpy.context.scene.world.node_tree.nodes[nodes.SKY_TEXTURE].image
    return Path(bpy.path.abspath(image.filepath))


def disc_direction_in_cycles(image_path: Path, toward: Vector, tmp_path: Path) -> float:
    """Degrees between ``toward`` and the disc's centre as Cycles shows the World: a narrow
    camera looks along ``toward``; the disc's brightness-weighted centre is read off its frame."""
    scene = bpy.context.scene
    texture = scene.world.node_tree.nodes[nodes.SKY_TEXTURE]
    texture.image = bpy.data.images.load(str(image_path))
    fov, size = math.radians(8.0), 64
    data = bpy.data.cameras.new("Aim")
    data.angle = fov
    camera = bpy.data.objects.new("Aim", data)
    camera.rotation_mode = "QUATERNION"
    camera.rotation_quaternion = toward.to_track_quat("-Z", "Y")
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 4, False
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.filepath = str(tmp_path / "aim.exr")
    bpy.ops.render.render(write_still=True)
    luminance = read_image(tmp_path / "aim.exr").mean(axis=2)
    disc = np.where(luminance > 0.5 * luminance.max(), luminance, 0.0)
    assert luminance.max() > 20 * np.median(luminance), "the disc is not in view"
    rows, columns = np.indices(disc.shape)
    half = math.tan(fov / 2)
    x = ((columns + 0.5) / size * 2 - 1) * half  # right
    y = (1 - (rows + 0.5) / size * 2) * half  # up (row 0 is the top)
    tx, ty = (disc * x).sum() / disc.sum(), (disc * y).sum() / disc.sum()
    return math.degrees(math.atan(math.hypot(tx, ty)))


def test_generate_on_an_untouched_scene_makes_a_physical_sky_lit_by_its_sun_lamp(
    untouched,  # noqa: F811
    tmp_path,
):
    props = untouched.props
    assert props.sky_source == "PHYSICAL" and props.use_sun_lamp
    assert props.clouds_model == "clouds" and props.cloud_cover > 0.0
    bundled = physical.base_composition()  # the default World is the bundled sky's sun and cover
    assert (props.sun_azimuth, props.sun_elevation) == pytest.approx(
        (bundled.sky.sun_azimuth, bundled.sky.sun_elevation)
    )
    assert props.cloud_cover == pytest.approx(bundled.clouds.cover)
    assert props.cirrus == pytest.approx(bundled.cirrus.amount)
    assert props.cloud_altitude == pytest.approx(bundled.clouds.altitude_m)
    assert props.cloud_clustering == pytest.approx(bundled.clouds.clustering)
    assert props.cloud_edges == pytest.approx(bundled.clouds.edge_warp_m)
    props.sky_resolution, props.sky_width = "CUSTOM", 128
    props.cloud_cover = 0.0  # the bundled clouds may veil the sun: its clear light is metered here
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}

    path = sky_file(props)
    recipe = read_sky_recipe(path)
    assert (recipe.width, recipe.height) == (128, 64)
    assert not recipe.composition.sky.sun_disc, "the lamp lights the scene, not a disc"
    terrain = next(e for e in addon_models.bundled_models() if e.key == "terrain")
    assert recipe.composition.ground.model_hash == file_hash(terrain.path)
    hills = [(b.kind, b.distance_m, b.seed) for b in recipe.composition.horizon]
    assert props.horizon_hills and hills == [
        (b.kind, b.distance_m, props.seed) for b in bundled.horizon
    ], "the bundled sky's hills, drawn from the panel's seed"
    assert hills and {kind for kind, _, _ in hills} == {"hills"}
    background = bpy.context.scene.world.node_tree.nodes[nodes.SKY_BACKGROUND]
    assert background.inputs["Strength"].default_value == 1.0, "Blender's units already"
    (lamp,) = our_lamps()
    record = physical.sun_lamp_of(path)
    assert lamp.data.type == "SUN"
    assert lamp.data.energy == pytest.approx(record["strength"], rel=1e-6)
    assert math.degrees(lamp.data.angle) == pytest.approx(record["angular_diameter"], rel=1e-6)
    assert record["angular_diameter"] == pytest.approx(recipe.composition.sky.sun_size)
    assert tuple(lamp.data.color) == pytest.approx(record["colour"], rel=1e-6)
    exposure = bpy.context.scene.view_settings.exposure
    assert exposure == pytest.approx(physical.daylight_exposure(path), abs=1e-4)
    assert -7.0 < exposure < -3.0, "a sun 35 degrees up, metered as a camera would"

    # The lamp's light comes from where the World shows the disc, also with the World turned.
    props.rotation = math.radians(40.0)
    sky = dataclasses.replace(recipe.composition.sky, sun_disc=True)
    with_disc = recipe.replace(
        width=512,
        composition=dataclasses.replace(recipe.composition, sky=sky, ground=GroundSettings("none")),
    )
    render_sky_to_file(with_disc, tmp_path / "disc.exr")
    bpy.context.view_layer.update()  # the lamp's matrix follows its new rotation
    toward_sun = -(lamp.matrix_world.to_3x3() @ Vector((0.0, 0.0, -1.0)))
    assert disc_direction_in_cycles(tmp_path / "disc.exr", toward_sun, tmp_path) < 0.5


def test_regenerating_reuses_our_lamp_and_leaves_the_users_light_alone(untouched):  # noqa: F811
    props = untouched.props
    props.sky_resolution, props.sky_width, props.ground_source = "CUSTOM", 64, "NONE"
    mine = bpy.data.objects.new("My Sun", bpy.data.lights.new("My Sun", "SUN"))
    mine.data.energy, mine.rotation_euler = 3.0, (0.3, 0.2, 0.1)
    bpy.context.scene.collection.objects.link(mine)
    bpy.ops.endless_backdrops.generate(kind="SKY")
    (first,) = our_lamps()
    before = first.matrix_world.copy()

    props.sun_elevation, props.seed, props.horizon_hills = 10.0, 4, False
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    assert read_sky_recipe(sky_file(props)).composition.horizon == (), "flat to the horizon"

    assert our_lamps() == [first], "the same lamp, re-aimed"
    assert first.matrix_world != before
    assert mine.data.energy == 3.0 and tuple(mine.rotation_euler) == pytest.approx((0.3, 0.2, 0.1))
    assert len([o for o in bpy.data.objects if o.type == "LIGHT"]) == 2


def test_without_the_sun_lamp_the_disc_is_in_the_image(untouched):  # noqa: F811
    props = untouched.props
    props.sky_resolution, props.sky_width, props.ground_source = "CUSTOM", 256, "NONE"
    props.cloud_cover = 0.0  # no cloud before the disc
    bpy.ops.endless_backdrops.generate(kind="SKY")
    assert len(our_lamps()) == 1
    props.use_sun_lamp, props.auto_exposure = False, False
    bpy.context.scene.view_settings.exposure = 0.5
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    assert bpy.context.scene.view_settings.exposure == 0.5, "the user's exposure stays"

    assert our_lamps() == [] and bpy.data.lights.get(sunlamp.LAMP_NAME) is None
    path = sky_file(props)
    assert read_sky_recipe(path).composition.sky.sun_disc
    sky = read_image(path)
    row, column = np.unravel_index(sky.mean(axis=2).argmax(), sky.shape[:2])
    elevation = 90.0 - (row + 0.5) * 180.0 / 128
    azimuth = (column + 0.5) * 360.0 / 256 - 180.0
    assert abs(elevation - props.sun_elevation) < 1.5 and abs(azimuth - props.sun_azimuth) < 1.5
    assert sky.max() > 1000 * np.median(sky), "the disc, unclipped"


def test_time_and_place_give_the_sun_of_solar_position(untouched):  # noqa: F811
    props = untouched.props
    props.sky_resolution, props.sky_width, props.ground_source = "CUSTOM", 64, "NONE"
    props.sun_mode = "PLACE"
    props.sun_year, props.sun_month, props.sun_day, props.sun_hour = 2025, 3, 14, 16.75
    props.utc_offset, props.latitude, props.longitude = 1.0, 59.33, 18.07
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}

    sky = read_sky_recipe(sky_file(props)).composition.sky
    zone = dt.timezone(dt.timedelta(hours=1))
    elevation, azimuth = solar_position(dt.datetime(2025, 3, 14, 16, 45, tzinfo=zone), 59.33, 18.07)
    assert sky.sun_elevation == pytest.approx(elevation, abs=1e-4)
    assert sky.sun_azimuth == pytest.approx((azimuth + 180.0) % 360.0 - 180.0, abs=1e-4)

    props.sun_month, props.sun_day = 2, 30
    with pytest.raises(RuntimeError, match="no such date 2025-02-30") as raised:
        bpy.ops.endless_backdrops.generate(kind="SKY")
    assert "\n" not in str(raised.value).strip()


def test_clouds_come_from_the_bundled_cloud_model_or_the_users(
    untouched,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from test_addon import FakeLayout

    from addon import panels

    props = untouched.props
    props.sky_resolution, props.sky_width, props.ground_source = "CUSTOM", 64, "NONE"
    bundled = next(e for e in addon_models.bundled_models() if e.key == "clouds")
    assert props.clouds_model == "clouds" and props.cloud_cover > 0.0
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    layer = read_sky_recipe(sky_file(props)).composition.clouds
    assert layer.model == "clouds", "named, so the recipe finds it on another machine"
    assert layer.model_hash == file_hash(bundled.path)

    clouds = make_model_file(
        tmp_path / "clouds.safetensors", vertical=False, seed=5, extra={"preset": "clouds"}
    ).resolve()
    assert bpy.ops.endless_backdrops.model_add(filepath=str(clouds)) == {"FINISHED"}
    assert props.clouds_model == str(clouds)
    assert props.ground_model == props.terrain_model == "terrain", "clouds are no ground"
    props.cloud_cover, props.cloud_style, props.cirrus = 0.6, 9, 0.7
    props.cloud_altitude, props.cloud_clustering, props.cloud_edges = 2500.0, 0.5, 200.0
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    composition = read_sky_recipe(sky_file(props)).composition
    layer = composition.clouds
    assert (layer.model, layer.styles) == (str(clouds), (9,)) and layer.cover == pytest.approx(0.6)
    assert (layer.altitude_m, layer.clustering, layer.edge_warp_m) == pytest.approx(
        (2500.0, 0.5, 200.0)
    )
    assert layer.model_hash == file_hash(clouds)
    assert composition.cirrus.amount == pytest.approx(0.7)
    assert composition.cirrus.tile == layer.tile, "the veil's tile follows the sky's width"
    props.cirrus = 0.0
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    assert read_sky_recipe(sky_file(props)).composition.cirrus is None

    # An installation without a cloud model (a trimmed build): the sky stays clear, and says so.
    without = [e for e in addon_models.bundled_models() if e.key != "clouds"]
    monkeypatch.setattr(addon_models, "bundled_models", lambda: without)
    monkeypatch.setattr(addon_models, "_cached", None)
    untouched_prefs = bpy.context.preferences.addons["addon"].preferences
    untouched_prefs.model_paths.clear()
    log: list[str] = []
    panels.draw_sky(FakeLayout(log), bpy.context)
    assert "label No cloud model yet: the sky stays clear" in log
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    assert read_sky_recipe(sky_file(props)).composition.clouds is None


def test_the_quick_sky_is_offered_before_the_full_one(tmp_path, monkeypatch):
    monkeypatch.setattr(physical, "PREVIEW_WIDTH", 32)
    offered: list[Path] = []
    request = physical.PhysicalSkyRequest(
        out_dir=str(tmp_path), width=64, ground="none", device="cpu", quick_first=True
    )
    full = physical.run_physical_sky(request, offer=offered.append)
    (quick,) = offered
    assert quick.parent.name == "previews" and read_image(quick).shape == (16, 32, 3)
    assert read_image(full).shape == (32, 64, 3)


@pytest.mark.parametrize("width, tile", [(64, 256), (1024, 512), (4096, 2048), (16384, 2048)])
def test_layer_tiles_follow_the_sky_width(width, tile):
    assert physical.layer_tile(width) == tile


def test_a_previews_ground_and_clouds_keep_their_size_in_metres(tmp_path):
    """A smaller tile repeats sooner; its texels stay as many millimetres as the full sky's."""
    request = physical.PhysicalSkyRequest(
        out_dir=str(tmp_path), cloud_model=str(tmp_path / "c.png"), cloud_cover=0.5, ground="none"
    )
    preview = physical.sky_recipe(request, 1024).composition
    full = physical.sky_recipe(request, 4096).composition
    for part in ("ground", "clouds"):
        small, big = getattr(preview, part), getattr(full, part)
        assert small.tile < big.tile
        assert small.period_m / small.tile == big.period_m / big.tile
