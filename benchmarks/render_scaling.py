"""Throughput and peak memory of file renders from 1024x512 to 16384x8192.

Each size renders in a fresh process (so peaks do not mix) straight to a streamed EXR, while a
sampler thread records the process's peak anonymous memory (RssAnon: heap and tensors, not the
page cache of the file being written). ``benchmarks/run_all.py`` runs the suite (this is its
memory and scaling part, for any list of sizes). Run:

    python benchmarks/render_scaling.py                      # untrained tiny model
    python benchmarks/render_scaling.py --model sky.safetensors --sizes 2048x1024 16384x8192
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_SIZES = ["1024x512", "2048x1024", "4096x2048", "8192x4096", "16384x8192"]


def _rss_anon_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def measure(model_path: str, width: int, height: int, tile: int | None, batch: int | None) -> dict:
    """Runs in the child: render once, report seconds and peak anonymous memory."""
    from generator import load_model, new_recipe, render_to_file

    model = load_model(model_path)
    recipe = new_recipe(model.config, model.hash, width, height, seed=1, wrap="x")
    peak = [_rss_anon_kib()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss_anon_kib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        render_to_file(model, recipe, Path(folder) / "out.exr", tile=tile, batch=batch)
        seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    peak[0] = max(peak[0], _rss_anon_kib())
    return {"width": width, "height": height, "seconds": seconds, "peak_anon_mib": peak[0] / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file (default: an untrained model of --preset)")
    parser.add_argument("--preset", default="tiny", help="preset for the untrained model")
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, metavar="WxH")
    parser.add_argument("--tile", type=int, help="tile side (default: planned from the budget)")
    parser.add_argument("--batch", type=int, help="tiles per batch (default: 1)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        width, height = (int(v) for v in args.child.split("x"))
        print(json.dumps(measure(args.model, width, height, args.tile, args.batch)))
        return
    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:
            model = os.path.join(folder, "untrained.safetensors")
            init = [sys.executable, "-m", "generator", "init", "--preset", args.preset]
            subprocess.run([*init, "--out", model], check=True, stdout=subprocess.DEVNULL)
        rows = []
        for size in args.sizes:
            cmd = [sys.executable, __file__, "--model", model, "--child", size]
            if args.tile:
                cmd += ["--tile", str(args.tile)]
            if args.batch:
                cmd += ["--batch", str(args.batch)]
            rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout))
    base = rows[0]
    print(f"{'size':>12} {'seconds':>9} {'MP/s':>7} {'peak MiB':>9} {'mem ratio':>9}")
    for row in rows:
        mp = row["width"] * row["height"] / 1e6
        print(
            f"{row['width']:>6}x{row['height']:<5} {row['seconds']:9.2f} {mp / row['seconds']:7.2f}"
            f" {row['peak_anon_mib']:9.1f} {row['peak_anon_mib'] / base['peak_anon_mib']:9.2f}"
        )


if __name__ == "__main__":
    main()
