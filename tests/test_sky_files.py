"""Sky files: a transparent ground gives an alpha channel that is exact across bands, windows,
the wrap and cube faces; matte strips (cylindrical, perspective) are exact in tiles and windows,
a 360-degree one wraps, the horizon sits at its row; 8/16-bit files are exposed (metered, kept
in the recipe), 8-bit ones dithered, float files keep radiance; RGBA writers stream and stay
atomic."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

import generator.files.imagefile as imagefile
from generator.errors import OutputError, RequestError
from generator.files.imagefile import open_image_writer, read_image, read_metadata
from generator.files.recipe import Window
from generator.sky import REC709_LUMINANCE, SkySettings, forget_layers
from generator.sky.compose import SkyComposition
from generator.sky.layers import GroundSettings
from generator.sky.recent import Recent
from generator.sky.skyfile import (
    CLEAR_KEY,
    KNEE,
    SKY_KEY,
    PreparedLayers,
    SkyRecipe,
    read_sky_recipe,
    render_sky_array,
    render_sky_to_file,
    tone_map,
)
from generator.sky.strip import StripCamera, strip_rays

NONE = SkyComposition(
    sky=SkySettings(sun_elevation=20.0, sun_azimuth=30.0), ground=GroundSettings("none")
)
COLOUR = SkyComposition(
    sky=SkySettings(sun_elevation=20.0, sun_azimuth=30.0), ground=GroundSettings("#6b5a44")
)


def strip(projection="cylindrical", width=96, composition=NONE, **camera) -> SkyRecipe:
    camera = {"height": 40, "fov": 100.0, "horizon": 0.6, "heading": 20.0, **camera}
    return SkyRecipe(composition, width=width, projection=projection, camera=StripCamera(**camera))


# --- the writers ---------------------------------------------------------------------------


def rgba(width=29, height=23, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.random((height, width, 4), dtype=np.float32) * 1.5
    image[..., 3] = np.round(rng.random((height, width)) * 4) / 4
    return image


@pytest.mark.parametrize(
    ("extension", "bit_depth"),
    [("png", 8), ("png", 16), ("exr", 16), ("exr", 32), ("tif", 8), ("tif", 16), ("tif", 32)],
)
def test_rgba_streams_in_any_bands_with_each_formats_alpha(
    tmp_path, monkeypatch, extension, bit_depth
):
    monkeypatch.setattr(imagefile, "_PIECE_BYTES", 700)
    monkeypatch.setattr(imagefile, "_TIFF_STRIP_BYTES", 900)
    monkeypatch.setattr(imagefile, "_PNG_IDAT_BYTES", 200)
    image = rgba()
    files = []
    for bands in ((23,), (1, 7, 2, 13)):
        path = tmp_path / f"{len(bands)}.{extension}"
        with open_image_writer(path, 29, 23, bit_depth=bit_depth, alpha=True) as writer:
            start = 0
            for rows in bands:
                writer.write_rows(image[start : start + rows])
                start += rows
        files.append(path)
    assert files[0].read_bytes() == files[1].read_bytes()
    back = read_image(files[0], alpha=True)
    assert back.shape == (23, 29, 4) and read_image(files[0]).shape == (23, 29, 3)
    tolerance = {8: 3e-3, 16: 2e-5, 32: 0.0}[bit_depth]
    np.testing.assert_allclose(back[..., 3], image[..., 3], atol=tolerance)
    if extension == "exr":  # premultiplied, as OpenEXR wants it
        import OpenEXR

        with OpenEXR.File(str(files[0]), separate_channels=True) as exr:
            channels = exr.channels()
            assert sorted(channels) == ["A", "B", "G", "R"]
            expected = image[..., 0] * image[..., 3]
            np.testing.assert_allclose(channels["R"].pixels, expected, rtol=1e-3, atol=1e-7)
    elif extension == "png":  # straight
        with Image.open(files[0]) as png:
            assert png.mode == "RGBA"
        covered = image[..., 3] > 0
        clipped = np.clip(image[..., :3], 0, 1)[covered]
        np.testing.assert_allclose(back[..., :3][covered], clipped, atol=5e-3)


@pytest.mark.parametrize("extension", ["png", "exr", "tif"])
def test_an_interrupted_rgba_write_leaves_nothing(tmp_path, extension):
    path = tmp_path / f"out.{extension}"
    with pytest.raises(KeyboardInterrupt), open_image_writer(path, 29, 23, alpha=True) as w:
        w.write_rows(rgba()[:5])
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with (
        pytest.raises(OutputError),
        open_image_writer(path, 29, 23, alpha=True) as writer,
        pytest.raises(ValueError),
    ):
        writer.write_rows(rgba()[..., :3])  # RGB rows for an RGBA file
    assert list(tmp_path.iterdir()) == []


# --- a transparent ground ----------------------------------------------------------------------


def test_transparent_ground_alpha_is_exact_in_bands_windows_and_the_wrap(tmp_path, monkeypatch):
    import generator.sky.skyfile as skyfile

    whole = render_sky_array(SkyRecipe(NONE, width=128), alpha=True)
    monkeypatch.setattr(skyfile, "BAND_PIXELS", 200)  # bands of one row
    window = Window(110, 20, 40, 30)  # crosses the wrap seam and the horizon
    part = render_sky_array(SkyRecipe(NONE, width=128, window=window), alpha=True)
    np.testing.assert_array_equal(part, whole[20:50, np.arange(110, 150) % 128])
    alpha = whole[..., 3]
    assert (alpha[:32] == 1).all() and (alpha[32:] == 0).all(), "the equirect's horizon is a seam"
    assert (whole[32:, :, :3] == 0).all() and (whole[:32, :, :3] > 0).all()

    path = tmp_path / "sky.png"
    render_sky_to_file(SkyRecipe(NONE, width=128), path)
    assert np.abs(read_image(path, alpha=True)[..., 3] - alpha).max() < 1 / 255


def test_strip_alpha_ramps_by_coverage_and_the_horizon_sits_at_its_row():
    for projection in ("cylindrical", "perspective"):
        for horizon in (0.6, 0.31, 0.77):
            image = render_sky_array(strip(projection, horizon=horizon), alpha=True)
            alpha = image[..., 3].astype(np.float64)
            above = alpha.sum(axis=0)  # pixels of sky in each column
            np.testing.assert_allclose(above, horizon * 40, atol=1e-6)  # a level, straight line
            row = int(horizon * 40)
            assert (alpha[:row] == 1).all() and (alpha[row + 1 :] == 0).all()
            if horizon * 40 % 1:  # the partly covered row shows the sky: straight colour
                recipe = strip(projection, horizon=horizon)
                rays = strip_rays(projection, recipe.camera, 96, np.array([row]), np.arange(96))
                x, z = rays.x.reshape(-1), rays.z.reshape(-1)
                y = np.broadcast_to(rays.y, rays.x.shape).reshape(-1)
                if horizon * 40 % 1 < 0.5:  # the centre looks down: the sky at the horizon
                    y = 0 * y
                    x, z = x / np.hypot(x, z), z / np.hypot(x, z)
                level = np.stack((x, y, z), axis=-1)
                sky = PreparedLayers(recipe).sky().radiance(level, recipe.pixel_rad)
                np.testing.assert_allclose(image[row, :, :3], sky.reshape(96, 3), rtol=1e-5)


def test_cube_faces_of_a_transparent_ground_share_the_horizon():
    cube = render_sky_array(SkyRecipe(NONE, width=15, projection="cube"), alpha=True)
    side = cube[0, ..., 3]  # +x: the horizon runs through the middle row
    assert (side[:7] == 1).all() and (side[7] == 0.5).all() and (side[8:] == 0).all()
    assert (cube[2, ..., 3] == 1).all() and (cube[3, ..., 3] == 0).all()  # up, down


# --- matte strips ----------------------------------------------------------------------------


@pytest.mark.parametrize("projection", ["cylindrical", "perspective"])
def test_strip_windows_and_tiles_equal_the_whole(projection, monkeypatch):
    import generator.sky.skyfile as skyfile

    recipe = strip(projection, composition=COLOUR)
    whole = render_sky_array(recipe)
    assert whole.shape == (40, 96, 3)
    monkeypatch.setattr(skyfile, "BAND_PIXELS", 50)
    for window in (Window(0, 0, 96, 40), Window(13, 7, 30, 29), Window(95, 39, 1, 1)):
        part = render_sky_array(recipe.replace(window=window))
        np.testing.assert_array_equal(
            part, whole[window.y : window.y + window.height, window.x : window.x + window.width]
        )
    with pytest.raises(RequestError, match="columns"):
        recipe.replace(window=Window(90, 0, 10, 4))


def test_a_360_degree_strip_wraps_into_a_cyclorama():
    recipe = strip(composition=COLOUR, fov=360.0)
    whole = render_sky_array(recipe)
    seam = render_sky_array(recipe.replace(window=Window(94, 0, 4, 40)))
    np.testing.assert_array_equal(seam, whole[:, [94, 95, 0, 1]])
    # the strip turned by one column: its last column continues column 95 with column 0
    turned = render_sky_array(recipe.replace(camera=replace(recipe.camera, heading=23.75)))
    np.testing.assert_allclose(turned[:, 95], whole[:, 0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(turned[:, :95], whole[:, 1:], rtol=1e-4, atol=1e-6)
    step = np.abs(np.diff(whole, axis=1)).max()
    assert np.abs(whole[:, 0] - whole[:, -1]).max() <= step  # no seam


def test_cylindrical_rows_are_even_in_height_and_span_the_vertical_fov():
    camera = StripCamera(height=50, fov=90.0, horizon=0.4, vertical_fov=60.0)
    rays = strip_rays("cylindrical", camera, 200, np.array([0, 49]), np.array([0]))
    top, bottom = (math.degrees(math.asin(y)) for y in rays.y[:, 0])
    # pixel centres lie half a pixel inside the edges; in height (tan) pixels are even
    scale = camera.scale(200)
    assert math.isclose(math.atan(0.4 * scale) + math.atan(0.6 * scale), math.radians(60.0))
    assert math.isclose(math.tan(math.radians(top)), (0.4 - 0.5 / 50) * scale)
    assert math.isclose(math.tan(math.radians(bottom)), (0.4 - 49.5 / 50) * scale)
    square = StripCamera(height=50, fov=90.0, horizon=0.4)
    assert math.isclose(square.scale(200) / 50, math.radians(90.0) / 200)  # square at horizon


def test_perspective_lines_stay_straight():
    camera = StripCamera(height=60, fov=70.0, horizon=0.7, heading=15.0)
    rays = strip_rays("perspective", camera, 120, np.arange(60), np.arange(120))
    d = np.concatenate((rays.x, rays.y, rays.z), axis=1).reshape(60, 120, 3)
    # a vertical line in the world (a fixed azimuth) would be a straight line of pixels;
    # equivalently any three pixels of one image row span a plane through the eye
    row = d[10, [0, 50, 119]]
    assert abs(np.linalg.det(row)) < 1e-12


def test_strip_recipes_round_trip_and_rerender_from_the_file(tmp_path, capsys):
    from generator.cli import main

    out = tmp_path / "matte.png"
    args = ["sky", "--ground", "none", "--sun", "10,25", "--strip", "64x16", "--fov", "90"]
    assert main([*args, "--horizon", "0.5", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cylindrical, 90 degrees across" in printed and "(metered)" in printed
    recipe = read_sky_recipe(out)
    assert recipe.camera == StripCamera(height=16, fov=90.0, horizon=0.5)
    assert recipe.metered is not None and recipe.exposure is None
    again = tmp_path / "part.png"
    assert main(["sky", "--recipe", str(out), "--window", "3,4,20,8", "--out", str(again)]) == 0
    np.testing.assert_array_equal(
        read_image(again, alpha=True), read_image(out, alpha=True)[4:12, 3:23]
    )
    assert read_sky_recipe(again).metered == recipe.metered  # the same exposure
    assert main(["sky", "--recipe", str(out), "--width", "128", "--out", str(again)]) == 0
    assert read_sky_recipe(again).camera.height == 32  # the same view, twice the size
    exr = tmp_path / "matte.exr"
    assert main([*args, "--exposure", "-3", "--out", str(exr)]) == 2
    assert "--exposure" in capsys.readouterr().err and not exr.exists()


# --- exposure -----------------------------------------------------------------------------------


def test_tone_curves():
    x = np.linspace(0.0, 8.0, 2001, dtype=np.float32)[:, None]
    standard, shoulder = tone_map(x, 0.0, "standard"), tone_map(x, 0.0, "shoulder")
    np.testing.assert_array_equal(standard, np.clip(x, 0, 1))
    low = x <= KNEE
    np.testing.assert_array_equal(shoulder[low], x[low])
    assert (np.diff(shoulder[:, 0]) >= 0).all() and shoulder.max() <= 1.0
    assert tone_map(np.float32([1.0, 2.0]), 0.0, "shoulder")[1] < 1.0
    assert np.abs(np.diff(shoulder[:, 0], 2)).max() < 1e-4  # smooth at the knee
    np.testing.assert_allclose(tone_map(x, 1.0, "standard"), np.clip(2 * x, 0, 1))


def test_the_filmic_tone_is_a_cameras_s_curve():
    """As a camera renders a picture: mid-grey lifted, the darks pressed into a toe, and the
    highlights rolling off over about three stops above white instead of clipping there."""
    x = np.linspace(0.0, 8.0, 4001, dtype=np.float32)[:, None]
    filmic = tone_map(x, 0.0, "filmic")
    assert (np.diff(filmic[:, 0]) >= 0).all() and filmic[0, 0] == 0.0 and filmic.max() == 1.0
    grey, dark = tone_map(np.float32([[0.18], [0.02]]), 0.0, "filmic")[:, 0]
    assert 0.25 < grey < 0.3 and dark < 0.02
    assert 0.75 < float(tone_map(np.float32([1.0]), 0.0, "filmic")[0]) < 0.85
    assert float(tone_map(np.float32([4.0]), 0.0, "filmic")[0]) < 0.99
    assert float(tone_map(np.float32([8.0]), 0.0, "filmic")[0]) == 1.0


def test_ldr_files_are_exposed_by_the_meter_and_float_files_keep_radiance(tmp_path):
    recipe = SkyRecipe(COLOUR, width=64)
    png, exr = tmp_path / "sky.png", tmp_path / "sky.exr"
    render_sky_to_file(recipe, png)
    render_sky_to_file(recipe, exr, bit_depth=32)
    radiance = render_sky_array(recipe)
    np.testing.assert_array_equal(read_image(exr), radiance)  # untouched
    assert read_sky_recipe(exr).metered is None
    stops = read_sky_recipe(png).metered
    assert -7.0 < stops < -3.0  # noon-ish daylight in Blender's units (~2-8) to mid-grey
    expected = tone_map(radiance, stops)
    assert np.abs(read_image(png) - expected).max() < 0.01
    sky = read_image(png)[:30]  # above the horizon: neither black nor white
    luminance = sky @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    assert 0.05 < float(np.exp(np.log(luminance).mean())) < 0.5
    given = tmp_path / "given.png"
    render_sky_to_file(recipe.replace(exposure=stops + 1.0, tone="standard"), given)
    assert read_sky_recipe(given).exposure == stops + 1.0
    assert json_of(given)["tone"] == "standard"
    np.testing.assert_allclose(
        read_image(given), np.clip(radiance * 2 ** (stops + 1.0), 0, 1), atol=0.01
    )


def test_a_clear_noon_sky_in_an_8_bit_file_is_the_light_blue_of_a_photograph(tmp_path):
    """By default (metered, ``filmic``) the clear sky 20-60° up at noon is a light blue, near
    the sky boxes' photographs (display luminance 0.55-0.75 there; ours 0.54); exposed at
    mid-grey through ``shoulder``, as before, it was a dark slate blue (0.39)."""
    noon = SkyComposition(sky=SkySettings(sun_elevation=55.0, sun_disc=False))
    recipe = SkyRecipe(noon, width=128)
    default, before = tmp_path / "default.png", tmp_path / "before.png"
    render_sky_to_file(recipe, default)
    stops = read_sky_recipe(default).metered
    old = recipe.replace(exposure=stops - math.log2(CLEAR_KEY / 0.18), tone="shoulder")
    render_sky_to_file(old, before)

    def blue(path):
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)[11:25] / 255
        return np.median(pixels.reshape(-1, 3), axis=0)

    light = blue(default)
    r, g, b = light
    assert b > g > r and 0.45 < light @ REC709_LUMINANCE < 0.75
    assert blue(before) @ REC709_LUMINANCE < 0.45


def test_an_8_bit_sky_is_dithered_not_banded_and_its_windows_are_dithered_as_the_whole(
    tmp_path,
):
    """A clear sky's gradient in 8 bits falls into bands of one code each, several pixels
    wide; dithered by each pixel's place, neighbours differ and the codes average to the
    16-bit file's values (within 0.1 of a step over 16-pixel blocks). Without the dither 73 %
    of the pixels equal their right neighbour and the blocks miss by up to 0.36 of a step."""
    import tifffile

    clear = SkyComposition(sky=SkySettings(sun_elevation=40.0, sun_disc=False))
    recipe = SkyRecipe(clear, width=1024)
    eight, sixteen = tmp_path / "sky.png", tmp_path / "sky.tif"
    render_sky_to_file(recipe, eight)
    render_sky_to_file(recipe, sixteen, bit_depth=16)
    codes = np.asarray(Image.open(eight).convert("RGB"), dtype=np.float64)[16:208]
    exact = tifffile.imread(sixteen)[16:208, :, :3] * (255 / 65535)
    assert (codes[:, 1:] == codes[:, :-1]).all(axis=-1).mean() < 0.3
    error = (codes - exact).reshape(12, 16, 64, 16, 3).mean(axis=(1, 3))
    assert np.abs(error).max() < 0.15

    window = Window(1000, 100, 48, 20)  # across the wrap seam
    part = tmp_path / "part.png"
    render_sky_to_file(recipe.replace(window=window), part)
    whole = np.asarray(Image.open(eight).convert("RGB"))
    columns = np.arange(1000, 1048) % 1024
    np.testing.assert_array_equal(
        np.asarray(Image.open(part).convert("RGB")), whole[100:120, columns]
    )


def json_of(path) -> dict:
    import json

    return json.loads(read_metadata(path)[SKY_KEY])


@pytest.mark.parametrize(("bit_depth", "alpha"), [(16, False), (32, False), (32, True)])
def test_fast_exrs_are_read_by_openexr_and_blender(tmp_path, bit_depth, alpha):
    import OpenEXR

    image = rgba(width=37, height=21) * 3
    image[:4] = 0.5  # compressible rows as well as noise
    image[0, 0, :3] = 1e6
    if not alpha:
        image = image[..., :3]
    path = tmp_path / "fast.exr"
    with open_image_writer(path, 37, 21, bit_depth=bit_depth, alpha=alpha, fast=True) as w:
        w.write_rows(image[:5])
        w.write_rows(image[5:])
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        compression = exr.header()["compression"]
        red = exr.channels()["R"].pixels
    assert compression == (OpenEXR.ZIP_COMPRESSION if bit_depth == 16 else OpenEXR.NO_COMPRESSION)
    expected = image[..., :3] * (image[..., 3:] if alpha else 1)
    if bit_depth == 16:
        expected = np.clip(expected, -65504, 65504).astype(np.float16)
    np.testing.assert_array_equal(red, expected[..., 0])
    bpy = pytest.importorskip("bpy")
    loaded = bpy.data.images.load(str(path))
    try:
        assert tuple(loaded.size) == (37, 21) and loaded.channels == 4
        pixels = np.array(loaded.pixels[:], dtype=np.float32).reshape(21, 37, 4)[::-1]
        np.testing.assert_allclose(pixels[1:, :, 0], expected[1:, :, 0], rtol=1e-3)
    finally:
        bpy.data.images.remove(loaded)


def test_a_layers_tile_and_texture_are_made_once_for_the_renders_of_one_sky(tmp_path, monkeypatch):
    """Another sun, then a strip of the same sky: the ground's tile is drawn and its texture
    made once; forgotten (``forget_layers``) and made afresh they are the same."""
    from conftest import make_model_file

    import generator.sky.skyfile as skyfile

    flat = {"vertical": False, "horizontal_conditioning": False, "rgb_scale": 0.5}
    model = str(make_model_file(tmp_path / "ground.safetensors", seed=4, **flat))
    ground = GroundSettings(model, tile=64, period_m=20.0)
    drawn, made = [], []
    real_tile, real_texture = skyfile.model_tile, skyfile.ground_texture

    def counting_tiles(*args, **kwargs):
        drawn.append(args[1:4])
        return real_tile(*args, **kwargs)

    def counting_textures(*args):
        made.append(args[1])
        return real_texture(*args)

    monkeypatch.setattr(skyfile, "model_tile", counting_tiles)
    monkeypatch.setattr(skyfile, "ground_texture", counting_textures)
    forget_layers()
    noon = SkyRecipe(SkyComposition(SkySettings(sun_elevation=60.0), ground=ground), width=64)
    first = render_sky_array(noon)
    dusk = noon.replace(composition=SkyComposition(SkySettings(sun_elevation=5.0), ground=ground))
    render_sky_array(dusk)
    render_sky_array(strip(composition=dusk.composition))
    assert len(drawn) == 1 and len(made) == 1
    assert skyfile.PreparedLayers(noon).tiles == 0  # nothing left to draw: no progress units
    forget_layers()  # as the add-on does when disabled: their memory freed
    np.testing.assert_array_equal(render_sky_array(noon), first)  # made afresh: the same
    assert len(drawn) == 2 and len(made) == 2


def test_only_the_last_few_layers_made_are_kept():
    """Memory stays bounded: a value asked for again counts as recent; the least recent goes."""
    kept = Recent(2)
    made = []

    def make(name: str):
        return lambda: made.append(name) or name

    for name in ("clouds", "ground", "clouds", "other ground"):
        assert kept.get(name, make(name)) == name
    assert made == ["clouds", "ground", "other ground"]
    assert "clouds" in kept and "other ground" in kept and "ground" not in kept


def test_a_cancelled_transparent_strip_leaves_no_file(tmp_path, monkeypatch):
    import generator.sky.skyfile as skyfile
    from generator.errors import Cancelled

    monkeypatch.setattr(skyfile, "BAND_PIXELS", 96 * 4)
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3  # after a few bands were written

    path = tmp_path / "matte.exr"
    with pytest.raises(Cancelled):
        render_sky_to_file(strip(), path, cancel=cancel)
    assert list(tmp_path.iterdir()) == []
    render_sky_to_file(strip(), path)
    assert read_image(path, alpha=True).shape == (40, 96, 4)
