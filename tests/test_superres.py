"""The super-resolution stage: exact x2 geometry, bands and wrap, inside model files and skies,
and a trainer that trains, resumes and exports it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import generator.network.superres as superres
from generator import Window, load_model, new_recipe, render_array, save_model
from generator.network.superres import SuperResConfig, SuperResolution, upscale
from generator.rendering.resample import resample_rows
from trainer.cli import main as trainer_main

PHOTOS = Path(__file__).parent / "data" / "photos"
TOL = 1e-5


def trained_looking(config: SuperResConfig, seed: int = 0) -> SuperResolution:
    """A stage with random (not zero) output weights, as after training."""
    torch.manual_seed(seed)
    net = SuperResolution(config)
    with torch.no_grad():
        net.tail.weight.normal_(0.0, 0.05)
    return net.eval()


def test_a_fresh_stage_is_exactly_cubic_upsampling():
    image = np.random.default_rng(0).normal(size=(12, 20, 3)).astype(np.float32)
    net = SuperResolution(SuperResConfig()).eval()
    out = upscale(net, image, seed=0, stage=0, wrap=(False, True))
    assert out.shape == (24, 40, 3)
    expected = resample_rows(image, 24, 40, (0, 24), wrap_x=True)
    assert np.abs(out - expected).max() <= 1e-5


def test_bands_do_not_matter_and_a_wrapped_canvas_stays_wrapped(monkeypatch):
    image = np.random.default_rng(1).normal(size=(16, 24, 3)).astype(np.float32)
    net = trained_looking(SuperResConfig(noise_channels=1))
    whole = upscale(net, image, seed=3, stage=1, wrap=(False, True))
    monkeypatch.setattr(superres, "BAND_PIXELS", 40)  # a band of one or two rows
    assert np.abs(upscale(net, image, seed=3, stage=1, wrap=(False, True)) - whole).max() <= TOL
    # Without noise the stage is shift-equivariant: rolling the input by k columns rolls the
    # output by 2k, so column 0 continues column W-1 like any other pair.
    plain = trained_looking(SuperResConfig(noise_channels=0))
    a = upscale(plain, image, seed=0, stage=0, wrap=(False, True))
    b = upscale(plain, np.roll(image, 5, axis=1), seed=0, stage=0, wrap=(False, True))
    assert np.abs(np.roll(a, 10, axis=1) - b).max() <= TOL


@pytest.fixture(scope="module")
def sky_with_stage(sphere_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "sky-sr.safetensors"
    stage = trained_looking(SuperResConfig(channels=8, layers=2))
    save_model(sphere_model.generator, path, dict(sphere_model.metadata), superres=stage)
    return load_model(path)


def test_a_sky_uses_the_stage_above_native_scale_and_stays_exact(sky_with_stage):
    model = sky_with_stage
    assert model.superres is not None and model.superres.config.channels == 8
    recipe = new_recipe(model.config, model.hash, 256, 128, seed=2, wrap="x", projection="equirect")
    detailed = render_array(model, recipe, tile=16)
    plain = render_array(model, recipe.replace(superres=False), tile=16)
    assert np.abs(detailed - plain).max() > 1e-3, "the stage adds something"
    window = Window(240, 20, 40, 30)  # across the 360-degree seam
    part = render_array(model, recipe.replace(window=window), tile=24)
    expected = np.concatenate([detailed[20:50, 240:], detailed[20:50, :24]], axis=1)
    assert np.abs(part - expected).max() <= TOL
    assert np.ptp(detailed[0], axis=0).max() <= TOL and detailed.min() >= 0.0


def test_train_sr_trains_resumes_and_exports(sphere_model, tmp_path):
    run = tmp_path / "sr"
    base = ["--model", str(sphere_model.path), "--data", str(PHOTOS)]
    small = ["--set", "patch=16", "--set", "batch=2", "--set", 'stage={"channels": 8, "layers": 1}']
    assert trainer_main(["train-sr", *base, "--out", str(run), "--steps", "2", *small]) == 0
    again = ["train-sr", *base, "--out", str(run), "--steps", "2", *small]
    assert trainer_main(again) == 2, "a new run must not overwrite the existing run's checkpoint"
    resumed = ["train-sr", "--resume", str(run), "--data", str(PHOTOS), "--steps", "4"]
    assert trainer_main(resumed) == 0
    out = tmp_path / "with-stage.safetensors"
    assert trainer_main(["export-sr", str(run), "--out", str(out)]) == 0
    model = load_model(out)
    assert model.superres is not None and model.superres.config.layers == 1
    assert model.config == sphere_model.config
    assert '"steps": 4' in model.metadata["superres_training"]


def test_evaluate_sr_reports_consistency_detail_and_speed(sky_with_stage, capsys):
    import json

    args = ["evaluate-sr", str(sky_with_stage.path), "--real", str(PHOTOS), "--train", str(PHOTOS)]
    assert trainer_main([*args, "--samples", "1", "--width", "64", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["consistency_psnr_db"] > 10.0  # the same picture, even with a random stage
    for key in ("ratio_stage", "ratio_cubic", "stage_mp_per_s"):
        assert np.isfinite(report[key]) and report[key] > 0, key


def test_progress_counts_the_stage_and_ends_at_the_total(sky_with_stage):
    from generator.rendering.pick import make_renderer

    model = sky_with_stage
    recipe = new_recipe(model.config, model.hash, 256, 128, wrap="x", projection="equirect")
    renderer = make_renderer(model, recipe, tile=16)
    assert renderer.superres_stages == 2  # 64 -> 128 -> 256
    calls = []
    renderer.render(progress=lambda done, total: calls.append((done, total)))
    total = renderer.total_tiles
    assert calls[-1] == (total, total) and total > renderer.native.total_tiles + renderer.band_count
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
