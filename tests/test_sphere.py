"""Skies from sphere models: the native sphere, resampled exactly to any requested size."""

from __future__ import annotations

import numpy as np
import pytest

from generator import Window, new_recipe, render_array
from generator.files.colorspace import linear_to_model
from generator.rendering.pick import make_renderer
from generator.rendering.resample import axis_weights, resample_rows
from generator.rendering.sphere import SphereRenderer, native_sphere_recipe

TOL = 1e-5


def sky_recipe(model, width, seed=3, **kw):
    return new_recipe(
        model.config, model.hash, width, width // 2, seed=seed, wrap="x", projection="equirect",
        **kw,
    )  # fmt: skip


def native(model, seed=3):
    recipe = native_sphere_recipe(model, sky_recipe(model, 64, seed))
    return render_array(model, recipe, tile=16)


def log_space(model, linear):
    return linear_to_model(linear, model.config)


def test_resampling_weights_sum_to_one_and_identity_at_native_size():
    for out_size, in_size in ((7, 5), (64, 16), (16, 64), (33, 33)):
        w = axis_weights(out_size, in_size, periodic=True)
        assert np.allclose(w.weights.sum(axis=1), 1.0, atol=1e-6)
        assert w.indices.min() >= 0 and w.indices.max() < in_size
    image = np.random.default_rng(0).normal(size=(6, 10, 3)).astype(np.float32)
    assert np.array_equal(resample_rows(image, 6, 10, (0, 6), wrap_x=True), image)


def test_resampling_bands_equal_the_whole_and_wrap_is_periodic():
    image = np.random.default_rng(1).normal(size=(8, 12, 3)).astype(np.float32)
    whole = resample_rows(image, 40, 60, (0, 40), wrap_x=True)
    bands = np.concatenate([resample_rows(image, 40, 60, (a, a + 7), wrap_x=True)[: 40 - a]
                            for a in range(0, 40, 7)])  # fmt: skip
    assert np.array_equal(bands, whole)
    # Rolling the source by whole pixels rolls the 5x output by 5x as many: no seam anywhere.
    rolled = resample_rows(np.roll(image, 3, axis=1), 40, 60, (0, 40), wrap_x=True)
    assert np.abs(rolled - np.roll(whole, 15, axis=1)).max() <= 1e-5


def test_a_sky_model_draws_its_native_sphere_at_any_size(sphere_model):
    """A 3x request is the native sphere upsampled: every 3rd pixel is a native pixel."""
    assert isinstance(make_renderer(sphere_model, sky_recipe(sphere_model, 192)), SphereRenderer)
    small = native(sphere_model)
    away_from_poles = slice(6, 26)  # the poles are softened at the output's resolution
    same = render_array(sphere_model, sky_recipe(sphere_model, 64), tile=16)
    assert np.abs(same[away_from_poles] - small[away_from_poles]).max() <= TOL
    big = render_array(sphere_model, sky_recipe(sphere_model, 192), tile=16)
    assert big.shape == (96, 192, 3)
    samples = log_space(sphere_model, big[1::3, 1::3])
    assert np.abs(samples - log_space(sphere_model, small))[away_from_poles].max() <= 1e-4
    assert np.ptp(big[0], axis=0).max() <= TOL and np.ptp(big[-1], axis=0).max() <= TOL
    assert big.min() >= 0.0


@pytest.mark.parametrize("width", [100, 256])
def test_sky_windows_and_bands_are_crops_of_the_whole(sphere_model, width, monkeypatch):
    recipe = sky_recipe(sphere_model, width)
    whole = render_array(sphere_model, recipe, tile=16)
    monkeypatch.setattr("generator.rendering.sphere.BAND_PIXELS", width * 5)  # many small bands
    banded = render_array(sphere_model, recipe, tile=24)
    assert np.abs(banded - whole).max() <= TOL
    window = Window(width - 10, 3, 30, 20)  # crosses the 360-degree seam
    part = render_array(sphere_model, recipe.replace(window=window), tile=16)
    expected = np.concatenate([whole[3:23, width - 10 :], whole[3:23, :20]], axis=1)
    assert np.abs(part - expected).max() <= TOL


def test_style_fusion_on_a_sky_uses_the_native_sphere(sphere_model):
    recipe = new_recipe(
        sphere_model.config, sphere_model.hash, 256, 128, wrap="x", projection="equirect",
        style_seeds=(4, 9),
    )  # fmt: skip
    assert [s.x for s in recipe.styles] == [4.0, 12.0]  # 1/4 and 3/4 of the 16 native cells
    sky = render_array(sphere_model, recipe, tile=16)
    assert np.isfinite(sky).all() and sky.shape == (128, 256, 3)


def test_new_recipe_gives_a_sky_model_a_360_degree_sky_unless_asked_otherwise(
    sphere_model, tiny_model
):
    """As on the command line: the obvious call draws what a sky model is for."""
    cfg, digest = sphere_model.config, sphere_model.hash
    sky = new_recipe(cfg, digest, 128, 64, seed=1)
    assert (sky.projection, sky.wrap) == ("equirect", "x")
    assert new_recipe(cfg, digest, 128, 32, wrap="x").projection == "flat"
    assert new_recipe(cfg, digest, 128, 32, projection="flat").wrap == "none"
    plain = new_recipe(tiny_model.config, tiny_model.hash, 64, 32)
    assert (plain.projection, plain.wrap) == ("flat", "none")
