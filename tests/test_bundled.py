"""The bundled default models: found by name, documented by their metadata, and the README's first
command renders a 4096 x 2048 HDR sky with nothing but the output path."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from conftest import load_tool

from generator import ModelError, load_model
from generator.bundled import bundled_models, resolve_model_path
from generator.cli import main as generator_main
from generator.imagefile import read_image, read_metadata
from generator.recipe import RECIPE_KEY, Recipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models():
    return {name: load_model(path) for name, path in bundled_models().items()}


def test_sky_and_terrain_are_bundled_and_load_by_name(models):
    assert {"sky", "terrain"} <= set(models)
    sky, terrain = models["sky"], models["terrain"]
    assert load_model("sky").hash == sky.hash
    assert sky.config.sphere and sky.config.color_space == "log"
    assert sky.config.vertical_conditioning, "skies are conditioned on elevation"
    assert terrain.config.coord_channels == 0, "ground textures have no direction"
    for model in models.values():
        assert model.path.stat().st_size <= 25 * 2**20


def test_each_model_says_what_it_was_trained_on_for_how_long_and_how_good_it_is(models, capsys):
    for name, model in models.items():
        assert generator_main(["info", name]) == 0  # by its bundled name, as docs/models.md says
        meta = json.loads(capsys.readouterr().out)["metadata"]
        assert meta["name"] == name and meta["description"] and meta["usage"]
        training = meta["training"]
        assert training["steps"] > 0 and training["images"] > 0 and training["hours"] > 0
        trained_on = meta["trained_on"]
        assert trained_on["images"] > 0 and trained_on["sources"]
        quality = meta["quality"]
        for key in ("swd_ratio_1x", "swd_ratio_wide", "seam_x", "seam_y", "repetition"):
            assert np.isfinite(quality[key]), key
        assert abs(quality["seam_x"] - 1.0) <= 0.05 and abs(quality["seam_y"] - 1.0) <= 0.05
        assert meta["training"]["train_config"]["model"] == json.loads(model.config.to_json())
    credits = " ".join(json.loads(models["terrain"].metadata["trained_on"])["credits"])
    assert "Wildfire Games" in credits and "CC-BY-SA" in credits
    scale = json.loads(models["sky"].metadata["native_scale"])
    assert scale["pixels_per_degree"] == pytest.approx(scale["sphere_width"] / 360.0, abs=1e-3)


def test_a_path_always_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_model_path("sky") == bundled_models()["sky"]
    Path("sky").write_bytes(b"not a model")
    assert resolve_model_path("sky") == Path("sky")
    assert resolve_model_path("other/sky") == Path("other/sky")
    with pytest.raises(ModelError, match="bundled models: sky, terrain"):
        load_model("skyy")


def first_command() -> list[str]:
    """The first command of the README's quickstart that renders something."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in re.findall(r"```bash\n(.*?)```", readme, flags=re.S)[0].splitlines():
        for part in line.split("&&"):
            words = shlex.split(part)
            if words[1:4] == ["-m", "generator", "render"]:
                return words[4:]
    raise AssertionError("the quickstart renders nothing")


def test_the_readme_first_command_renders_a_4096_hdr_sky(tmp_path, monkeypatch):
    args = first_command()
    assert args[:2] == ["--model", "sky"] and args[2] == "--out" and len(args) == 4
    monkeypatch.chdir(tmp_path)
    assert generator_main(["render", *args, "--quiet"]) == 0
    out = tmp_path / args[3]
    sky = read_image(out)
    assert sky.shape == (2048, 4096, 3)
    recipe = Recipe.from_json(read_metadata(out)[RECIPE_KEY])
    assert recipe.projection == "equirect" and recipe.wrap == "x"
    assert np.isfinite(sky).all() and sky.min() >= 0.0
    luminance = sky @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    stops = np.log2(np.percentile(luminance, 99.9) / np.percentile(luminance, 50))
    assert stops > 2.0, "an HDR sky has a bright sun or sky region"
    # The 360-degree seam is as smooth as any other column pair.
    seam = np.abs(sky[:, 0] - sky[:, -1]).mean()
    inside = np.abs(np.diff(sky, axis=1)).mean()
    assert seam < 3 * inside


def test_a_big_sky_is_the_same_sky_with_more_detail(models):
    """8192 x 4096 downsampled to 2048 x 1024 matches the 2048 x 1024 render of the seed."""
    from generator import new_recipe, render_array
    from trainer.evaluate import display

    sky = models["sky"]

    def render(width: int) -> np.ndarray:
        recipe = new_recipe(sky.config, sky.hash, width, width // 2, seed=3, wrap="x",
                            projection="equirect")  # fmt: skip
        return display(render_array(sky, recipe))

    small, big = render(2048), render(8192)
    down = big.reshape(1024, 4, 2048, 4, 3).mean(axis=(1, 3))
    psnr = 10 * np.log10(1.0 / np.mean((down - small) ** 2))
    assert psnr >= 30.0


def test_bundle_tool_refuses_a_frame_count_below_one_in_one_line(capsys):
    """``--samples 0`` once meant "the default": a measurement of nothing must say so instead."""
    bundle_models = load_tool("bundle_models")
    with pytest.raises(SystemExit) as exit_info:
        bundle_models.main(["terrain", "--remeasure", "--samples", "0"])
    assert exit_info.value.code == 2
    assert "argument --samples: expected a whole number >= 1, got '0'" in capsys.readouterr().err
