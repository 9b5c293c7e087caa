"""The current (``patch``) discriminator against the projected one: KID against CPU time.

``train`` starts one run per discriminator on the same photos with the same seed and preset,
side by side, one thread each (a 2-core machine runs both at once), and every 15 s appends each
run's CPU time (the trainer and its data loader, in 1/100 s) and newest snapshot to
``OUT/cpu.log``. CPU time, not wall time, is what is compared: the two runs, and anything else
on the machine, share the cores. ``measure`` then takes, for each run and each budget of CPU
hours, the last snapshot written within it, and measures KID (64 frames at 1x, 32 rendered 8x
as wide and averaged down) and SWD against reserved photos:

    python benchmarks/discriminators.py train --data DATA/train/terrain --out runs/bench --hours 3
    python benchmarks/discriminators.py measure --out runs/bench \\
        --real DATA/validation/terrain --at 0.5 1 2 3

A run stopped early (SIGTERM checkpoints it) can be continued with ``python -m trainer train
--resume``; its CPU time then restarts at 0 in the log, so resume under the monitor instead:
``train --resume`` continues both runs and counts on from their last logged CPU time.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import ROOT
from PIL import Image, ImageDraw

RUNS = {name: ["--set", f"discriminator={name}"] for name in ("patch", "projected")}
TICKS = os.sysconf("SC_CLK_TCK")
POLL_S = 15.0


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its live children (the trainer's data loader)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *map(int, children.read_text().split())] if children.exists() else [pid]


def process_tree_ticks(pid: int) -> int:
    """User + system CPU ticks of ``pid`` and its live children."""
    total = 0
    for each in tree_pids(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of ``pid`` and its live children, summed."""
    total = 0
    for each in tree_pids(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM"))
    return total / 1024


def newest_snapshot(run: Path) -> str:
    snapshots = sorted((run / "snapshots").glob("step-*.safetensors"))
    return snapshots[-1].name if snapshots else ""


def logged_seconds(log: Path) -> dict[str, float]:
    """Each run's last logged CPU seconds (0 for a run not in the log)."""
    last = {name: 0.0 for name in RUNS}
    if log.exists():
        for line in log.read_text().splitlines():
            _, name, ticks, *_ = line.split()
            last[name] = int(ticks) / TICKS
    return last


def train(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "cpu.log"
    offset = logged_seconds(log)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs: dict[str, subprocess.Popen] = {}
    for name, extra in RUNS.items():
        run = args.out / name
        start = ["--resume", str(run)] if args.resume else ["--out", str(run)]
        command = [sys.executable, "-m", "trainer", "train", *start, "--data", str(args.data)]
        if not args.resume:
            command += ["--preset", args.preset, "--seed", str(args.seed), *extra]
            command += ["--set", f"snapshot_every={args.snapshot_every}"]
        command += ["--workers", "1", "--quiet"]
        procs[name] = subprocess.Popen(command, cwd=ROOT, env=env)
    budget = args.hours * 3600.0
    peaks = {name: 0.0 for name in RUNS}
    # SIGTERM to this script stops both runs as Ctrl-C does: they get it in turn and checkpoint.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while any(p.poll() is None for p in procs.values()):
            time.sleep(POLL_S)
            with log.open("a") as out:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        continue
                    seconds = offset[name] + process_tree_ticks(proc.pid) / TICKS
                    peaks[name] = max(peaks[name], peak_rss_mib(proc.pid))
                    snapshot = newest_snapshot(args.out / name)
                    out.write(f"{int(time.time())} {name} {round(seconds * TICKS)} {snapshot}\n")
                    if seconds >= budget:
                        proc.send_signal(signal.SIGTERM)  # the trainer checkpoints, then stops
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait()
    (args.out / "peak-memory.json").write_text(json.dumps(peaks, indent=1))


@dataclass(frozen=True)
class Point:
    cpu_hours: float
    snapshot: Path


def points(out: Path, name: str) -> list[Point]:
    """The CPU time at which each snapshot of run ``name`` first appeared in the log."""
    seen: dict[str, float] = {}
    for line in (out / "cpu.log").read_text().splitlines():
        _, run, ticks, *snapshot = line.split()
        if run == name and snapshot and snapshot[0] not in seen:
            seen[snapshot[0]] = int(ticks) / TICKS / 3600.0
    return [Point(h, out / name / "snapshots" / s) for s, h in seen.items()]


def images_seen(run: Path, step: int) -> int:
    """Images a run had trained on by ``step`` (steps of its logged batch size)."""
    with (run / "log.csv").open() as log:
        first = next(csv.DictReader(log))
    return step * int(first["images"]) // int(first["step"])


def measure(args: argparse.Namespace) -> None:
    from generator import load_model
    from trainer.evaluate import _frame, load_frames, swd
    from trainer.kid import inception_features, kid

    cache_path = args.out / "measures.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    reference: dict[str, np.ndarray] = {}
    rows: list[tuple[str, np.ndarray]] = []

    def measured(path: Path, label: str) -> dict[str, float]:
        key, digest = str(path), hashlib.sha256(path.read_bytes()).hexdigest()
        if cache.get(key, {}).get("sha256", digest) != digest:  # the file was replaced
            del cache[key]
        if key in cache and not args.sheet:
            return cache[key]
        model = load_model(path)
        height, width = model.config.native_frame

        @functools.cache
        def frame(seed: int, zoom: int) -> np.ndarray:  # the sheet reuses the measured frames
            return _frame(model, width, height, seed, zoom)

        if "frames" not in reference:
            reference["frames"] = load_frames(args.real, (height, width))
            reference["features"] = inception_features(reference["frames"])
        if key not in cache:
            real = reference["frames"]
            figures = {}
            for zoom, count in ((1, 64), (8, 32)):
                frames = np.stack([frame(s, zoom) for s in range(count)])
                value = kid(inception_features(frames), reference["features"])
                figures[f"kid_{zoom}x"], figures[f"kid_{zoom}x_error"] = value.value, value.error
                figures[f"swd_{zoom}x"] = swd(frames, real)
            cache[key] = {**figures, "sha256": digest}
            cache_path.write_text(json.dumps(cache, indent=1))
        if args.sheet:
            sheet_frames = [frame(s, zoom) for zoom in (1, 8) for s in range(4)]
            rows.append((label, np.concatenate(sheet_frames, 1)))
        return cache[key]

    peaks_path = args.out / "peak-memory.json"
    peaks = json.loads(peaks_path.read_text()) if peaks_path.exists() else {}
    print(
        "| D | CPU hours | step | KID 1x | KID 8x | SWD 1x | SWD 8x | images per CPU s | peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in RUNS:
        run_points = points(args.out, name)
        for hours in args.at:
            within = [p for p in run_points if p.cpu_hours <= hours]
            if not within:
                continue
            point = within[-1]
            f = measured(point.snapshot, f"{name} {point.cpu_hours:.2f} CPU h")
            step = int(point.snapshot.stem.split("-")[1])
            rate = images_seen(args.out / name, step) / (point.cpu_hours * 3600.0)
            peak = peaks.get(name, float("nan"))
            print(
                f"| {name} | {point.cpu_hours:.2f} | {step} "
                f"| {f['kid_1x']:.3f} ± {f['kid_1x_error']:.3f} "
                f"| {f['kid_8x']:.3f} ± {f['kid_8x_error']:.3f} "
                f"| {f['swd_1x']:.3f} | {f['swd_8x']:.3f} "
                f"| {rate:.1f} | {peak:.0f} |"
            )
    for path in args.also:
        f = measured(path, path.name)
        print(
            f"| {path.name} | | | {f['kid_1x']:.3f} ± {f['kid_1x_error']:.3f} "
            f"| {f['kid_8x']:.3f} ± {f['kid_8x_error']:.3f} | {f['swd_1x']:.3f} "
            f"| {f['swd_8x']:.3f} | | |"
        )
    if args.sheet:
        pick = np.random.default_rng(0).choice(len(reference["frames"]), 8, replace=False)
        rows.append(("reserved photos", np.concatenate(list(reference["frames"][pick]), 1)))
        write_sheet(rows, args.sheet)


def write_sheet(rows: list[tuple[str, np.ndarray]], path: Path) -> None:
    """Rows of frames (display space), each labelled at its top left, as one PNG at half size:
    per model 4 frames at 1x then 4 at 8x the field of view; reserved photos last."""

    sheet = np.concatenate([row for _, row in rows], 0)
    image = Image.fromarray((np.clip(sheet, 0, 1) * 255).astype(np.uint8))
    draw, top = ImageDraw.Draw(image), 0
    for label, row in rows:
        draw.rectangle([0, top, 8 + 6 * len(label), top + 12], fill=(0, 0, 0))
        draw.text((2, top), label, fill=(255, 255, 255))
        top += row.shape[0]
    image.resize((image.width // 2, image.height // 2)).save(path)
    print(f"contact sheet: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("train", help="train both runs side by side, logging CPU time")
    run.add_argument("--data", type=Path, required=True, help="training photos")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--hours", type=float, required=True, help="CPU hours per run")
    run.add_argument("--preset", default="terrain")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--snapshot-every", type=int, default=100)
    run.add_argument("--resume", action="store_true", help="continue both runs in OUT")
    check = sub.add_parser("measure", help="KID and SWD of each run at budgets of CPU hours")
    check.add_argument("--out", type=Path, required=True)
    check.add_argument("--real", type=Path, required=True, help="reserved photos")
    check.add_argument("--at", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.0])
    check.add_argument("--also", type=Path, nargs="*", default=[], help="model files to compare")
    check.add_argument("--sheet", type=Path, help="also write a contact sheet PNG here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.command == "train":
        train(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
