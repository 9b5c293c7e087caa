"""Super-resolution benchmark: the stage's throughput and the end-to-end time of big skies.

    python benchmarks/superres.py                       # the bundled learned sky, sky-360
    python benchmarks/superres.py --model my-sky.safetensors --repeats 3

Each sky render runs in a fresh process (its peak anonymous memory does not carry over), with
and without the super-resolution stage, interleaved and repeated; medians are reported. Figures:
the stage's own output megapixels per second (one pass on the native sphere), and for each sky
width the wall time, MP/s and peak RssAnon, with the 16384 x 8192 / 4096 x 2048 memory ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, machine_state, median, run_child

SCRIPT = str(Path(__file__).resolve())
WIDTHS = (4096, 16384)


def child(job: dict) -> dict:
    from generator import load_model, new_recipe, render_to_file

    model = load_model(job["model"])
    width = job["width"]
    recipe = new_recipe(model.config, model.hash, width, width // 2, seed=1, wrap="x",
                        projection="equirect").replace(superres=job["superres"])  # fmt: skip
    with tempfile.TemporaryDirectory() as folder, PeakMemory() as memory:
        start = time.perf_counter()
        render_to_file(model, recipe, Path(folder) / "sky.exr")
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": memory.peak_kib / 1024}


def stage_throughput(model_path: str, repeats: int) -> float:
    from generator import load_model
    from generator.network.superres import upscale

    model = load_model(model_path)
    if model.superres is None:
        return float("nan")
    width = model.config.native_frame[1]
    canvas = np.zeros((width // 2, width, 3), dtype=np.float32)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        upscale(model.superres, canvas, seed=0, stage=0, wrap=(False, True))
        times.append(time.perf_counter() - start)
    return 4 * canvas.shape[0] * canvas.shape[1] / 1e6 / median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="sky-360", help="a sky model with a stage (default: sky-360)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    print(f"machine: {json.dumps(machine_state())}")
    print(f"stage throughput: {stage_throughput(args.model, args.repeats):.2f} MP/s (output)")
    runs: dict[tuple[int, bool], list[dict]] = {}
    for _ in range(args.repeats):
        for width in WIDTHS:
            for superres in (True, False):
                job = {"model": args.model, "width": width, "superres": superres}
                runs.setdefault((width, superres), []).append(run_child(SCRIPT, job))
    print("| sky | stage | seconds | MP/s | peak RssAnon MiB |")
    print("|---|---|---:|---:|---:|")
    for (width, superres), results in runs.items():
        seconds = median([r["seconds"] for r in results])
        peak = median([r["peak_mib"] for r in results])
        mp = width * width / 2 / 1e6
        print(f"| {width}x{width // 2} | {'on' if superres else 'off'} | {seconds:.1f} | "
              f"{mp / seconds:.2f} | {peak:.0f} |")  # fmt: skip
    big, small = (median([r["peak_mib"] for r in runs[(w, True)]]) for w in WIDTHS[::-1])
    print(f"memory {WIDTHS[1]} / {WIDTHS[0]} (stage on): x{big / small:.2f}")


if __name__ == "__main__":
    main()
