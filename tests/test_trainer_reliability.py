"""A trainer always ends when told or when it fails, and never shares its run folder.

Each test drives ``python -m trainer`` as a real process with real signals: what a user, a
scheduler or ``timeout`` does to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainer.checkpoint import CHECKPOINT_NAME
from trainer.train import LOSS_NAMES, _LossLog

PHOTOS = Path(__file__).parent / "data" / "photos"
TRAIN = ["train", "--preset", "tiny", "--quiet", "--set", "log_every=1"]
PROMPT = 90
"""Seconds within which a process told to end (or failing) must be gone."""


def _trainer(*args: str, patch: str = "") -> list[str]:
    """``python -m trainer ARGS``, after ``patch`` (Python run inside the process first)."""
    script = f"import sys\n{patch}\nfrom trainer.cli import main\nsys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", script, *args]


def _train_run(run: Path, steps: int = 6) -> None:
    cmd = _trainer(*TRAIN, "--data", str(PHOTOS), "--out", str(run), "--steps", str(steps))
    subprocess.run(cmd, check=True, timeout=PROMPT, capture_output=True)


def _wait_for_rows(log: Path, rows: int) -> None:
    deadline = time.monotonic() + PROMPT
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) > rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"{log} never reached {rows} rows")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda text: "", id="empty"),
        pytest.param(lambda text: text[: text.index("\n") - 4], id="half-header"),
        pytest.param(lambda text: text[:-7], id="half-written-last-row"),
    ],
)
def test_a_run_whose_log_was_cut_short_resumes(tmp_path, damage):
    run = tmp_path / "run"
    _train_run(run)
    log = run / "log.csv"
    log.write_text(damage(log.read_text()))
    cmd = _trainer(*TRAIN, "--resume", str(run), "--steps", "8", "--workers", "2")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=PROMPT)
    assert done.returncode == 0, done.stderr
    rows = log.read_text().splitlines()
    assert rows[0].split(",")[:4] == ["step", "images", "images_per_s", "d_loss"]
    assert [row.split(",")[0] for row in rows[1:]][-2:] == ["7", "8"]
    assert all(len(row.split(",")) == len(rows[0].split(",")) for row in rows)


def test_the_log_header_is_on_disk_before_the_first_step(tmp_path):
    """A run killed before its first row leaves a log that names its columns."""
    path = tmp_path / "log.csv"
    writer = _LossLog(path, 0)
    try:
        assert path.read_text().splitlines() == [",".join(["step", "images", "images_per_s",
                                                           *LOSS_NAMES])]  # fmt: skip
    finally:
        writer.close()


def test_an_error_after_the_data_workers_start_ends_the_process_with_one_line(tmp_path):
    boom = "import trainer.train as t\ndef boom(*a): raise RuntimeError('disk on fire')\n"
    cmd = _trainer(*TRAIN, "--data", str(PHOTOS), "--out", str(tmp_path / "run"),
                   "--workers", "2", patch=boom + "t._read_log = boom")  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=PROMPT)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: unexpected RuntimeError: disk on fire "
        "(set ENDLESS_BACKDROPS_TRACEBACK=1 for the traceback)"
    ]
    assert "Traceback" not in done.stderr


def test_a_second_sigterm_ends_a_stuck_step_at_once(tmp_path):
    """The first signal waits for the step to end and checkpoints; a step that never ends is
    cut short by the second (as ``timeout -k`` and schedulers send)."""
    run = tmp_path / "run"
    stuck = "import time, trainer.train as t\nt.write_samples = lambda *a: time.sleep(3600)"
    cmd = _trainer(*TRAIN, "--data", str(PHOTOS), "--out", str(run), "--workers", "2",
                   "--steps", "1000", "--set", "sample_every=3", patch=stuck)  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_rows(run / "log.csv", 3)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGTERM)
    time.sleep(1)
    assert proc.poll() is None  # still in its step, waiting to checkpoint
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=PROMPT)
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip().endswith("cancelled (a training run keeps its last checkpoint)")


def test_a_second_trainer_on_a_run_folder_in_use_refuses_and_a_killed_ones_lock_does_not_block(
    tmp_path,
):
    run = tmp_path / "run"
    cmd = _trainer(*TRAIN, "--data", str(PHOTOS), "--out", str(run), "--workers", "0",
                   "--steps", "100000", "--checkpoint-minutes", "0")  # fmt: skip
    first = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        _wait_for_rows(run / "log.csv", 2)
        before = (run / CHECKPOINT_NAME).stat().st_mtime_ns
        second = _trainer(*TRAIN, "--resume", str(run), "--steps", "100000")
        done = subprocess.run(second, capture_output=True, text=True, timeout=PROMPT)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            f"error: {run} is in use by another trainer (process {first.pid}); "
            "wait for it to finish or stop it first"
        ]
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert (run / CHECKPOINT_NAME).stat().st_mtime_ns >= before
    resumed = _trainer(*TRAIN, "--resume", str(run), "--steps", "1")
    done = subprocess.run(resumed, capture_output=True, text=True, timeout=PROMPT)
    assert done.returncode == 0, done.stderr
