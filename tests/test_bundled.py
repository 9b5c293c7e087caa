"""The bundled defaults: the learned models (``terrain``, ``clouds``, ``sky-360``) and the composed
``sky`` (a sky recipe naming ``clouds`` and ``terrain``), found by name, documented by their
metadata; the README's first command renders the composed 4096 x 2048 HDR sky with nothing but
the output path, exactly as ``sky --recipe`` renders the bundled recipe."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from conftest import load_tool

from generator import ModelError, load_model
from generator.cli import main as generator_main
from generator.files.bundled import (
    LEARNED_SKY,
    SUFFIX,
    bundled_models,
    bundled_recipes,
    resolve_model_path,
)
from generator.files.imagefile import read_image, read_metadata
from generator.files.modelfile import file_hash
from generator.files.recipe import RECIPE_KEY, Recipe
from generator.sky.atmosphere import sun_light
from generator.sky.skyfile import LAMP_KEY, SKY_KEY, SkyRecipe, read_sky_recipe

ROOT = Path(__file__).resolve().parents[1]


BUNDLED_SKY = ROOT / "generator" / "models" / "sky.json"


@pytest.fixture(scope="module")
def models():
    """The bundled learned models (the composed ``sky`` is a recipe, not a model)."""
    return {
        name: load_model(path) for name, path in bundled_models().items() if path.suffix == SUFFIX
    }


def test_learned_models_are_bundled_and_load_by_name(models):
    assert {LEARNED_SKY, "terrain", "clouds"} <= set(models)
    sky, terrain, clouds = models[LEARNED_SKY], models["terrain"], models["clouds"]
    assert load_model(LEARNED_SKY).hash == sky.hash
    assert sky.config.sphere and sky.config.color_space == "log"
    assert sky.config.vertical_conditioning, "skies are conditioned on elevation"
    for texture in (terrain, clouds):  # torus-wrapping layers: no direction
        assert texture.config.coord_channels == 0 and not texture.config.sphere
    for model in models.values():
        assert model.path.stat().st_size <= 25 * 2**20


def test_the_bundled_sky_is_a_composed_sky_naming_bundled_models():
    assert bundled_models()["sky"] == BUNDLED_SKY == resolve_model_path("sky")
    assert set(bundled_recipes()) == {"sky"}
    recipe = read_sky_recipe(BUNDLED_SKY)
    c = recipe.composition
    assert (recipe.projection, recipe.width, recipe.window, recipe.camera) == (
        "equirect", 4096, None, None
    )  # fmt: skip
    assert c.clouds.model == "clouds" and c.ground.source == "terrain"
    # by name, hashes empty: whatever bundled files are installed, filled in when rendered
    assert c.clouds.model_hash == "" and c.ground.model_hash == ""
    assert c.clouds.cover == pytest.approx(0.4) and 30.0 <= c.sky.sun_elevation <= 40.0
    assert 0.0 < c.cirrus.amount < 0.5, "a light cirrus veil above the clouds"
    assert c.sky.sun_disc, "a sky that lights a scene from the World alone (and a Sun lamp)"
    assert recipe.exposure is None and recipe.metered is None
    with pytest.raises(ModelError, match=f"'{LEARNED_SKY}'"):
        load_model("sky")


def test_info_says_what_the_bundled_sky_is(capsys):
    assert generator_main(["info", "sky"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["name"] == "sky" and "composed" in said["kind"]
    assert "'clouds'" in said["description"] and "'terrain'" in said["description"]
    assert "'hills' 4 km away" in said["description"] and "cirrus" in said["description"]
    assert SkyRecipe.from_json(json.dumps(said["recipe"])) == read_sky_recipe(BUNDLED_SKY)


@pytest.mark.parametrize("name", [LEARNED_SKY, "terrain", "clouds"])
def test_each_model_says_what_it_was_trained_on_for_how_long_and_how_good_it_is(
    models, capsys, name
):
    model = models[name]
    if "name" not in model.metadata:
        pytest.xfail(f"{name} was not written by tools/bundle_models.py (a candidate file)")
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
    assert f" {name} " in meta["usage"]  # how to use it, by this name
    if name == "terrain":
        credits = " ".join(json.loads(model.metadata["trained_on"])["credits"])
        assert "Wildfire Games" in credits and "CC-BY-SA" in credits
    if name == LEARNED_SKY:
        scale = json.loads(model.metadata["native_scale"])
        assert scale["pixels_per_degree"] == pytest.approx(scale["sphere_width"] / 360.0, abs=1e-3)


def test_a_path_always_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_model_path(LEARNED_SKY) == bundled_models()[LEARNED_SKY]
    Path(LEARNED_SKY).write_bytes(b"not a model")
    assert resolve_model_path(LEARNED_SKY) == Path(LEARNED_SKY)
    assert resolve_model_path("other/sky") == Path("other/sky")
    with pytest.raises(ModelError, match="bundled models: clouds, sky, sky-360, terrain"):
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


def test_the_readme_first_command_renders_the_composed_4096_hdr_sky(tmp_path, monkeypatch, capsys):
    args = first_command()
    assert args[:2] == ["--model", "sky"] and args[2] == "--out" and len(args) == 4
    monkeypatch.chdir(tmp_path)
    assert generator_main(["render", *args, "--quiet"]) == 0
    assert "Sun lamp:" in capsys.readouterr().out
    out = tmp_path / args[3]
    sky = read_image(out)
    assert sky.shape == (2048, 4096, 3)
    metadata = read_metadata(out)
    assert RECIPE_KEY not in metadata, "the composed sky, not a learned model's render"
    recipe = SkyRecipe.from_json(metadata[SKY_KEY])
    c = recipe.composition
    assert recipe.projection == "equirect"
    assert c.sky == read_sky_recipe(BUNDLED_SKY).composition.sky
    assert c.clouds.model_hash == file_hash(bundled_models()["clouds"])  # filled in
    assert c.ground.model_hash == file_hash(bundled_models()["terrain"])
    lamp = json.loads(metadata[LAMP_KEY])
    assert lamp["strength"] >= 0.9 * sun_light(c.sky).strength, "its sun is behind a cloud"
    assert np.isfinite(sky).all() and sky.min() >= 0.0
    luminance = sky @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    stops = np.log2(np.percentile(luminance, 99.9) / np.percentile(luminance, 50))
    assert stops > 2.0, "an HDR sky has a bright sun or sky region"
    # The 360-degree seam is as smooth as any other column pair.
    seam = np.abs(sky[:, 0] - sky[:, -1]).mean()
    inside = np.abs(np.diff(sky, axis=1)).mean()
    assert seam < 3 * inside


def test_render_model_sky_is_sky_recipe_of_the_bundled_recipe(tmp_path, capsys):
    """One sky, however it is asked for: ``render --model sky`` with its flags, ``sky --recipe``
    of the bundled file or of its name; the same pixels, recipe and Sun lamp."""
    flags = ["--width", "256", "--sun", "75,30", "--quiet"]
    outs = {name: tmp_path / f"{name}.exr" for name in ("render", "file", "name")}
    assert generator_main(["render", "--model", "sky", *flags, "--out", str(outs["render"])]) == 0
    assert "Sun lamp:" in capsys.readouterr().out
    for name, recipe in (("file", BUNDLED_SKY), ("name", "sky")):
        argv = ["sky", "--recipe", str(recipe), *flags, "--out", str(outs[name])]
        assert generator_main(argv) == 0
    first = read_image(outs["render"])
    assert first.shape == (128, 256, 3)
    for name in ("file", "name"):
        assert np.array_equal(read_image(outs[name]), first), name
        assert read_metadata(outs[name]) == read_metadata(outs["render"]), name
    written = read_sky_recipe(outs["render"])
    assert (written.composition.sky.sun_azimuth, written.composition.sky.sun_elevation) == (75, 30)


def test_sky_360_renders_as_the_learned_model(tmp_path, capsys, models):
    out = tmp_path / "learned.exr"
    assert generator_main(["render", "--model", LEARNED_SKY, "--width", "256", "--out", str(out),
                           "--quiet"]) == 0  # fmt: skip
    recipe = Recipe.from_json(read_metadata(out)[RECIPE_KEY])
    assert recipe.model_hash == models[LEARNED_SKY].hash
    assert (recipe.projection, recipe.width, recipe.height) == ("equirect", 256, 128)
    assert SKY_KEY not in read_metadata(out)
    flat = tmp_path / "flat.exr"
    assert generator_main(["render", "--model", "terrain", "--width", "64", "--height", "64",
                           "--out", str(flat), "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    # What needs a learned model says so in one line, pointing to sky-360.
    for argv in (
        ["outpaint", str(ROOT / "tests" / "data" / "photos" / "city-0.jpg"), "--model", "sky"],
        ["extend", str(flat), "--model", "sky", "--left", "64"],
        ["render", "--model", "sky", "--height", "64", "--styles", "3"],
        ["render", "--model", "sky", "--sun", "10,20,12"],
        ["render", "--model", "sky", "--recipe", str(out)],
    ):  # fmt: skip
        refused = tmp_path / "refused.exr"
        assert generator_main([*argv, "--out", str(refused)]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: "), err
        assert LEARNED_SKY in err or "AZ,EL" in err, err
        assert not refused.exists()


def test_a_big_sky_is_the_same_sky_with_more_detail(models):
    """8192 x 4096 downsampled to 2048 x 1024 matches the 2048 x 1024 render of the seed."""
    from generator import new_recipe, render_array
    from trainer.evaluate import display

    sky = models[LEARNED_SKY]

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
