"""The rendering benchmark suite: every figure of docs/performance.md's table, in one run.

    python benchmarks/run_all.py                    # untrained `cpu` preset + `tiny` for 16K
    python benchmarks/run_all.py --model sky.safetensors --big-model sky.safetensors
    python benchmarks/run_all.py --quick            # fewer repeats, smaller canvases (smoke)

Each measurement runs in a fresh process (peak memory does not carry over) and the variants of a
figure are interleaved and repeated, medians reported, so a ratio holds on a shared machine:
1. throughput (MP/s, streamed EXR) at 2048x1024, 4096x2048 (--model) and 16384x8192
   (--big-model, small enough to finish in minutes on a CPU); achieved GFLOP/s (dense convolution
   FLOPs of an ideal single pass, counted from the config) against plain torch convolutions of
   the model's own layer shapes, run in the same process and thread count (the roofline);
2. patch overhead: tiled render at the default (planned) tile / the same canvas in one pass;
3. memory: peak RssAnon at 16384x8192 / at 2048x1024 (same model, EXR streamed to disk);
4. scaling: seconds per megapixel at 16384x8192 / at 2048x1024;
5. parallel: torchrun with 2 processes x 1 thread vs one process (2 threads, and 1 thread), and
   whether the files are byte-identical;
6. time-left estimate: its error over a render, after the first 10% of tiles.
Results go to stdout as a Markdown table and to --json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, machine_state, make_model, median, run_child

SCRIPT = str(Path(__file__).resolve())


# --- child jobs (run in fresh processes) ----------------------------------------------------------


def _load(job: dict):
    import torch

    from generator import load_model, new_recipe

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    model = load_model(job["model"])
    recipe = new_recipe(model.config, model.hash, job["width"], job["height"], seed=1, wrap="x")
    return model, recipe


def child_render(job: dict) -> dict:
    """One timed render (after a small warm-up render), to a file or to nowhere."""
    import contextlib

    from generator.network.layers import reference_path
    from generator.rendering.output import render_to_file, with_precision
    from generator.rendering.planning import macs_per_pixel
    from generator.rendering.render import CanvasRenderer

    model, recipe = _load(job)
    _levers_off(job)
    recipe = with_precision(recipe, job.get("precision"))
    options = {
        "tile": job.get("tile"),
        "batch": job.get("batch"),
        "memory_budget_mib": job.get("budget"),
    }
    path_ctx = reference_path() if job.get("reference") else contextlib.nullcontext()
    with path_ctx:
        small = recipe.replace(width=256, height=128)
        CanvasRenderer(model, small, **options).render()  # kernels, caches: not timed
        renderer = CanvasRenderer(model, recipe, **options)
        with PeakMemory() as memory:
            start = time.perf_counter()
            if job.get("out"):
                render_to_file(model, recipe, job["out"], **options)
            else:
                for _ in renderer.bands():
                    pass
            seconds = time.perf_counter() - start
    pixels = job["width"] * job["height"]
    return {
        "seconds": seconds,
        "peak_mib": memory.mib,
        "tile": list(renderer.tile_shape),
        "tiles": renderer.total_tiles,
        "useful_gflop": 2 * macs_per_pixel(model.config) * pixels / 1e9,
    }


def _levers_off(job: dict) -> None:
    """Switch single optimisations back off, for benchmarks/levers.py's before/after pairs."""
    import contextlib

    import numpy as np
    import torch

    import generator.files.imagefile as imagefile
    import generator.network.latents as latents
    import generator.network.layers as layers
    import generator.rendering.render as render

    if job.get("nchw"):
        layers.channels_last = lambda x: x.contiguous()
    if job.get("encoder_threads"):
        imagefile._OrderedEncoder.__init__.__defaults__ = (int(job["encoder_threads"]),)
    if job.get("serial_tiles"):  # each tile's operations on all threads, one tile at a time
        render.cpu_workers = lambda device, jobs, memory_slots: 1
    if job.get("trimmed_heap"):  # glibc's own thresholds: big freed blocks go back at once
        render.kept_heap = contextlib.nullcontext
    if job.get("block_noise"):  # the former zn: a Philox stream per 64x64 block, numpy, cached

        def noise(self, layer, level, rect):
            r, scale = self.r, 2**level
            fields, key = r.__dict__.setdefault("block_noise", {}), (layer, level)
            if key not in fields:
                period = tuple(p * scale if p else None for p in r.period_cells)
                stream = latents.NOISE_STREAM_BASE + layer
                fields[key] = latents.NormalField(r.recipe.seed, stream, 1, period)
            zn = np.empty((len(self.origins), 1, rect.height, rect.width), dtype=np.float32)
            for sample, (oy, ox) in enumerate(self.origins):
                top, left = int(oy) * scale + rect.top, int(ox) * scale + rect.left
                fields[key].window_into(zn[sample], top, left)
            return torch.from_numpy(zn).to(r.device)

        render._TileFields.noise = noise


def child_roofline(job: dict) -> dict:
    """Plain channels-last torch convolutions with the shapes of the model's dense layers at the
    planned tile (random data, no modulation, no halo bookkeeping), and one 64->64 reference.

    The roofline is the faster of two ways to use the threads: each convolution on all of them,
    or one single-threaded stream of convolutions per thread (how the renderer runs tiles)."""
    import torch
    import torch.nn.functional as F

    from generator.rendering.planning import tile_layers
    from generator.rendering.render import CanvasRenderer

    model, recipe = _load(job)
    renderer = CanvasRenderer(model, recipe, memory_budget_mib=job.get("budget"))
    shapes = [
        s
        for s in tile_layers(model.config, renderer.tile_rows, renderer.tile_cols)
        if s.kernel == 3
    ]

    def timed(x, w, reps=3):
        with torch.inference_mode():
            F.conv2d(x, w)
            best = []
            for _ in range(reps):
                start = time.perf_counter()
                F.conv2d(x, w)
                best.append(time.perf_counter() - start)
        return median(best)

    layers, flops, seconds = [], 0.0, 0.0
    for s in shapes:
        x = torch.randn(1, s.in_channels, *s.in_size).contiguous(memory_format=torch.channels_last)
        w = torch.randn(s.out_channels, s.in_channels, 3, 3)
        out = (s.in_size[0] - 2) * (s.in_size[1] - 2)
        flops += 2 * out * s.in_channels * s.out_channels * 9
        seconds += timed(x, w)
        layers.append((x, w))
    # The same convolutions as the renderer runs them: one single-threaded stream per thread.
    from concurrent.futures import ThreadPoolExecutor

    from generator.rendering.workers import single_threaded_kernels

    streams = torch.get_num_threads()

    def stream(_):
        with torch.inference_mode():
            for x, w in layers:
                F.conv2d(x, w)

    with single_threaded_kernels(), ThreadPoolExecutor(streams) as pool:
        list(pool.map(stream, range(streams)))
        side_by_side = []
        for _ in range(3):
            start = time.perf_counter()
            list(pool.map(stream, range(streams)))
            side_by_side.append(time.perf_counter() - start)
    x = torch.randn(1, 64, 258, 258).contiguous(memory_format=torch.channels_last)
    reference = 2 * 256 * 256 * 64 * 64 * 9 / timed(x, torch.randn(64, 64, 3, 3)) / 1e9
    shared = flops / seconds / 1e9
    streamed = streams * flops / median(side_by_side) / 1e9
    return {
        "mix_gflops": max(shared, streamed),
        "shared_gflops": shared,
        "streams_gflops": streamed,
        "ref64_gflops": reference,
    }


def child_eta(job: dict) -> dict:
    """A streamed render whose progress estimates are logged, then judged against the truth."""
    from generator.rendering.output import render_to_file
    from generator.rendering.progress import ProgressEstimate

    model, recipe = _load(job)
    log = []
    start = time.perf_counter()

    def record(done: int, total: int) -> None:
        log.append((time.perf_counter() - start, done, total, estimate.remaining_s))

    estimate = ProgressEstimate(record)
    render_to_file(model, recipe, job["out"], progress=estimate)
    end = log[-1][0]
    total_errors, remaining_errors = [], []
    for t, done, total, remaining in log:
        if remaining is None or done < 0.1 * total or done >= total:
            continue
        total_errors.append((t + remaining) / end - 1)
        if done <= 0.9 * total:
            remaining_errors.append(remaining / (end - t) - 1)
    return {
        "tiles": log[-1][2],
        "updates": len(log),
        "max_total_error": max((abs(e) for e in total_errors), default=0.0),
        "max_remaining_error": max((abs(e) for e in remaining_errors), default=0.0),
    }


CHILDREN = {"render": child_render, "roofline": child_roofline, "eta": child_eta}


# --- the suite ------------------------------------------------------------------------------------


def _mp(job: dict) -> float:
    return job["width"] * job["height"] / 1e6


def interleaved(jobs: dict[str, dict], reps: int, threads: int | None) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {name: [] for name in jobs}
    for _ in range(reps):
        for name, job in jobs.items():
            results[name].append(run_child(SCRIPT, job, threads))
    return results


def med(rows: list[dict], key: str) -> float:
    return median([r[key] for r in rows])


def _sha(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def parallel_runs(model: str, width: int, height: int, folder: str, reps: int) -> dict:
    """torchrun (2 processes x 1 thread) vs one process with 2 and with 1 thread; files compared."""
    base = [sys.executable, "-m", "generator", "render", "--model", model, "--width", str(width)]
    base += ["--height", str(height), "--quiet", "--bit-depth", "32"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    variants = {
        "single_2_threads": (base, 2),
        "single_1_thread": (base, 1),
        "torchrun_2x1": ([*torchrun, "--nproc_per_node=2", *base[1:]], 1),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    hashes = {}
    for _ in range(reps):
        for name, (cmd, threads) in variants.items():
            out = os.path.join(folder, f"{name}.exr")
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            start = time.perf_counter()
            subprocess.run([*cmd, "--out", out], check=True, env=env, capture_output=True)
            times[name].append(time.perf_counter() - start)
            hashes[name] = _sha(out)
    seconds = {k: median(v) for k, v in times.items()}
    return {
        "seconds": seconds,
        "speedup_vs_2_threads": seconds["single_2_threads"] / seconds["torchrun_2x1"],
        "speedup_vs_1_thread": seconds["single_1_thread"] / seconds["torchrun_2x1"],
        "identical_to_1_thread": hashes["torchrun_2x1"] == hashes["single_1_thread"],
        "identical_to_2_threads": hashes["torchrun_2x1"] == hashes["single_2_threads"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file (default: untrained `cpu` preset)")
    parser.add_argument("--big-model", help="model for 16384x8192 (default: untrained `tiny`)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="small canvases, one repeat")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(CHILDREN[job["kind"]](job)))
        return

    reps = 1 if args.quick else args.reps
    small, medium, big = (
        ((512, 256), (1024, 512), (2048, 1024))
        if args.quick
        else (
            (2048, 1024),
            (4096, 2048),
            (16384, 8192),
        )
    )
    report: dict = {
        "machine_before": machine_state(),
        "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or make_model("cpu", folder)
        big_model = args.big_model or make_model("tiny", folder)
        report["model"] = args.model or "untrained cpu preset"
        report["big_model"] = args.big_model or "untrained tiny preset"
        exr = os.path.join(folder, "out.exr")

        def job(kind: str, m: str, size: tuple[int, int], **extra) -> dict:
            return {"kind": kind, "model": m, "width": size[0], "height": size[1], **extra}

        # 1 + 2: throughput, GFLOP/s vs roofline, patch overhead (2048x1024, interleaved)
        jobs = {
            "file": job("render", model, small, out=exr),
            "compute": job("render", model, small),
            "one_pass": job("render", model, small, tile=1 << 16),
            "roofline": job("roofline", model, small),
        }
        r = interleaved(jobs, reps, args.threads)
        gflops = med(r["compute"], "useful_gflop") / med(r["compute"], "seconds")
        report["small"] = {
            "size": small,
            "mp_per_s_file": _mp(jobs["file"]) / med(r["file"], "seconds"),
            "mp_per_s_compute": _mp(jobs["file"]) / med(r["compute"], "seconds"),
            "gflops": gflops,
            "roofline_gflops": med(r["roofline"], "mix_gflops"),
            "ref64_gflops": med(r["roofline"], "ref64_gflops"),
            "roofline_fraction": gflops / med(r["roofline"], "mix_gflops"),
            "tile": r["compute"][0]["tile"],
            "tiles": r["compute"][0]["tiles"],
            "patch_overhead": med(r["compute"], "seconds") / med(r["one_pass"], "seconds"),
            "seconds": {
                k: [round(x["seconds"], 3) for x in v] for k, v in r.items() if k != "roofline"
            },
        }
        # 1: throughput at 4096x2048
        r = interleaved(
            {"file": job("render", model, medium, out=exr)}, max(1, reps - 1), args.threads
        )
        report["medium"] = {
            "size": medium,
            "mp_per_s_file": _mp(job("render", model, medium)) / med(r["file"], "seconds"),
        }
        # 1, 3, 4: the big canvas against 2048x1024 with the same (small) model
        # The big render is one long run: small ones before and after it, so a change of load
        # during the suite weighs on both sides of the ratio.
        small_job = job("render", big_model, small, out=exr)
        r_small = interleaved({"f": small_job}, max(1, reps - 1), args.threads)["f"]
        r_big = interleaved({"f": job("render", big_model, big, out=exr)}, 1, args.threads)["f"]
        r_small += interleaved({"f": small_job}, max(1, reps - 1), args.threads)["f"]
        per_mp_small = med(r_small, "seconds") / _mp(job("render", big_model, small))
        per_mp_big = med(r_big, "seconds") / _mp(job("render", big_model, big))
        report["big"] = {
            "size": big,
            "mp_per_s_small": 1 / per_mp_small,
            "mp_per_s_big": 1 / per_mp_big,
            "peak_mib_small": med(r_small, "peak_mib"),
            "peak_mib_big": med(r_big, "peak_mib"),
            "memory_ratio": med(r_big, "peak_mib") / med(r_small, "peak_mib"),
            "scaling_ratio": per_mp_big / per_mp_small,
            "tile_small": r_small[0]["tile"],
            "tile_big": r_big[0]["tile"],
        }
        # 5: parallel
        report["parallel"] = parallel_runs(model, *medium, folder, max(1, reps - 1))
        report["parallel"]["size"] = medium
        # 6: time-left estimate
        report["eta"] = run_child(SCRIPT, job("eta", model, small, out=exr), args.threads)
    report["machine_after"] = machine_state()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print_table(report)


def print_table(rep: dict) -> None:
    s, m, b, p, e = rep["small"], rep["medium"], rep["big"], rep["parallel"], rep["eta"]
    size = lambda wh: f"{wh[0]}x{wh[1]}"  # noqa: E731
    rows = [
        (
            f"throughput {size(s['size'])}, EXR ({rep['model']})",
            f"{s['mp_per_s_file']:.2f} MP/s",
            "",
        ),
        (
            f"throughput {size(m['size'])}, EXR ({rep['model']})",
            f"{m['mp_per_s_file']:.2f} MP/s",
            "",
        ),
        (
            f"throughput {size(b['size'])}, EXR ({rep['big_model']})",
            f"{b['mp_per_s_big']:.2f} MP/s",
            "",
        ),
        (
            f"model GFLOP/s / plain-conv roofline ({size(s['size'])})",
            f"{s['gflops']:.1f} / {s['roofline_gflops']:.1f} = {s['roofline_fraction']:.0%}",
            "≥ 50%",
        ),
        (
            f"patch overhead: tiles {s['tile'][0]}x{s['tile'][1]} / one pass",
            f"{s['patch_overhead']:.3f}",
            "≤ 1.15",
        ),
        (
            f"memory: peak RssAnon {size(b['size'])} / {size(s['size'])} ({rep['big_model']})",
            f"{b['peak_mib_big']:.0f} / {b['peak_mib_small']:.0f} MiB = {b['memory_ratio']:.2f}",
            "≤ 1.5",
        ),
        (
            f"scaling: s/MP {size(b['size'])} / {size(s['size'])} ({rep['big_model']})",
            f"{b['scaling_ratio']:.2f}",
            "≤ 1.1",
        ),
        (
            f"parallel {size(p['size'])}: torchrun 2 proc x 1 thread vs 1 proc x 2 threads",
            f"{p['speedup_vs_2_threads']:.2f}x (vs 1 thread: {p['speedup_vs_1_thread']:.2f}x)",
            "",
        ),
        (
            "parallel: file identical to 1 proc with the same thread count",
            "yes" if p["identical_to_1_thread"] else "NO",
            "identical",
        ),
        (
            "time-left estimate error after 10% of tiles (total / remaining to 90%)",
            f"{e['max_total_error']:.0%} / {e['max_remaining_error']:.0%}",
            "≤ 20%",
        ),
    ]
    print("| figure | result | target |\n|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    before, after = rep["machine_before"], rep["machine_after"]
    print(
        f"\nmachine: {before['cpus']} CPUs; load average {before['load_average']} before, "
        f"{after['load_average']} after; other busy processes: "
        f"{'; '.join(before['busy_processes']) or 'none'}"
    )


if __name__ == "__main__":
    main()
