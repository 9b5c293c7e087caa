"""Quality measures: each responds to what it claims to measure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import make_model_file

from trainer.cli import main as trainer_main
from trainer.evaluate import (
    detail_ratio,
    reference_swd,
    reference_swds,
    repetition,
    seam_ratio,
    swd,
    wrap_seam_ratio,
)
from trainer.kid import FID_MIN_SAMPLES, fid, kid, witness

PHOTOS = Path(__file__).parent / "data" / "photos"


def _texture(seed: int, shape=(64, 96, 3)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random(shape).astype(np.float32)
    return (x + np.roll(x, 1, axis=1) + np.roll(x, 1, axis=0)) / 3  # a little correlation


def test_seam_ratio_sees_a_step_at_tile_borders_only():
    image = _texture(0)
    assert abs(seam_ratio(image, 12, 4, axis=1) - 1.0) < 0.15
    seamed = image.copy()
    for x in range(12, 96, 12):
        seamed[:, x:] += 0.4 * (-1) ** (x // 12)  # a step of 0.4 at every tile border
    assert seam_ratio(seamed, 12, 4, axis=1) > 1.5
    assert abs(seam_ratio(seamed, 12, 4, axis=0) - 1.0) < 0.15


def test_wrap_seam_ratio_of_periodic_and_broken_canvases():
    periodic = np.tile(_texture(1, (32, 24, 3)), (1, 4, 1))
    assert abs(wrap_seam_ratio(periodic) - 1.0) < 0.3
    broken = periodic.copy()
    broken[:, :48] += 0.5
    assert wrap_seam_ratio(broken) > 3.0


def test_repetition_detects_a_repeating_strip():
    tile = _texture(2, (32, 40, 3))
    assert repetition(np.tile(tile, (1, 8, 1)), 10) > 0.9
    assert repetition(_texture(3, (32, 320, 3)), 10) < 0.2


def test_swd_is_small_for_the_same_distribution_and_large_for_another():
    same = swd(
        np.stack([_texture(s) for s in range(4)]), np.stack([_texture(s) for s in range(4, 8)])
    )
    flat = np.full((4, 64, 96, 3), 0.5, dtype=np.float32)
    other = swd(flat + np.random.default_rng(9).normal(0, 0.3, flat.shape).astype(np.float32),
                np.stack([_texture(s) for s in range(4, 8)]))  # fmt: skip
    assert same < 0.5 * other


def _photo(seed: int) -> np.ndarray:
    """A textured frame with its own overall colour, like one photo of a collection."""
    return (0.6 * _texture(seed, (64, 64, 3)) + 0.4 * np.random.default_rng(seed).random(3)).astype(
        np.float32
    )


def test_swd_ratio_of_frames_as_good_as_photos_is_one_however_many_photos_trained():
    reserved = np.stack([_photo(s) for s in range(1000, 1040)])
    generated = [np.stack([_photo(s) for s in range(k, k + 16)]) for k in range(2000, 2400, 100)]
    for count in (40, 200):
        train = np.stack([_photo(s) for s in range(count)])
        reference = reference_swd(train, reserved, 16)
        ratio = np.mean([swd(g, reserved) / reference for g in generated])
        assert 0.75 < ratio < 1.3, (count, ratio)
        draws = reference_swds(train, reserved, 16)  # single photo sets: the measure's noise
        low, high = draws.min() / draws.mean(), draws.max() / draws.mean()
        assert sum(low <= swd(g, reserved) / reference <= high for g in generated) >= 3
        if count == 200:  # all 200 against 16 generated frames would flatter the photos
            assert np.mean([swd(g, reserved) for g in generated]) / swd(train, reserved) > 1.4


def test_evaluate_command_reports_every_measure(tmp_path, capsys, tiny_model_path):
    # KID: test_evaluate_prints_kid_with_its_standard_error
    argv = ["evaluate", str(tiny_model_path), "--real", str(PHOTOS / "hdr"), "--train",
            str(PHOTOS), "--samples", "2", "--wide", "2", "--canvases", "2", "--json",
            "--no-kid"]  # fmt: skip
    assert trainer_main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 2 and report["canvases"] == 2
    keys = ("swd_ratio_1x", "swd_ratio_wide", "seam_x", "seam_y", "wrap_seam", "repetition")
    for key in (*keys, "detail_1x", "detail_wide"):
        assert np.isfinite(report[key]), key
    assert report["pole_spread"] <= 1e-5
    low, high = report["swd_real_range"]
    assert low < 1 < high
    others = []
    for _ in range(2):  # another set of frames, the same set each time it is asked for
        assert trainer_main([*argv, "--first-seed", "7"]) == 0
        others.append(json.loads(capsys.readouterr().out))
    assert others[0] == others[1] and others[0]["first_seed"] == 7
    assert others[0]["swd_1x"] != report["swd_1x"]
    many = [*argv[:6], "--samples", "16", "--wide", "2", "--canvases", "1", "--no-kid"]
    assert trainer_main(many) == 0
    out = capsys.readouterr().out
    assert "all training photos as one set" in out and "training photos score" not in out


def test_evaluate_refuses_a_model_with_alpha_in_one_line(tmp_path, capsys):
    path = make_model_file(tmp_path / "land.safetensors", seed=4, alpha=True)
    assert trainer_main(["evaluate", str(path), "--real", str(PHOTOS), "--no-kid"]) == 2
    error = capsys.readouterr().err
    assert "landscape model with alpha" in error and error.count("\n") == 1


@pytest.mark.parametrize("option", ["--samples", "--wide", "--canvases"])
def test_evaluate_refuses_a_count_below_one_in_one_line(capsys, tiny_model_path, option):
    with pytest.raises(SystemExit) as exit_info:
        trainer_main(["evaluate", str(tiny_model_path), "--real", str(PHOTOS), option, "0"])
    assert exit_info.value.code == 2
    assert f"argument {option}: expected a whole number >= 1, got '0'" in capsys.readouterr().err


def test_photo_seam_ratio_is_one_for_a_pasted_copy_and_high_for_a_misfit():
    from trainer.outpaint_quality import photo_seam_ratio

    image = _texture(3, (96, 96, 3))
    assert abs(photo_seam_ratio(image, 24, 24, 48, 48, feather=3) - 1.0) < 0.15
    misfit = image.copy()
    misfit[24:72, 24:72] += 0.5  # a photo pasted with a hard, mismatched edge
    assert photo_seam_ratio(misfit, 24, 24, 48, 48, feather=3) > 1.5


def test_evaluate_outpaint_command_reports_every_measure(tmp_path, capsys):
    from conftest import make_model_file

    model = make_model_file(tmp_path / "tame.safetensors", rgb_scale=0.15)
    args = ["evaluate-outpaint", str(model), "--real", str(PHOTOS), "--train", str(PHOTOS)]
    assert trainer_main([*args, "--photos", "2", "--steps", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["photos"] == 2 and len(report["seam_per_photo"]) == 2
    for key in ("seam", "swd_extension", "swd_real", "swd_ratio", "redraw_psnr_db"):
        assert np.isfinite(report[key]), key


def test_detail_ratio_says_grainy_or_blurry():
    real = np.stack([_texture(seed) for seed in range(4)])
    blurred = (real + np.roll(real, 1, axis=1) + np.roll(real, 1, axis=2)) / 3
    grainy = real + 0.2 * np.random.default_rng(9).standard_normal(real.shape).astype(np.float32)
    assert abs(detail_ratio(np.stack([_texture(s) for s in range(4, 8)]), real) - 1.0) < 0.05
    assert detail_ratio(blurred, real) < 0.8
    assert detail_ratio(grainy, real) > 1.2


def test_kid_is_zero_for_one_distribution_grows_with_a_difference_and_knows_its_error():
    rng = np.random.default_rng(0)

    def draw(shift: float, seed: int):  # 40 frames against 60 reserved, both drawn afresh
        return kid(rng.standard_normal((40, 16)) + shift, rng.standard_normal((60, 16)), seed=seed)

    same, shifted = ([draw(shift, s) for s in range(30)] for shift in (0.0, 0.4))
    values = np.array([k.value for k in same])
    assert abs(values.mean()) < 2 * values.std() / np.sqrt(len(values))  # unbiased: no offset
    assert min(k.value for k in shifted) > max(values)
    # The standard error says how far another draw of frames moves the figure.
    for draws in (same, shifted):
        spread = np.std([k.value for k in draws])
        assert 0.5 * spread < np.mean([k.error for k in draws]) < 2 * spread
    assert same[0].subset == 20  # half the smaller set: subsets differ on both sides


def test_the_witness_picks_out_the_frames_unlike_any_real_one():
    """Of 40 frames drawn like 60 real ones and 8 drawn apart, the 8 make KID's distance: the
    witness ranks them first."""
    rng = np.random.default_rng(2)
    real = rng.standard_normal((60, 16))
    ours = np.concatenate([rng.standard_normal((40, 16)), rng.standard_normal((8, 16)) + 1.5])
    score = witness(ours, real)
    assert score.shape == (48,)
    assert set(np.argsort(-score)[:8]) == set(range(40, 48))
    assert abs(np.median(score[:40])) < 0.1 * score[40:].min()  # those like real ones: near 0


def test_fid_of_two_gaussians_is_their_frechet_distance_and_needs_enough_frames():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((FID_MIN_SAMPLES, 4))
    b = rng.standard_normal((FID_MIN_SAMPLES, 4)) * 2.0 + 0.5
    # |mean difference|^2 + sum of (sigma_a - sigma_b)^2 = 4 * 0.25 + 4 * 1
    assert fid(a, b) == pytest.approx(5.0, rel=0.1)
    assert np.isnan(fid(a[:-1], b))


def test_evaluate_prints_kid_with_its_standard_error(capsys, tiny_model_path):
    argv = ["evaluate", str(tiny_model_path), "--real", str(PHOTOS), "--samples", "4",
            "--wide", "2", "--canvases", "1"]  # fmt: skip
    assert trainer_main(argv) == 0
    out = capsys.readouterr().out
    for scale in ("1x", "2x field of view"):
        found = re.search(rf"KID at {scale}: +(-?\d\.\d{{4}}) ± (\d\.\d{{4}})", out)
        assert found, out
        assert float(found[2]) > 0
    assert "FID at 1x: n/a (needs 2,000 frames on each side)" in out
