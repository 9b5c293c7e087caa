"""Time, CPU time and peak memory of composed skies (atmosphere + terrain ground, optionally
clouds) from 2048x1024 to 16384x8192, each streamed to an EXR in its own process. Not a timed
test: the figures go in docs/sky.md. CPU time (all threads, user + system) says what a shared
machine's load hides. Run:

    python benchmarks/sky_compose.py                          # clear sky over the terrain
    python benchmarks/sky_compose.py --clouds CLOUDS.safetensors --widths 4096 16384
    python benchmarks/sky_compose.py --clouds clouds --cirrus 0.3 --widths 16384  # and a veil
    python benchmarks/sky_compose.py --no-disc --widths 16384  # half-float EXR, as for Blender
    python benchmarks/sky_compose.py --strip --widths 16384    # a 16384 x 2048 matte, 8-bit PNG
    python benchmarks/sky_compose.py --clouds clouds --widths 16384 --stored-tiles
    python benchmarks/sky_compose.py --clouds clouds --cirrus 0.3 --hills --widths 16384

Each child draws its layers' tiles, as a sky's first render does, unless ``--stored-tiles``: then
a render before the timed ones has stored them (``generator.sky.tilestore``), as any render of
the same layers after the first finds them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from render_scaling import _rss_anon_kib


def measure(
    width: int,
    clouds: str | None,
    disc: bool = True,
    strip: bool = False,
    cirrus: float = 0.0,
    hills: bool = False,
) -> dict:
    """Runs in the child: one render to a file; seconds and peak anonymous memory."""
    from generator.files import bundled_recipes
    from generator.sky.atmosphere import SkySettings
    from generator.sky.cirrus import CirrusSettings
    from generator.sky.compose import SkyComposition
    from generator.sky.layers import CloudSettings
    from generator.sky.skyfile import SkyRecipe, read_sky_recipe, render_sky_to_file
    from generator.sky.strip import StripCamera

    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss_anon_kib())

    threading.Thread(target=sample, daemon=True).start()
    composition = SkyComposition(
        sky=SkySettings(sun_elevation=30.0, sun_disc=disc),
        clouds=None if clouds is None else CloudSettings(clouds, cover=0.5),
        cirrus=CirrusSettings(amount=cirrus) if cirrus > 0 else None,
        horizon=read_sky_recipe(bundled_recipes()["sky"]).composition.horizon if hills else (),
    )
    recipe, name = SkyRecipe(composition, width=width), "sky.exr"
    if strip:
        camera = StripCamera(height=width // 8, fov=120.0, horizon=0.6)
        recipe, name = recipe.replace(projection="cylindrical", camera=camera), "matte.png"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        render_sky_to_file(recipe, Path(folder) / name)
    seconds = time.perf_counter() - start
    done.set()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "width": width,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_mib": peak[0] >> 10,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[2048, 4096, 8192, 16384])
    parser.add_argument("--clouds", help="a cloud model (torus-wrapping) for a layer at cover 0.5")
    parser.add_argument("--cirrus", type=float, default=0.0, help="a cirrus veil's amount")
    parser.add_argument("--no-disc", action="store_true", help="no disc: a half-float EXR")
    parser.add_argument("--strip", action="store_true", help="a width x width/8 matte strip, PNG")
    parser.add_argument("--stored-tiles", action="store_true", help="tiles stored before")
    parser.add_argument("--hills", action="store_true", help="the bundled sky's hills")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(
            args.child, args.clouds, not args.no_disc, args.strip, args.cirrus, args.hills
        )
        print(json.dumps(result))
        return

    def child(width: int) -> list[str]:
        command = [sys.executable, __file__, "--child", str(width)]
        command += ["--clouds", args.clouds] if args.clouds else []
        command += ["--no-disc"] * args.no_disc + ["--strip"] * args.strip
        command += ["--hills"] * args.hills
        return [*command, "--cirrus", str(args.cirrus)]

    with tempfile.TemporaryDirectory() as store:
        env = {**os.environ, "ENDLESS_BACKDROPS_CACHE": store if args.stored_tiles else ""}
        if args.stored_tiles:  # the tiles do not depend on the width
            subprocess.run(child(1024), capture_output=True, env=env, check=True)
        for width in args.widths:
            run = subprocess.run(child(width), capture_output=True, text=True, env=env, check=True)
            print(run.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
