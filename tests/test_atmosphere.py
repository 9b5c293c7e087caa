"""The clear sky against Blender's own Sky Texture (Multiple Scattering, rendered headless in
Cycles), and its promises: a pure function of direction, a sun that reddens and dims as it sets,
a lamp that carries the disc's light, the sun's position at a published moment and place."""

from __future__ import annotations

import datetime as dt
import math

import bpy
import numpy as np
import pytest

from generator.files.imagefile import read_image
from generator.sky import SkySettings, clear_sky, direction, equirect_directions, sun_light
from generator.sky.spectrum import REC709_LUMINANCE

ELEVATIONS = (2.0, 10.0, 30.0, 60.0)
WIDTH, HEIGHT = 256, 128
DISC_VIEW_DEG, DISC_PIXELS = 1.6, 48


def _scene(tmp_path):
    """Factory Blender with Cycles, a World of the Multiple Scattering sky and nothing else."""
    import addon_utils  # Blender's own module: importable once bpy is

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("cycles")
    scene = bpy.context.scene
    scene.world = bpy.data.worlds.new("Sky")
    tree = scene.world.node_tree or _node_tree(scene.world)
    texture = tree.nodes.new("ShaderNodeTexSky")
    texture.sky_type = "MULTIPLE_SCATTERING"
    tree.links.new(texture.outputs["Color"], tree.nodes["Background"].inputs["Color"])
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.use_denoising = False
    scene.cycles.pixel_filter_type = "BOX"
    scene.render.threads_mode, scene.render.threads = "FIXED", 2
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.filepath = str(tmp_path / "render.exr")
    return scene, texture


def _node_tree(world):
    world.use_nodes = True
    return world.node_tree


def _render(scene, camera_data, rotation, size, samples, filter_width) -> np.ndarray:
    camera = bpy.data.objects.new("Camera", camera_data)
    camera.rotation_euler = rotation
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.cycles.samples, scene.cycles.filter_width = samples, filter_width
    bpy.ops.render.render(write_still=True)
    bpy.data.objects.remove(camera)
    return read_image(scene.render.filepath).astype(np.float64)


def blender_sky(scene, texture) -> np.ndarray:
    """The disc-free sky as a WIDTH x HEIGHT equirect, pixel centres (the project's frame: the
    centre column faces Blender's +X, the right edge -Y, as the add-on maps its skies)."""
    texture.sun_disc = False
    camera = bpy.data.cameras.new("Panorama")
    camera.type, camera.panorama_type = "PANO", "EQUIRECTANGULAR"
    return _render(scene, camera, (math.pi / 2, 0, -math.pi / 2), (WIDTH, HEIGHT), 1, 0.01)


def blender_sun_irradiance(scene, texture, elevation: float) -> float:
    """Luminance of the disc's irradiance (on a plane facing it): a narrow camera on the disc,
    with the disc minus without it, summed over the pixels' solid angles."""
    camera = bpy.data.cameras.new("Disc")
    camera.sensor_fit, camera.angle = "HORIZONTAL", math.radians(DISC_VIEW_DEG)
    rotation = (math.pi / 2 + math.radians(elevation), 0, -texture.sun_rotation)
    size = (DISC_PIXELS, DISC_PIXELS)
    texture.sun_disc = True
    with_disc = _render(scene, camera, rotation, size, 16, 1.0)
    texture.sun_disc = False
    without = _render(scene, camera, rotation, size, 16, 1.0)
    pixel = 2.0 * math.tan(math.radians(DISC_VIEW_DEG) / 2.0) / DISC_PIXELS
    offsets = (np.arange(DISC_PIXELS) + 0.5 - DISC_PIXELS / 2) * pixel
    solid_angle = pixel**2 * (1.0 + offsets[:, None] ** 2 + offsets[None] ** 2) ** -1.5
    return float(((with_disc - without) @ REC709_LUMINANCE * solid_angle).sum())


def hemisphere_metrics(sky: np.ndarray) -> tuple[float, float]:
    """(illuminance of a horizontal plane, zenith / horizon luminance) of an equirect: the top
    row against the row just above the horizon (0.7 degrees), each averaged over azimuth."""
    luminance = sky @ REC709_LUMINANCE
    elevation = np.radians(90.0 - (np.arange(HEIGHT) + 0.5) * 180.0 / HEIGHT)
    weight = (
        np.maximum(np.sin(elevation), 0)
        * np.cos(elevation)
        * (np.pi / HEIGHT)
        * (2 * np.pi / WIDTH)
    )
    illuminance = float((luminance * weight[:, None]).sum())
    return illuminance, float(luminance[0].mean() / luminance[HEIGHT // 2 - 1].mean())


@pytest.fixture(scope="module")
def blender(tmp_path_factory):
    """Blender's sky and sun at each elevation, rendered once, the sun toward azimuth 0 (Blender
    puts it toward (sin r, cos r, .) for a rotation r: azimuth a is r = a + 90 degrees)."""
    scene, texture = _scene(tmp_path_factory.mktemp("blender-sky"))
    texture.sun_rotation = math.pi / 2
    results = {}
    for elevation in ELEVATIONS:
        texture.sun_elevation = math.radians(elevation)
        results[elevation] = (
            blender_sky(scene, texture),
            blender_sun_irradiance(scene, texture, elevation),
        )
    return results


@pytest.mark.parametrize("elevation", ELEVATIONS)
def test_the_sky_and_sun_light_a_scene_as_blenders_do(blender, elevation):
    theirs, their_sun = blender[elevation]
    settings = SkySettings(sun_elevation=elevation, sun_azimuth=0.0, sun_disc=False)
    ours = clear_sky(equirect_directions(WIDTH, HEIGHT), settings)
    our_sky, our_ratio = hemisphere_metrics(ours)
    their_sky, their_ratio = hemisphere_metrics(theirs)
    our_sun = float(sun_light(settings).irradiance @ REC709_LUMINANCE)
    height = math.sin(math.radians(elevation))  # the sun's share on a horizontal plane
    assert our_sky == pytest.approx(their_sky, rel=0.2)
    assert our_sun * height == pytest.approx(their_sun * height, rel=0.2)
    assert our_ratio == pytest.approx(their_ratio, rel=0.25)


def test_a_setting_sun_is_redder_and_dimmer_than_at_noon():
    noon, sunset = (
        sun_light(SkySettings(sun_elevation=60.0)),
        sun_light(SkySettings(sun_elevation=3.0)),
    )
    assert sunset.strength < 0.5 * noon.strength
    assert sunset.colour[2] / sunset.colour[0] < 0.5 * noon.colour[2] / noon.colour[0]
    assert min(noon.colour) > 0.6, "the noon sun is close to white"
    low = sun_light(SkySettings(sun_elevation=0.5))
    assert 0.0 < low.strength < sunset.strength and min(low.colour) >= 0.0, "no negative light"
    assert sun_light(SkySettings(sun_elevation=-2.0)).strength == 0.0, "below the horizon"


def test_the_sky_is_a_pure_function_of_direction():
    """Any batch split, band or order of the same directions gives the same values, the disc
    included (drawn at the output's pixel size)."""
    settings = SkySettings(sun_elevation=4.0, sun_azimuth=170.0)
    width, height = 720, 360
    whole = clear_sky(equirect_directions(width, height), settings, pixel_deg=360 / width)
    assert whole.max() > 1e4, "the disc is drawn"
    flat = equirect_directions(width, height).reshape(-1, 3)
    for pieces in (7, 1013):
        parts = [clear_sky(p, settings, 360 / width) for p in np.array_split(flat, pieces)]
        np.testing.assert_array_equal(np.concatenate(parts).reshape(whole.shape), whole)
    band = clear_sky(equirect_directions(width, height, rows=np.arange(170, 190)), settings, 0.5)
    np.testing.assert_array_equal(band, whole[170:190])
    order = np.random.default_rng(0).permutation(len(flat))
    shuffled = clear_sky(flat[order], settings, 360 / width)
    np.testing.assert_array_equal(shuffled, whole.reshape(-1, 3)[order])


@pytest.mark.parametrize("width", [1024, 8192])
def test_the_lamp_carries_the_discs_light_at_any_resolution(width):
    """The disc's light summed over an equirect's pixels is the lamp's, whether the disc is drawn
    3 pixels wide (sampled at their centres: within 3 %) or covers hundreds; the lamp points at
    it."""
    settings = SkySettings(sun_elevation=20.0, sun_azimuth=-40.0)
    height = width // 2
    rows = np.arange(int(height * 65 / 180), int(height * 75 / 180))  # 15..25 degrees
    directions = equirect_directions(width, height, rows)
    pixel = 360.0 / width
    disc = clear_sky(directions, settings, pixel) - clear_sky(
        directions, SkySettings(sun_elevation=20.0, sun_azimuth=-40.0, sun_disc=False), pixel
    )
    elevation = np.radians(90.0 - (rows + 0.5) * 180.0 / height)
    solid_angle = np.cos(elevation) * math.radians(pixel) ** 2
    lamp = sun_light(settings)
    np.testing.assert_allclose(
        (disc * solid_angle[:, None, None]).sum((0, 1)), lamp.irradiance, rtol=0.03
    )
    np.testing.assert_allclose(lamp.direction, direction(20.0, -40.0), atol=1e-12)


def test_the_sun_stands_where_the_almanac_says():
    """NREL's solar position algorithm paper (Reda and Andreas 2004, table A4.1): Golden,
    Colorado, 17 October 2003, 12:30:30 local time (UTC-7): zenith 50.11162 degrees (with
    refraction), azimuth 194.34024 degrees from north."""
    when = dt.datetime(2003, 10, 17, 12, 30, 30, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    settings = SkySettings.at_place(when, 39.742476, -105.1786)
    assert settings.sun_elevation == pytest.approx(90.0 - 50.11162, abs=0.05)
    assert settings.sun_azimuth == pytest.approx(194.34024 - 360.0, abs=0.05)
