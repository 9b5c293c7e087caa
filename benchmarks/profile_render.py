"""Where a render's time goes: cProfile by function, then torch.profiler by operator and shape.

    python benchmarks/profile_render.py --preset cpu --size 2048x1024 [--out x.exr] [--tile 256]
    python benchmarks/profile_render.py --preset paper --size 512x256 --threads 1

Untrained models of the presets (torch.manual_seed(0)), or ``--model FILE``. The first, small render
warms kernels up and is not profiled.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import make_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--model")
    parser.add_argument("--size", default="2048x1024")
    parser.add_argument("--out", help="render to this file (default: to memory)")
    parser.add_argument("--tile", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--precision")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--rows", type=int, default=18)
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from generator import load_model, new_recipe, render_array, render_to_file

    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        model = load_model(args.model or make_model(args.preset, folder))
    recipe = new_recipe(model.config, model.hash, width, height, seed=1, wrap="x")
    options = {"tile": args.tile, "batch": args.batch, "precision": args.precision}

    def run():
        if args.out:
            render_to_file(model, recipe, args.out, **options)
        else:
            render_array(model, recipe, **options)

    render_array(model, recipe.replace(width=256, height=128), **options)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    run()
    profiler.disable()
    print(f"{args.preset} {width}x{height}: {time.perf_counter() - start:.2f} s under cProfile")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.rows)
    print(text.getvalue())
    # Tiles run on worker threads: profile them all (a Kineto option, experimental in 2.x).
    every_thread = torch._C._profiler._ExperimentalConfig(profile_all_threads=True)
    with profile(
        activities=[ProfilerActivity.CPU], record_shapes=True, experimental_config=every_thread
    ) as prof:
        run()
    print(
        prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total",
            row_limit=args.rows,
            max_name_column_width=30,
            max_shapes_column_width=64,
        )
    )


if __name__ == "__main__":
    main()
