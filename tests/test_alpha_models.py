"""Models with alpha (``ModelConfig.alpha``): RGB model files stay as they were, an alpha model's
tiles, windows and wrap stitch exactly with its coverage in [0, 1], and it renders RGBA files."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import make_model_file

from generator import PRESETS, ModelConfig, load_model, new_recipe, render_array, render_to_file
from generator.cli import main
from generator.errors import ModelError, RequestError
from generator.files import load_linear, model_to_output, output_to_model, read_image
from generator.files.recipe import Window


def render(model, recipe, tile=1 << 16, batch=4):
    return render_array(model, recipe, tile=tile, batch=batch)


@pytest.fixture(scope="module")
def alpha_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "land.safetensors"
    return load_model(make_model_file(path, seed=4, rgb_scale=0.5, alpha=True))


def test_rgb_models_keep_their_files_and_shapes(tiny_model_path, tiny_model):
    """No ``alpha`` in an RGB model's config (its file is the same file as before the setting
    existed), a config without it loads as RGB, and Gt still ends in 3 channels."""
    metadata = tiny_model.metadata["config"]
    assert "alpha" not in json.loads(metadata)
    assert ModelConfig.from_json(metadata) == tiny_model.config
    assert not tiny_model.config.alpha and tiny_model.config.channels == 3
    assert all(rgb.conv.weight.shape[0] == 3 for rgb in tiny_model.generator.texture.to_rgb)
    image = render(tiny_model, new_recipe(tiny_model.config, tiny_model.hash, 48, 32, seed=2))
    assert image.shape == (32, 48, 3)


def test_an_alpha_model_stores_the_setting_and_draws_four_channels(alpha_model):
    assert json.loads(alpha_model.metadata["config"])["alpha"] is True
    assert ModelConfig.from_json(alpha_model.config.to_json()) == alpha_model.config
    assert all(rgb.conv.weight.shape[0] == 4 for rgb in alpha_model.generator.texture.to_rgb)
    with pytest.raises(ModelError, match="alpha"):
        dataclasses.replace(PRESETS["tiny"], alpha=True, color_space="log")


def test_alpha_tiles_windows_and_the_wrap_stitch_exactly(alpha_model):
    recipe = new_recipe(alpha_model.config, alpha_model.hash, 96, 40, seed=7, wrap="x")
    whole = render(alpha_model, recipe)
    assert whole.shape == (40, 96, 4)
    coverage = whole[..., 3]
    assert coverage.min() >= 0.0 and coverage.max() <= 1.0
    assert 0.0 < coverage.mean() < 1.0 and coverage.std() > 0.01  # land and sky, not one value
    for tile in (4, 8, 20):
        np.testing.assert_allclose(
            render(alpha_model, recipe, tile=tile, batch=3), whole, atol=1e-5
        )
    for x, y, w, h in ((5, 3, 30, 17), (80, 10, 30, 20)):  # the second across the seam
        part = render(alpha_model, recipe.replace(window=Window(x, y, w, h)))
        columns = np.arange(x, x + w) % 96
        np.testing.assert_allclose(part, whole[y : y + h][:, columns], atol=1e-5)


def test_colour_and_coverage_convert_both_ways(alpha_model):
    rng = np.random.default_rng(0)
    values = rng.uniform(-1.0, 1.0, (5, 6, 4)).astype(np.float32)
    pixels = model_to_output(values, alpha_model.config)
    np.testing.assert_allclose(pixels[..., 3], (values[..., 3] + 1) / 2, atol=1e-6)
    np.testing.assert_allclose(output_to_model(pixels, alpha_model.config), values, atol=1e-5)
    first = np.moveaxis(values, -1, 0)  # channels first, as the trainer holds them
    np.testing.assert_array_equal(
        model_to_output(first, alpha_model.config, axis=0)[3], pixels[..., 3]
    )


def test_an_alpha_model_renders_rgba_files(alpha_model, tmp_path, capsys):
    recipe = new_recipe(alpha_model.config, alpha_model.hash, 64, 32, seed=3)
    expected = render(alpha_model, recipe)
    out = render_to_file(alpha_model, recipe, tmp_path / "land.exr", bit_depth=32)
    written = read_image(out, alpha=True)  # OpenEXR premultiplies: compare premultiplied
    premultiply = lambda rgba: rgba[..., :3] * rgba[..., 3:]  # noqa: E731
    np.testing.assert_allclose(written[..., 3], expected[..., 3], atol=1e-6)
    np.testing.assert_allclose(premultiply(written), premultiply(expected), atol=1e-5)
    png = tmp_path / "land.png"
    args = ["render", "--model", str(alpha_model.path), "--width", "64", "--height", "32"]
    assert main([*args, "--seed", "3", "--out", str(png), "--quiet"]) == 0
    np.testing.assert_allclose(read_image(png, alpha=True)[..., 3], expected[..., 3], atol=1 / 255)
    with pytest.raises(RequestError, match="native scale"):
        render_array(alpha_model, recipe.replace(scale=2))


@pytest.mark.parametrize(("name", "depth"), [("land.exr", 32), ("land.tif", 16), ("land.tif", 32)])
def test_photos_keep_the_alpha_of_exr_and_tiff_files(alpha_model, tmp_path, name, depth):
    """``load_linear(alpha=True)`` (how the trainer reads bands) keeps an EXR's or a 16-bit or
    float TIFF's alpha, with straight colour (an EXR's premultiplied colour divided back)."""
    recipe = new_recipe(alpha_model.config, alpha_model.hash, 64, 32, seed=3)
    out = render_to_file(alpha_model, recipe, tmp_path / name, bit_depth=depth)
    expected = read_image(out, alpha=True)
    assert 0.0 < expected[..., 3].mean() < 1.0
    np.testing.assert_allclose(load_linear(out, alpha=True), expected, atol=1e-6)


def test_the_folded_inference_path_matches_training_for_rgba(alpha_model):
    """ToRGB's folded 4-channel projection is the reference one (what training computes)."""
    from generator.network.layers import reference_path

    recipe = new_recipe(alpha_model.config, alpha_model.hash, 32, 32, seed=1)
    folded = render(alpha_model, recipe)
    with reference_path():
        reference = render(alpha_model, recipe)
    np.testing.assert_allclose(folded, reference, atol=1e-5)
