"""Flat canvases at 2x-8x the native scale: the native canvas, detailed, exact in every way."""

from __future__ import annotations

import numpy as np
import pytest

import generator.rendering.scaled as scaled
from generator import Window, extended, new_recipe, render_array
from generator.errors import RequestError
from generator.files.colorspace import linear_to_model, model_to_linear
from generator.rendering.resample import resample_rows

TOL = 1e-5


def test_scale_2_without_a_stage_is_the_native_canvas_cubic_upsampled(tiny_model):
    """Away from the borders (where a plain resize would clamp), exactly cubic x2."""
    cfg = tiny_model.config
    native = new_recipe(cfg, tiny_model.hash, 48, 32, seed=4)
    big = new_recipe(cfg, tiny_model.hash, 96, 64, seed=4, scale=2)
    assert big.top == 2 * native.top
    out = render_array(tiny_model, big)
    model_space = linear_to_model(render_array(tiny_model, native), cfg)
    expected = model_to_linear(resample_rows(model_space, 64, 96, (0, 64), wrap_x=False), cfg)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(out[inner] - expected[inner]).max() <= 1e-4


@pytest.mark.parametrize("scale", [2, 4])
def test_bands_windows_and_extension_are_exact(tiny_model, monkeypatch, scale):
    cfg = tiny_model.config
    recipe = new_recipe(cfg, tiny_model.hash, 80, 48, seed=7, scale=scale)
    whole = render_array(tiny_model, recipe)
    monkeypatch.setattr(scaled, "BAND_PIXELS", 80 * 8)  # many thin bands
    assert np.abs(render_array(tiny_model, recipe) - whole).max() <= TOL
    part = render_array(tiny_model, recipe.replace(window=Window(13, 7, 30, 21)))
    assert np.abs(part - whole[7:28, 13:43]).max() <= TOL
    grown = render_array(tiny_model, extended(recipe, left=9, top=5, right=3, bottom=6))
    assert np.abs(grown[5:-6, 9:-3] - whole).max() <= TOL


def test_a_wrapped_scaled_canvas_wraps(flat_model):
    cfg = flat_model.config
    recipe = new_recipe(cfg, flat_model.hash, 64, 48, seed=3, wrap="xy", scale=2)
    full = render_array(flat_model, recipe)
    corner = render_array(flat_model, recipe.replace(window=Window(56, 40, 16, 16)))
    top = np.concatenate([full[40:, 56:], full[40:, :8]], axis=1)
    bottom = np.concatenate([full[:8, 56:], full[:8, :8]], axis=1)
    assert np.abs(corner - np.concatenate([top, bottom], axis=0)).max() <= TOL
    with pytest.raises(RequestError, match="multiple of 8"):
        render_array(flat_model, recipe.replace(width=68))


def test_a_sky_takes_its_scale_from_its_width(sphere_model):
    with pytest.raises(RequestError, match="scale"):
        new_recipe(sphere_model.config, sphere_model.hash, 128, 64, wrap="x",
                   projection="equirect", scale=2)  # fmt: skip


def test_auto_scale_fits_the_frame_to_a_matte_height_or_a_tile_width(tiny_model):
    from generator.files.recipe import auto_scale

    cfg = tiny_model.config  # frame 64 x 32 px
    assert auto_scale(cfg, 4096, 32) == 1
    assert auto_scale(cfg, 4096, 128) == 4  # a matte 4 frames tall: the scene 4x larger
    assert auto_scale(cfg, 4096, 1000) == 8  # capped
    assert auto_scale(cfg, 200, 4096, wrap="xy") == 2  # a tile ~3 frames wide


def test_cli_scale_auto_renders_the_scaled_canvas(tiny_model_path, tmp_path):
    from generator import read_recipe
    from generator.cli import main

    out = tmp_path / "matte.exr"
    args = ["render", "--model", str(tiny_model_path), "--width", "160", "--height", "64"]
    assert main([*args, "--scale", "auto", "--out", str(out), "--quiet"]) == 0
    assert read_recipe(out).scale == 2
