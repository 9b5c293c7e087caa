"""``python -m generator sky``: a composed sky (atmosphere, clouds, ground) to a file.

Every flag defaults to None so that with ``--recipe`` only the flags given change the recipe;
without one they change the defaults of ``SkyRecipe``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from pathlib import Path

from generator.device import DEVICES
from generator.errors import RequestError
from generator.imagefile import SUPPORTED_FORMATS
from generator.recipe import Window
from generator.render import ProgressFn
from generator.sky.atmosphere import SkySettings, SunLight
from generator.sky.layers import CloudSettings
from generator.sky.skyfile import SkyRecipe, read_sky_recipe, render_sky_to_file

EXAMPLES = """examples:
  a 4096x2048 clear sky over the bundled terrain, sun 30 degrees right and 20 up (EXR, 32-bit):
    python -m generator sky --sun 30,20 --out sky.exr
  the sky of a moment and place (UTC unless the time has a zone), for Blender (no disc: use the
  Sun lamp printed and stored in the file), a cloud layer at cover 0.5:
    python -m generator sky --time 2026-06-21T18:00+02:00 --place 48.85,2.35 --no-disc \\
        --clouds clouds.safetensors --cover 0.5 --out paris.exr
  six cube faces (sky_px.exr ... sky_nz.exr), the ground a plain colour:
    python -m generator sky --ground '#6b5a44' --cube --width 1024 --out sky.exr
  re-render a sky's recipe at another size, or only a window of it:
    python -m generator sky --recipe sky.exr --width 16384 --out big.exr
"""


def _pair(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected two numbers: A,B") from None
    return a, b


def _window(text: str) -> Window:
    try:
        return Window(*(int(v) for v in text.split(",")))
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError("expected X,Y,WIDTH,HEIGHT in pixels") from None


def add_sky_command(sub: argparse._SubParsersAction) -> None:
    """The ``sky`` subcommand's options."""
    p = sub.add_parser(
        "sky",
        help="a physical sky with a learned cloud layer and ground, to an image file",
        description="Compose a 360-degree sky: a physical clear atmosphere, a cloud layer drawn "
        "by a cloud model, a ground textured by a terrain model, lit by one sun. The file embeds "
        "its recipe and the matching Sun lamp.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, type=Path, help=f"output image: {SUPPORTED_FORMATS}")
    p.add_argument("--recipe", type=Path, help="start from the recipe of a sky we made (or .json)")
    p.add_argument("--sun", type=_pair, metavar="AZ,EL", help="sun azimuth (right of the image's "
                   "centre) and elevation, degrees (default 0,30)")  # fmt: skip
    p.add_argument("--time", help="the sun of a moment: ISO date and time (UTC unless zoned)")
    p.add_argument("--place", type=_pair, metavar="LAT,LON", help="with --time: where (degrees)")
    p.add_argument("--no-disc", action="store_true", help="leave the disc out (use the Sun lamp)")
    p.add_argument("--haze", type=float, help="aerosol density: 1 clean, 5 city, 10 hazy")
    p.add_argument("--altitude", type=float, help="the eye's height above sea level, m (100)")
    p.add_argument("--clouds", help="a cloud model (wraps xy), a cloud map (a square, tileable "
                   "grey image: density) or 'none' (default none)")  # fmt: skip
    p.add_argument("--cover", type=float, help="cloud cover: 0 clear, 0.5 broken, 1 overcast")
    p.add_argument("--cloud-altitude", type=float, help="cloud layer, m above the eye (1500)")
    p.add_argument("--cloud-period", type=float, help="metres before the clouds repeat (30000)")
    p.add_argument("--cloud-styles", type=int, nargs="+", metavar="SEED",
                   help="cloud styles; two or more: a weather front across the layer")  # fmt: skip
    p.add_argument("--ground", help="a terrain model (default 'terrain'), '#rrggbb' or 'none'")
    p.add_argument("--ground-period", type=float, help="metres before the ground repeats (12)")
    p.add_argument("--albedo", type=float, help="the terrain's mean albedo (0.2)")
    p.add_argument("--eye-height", type=float, help="the eye above the ground, m (1.7)")
    p.add_argument("--seed", type=int, help="seed of the cloud and ground textures (0)")
    p.add_argument("--width", type=int, help="equirect width (height = width / 2) or cube face")
    p.add_argument("--cube", action="store_true", help="six cube faces NAME_px.EXT ... _nz")
    p.add_argument("--window", type=_window, help="only X,Y,WIDTH,HEIGHT of the equirect")
    p.add_argument("--bit-depth", type=int, help="8/16 for PNG, 8/16/32 TIFF, 16/32 EXR "
                   "(EXR with the disc: 32)")  # fmt: skip
    p.add_argument("--device", default="auto", choices=DEVICES, help="where models run (auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _moment(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise RequestError(f"--time {text!r} is not an ISO date and time") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _given(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def sky_recipe(args: argparse.Namespace) -> SkyRecipe:
    """The recipe the flags ask for: ``--recipe``'s or the defaults, with the given flags."""
    base = read_sky_recipe(args.recipe) if args.recipe else SkyRecipe()
    c = base.composition
    sky_changes = _given(haze=args.haze, altitude=args.altitude)
    if args.no_disc:
        sky_changes["sun_disc"] = False
    if args.sun is not None:
        sky_changes.update(sun_azimuth=args.sun[0], sun_elevation=args.sun[1])
    if (args.time is None) != (args.place is None):
        raise RequestError("--time and --place go together")
    sky = dataclasses.replace(c.sky, **sky_changes)
    if args.time is not None:
        fields = {f.name: getattr(sky, f.name) for f in dataclasses.fields(sky)}
        for name in ("sun_elevation", "sun_azimuth"):
            fields.pop(name)
        sky = SkySettings.at_place(_moment(args.time), *args.place, **fields)
    clouds = c.clouds
    if args.clouds == "none":
        clouds = None
    cloud_changes = _given(
        model=args.clouds if args.clouds != "none" else None, cover=args.cover,
        altitude_m=args.cloud_altitude, period_m=args.cloud_period, seed=args.seed,
        styles=args.cloud_styles and tuple(args.cloud_styles),
    )  # fmt: skip
    if clouds is None and "model" in cloud_changes:
        clouds = CloudSettings(cloud_changes.pop("model"))
    if clouds is not None:
        if "model" in cloud_changes:
            cloud_changes["model_hash"] = ""
        clouds = dataclasses.replace(clouds, **cloud_changes)
    elif args.cover is not None and args.cover > 0:
        raise RequestError("--cover needs a cloud model: --clouds MODEL")
    ground_changes = _given(
        source=args.ground, period_m=args.ground_period, albedo=args.albedo,
        eye_height_m=args.eye_height, seed=args.seed,
    )  # fmt: skip
    if "source" in ground_changes:
        ground_changes["model_hash"] = ""
    ground = dataclasses.replace(c.ground, **ground_changes)
    composition = dataclasses.replace(c, sky=sky, clouds=clouds, ground=ground)
    changes = _given(width=args.width, window=args.window)
    if args.cube:
        changes["projection"] = "cube"
    if "width" in changes or "projection" in changes:
        changes.setdefault("window", None)
    return base.replace(composition=composition, **changes)


def describe_lamp(lamp: SunLight, sky: SkySettings) -> str:
    """The Sun lamp as one line a person can copy into Blender."""
    colour = ", ".join(f"{c:.3f}" for c in lamp.colour)
    return (
        f"Sun lamp: elevation {sky.sun_elevation:.2f} deg, azimuth {sky.sun_azimuth:.2f} deg "
        f"(right of the image's centre), angular diameter {lamp.angular_diameter:.3f} deg, "
        f"strength {lamp.strength:.2f} W/m^2, colour ({colour})"
    )


def run_sky(args: argparse.Namespace, progress: ProgressFn) -> int:
    """Render the sky the flags ask for; print the files and the Sun lamp."""
    recipe = sky_recipe(args)
    files, lamp = render_sky_to_file(
        recipe, args.out, bit_depth=args.bit_depth, device=args.device, progress=progress
    )
    size = f"{recipe.width}x{recipe.height}" + (" faces" if recipe.projection == "cube" else "")
    print(f"wrote {', '.join(map(str, files))} ({size})")
    print(describe_lamp(lamp, recipe.composition.sky))
    return 0
