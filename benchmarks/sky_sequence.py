"""Seconds per render of the bundled sky, 1024 x 512, rendered again and again in one process
with the sun moved each time: what a script making a day's time-lapse, or the add-on's preview
after each change of the sun, waits for. The first render also draws the layers' tiles; later
ones reuse them and rebuild the air's tables for the new sun. Not a timed test: the figures go in
docs/sky.md. Run:

    python benchmarks/sky_sequence.py                     # suns at 35 (the recipe's), 20, 8 degrees
    python benchmarks/sky_sequence.py --elevations 60 45 30 15 5 --width 2048
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elevations", type=float, nargs="+", default=[35.0, 20.0, 8.0])
    parser.add_argument("--width", type=int, default=1024)
    args = parser.parse_args()
    os.environ["ENDLESS_BACKDROPS_CACHE"] = ""  # the first render draws its tiles
    from generator.files import bundled_recipes
    from generator.sky import read_sky_recipe, render_sky_to_file

    recipe = read_sky_recipe(bundled_recipes()["sky"]).replace(width=args.width)
    with tempfile.TemporaryDirectory() as folder:
        for elevation in args.elevations:
            composition = recipe.composition
            sky = dataclasses.replace(composition.sky, sun_elevation=elevation)
            moved = recipe.replace(composition=dataclasses.replace(composition, sky=sky))
            start = time.perf_counter()
            render_sky_to_file(moved, Path(folder) / "sky.exr")
            seconds = round(time.perf_counter() - start, 1)
            print(json.dumps({"sun_elevation": elevation, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
