"""A sun disc in 360-degree skies: where it is asked, as bright as asked, exact in any band."""

from __future__ import annotations

import numpy as np
import pytest

from generator import CanvasRenderer, Window, make_renderer, read_recipe, render_array
from generator.cli import main
from generator.errors import RequestError
from generator.files.imagefile import read_image
from generator.files.recipe import Recipe, Sun, new_recipe
from generator.rendering.sun import sun_radiance


def sky(model, width, sun=None, **kw):
    recipe = new_recipe(
        model.config, model.hash, width, width // 2, seed=4, wrap="x", projection="equirect", **kw
    )
    return recipe.replace(sun=sun)


def solid_angles(height, width):
    """Solid angle of each pixel row of an equirect canvas, (height, 1)."""
    elevation = np.radians(90.0 - (np.arange(height) + 0.5) * 180.0 / height)
    return (np.cos(elevation) * (np.pi / height) * (2.0 * np.pi / width))[:, None]


def test_the_sun_sits_where_asked_and_its_light_does_not_depend_on_resolution():
    sun = Sun(azimuth=-40.0, elevation=30.0, stops=12.0)
    fluxes = []
    for width in (256, 1024, 4096):
        height = width // 2
        light = sun_radiance(sun, np.arange(height), np.arange(width), width, height)
        row, col = np.unravel_index(np.argmax(light), light.shape)
        pixel = 360.0 / width
        assert abs(90.0 - (row + 0.5) * 180.0 / height - 30.0) <= pixel
        assert abs((col + 0.5) * pixel - 180.0 + 40.0) <= pixel
        fluxes.append(float((light * solid_angles(height, width)).sum()))
    # The disc alone: 2**stops x its solid angle x the limb darkening's mean, plus a faint glow.
    disc = 2.0**12 * np.pi * np.radians(0.265) ** 2 * (1.0 - 0.6 / 3.0)
    assert disc <= fluxes[-1] <= 1.1 * disc
    assert max(fluxes) / min(fluxes) <= 1.03


@pytest.mark.parametrize("sun", [Sun(170.0, 80.0, size=2.0), Sun(-179.0, 5.0), Sun(0.0, 90.0)])
def test_the_light_near_the_sun_is_the_same_computed_in_any_piece(sun):
    """Only pixels near the sun are computed; which ones must not depend on the band or window
    asked for (near a pole, across the wrap seam, at the zenith)."""
    whole = sun_radiance(sun, np.arange(512), np.arange(1024), 1024, 512)
    bands = [
        sun_radiance(sun, np.arange(r, min(r + 40, 512)), np.arange(1024), 1024, 512)
        for r in range(0, 512, 40)
    ]
    assert np.array_equal(np.concatenate(bands), whole)
    columns = np.arange(900, 1200) % 1024
    assert np.array_equal(sun_radiance(sun, np.arange(512), columns, 1024, 512), whole[:, columns])
    assert whole.max() > 0.0


def test_the_ground_hides_a_sun_below_the_horizon():
    light = sun_radiance(Sun(0.0, -5.0), np.arange(256), np.arange(512), 512, 256)
    assert light[128:].max() == 0.0  # below the horizon
    assert light[:128].max() < 2.0**15 * 2.0**-10  # only the glow above it


def test_a_sky_with_a_sun_is_the_sky_plus_the_sun_in_every_band_and_window(sphere_model):
    sun = Sun(azimuth=100.0, elevation=20.0, stops=20.0)
    plain = render_array(sphere_model, sky(sphere_model, 512))
    lit = render_array(sphere_model, sky(sphere_model, 512, sun))
    added = sun_radiance(sun, np.arange(256), np.arange(512), 512, 256)[..., None]
    assert np.allclose(lit, plain + added * np.float32([1.05, 1.0, 0.95]), rtol=1e-6, atol=1e-6)
    luminance = lit.mean(axis=2)
    assert np.log2(luminance.max() / np.median(luminance)) >= 10.0  # it lights a scene
    # A window across the wrap seam and around the sun equals the whole render's pixels.
    window = render_array(sphere_model, sky(sphere_model, 512, sun, window=Window(480, 40, 96, 60)))
    columns = np.arange(480, 576) % 512
    assert np.array_equal(window, lit[40:100][:, columns])
    window = render_array(sphere_model, sky(sphere_model, 512, sun, window=Window(360, 50, 80, 40)))
    assert np.array_equal(window, lit[50:90, 360:440])


def test_the_sun_is_part_of_the_recipe_and_refused_outside_skies(sphere_model, tiny_model):
    recipe = sky(sphere_model, 128, Sun(10.0, 45.0, 14.0, 1.0))
    assert Recipe.from_json(recipe.to_json()) == recipe
    with pytest.raises(RequestError, match="equirect"):
        new_recipe(tiny_model.config, tiny_model.hash, 64, 32).replace(sun=Sun(0.0, 10.0))
    with pytest.raises(RequestError, match="sky models"):
        render_array(tiny_model, sky(tiny_model, 128, Sun(0.0, 10.0)))
    with pytest.raises(RequestError, match="elevation"):
        Sun(0.0, 120.0)


def test_cli_sun(tmp_path, capsys, sphere_model):
    out = tmp_path / "sky.exr"
    args = [
        "render",
        "--model",
        str(sphere_model.path),
        "--width",
        "256",
        "--quiet",
        "--bit-depth",
        "32",
    ]
    assert main([*args, "--sun", "45,30,14", "--out", str(out)]) == 0
    assert read_recipe(out).sun == Sun(45.0, 30.0, 14.0)
    added = read_image(out) - render_array(sphere_model, read_recipe(out).replace(sun=None))
    row, col = np.unravel_index(np.argmax(added.mean(axis=2)), added.shape[:2])
    assert abs(90.0 - (row + 0.5) * 180.0 / 128 - 30.0) <= 1.5
    assert abs((col + 0.5) * 360.0 / 256 - 180.0 - 45.0) <= 1.5
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--sun", "45", "--out", str(tmp_path / "bad.exr")])
    assert exit_info.value.code == 2 and "AZIMUTH,ELEVATION" in capsys.readouterr().err
    assert not (tmp_path / "bad.exr").exists()


def test_make_renderer_draws_what_render_array_draws_and_canvas_renderer_refuses_a_sun(
    sphere_model,
):
    """Scripts that stream bands get the sun and sphere resampling through ``make_renderer``;
    the plain ``CanvasRenderer`` says so instead of silently dropping them."""
    recipe = sky(sphere_model, 128, Sun(10.0, 45.0, 14.0, 1.0))
    bands = np.concatenate(list(make_renderer(sphere_model, recipe).bands()))
    assert np.array_equal(bands, render_array(sphere_model, recipe))
    for plain_refuses in (recipe, recipe.replace(sun=None)):
        with pytest.raises(RequestError, match="make_renderer"):
            CanvasRenderer(sphere_model, plain_refuses)
