"""End-to-end training on real photos: a model the generator renders, exact resume, DDP."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from generator import load_model, new_recipe, render_array
from trainer.augment import POLICIES
from trainer.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from trainer.cli import main as trainer_main
from trainer.config import PRESETS, ConfigError, TrainConfig
from trainer.train import ema_beta, starting_point, train

PHOTOS = Path(__file__).parent / "data" / "photos"
TRAIN = ["train", "--preset", "tiny", "--quiet"]
"""A quick CLI training run: the default preset (cpu) takes hours."""


def tiny(**overrides):
    settings = {"steps": 4, "workers": 0, "sample_every": 1000, "log_every": 1}
    settings.update(checkpoint_minutes=1000.0, **overrides)
    return PRESETS["tiny"].with_overrides(settings)


def test_tiny_run_on_real_photos_gives_a_model_the_generator_renders(tmp_path, caplog, capsys):
    run = tmp_path / "run"
    caplog.set_level("INFO")
    result = train(tiny(workers=2, augment=list(POLICIES)), PHOTOS, run, show_progress=False)
    assert result.step == 4
    assert not any(p.requires_grad for p in result.models.ema.parameters())  # no graph kept
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1
    for name in ("broken-truncated.jpg", "notes.jpg", "tiny.png"):
        assert name in skipped[0]
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,images,images_per_s,d_loss") and len(rows) == 5
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step-0000004-grid.png",
        "step-0000004-strip.png",
    ]
    model_path = tmp_path / "style.safetensors"
    assert trainer_main(["export", str(run), "--out", str(model_path)]) == 0
    model = load_model(model_path)
    training = json.loads(model.metadata["training"])
    assert training["steps"] == 4 and training["data"]["images"] == 12
    assert training["data"]["folder"] == PHOTOS.name
    sky = render_array(model, new_recipe(model.config, model.hash, 64, 32, seed=1, wrap="x"))
    assert sky.shape == (32, 64, 3) and np.isfinite(sky).all() and sky.std() > 0


def _state(run: Path) -> dict[str, torch.Tensor]:
    tensors, meta = load_checkpoint(run / CHECKPOINT_NAME)
    tensors["step"] = torch.tensor(meta["step"])
    return tensors


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_stopped_run_resumes_bit_for_bit(tmp_path):
    # color_weight: its real patches are drawn once, from keys no run reaches, so also on resume;
    # zoom_weight, contrast_weight: the renders from afar draw from the same saved random state
    # as every fake; the real contrast and detail_weight's real patches are drawn once, as the
    # colours
    extra = {"color_weight": 1.0, "zoom_weight": 1.0, "zoom": 2, "contrast_weight": 1.0}
    extra["detail_weight"] = 1.0
    train(tiny(steps=6, **extra), PHOTOS, tmp_path / "straight", show_progress=False)
    train(tiny(steps=3, **extra), PHOTOS, tmp_path / "stopped", show_progress=False)
    resumed = train(
        tiny(steps=6, **extra), PHOTOS, tmp_path / "stopped", resume=True, show_progress=False
    )
    assert resumed.step == 6
    _assert_same_state(_state(tmp_path / "straight"), _state(tmp_path / "stopped"))
    rows = [row.split(",") for row in (tmp_path / "stopped" / "log.csv").read_text().splitlines()]
    assert [row[0] for row in rows] == ["step", "1", "2", "3", "4", "5", "6"]
    zoom = rows[0].index("zoom")  # G's loss on them: D judges them, so it is never 0
    assert all(float(row[zoom]) > 0 for row in rows[1:])
    for name in ("contrast", "detail"):  # a random network's detail is not the photos'
        column = rows[0].index(name)
        assert all(float(row[column]) > 0 for row in rows[1:]), name


def test_a_projected_run_keeps_its_seeded_projections_and_resumes_bit_for_bit(tmp_path):
    """The projected D's random projections come from the run's seed and travel in the
    checkpoint, as does its colour judge (with lazy R1 and its own Adam rate); the projected
    judges have no R1, and the vertical-position head still learns."""
    settings = {"discriminator": "projected", "projected_side": 32, "r1_every": 2}
    train(tiny(steps=4, **settings), PHOTOS, tmp_path / "straight", show_progress=False)
    train(tiny(steps=2, **settings), PHOTOS, tmp_path / "stopped", show_progress=False)
    train(tiny(steps=4, **settings), PHOTOS, tmp_path / "stopped", resume=True, show_progress=False)
    straight = _state(tmp_path / "straight")
    _assert_same_state(straight, _state(tmp_path / "stopped"))
    train(tiny(steps=1, seed=1, **settings), PHOTOS, tmp_path / "seed1", show_progress=False)
    other = _state(tmp_path / "seed1")
    mixing = [key for key in straight if key.startswith("d.mix_")]
    assert len(mixing) == 7 and not any(key.startswith("d.backbone") for key in straight)
    assert not any(torch.equal(straight[key], other[key]) for key in mixing)
    assert any(key.startswith("d.color.") for key in straight)
    _, meta = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME)
    projected, judge = meta["opt_d_groups"]
    assert judge["lr"] == pytest.approx(projected["lr"] * 2 / 3)  # lazy R1 every 2 steps
    rows = (tmp_path / "straight" / "log.csv").read_text().splitlines()
    names = rows[0].split(",")
    for row in rows[1:]:
        values = dict(zip(names, map(float, row.split(",")), strict=True))
        assert values["r1"] > 0 and values["color_judge"] > 0 and values["coord_real"] > 0


def test_a_projected_run_recorded_before_the_colour_judge_resumes_without_it(tmp_path):
    """Its checkpoint's settings lack ``color_judge_weight``: it resumes as it was trained, bit
    for bit, with no colour judge and no R1."""
    settings = {"discriminator": "projected", "projected_side": 32, "color_judge_weight": 0.0}
    train(tiny(steps=4, **settings), PHOTOS, tmp_path / "straight", show_progress=False)
    train(tiny(steps=2, **settings), PHOTOS, tmp_path / "stopped", show_progress=False)
    path = tmp_path / "stopped" / CHECKPOINT_NAME
    tensors, meta = load_checkpoint(path)
    recorded = json.loads(meta["config"])
    del recorded["color_judge_weight"]
    meta["config"] = json.dumps(recorded)
    save_checkpoint(path, tensors, meta)
    before = TrainConfig.from_json(meta["config"])
    assert before.discriminator == "projected" and not before.color_judge
    assert not before.lazy_r1
    train(before.with_overrides({"steps": 4}), PHOTOS, tmp_path / "stopped", resume=True,
          show_progress=False)  # fmt: skip
    straight = _state(tmp_path / "straight")
    _assert_same_state(straight, _state(tmp_path / "stopped"))
    assert not any(key.startswith("d.color.") for key in straight)
    rows = (tmp_path / "straight" / "log.csv").read_text().splitlines()
    names = rows[0].split(",")
    assert all(float(row.split(",")[names.index("r1")]) == 0 for row in rows[1:])


def test_runs_recorded_before_the_choice_of_discriminator_keep_the_patch_one():
    recorded = json.loads(PRESETS["terrain"].to_json())
    assert recorded["discriminator"] == "projected"  # new runs
    assert recorded["color_judge_weight"] > 0 and PRESETS["terrain"].color_judge
    del recorded["discriminator"], recorded["color_judge_weight"]
    before = TrainConfig.from_json(json.dumps(recorded))
    assert before.discriminator == "patch" and before.lazy_r1 and not before.color_judge
    assert not PRESETS["tiny"].color_judge  # the patch D has no colour judge


def test_sigkill_at_any_moment_resumes_from_the_last_good_checkpoint(tmp_path):
    steps = "30"
    base = [sys.executable, "-m", "trainer", *TRAIN]
    options = [
        "--steps",
        steps,
        "--workers",
        "0",
        "--checkpoint-minutes",
        "0",
        "--set",
        "log_every=1",
    ]
    straight = tmp_path / "straight"
    subprocess.run([*base, "--data", str(PHOTOS), "--out", str(straight), *options], check=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*base, "--data", str(PHOTOS), "--out", str(killed), *options])
    log = killed / "log.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) > 8:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _state(killed)["step"].item() < int(steps)
    subprocess.run([*base, "--resume", str(killed), "--steps", steps], check=True)
    _assert_same_state(_state(straight), _state(killed))
    assert not list(killed.glob(".*.partial"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, run: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
    )  # fmt: skip
    torch.set_num_threads(1)
    result = train(tiny(steps=3, batch=8), PHOTOS, Path(run), show_progress=False)
    params = {k: v.double().sum().item() for k, v in result.models.generator.state_dict().items()}
    params.update(
        {
            f"d.{k}": v.double().sum().item()
            for k, v in result.models.discriminator.state_dict().items()
        }
    )
    Path(out, f"rank{rank}.json").write_text(json.dumps(params))
    print(f"rank {rank} finished", file=sys.stderr, flush=True)
    # The run is complete and its files written: leave without the interpreter's teardown.
    # Twice in CI (never alone: 0 of 50 runs, idle or loaded) process 1 aborted ("terminate
    # called without an active exception", SIGABRT) while process 0 was still running, most
    # likely in that teardown: gloo's threads can outlive destroy_process_group, which drops
    # only torch's own references to the group (pytorch#96017), and abort a teardown that
    # reaches them (pytorch#179291). Should it come back, the line above says whether the run
    # had finished.
    os._exit(0)


def test_two_gloo_processes_train_in_lockstep(tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path / "run"), str(tmp_path)), nprocs=2)
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    rank1 = json.loads((tmp_path / "rank1.json").read_text())
    assert rank0 == rank1
    assert _state(tmp_path / "run")["step"].item() == 3


def test_unusable_data_and_bad_settings_are_one_line_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes((PHOTOS / "broken-truncated.jpg").read_bytes())
    (broken / "b.png").write_text("nope", encoding="utf-8")
    cases = [
        (["--data", str(empty)], "no"),
        (["--data", str(broken)], "no usable images"),
        (["--data", str(tmp_path / "missing")], "missing"),
        (["--data", str(PHOTOS), "--batch", "3"], "batch"),
        (["--data", str(PHOTOS), "--set", "frobnicate=1"], "unknown setting"),
        (["--data", str(PHOTOS), "--set", "zoom=1"], "zoom must be >= 2"),
        (["--data", str(PHOTOS), "--set", "contrast_weight=-1"], "contrast_weight must be >= 0"),
        (["--data", str(PHOTOS), "--set", "detail_weight=-1"], "detail_weight must be >= 0"),
        (["--data", str(PHOTOS), "--set", "batch=eight"], "invalid setting value"),
        (["--data", str(PHOTOS), "--set", "model.gt_channels=wide"], "invalid setting value"),
    ]
    for argv, message in cases:
        run = tmp_path / "run"
        code = trainer_main([*TRAIN, "--workers", "0", "--out", str(run), *argv])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and err[-1].startswith("error:") and message in err[-1], (argv, err)
        assert not (run / CHECKPOINT_NAME).exists()
    assert trainer_main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    argv = [*TRAIN, "--workers", "0", "--data", str(PHOTOS), "--out", str(a_file)]
    assert trainer_main(argv) == 2
    assert "it is a file" in capsys.readouterr().err


def test_resume_refuses_changed_settings(tmp_path):
    train(tiny(steps=1), PHOTOS, tmp_path / "run", show_progress=False)
    with pytest.raises(ConfigError, match="lr"):
        train(tiny(steps=2, lr=0.01), PHOTOS, tmp_path / "run", resume=True, show_progress=False)


def test_start_from_fine_tunes_another_runs_networks_with_new_settings(tmp_path, capsys):
    """A new run begins from a run's networks; only optimisation settings may differ."""
    source = tmp_path / "source"
    train(tiny(steps=3), PHOTOS, source, show_progress=False)
    tuned = tmp_path / "tuned"
    common = [*TRAIN, "--workers", "0", "--data", str(PHOTOS)]
    tuning = ["--start-from", str(source), "--steps", "1", "--set", "lr=0.0"]
    argv = [*common, "--out", str(tuned), *tuning]
    assert trainer_main(argv) == 0
    before, after = _state(source), _state(tuned)
    assert after["step"].item() == 1
    for key in before:  # lr 0: the networks are the source's, untouched by the new optimiser
        if key.startswith(("g.", "d.")):
            assert torch.equal(before[key], after[key]), key
    assert after["opt_g.0.step"].item() == 1  # fresh optimiser state
    _, meta = load_checkpoint(tuned / CHECKPOINT_NAME)
    assert json.loads(meta["config"])["lr"] == 0.0
    assert meta["started_from"] == {"run": str(source), "step": 3, "images": 24}
    model_path = tmp_path / "tuned.safetensors"
    assert trainer_main(["export", str(tuned), "--out", str(model_path)]) == 0
    training = json.loads(load_model(model_path).metadata["training"])
    assert training["steps"] == 1 and training["started_from"]["step"] == 3
    # a shared model file names the data and the run it started from, not where they lie
    assert training["started_from"]["run"] == "source" and str(tmp_path) not in json.dumps(training)
    capsys.readouterr()

    wider = [*common, "--out", str(tmp_path / "wider"), *tuning, "--set", "model.gs_width=32"]
    assert trainer_main(wider) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and "model differ" in err
    assert not (tmp_path / "wider").exists()
    assert trainer_main([*argv, "--resume", str(source)]) == 2
    assert "not both" in capsys.readouterr().err


def test_start_from_a_model_file_fine_tunes_its_generator_with_its_settings(tmp_path, capsys):
    """A model file (what users have: an export, a bundled model) gives G and its average; D
    starts afresh, and the file's recorded training settings are the base."""
    source = tmp_path / "source"
    train(tiny(steps=2, r1_gamma=3.0), PHOTOS, source, show_progress=False)
    model_path = tmp_path / "style.safetensors"
    assert trainer_main(["export", str(source), "--out", str(model_path)]) == 0
    tuned = tmp_path / "tuned"
    common = [*TRAIN, "--workers", "0", "--data", str(PHOTOS)]
    tuning = ["--start-from", str(model_path), "--steps", "1", "--set", "lr=0"]
    assert trainer_main([*common, "--out", str(tuned), *tuning]) == 0
    model, after = load_model(model_path), _state(tuned)
    for key, value in model.generator.state_dict().items():
        assert torch.equal(after[f"g.{key}"], value), key
    _, meta = load_checkpoint(tuned / CHECKPOINT_NAME)
    config = json.loads(meta["config"])
    assert config["r1_gamma"] == 3.0 and config["lr"] == 0  # the file's settings, then ours
    assert config["discriminator"] == "projected"  # D starts afresh: today's default
    assert config["color_judge_weight"] == TrainConfig.color_judge_weight > 0
    assert meta["started_from"]["hash"] == model.hash and meta["started_from"]["steps"] == 2
    tuned_path = tmp_path / "tuned.safetensors"  # a fine-tune of a fine-tune keeps the lineage
    assert trainer_main(["export", str(tuned), "--out", str(tuned_path)]) == 0
    again = [*common, "--out", str(tmp_path / "again"), "--start-from", str(tuned_path)]
    assert trainer_main([*again, "--steps", "1"]) == 0
    _, meta = load_checkpoint(tmp_path / "again" / CHECKPOINT_NAME)
    assert meta["started_from"]["started_from"]["hash"] == model.hash
    capsys.readouterr()
    missing = [*common, "--out", str(tmp_path / "x"), "--start-from", str(tmp_path / "nope")]
    assert trainer_main(missing) == 2
    assert "model file not found" in capsys.readouterr().err


def test_sigterm_to_the_whole_process_group_checkpoints_and_exits_cleanly(tmp_path):
    """Schedulers (and Ctrl-C) signal every process of the group, data workers included."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "trainer", *TRAIN, "--data", str(PHOTOS)]
    cmd += ["--out", str(run), "--steps", "100000", "--workers", "2", "--set", "log_every=1"]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        log = run / "log.csv"
        if log.exists() and len(log.read_text().splitlines()) > 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    state = _state(run)
    assert 3 <= state["step"].item() < 100000


def test_cpu_bf16_runs_and_changes_the_arithmetic(tmp_path):
    """Opt-in bf16 autocast on a CPU trains (finite losses) and really runs in bf16."""
    plain = train(tiny(steps=2), PHOTOS, tmp_path / "fp32", show_progress=False)
    fast = train(tiny(steps=2, cpu_bf16=True), PHOTOS, tmp_path / "bf16", show_progress=False)
    assert plain.step == fast.step == 2
    rows = (tmp_path / "bf16" / "log.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    losses = {k: float(v) for k, v in zip(header, last, strict=True) if k.endswith("loss")}
    assert losses and all(np.isfinite(v) for v in losses.values())
    a, b = _state(tmp_path / "fp32"), _state(tmp_path / "bf16")
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("g."))


def test_snapshots_keep_the_averaged_generator_at_every_interval(tmp_path):
    run = tmp_path / "run"
    result = train(tiny(steps=4, snapshot_every=2), PHOTOS, run, show_progress=False)
    snapshots = sorted((run / "snapshots").iterdir())
    assert [s.name for s in snapshots] == ["step-0000002.safetensors", "step-0000004.safetensors"]
    early, last = (load_model(s) for s in snapshots)
    assert json.loads(early.metadata["training"])["steps"] == 2
    assert early.hash != last.hash
    for name, tensor in result.models.ema.state_dict().items():
        assert torch.equal(last.generator.state_dict()[name], tensor), name


def test_frozen_generator_parts_stay_exactly_as_they_started(tmp_path, capsys):
    """``freeze`` keeps the named parts (here the structure synthesizer and the mapping that lay
    out large-scale structure) bit for bit while the rest of G trains."""
    source = tmp_path / "source"
    train(tiny(steps=2), PHOTOS, source, show_progress=False)
    common = [*TRAIN, "--workers", "0", "--data", str(PHOTOS), "--start-from", str(source)]
    parts = ["mapping", "structure", "texture.layers.0"]
    frozen = ["--set", f"freeze={json.dumps(parts)}", "--steps", "2"]
    assert trainer_main([*common, "--out", str(tmp_path / "tuned"), *frozen]) == 0
    before, after = _state(source), _state(tmp_path / "tuned")
    kept = tuple(f"{net}.{part}." for net in ("g", "ema") for part in parts)
    trained = [k for k in before if k.startswith(("g.", "ema.")) and not k.startswith(kept)]
    assert trained
    for key in trained:
        if key.endswith("conv.weight"):
            assert not torch.equal(before[key], after[key]), key
    for key in before:
        if key.startswith(kept):
            assert torch.equal(before[key], after[key]), key
    capsys.readouterr()

    wrong = ["--set", 'freeze=["texture.layer.1"]', "--out", str(tmp_path / "wrong")]
    assert trainer_main([*common, *wrong]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and "texture.layer.1" in err and "texture.layers.1" in err
    assert not (tmp_path / "wrong" / CHECKPOINT_NAME).exists()


def test_layout_loss_compares_with_the_starting_model_on_the_same_latents_and_noise(
    tmp_path, capsys
):
    """``layout_weight`` measures cell means against the model a fine-tune starts from, with the
    very latents and noise of G's patches: with a zero learning rate G is that model, and the
    loss is exactly 0. The starting model travels in the checkpoint, so a resume keeps it."""
    source = tmp_path / "source"
    train(tiny(steps=2), PHOTOS, source, show_progress=False)
    model_path = tmp_path / "style.safetensors"
    assert trainer_main(["export", str(source), "--out", str(model_path)]) == 0
    tuned = tmp_path / "tuned"
    common = [*TRAIN, "--workers", "0", "--data", str(PHOTOS), "--out", str(tuned)]
    layout = ["--set", "layout_weight=10", "--set", "lr=0", "--set", "log_every=1"]
    assert trainer_main([*common, *layout, "--start-from", str(model_path), "--steps", "2"]) == 0
    assert trainer_main(["train", "--resume", str(tuned), "--steps", "3", "--quiet"]) == 0
    rows = (tuned / "log.csv").read_text().splitlines()
    column = rows[0].split(",").index("layout")
    assert [float(row.split(",")[column]) for row in rows[1:]] == [0.0, 0.0, 0.0]
    state, weights = _state(tuned), load_model(model_path).generator.state_dict()
    for key, value in weights.items():
        assert torch.equal(state[f"source.{key}"], value), key
    again = tmp_path / "again"  # the next fine-tune is not held to this one's start
    assert trainer_main([*TRAIN, "--workers", "0", "--data", str(PHOTOS), "--out", str(again),
                         "--start-from", str(tuned), "--steps", "1"]) == 0  # fmt: skip
    _, meta = load_checkpoint(again / CHECKPOINT_NAME)
    assert json.loads(meta["config"])["layout_weight"] == 0.0
    assert not any(key.startswith("source.") for key in _state(again))
    capsys.readouterr()

    alone = [*TRAIN, "--workers", "0", "--data", str(PHOTOS), "--out", str(tmp_path / "alone")]
    assert trainer_main([*alone, "--set", "layout_weight=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and "--start-from" in err
    assert not (tmp_path / "alone").exists()


def test_the_average_ramps_up_so_a_short_fine_tune_shows_in_its_export(tmp_path):
    """The half-life is min(ema_kimg, ema_rampup x images this run has seen): three steps into a
    fine-tune the average is the tuned G, not still the source (5 kimg would take 625 steps)."""
    config = tiny(ema_kimg=5.0)
    assert ema_beta(config, 1) < 1e-6
    assert ema_beta(config, 100) == pytest.approx(0.5 ** (8 / 40))
    assert ema_beta(config, 100_000) == pytest.approx(0.5 ** (8 / 5000))
    assert ema_beta(tiny(ema_kimg=5.0, ema_rampup=0.0), 1) == pytest.approx(0.5 ** (8 / 5000))
    recorded = json.loads(config.to_json())
    del recorded["ema_rampup"]  # a run from before the ramp-up resumes as it averaged
    assert TrainConfig.from_json(json.dumps(recorded)).ema_rampup == 0.0

    source = tmp_path / "source"
    train(tiny(steps=2, ema_rampup=0.0), PHOTOS, source, show_progress=False)
    start = starting_point(source, PRESETS["tiny"])
    assert start.settings.ema_rampup == TrainConfig.ema_rampup  # a new run ramps up its own
    tuned = train(
        dataclasses.replace(start.settings, steps=3, lr=0.01),
        PHOTOS, tmp_path / "tuned", start_from=start, show_progress=False,
    )  # fmt: skip
    generator = dict(tuned.models.generator.named_parameters())
    moved = 0
    for name, average in tuned.models.ema.named_parameters():
        began, tuned_g = start.tensors[f"ema.{name}"], generator[name]
        assert (average - tuned_g).abs().max() <= 0.02 * (tuned_g - began).abs().max()
        moved += int(not torch.equal(average, began))
    assert moved


def test_a_time_budget_checkpoints_writes_samples_and_stops_when_spent(tmp_path, capsys):
    run = tmp_path / "run"
    argv = [*TRAIN, "--workers", "0", "--data", str(PHOTOS), "--out", str(run), "--steps", "50"]
    assert trainer_main([*argv, "--hours", "0.0001"]) == 0  # 0.36 s: spent after a step or two
    step = _state(run)["step"].item()
    assert 1 <= step < 50
    assert f"step {step} of 50" in capsys.readouterr().out
    assert (run / "samples" / f"step-{step:07d}-grid.png").is_file()
    with pytest.raises(SystemExit):
        trainer_main([*argv, "--hours", "0"])
    assert "expected a number of hours > 0, got '0'" in capsys.readouterr().err
