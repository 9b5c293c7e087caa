"""Before/after pairs of each optimisation, measured side by side (interleaved, medians).

    python benchmarks/levers.py [--reps 3] [--threads N]

Each pair renders the same canvas in fresh processes with one optimisation switched off and on.
"before" of the whole work (the renderer as it was) is not in this tree: compare with an older
checkout by running ``python benchmarks/render_scaling.py`` there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_state, make_model, median, run_child

SCRIPT = str(Path(__file__).resolve().parent / "run_all.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--size", default="2048x1024")
    parser.add_argument("--only", nargs="+", help="names of the pairs to run")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(f"machine before: {machine_state()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        cpu, tiny = make_model("cpu", folder), make_model("tiny", folder)
        exr = str(Path(folder) / "out.exr")

        def job(model, **extra):
            return {"kind": "render", "model": model, "width": width, "height": height, **extra}

        legacy = {"tile": 256, "batch": 4}
        pairs = {
            "folded layers (cpu preset, 256 px tiles x4)": (
                job(cpu, reference=True, **legacy),
                job(cpu, **legacy),
            ),
            "channels-last (cpu preset, folded, 256x4)": (
                job(cpu, nchw=True, **legacy),
                job(cpu, **legacy),
            ),
            "planned tiles vs 256 px x4 (cpu preset)": (job(cpu, **legacy), job(cpu)),
            "planned tiles vs 256 px x4 (tiny)": (job(tiny, **legacy), job(tiny)),
            "tiles side by side vs one at a time (cpu preset)": (
                job(cpu, serial_tiles=True),
                job(cpu),
            ),
            "tiles side by side vs one at a time (tiny)": (job(tiny, serial_tiles=True), job(tiny)),
            "heap kept vs trimmed during a render (cpu preset)": (
                job(cpu, trimmed_heap=True),
                job(cpu),
            ),
            "heap kept vs trimmed during a render (tiny)": (
                job(tiny, trimmed_heap=True),
                job(tiny),
            ),
            "hashed noise vs Philox blocks (cpu preset)": (job(cpu, block_noise=True), job(cpu)),
            "encoder threads 1 vs default (tiny, EXR)": (
                job(tiny, out=exr, encoder_threads=1),
                job(tiny, out=exr),
            ),
            "bf16 vs fp32 (cpu preset)": (job(cpu), job(cpu, precision="bf16")),
        }
        threads_pairs = {
            "OMP_WAIT_POLICY active vs passive (cpu preset)": (
                (job(cpu), {"OMP_WAIT_POLICY": "ACTIVE"}),
                (job(cpu), {"OMP_WAIT_POLICY": "PASSIVE"}),
            ),
        }
        print("| lever | before s | after s | speed-up |\n|---|---|---|---|")
        for name, (before, after) in pairs.items():
            if args.only and not any(o in name for o in args.only):
                continue
            times: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.reps):
                times["before"].append(run_child(SCRIPT, before, args.threads)["seconds"])
                times["after"].append(run_child(SCRIPT, after, args.threads)["seconds"])
            b, a = median(times["before"]), median(times["after"])
            print(f"| {name} | {b:.2f} | {a:.2f} | {b / a:.2f}x |", flush=True)
        for name, ((before, env_b), (after, env_a)) in threads_pairs.items():
            if args.only and not any(o in name for o in args.only):
                continue
            times = {"before": [], "after": []}
            for _ in range(args.reps):
                times["before"].append(_with_env(env_b, before, args.threads))
                times["after"].append(_with_env(env_a, after, args.threads))
            b, a = median(times["before"]), median(times["after"])
            print(f"| {name} | {b:.2f} | {a:.2f} | {b / a:.2f}x |", flush=True)
    print(f"machine after: {machine_state()}", file=sys.stderr)


def _with_env(env: dict, job: dict, threads: int | None) -> float:
    import os

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return run_child(SCRIPT, job, threads)["seconds"]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


if __name__ == "__main__":
    main()
