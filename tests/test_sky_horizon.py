"""Horizon bands: a landscape image at the horizon is exact across windows, tiles and the
360-degree wrap, its horizon row sits at the true horizon, its transparent sky changes nothing,
a changed band file is refused, and a far band is hazier than a near one. A landscape model
with alpha draws a band that is used as an image is."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from conftest import make_model_file
from PIL import Image

from generator import load_model, new_recipe, render_array
from generator.errors import RequestError
from generator.files.imagefile import read_image
from generator.files.recipe import Window
from generator.sky import SkySettings
from generator.sky.atmosphere import Rays
from generator.sky.compose import SkyComposition
from generator.sky.horizon import HorizonBand, HorizonSettings, read_band
from generator.sky.layers import CloudSettings, GroundSettings
from generator.sky.skyfile import (
    PreparedLayers,
    SkyRecipe,
    read_sky_recipe,
    render_sky_array,
    render_sky_to_file,
)
from generator.sky.strip import StripCamera, strip_rays

SKY = SkySettings(sun_elevation=20.0, sun_azimuth=30.0, sun_disc=False)
HEIGHT, WIDTH = 32, 360  # 1 px per degree: 16 degrees above and below the horizon


def band_file(path, skyline=None, seed=0, alpha=None, width=WIDTH, height=HEIGHT) -> str:
    """A band PNG: random land colours, land from row ``skyline`` down (per column: an array),
    or the given ``alpha`` (0..255)."""
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if alpha is None:
        rows = np.arange(height)[:, None]
        top = skyline if skyline is not None else 10 + rng.integers(0, 12, width)
        alpha = np.where(rows >= np.broadcast_to(top, (width,))[None, :], 255, 0)
    rgba[..., 3] = alpha
    Image.fromarray(rgba).save(path)
    return str(path)


def cloud_map(path) -> str:
    rng = np.random.default_rng(5)
    grey = (rng.random((32, 32)) * 255).astype(np.uint8)
    Image.fromarray(grey).save(path)
    return str(path)


def composition(*bands, ground="#6b5a44", clouds=None) -> SkyComposition:
    return SkyComposition(
        sky=SKY,
        clouds=clouds,
        ground=GroundSettings(ground),
        horizon=tuple(HorizonSettings(b) if isinstance(b, str) else b for b in bands),
    )


def strip(comp, width=180, height=48, projection="cylindrical", **camera) -> SkyRecipe:
    camera = {"height": height, "fov": 360.0, "horizon": 0.5, "vertical_fov": 30.0, **camera}
    if projection == "perspective":
        camera.pop("vertical_fov")
    return SkyRecipe(comp, width=width, projection=projection, camera=StripCamera(**camera))


# --- exact across windows, tiles and the wrap -----------------------------------------------


def test_bands_are_exact_across_windows_tiles_and_the_wrap(tmp_path):
    clouds = CloudSettings(cloud_map(tmp_path / "c.png"), cover=0.5, tile=64, period_m=4000.0)
    near = HorizonSettings(band_file(tmp_path / "a.png", seed=1), distance_m=800.0, heading=33.0)
    far = HorizonSettings(band_file(tmp_path / "b.png", seed=2), distance_m=9000.0)
    recipe = strip(composition(near, far, clouds=clouds), width=200)
    whole = render_sky_array(recipe)
    band = render_sky_array(recipe.replace(composition=composition(clouds=clouds)))
    assert np.abs(whole - band).max() > 0.05  # the bands show
    # windows, across the seam too: column W is column 0
    for x, y, w, h in ((190, 5, 20, 30), (0, 20, 7, 9), (37, 0, 50, 48)):
        part = render_sky_array(recipe.replace(window=Window(x, y, w, h)))
        columns = np.arange(x, x + w) % 200
        np.testing.assert_array_equal(part, whole[y : y + h][:, columns])
    # single directions (rows of one) give the rendered pixels bit for bit
    layers = PreparedLayers(recipe)
    sky = layers.sky()
    rows, columns = np.array([20, 23, 24, 30]), np.array([0, 57, 199])
    rays = strip_rays("cylindrical", recipe.camera, 200, rows, columns)
    d = np.stack(np.broadcast_arrays(rays.x, rays.y, rays.z), axis=-1).reshape(-1, 3)
    single = sky.radiance(d, recipe.pixel_rad).reshape(4, 3, 3)
    np.testing.assert_array_equal(single, whole[rows][:, columns])
    # the band itself wraps: turned by 360 degrees it is the same band
    turned = replace(near, heading=near.heading + 360.0)
    again = render_sky_array(strip(composition(turned, far, clouds=clouds), width=200))
    np.testing.assert_allclose(again, whole, rtol=1e-5, atol=1e-6)


def test_a_perspective_window_and_a_transparent_ground_are_exact(tmp_path):
    comp = composition(band_file(tmp_path / "a.png"), ground="none")
    recipe = strip(comp, width=120, height=60, projection="perspective", fov=70.0, horizon=0.45)
    whole = render_sky_array(recipe, alpha=True)
    part = render_sky_array(recipe.replace(window=Window(30, 20, 40, 25)), alpha=True)
    np.testing.assert_array_equal(part, whole[20:45, 30:70])
    # the land below the horizon is opaque where the band is (filled: everywhere)
    assert whole[30:40, :, 3].min() == 1.0
    assert whole[:20, :, 3].min() == 1.0  # the sky


# --- the horizon ---------------------------------------------------------------------------


def crossing(values: np.ndarray) -> float:
    """The fractional row (centres at i + 0.5) where a rising column first passes 0.5."""
    i = int(np.nonzero(values >= 0.5)[0][0])
    a, b = values[i - 1], values[i]
    return i - 0.5 + (0.5 - a) / (b - a)


@pytest.mark.parametrize("skyline", [16, 12, 19])
def test_the_bands_horizon_row_sits_at_the_true_horizon(tmp_path, skyline):
    """An opaque band whose skyline is row ``skyline`` (elevation (16 - skyline) degrees): the
    strip's rows change at the row of that elevation within half a pixel."""
    path = band_file(tmp_path / "s.png", skyline=np.full(WIDTH, skyline))
    settings = HorizonSettings(path, fill=False)
    band = HorizonBand(read_band(path)[0], settings)
    camera = StripCamera(height=600, fov=360.0, horizon=0.5, vertical_fov=30.0)
    rows = np.arange(600)
    rays = strip_rays("cylindrical", camera, 720, rows, np.array([0, 100, 500]))
    alpha = band.sample(rays, camera.pixel_rad("cylindrical", 720))[..., 3]
    elevation = math.radians(16 - skyline)
    expected = (camera.horizon - math.tan(elevation) / camera.scale(720)) * camera.height
    for column in range(3):
        assert abs(crossing(alpha[:, column]) - expected) < 0.5
    if skyline > 16:  # below the horizon it shows through a transparent ground's alpha
        recipe = strip(composition(settings, ground="none"), width=720, height=600)
        recipe = recipe.replace(window=Window(0, 250, 4, 150))
        image = render_sky_array(recipe, alpha=True)
        assert abs(crossing(image[50:, 0, 3]) + 300 - expected) < 0.5


def test_transparent_land_changes_nothing_bit_for_bit(tmp_path):
    clouds = CloudSettings(cloud_map(tmp_path / "c.png"), cover=0.4, tile=64, period_m=4000.0)
    clear = band_file(tmp_path / "clear.png", alpha=np.zeros((HEIGHT, WIDTH)))
    plain = strip(composition(clouds=clouds))
    with_band = strip(composition(clear, clouds=clouds))
    np.testing.assert_array_equal(render_sky_array(with_band), render_sky_array(plain))
    # land in a few columns only: the sky elsewhere is untouched
    alpha = np.zeros((HEIGHT, WIDTH))
    alpha[12:, 170:190] = 255  # azimuths -10..10 degrees
    some = HorizonSettings(band_file(tmp_path / "some.png", alpha=alpha), fill=False)
    image = render_sky_array(strip(composition(some, clouds=clouds)))
    reference = render_sky_array(plain)
    left, right = image[:, :60], image[:, 120:]
    np.testing.assert_array_equal(left, reference[:, :60])
    np.testing.assert_array_equal(right, reference[:, 120:])
    assert np.abs(image[:, 88:92] - reference[:, 88:92]).max() > 0.01


# --- recipes -------------------------------------------------------------------------------


def test_the_recipe_keeps_the_band_and_a_changed_band_is_refused(tmp_path):
    path = band_file(tmp_path / "land.png")
    recipe = strip(composition(HorizonSettings(path, distance_m=1500.0, heading=-20.0)), width=64)
    out = tmp_path / "matte.exr"
    render_sky_to_file(recipe.replace(camera=StripCamera(16, 360.0, 0.5, 30.0)), out, bit_depth=32)
    again = read_sky_recipe(out)
    (band,) = again.composition.horizon
    assert (band.distance_m, band.heading) == (1500.0, -20.0)
    assert len(band.source_hash) == 64
    assert SkyRecipe.from_json(again.to_json()) == again
    np.testing.assert_array_equal(render_sky_array(again), read_image(out))
    band_file(tmp_path / "land.png", seed=9)  # another picture under the same name
    with pytest.raises(RequestError, match="horizon band"):
        PreparedLayers(again)


def test_an_rgb_model_and_bad_bands_are_refused_in_one_line(tmp_path, tiny_model_path):
    with pytest.raises(RequestError, match="draws no alpha") as refused:
        PreparedLayers(strip(composition(str(tiny_model_path))))
    assert "\n" not in str(refused.value)
    Image.fromarray(np.zeros((8, 16, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(RequestError, match="alpha"):
        PreparedLayers(strip(composition(str(tmp_path / "rgb.png"))))
    wide = HorizonSettings(band_file(tmp_path / "w.png"), degrees_per_pixel=2.0)
    with pytest.raises(RequestError, match="more than 360"):
        PreparedLayers(strip(composition(wide)))
    with pytest.raises(RequestError, match="distance"):
        HorizonSettings("x.png", distance_m=1.0)


def test_the_command_line_sets_bands(tmp_path, capsys):
    from generator.cli import main

    a, b = band_file(tmp_path / "a.png"), band_file(tmp_path / "b.png", seed=3)
    out = tmp_path / "m.png"
    args = ["sky", "--ground", "#6b5a44", "--strip", "64x16", "--fov", "360", "--quiet"]
    bands = ["--horizon-band", a, b, "--band-distance", "20000", "2000", "--band-heading", "45"]
    assert main([*args, *bands, "--out", str(out)]) == 0
    far, near = read_sky_recipe(out).composition.horizon
    assert (far.distance_m, near.distance_m, far.heading, near.heading) == (20000, 2000, 45, 45)
    assert main([*args, "--horizon-band", a, "--band-distance", "1", "2", "--out", str(out)]) == 2
    assert "one per band" in capsys.readouterr().err
    again = tmp_path / "n.png"
    assert main(["sky", "--recipe", str(out), "--horizon-band", "none", "--out", str(again)]) == 0
    assert read_sky_recipe(again).composition.horizon == ()


# --- a landscape model as the source --------------------------------------------------------


@pytest.fixture(scope="module")
def land_model_path(tmp_path_factory) -> str:
    """A tiny random landscape model with alpha: 32-px frames, 16 degrees at 0.5 per pixel."""
    path = tmp_path_factory.mktemp("models") / "land.safetensors"
    return str(make_model_file(path, seed=4, rgb_scale=0.5, alpha=True))


def test_a_landscape_model_draws_a_band_exact_across_windows_and_the_wrap(land_model_path):
    settings = HorizonSettings(land_model_path, seed=3, heading=20.0, distance_m=1500.0)
    recipe = strip(composition(settings), width=200)
    whole = render_sky_array(recipe)
    assert np.abs(whole - render_sky_array(strip(composition(), width=200))).max() > 0.05
    for x, y, w, h in ((190, 5, 20, 30), (37, 0, 50, 48)):
        part = render_sky_array(recipe.replace(window=Window(x, y, w, h)))
        np.testing.assert_array_equal(part, whole[y : y + h][:, np.arange(x, x + w) % 200])
    # the band is the model's own render wrapping around 360 degrees, used as a band image is
    layers = PreparedLayers(recipe)
    (band,) = layers.sky().bands
    model = load_model(land_model_path)
    drawn = render_array(
        model, new_recipe(model.config, model.hash, 720, 32, seed=3, wrap="x", projection="flat")
    )
    assert drawn.shape == (32, 720, 4) and band.wraps and band.degrees == 0.5
    expected = HorizonBand(drawn, replace(settings, degrees_per_pixel=None))
    np.testing.assert_array_equal(band.levels[0], expected.levels[0])
    # the recipe names the model by its hash and keeps the seed; another seed, another band
    (kept,) = layers.recipe.composition.horizon
    assert (kept.source_hash, kept.seed) == (model.hash, 3)
    assert SkyRecipe.from_json(layers.recipe.to_json()) == layers.recipe
    other = render_sky_array(strip(composition(replace(settings, seed=4)), width=200))
    assert np.abs(other - whole).max() > 0.01


def test_the_command_line_draws_a_model_band_with_its_seed(tmp_path, land_model_path):
    from generator.cli import main

    out = tmp_path / "m.png"
    args = ["sky", "--ground", "#6b5a44", "--strip", "64x16", "--fov", "360", "--quiet"]
    assert (
        main([*args, "--horizon-band", land_model_path, "--band-seed", "5", "--out", str(out)]) == 0
    )
    (band,) = read_sky_recipe(out).composition.horizon
    assert band.seed == 5 and band.kind == "model"


def test_a_landscape_model_is_refused_as_ground_or_clouds(tmp_path, land_model_path):
    """Its coverage would crash the ground's colour transform and turn into cloud density."""
    clouds = CloudSettings(land_model_path, cover=0.5, tile=64, period_m=4000.0)
    for comp in (composition(ground=land_model_path), composition(clouds=clouds)):
        with pytest.raises(RequestError, match="landscape model with alpha") as refused:
            PreparedLayers(strip(comp))
        assert "--horizon-band" in str(refused.value) and "\n" not in str(refused.value)


def test_every_help_example_continues_its_line_with_a_backslash():
    """A continued example ends in a shown backslash (a bare one in the source joins lines)."""
    from generator.sky.command import EXAMPLES

    lines = EXAMPLES.splitlines()
    assert not [line for line in lines if "    --" in line.strip()]  # joined continuations
    for line, after in itertools.pairwise(lines):
        if after.startswith("        --"):
            assert line.endswith(" \\"), line


# --- haze ----------------------------------------------------------------------------------


def test_a_far_band_is_hazier_than_a_near_one(tmp_path):
    """The same land 500 m and 30 km away: the far one's colours lie nearer the sky's at the
    horizon and its detail (neighbouring columns) differs less."""
    path = band_file(tmp_path / "land.png", skyline=np.full(WIDTH, 4))
    stats = []
    for distance in (500.0, 30000.0):
        settings = HorizonSettings(path, distance_m=distance, fill=False)
        image = render_sky_array(strip(composition(settings), width=360, height=48))
        land = image[14:23]  # above the horizon (row 24), on the cylinder
        horizon_sky = render_sky_array(strip(composition(), width=360, height=48))[23]
        luminance = land @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        detail = np.abs(np.diff(luminance, axis=1)).mean()
        stats.append((np.abs(land - horizon_sky).mean(), detail))
    (near_gap, near_detail), (far_gap, far_detail) = stats
    assert far_gap < 0.7 * near_gap
    assert far_detail < 0.7 * near_detail


def test_single_directions_sample_like_rows(tmp_path):
    band = HorizonBand(read_band(band_file(tmp_path / "a.png"))[0], HorizonSettings("a.png"))
    rng = np.random.default_rng(0)
    d = rng.normal(size=(50, 3)) * np.array([1.0, 0.1, 1.0])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    together = band.sample(Rays.of(d), 0.01)
    apart = np.concatenate([band.sample(Rays.of(d[i : i + 1]), 0.01) for i in range(50)])
    np.testing.assert_array_equal(together, apart)
