"""``python -m generator sky``: a composed sky (atmosphere, clouds, ground) to a file: a 360-degree
equirect, six cube faces, or a matte strip seen through a cylindrical or perspective camera.

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
from generator.files.imagefile import SUPPORTED_FORMATS, holds_display_values
from generator.files.recipe import Window
from generator.rendering.render import ProgressFn
from generator.sky.atmosphere import SkySettings, SunLight
from generator.sky.cirrus import CirrusSettings
from generator.sky.horizon import HorizonSettings
from generator.sky.layers import CloudSettings
from generator.sky.skyfile import TONES, SkyRecipe, read_sky_recipe, render_sky_to_file
from generator.sky.strip import STRIP_PROJECTIONS, StripCamera

EXAMPLES = """examples:
  a 4096x2048 clear sky over the bundled terrain, sun 30 degrees right and 20 up (EXR, 32-bit):
    python -m generator sky --sun 30,20 --out sky.exr
  the sky of a moment and place (UTC unless the time has a zone), for Blender (no disc: use the
  Sun lamp printed and stored in the file), a cloud layer at cover 0.5 under a cirrus veil:
    python -m generator sky --time 2026-06-21T18:00+02:00 --place 48.85,2.35 --no-disc \\
        --clouds clouds.safetensors --cover 0.5 --cirrus 0.4 --out paris.exr
  six cube faces (sky_px.exr ... sky_nz.exr), the ground a plain colour:
    python -m generator sky --ground '#6b5a44' --cube --width 1024 --out sky.exr
  re-render a sky's recipe at another size, or only a window of it:
    python -m generator sky --recipe sky.exr --width 16384 --out big.exr
  a matte strip, 8192x1024, 120 degrees across, the horizon 60% down (8-bit PNG, exposed
  by the sky's meter), and a transparent 360-degree cyclorama behind it for compositing:
    python -m generator sky --strip 8192x1024 --fov 120 --horizon 0.6 --out matte.png
    python -m generator sky --strip 16384x2048 --fov 360 --ground none --out cyclorama.png
  the same through a perspective camera turned 40 degrees right, one stop brighter:
    python -m generator sky --strip 4096x1024 --camera perspective --fov 70 --heading 40 \\
        --horizon 0.7 --exposure +1 --out plate.png
  a landscape at the horizon: a band image (RGBA, land opaque, sky transparent, 360 degrees
  wide, its horizon at its middle row) 3 km away, its centre facing 90 degrees right; then two
  bands, the far one (20 km) hazier behind the near one:
    python -m generator sky --strip 8192x1024 --horizon-band hills.png --band-heading 90 \\
        --clouds clouds --cover 0.35 --out landscape.png
    python -m generator sky --strip 8192x1024 --horizon-band far.png near.png \\
        --band-distance 20000 2000 --out layers.png
  a band drawn by a landscape model (trained with --preset landscape), seed 7:
    python -m generator sky --strip 8192x1024 --horizon-band landscape.safetensors \\
        --band-seed 7 --out learned.png
"""


def _pair(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected two numbers: A,B") from None
    return a, b


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected WIDTHxHEIGHT in pixels") from None
    return width, height


def _exposure(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected stops (e.g. -4.5) or 'auto'") from None


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
    p.add_argument("--recipe", type=Path, help="start from the recipe of a sky we made (or "
                   ".json), or 'sky': the bundled default sky")  # fmt: skip
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
    p.add_argument("--cloud-edges", type=float, metavar="M",
                   help="how far the clouds' edges are frayed, m (90; 0: as drawn)")  # fmt: skip
    p.add_argument("--cloud-clustering", type=float, metavar="A",
                   help="how strongly the clouds gather into fields with clear stretches "
                        "between (1.2; 0: spread as drawn)")  # fmt: skip
    p.add_argument("--cloud-styles", type=int, nargs="+", metavar="SEED",
                   help="cloud styles; two or more: a weather front across the layer")  # fmt: skip
    p.add_argument("--cirrus", type=float, metavar="AMOUNT", help="a high veil of cirrus above "
                   "the clouds: 0 none (default) to 1, thick enough to dim the sun")  # fmt: skip
    p.add_argument("--cirrus-altitude", type=float, help="the cirrus veil, m above the eye (8000)")
    p.add_argument("--horizon-band", nargs="+", metavar="FILE", help="landscape bands at the "
                   "horizon: 'hills' (a range drawn from its seed), RGBA images (land opaque, "
                   "sky transparent) 360 degrees wide, the horizon at the middle row, or "
                   "landscape models (with alpha) that draw one; 'none' removes a "
                   "recipe's")  # fmt: skip
    p.add_argument("--band-distance", type=float, nargs="+", metavar="M", help="each band's "
                   "distance from the eye, m: the haze in front of it (3000)")  # fmt: skip
    p.add_argument("--band-heading", type=float, nargs="+", metavar="DEG", help="the azimuth "
                   "each band's centre column faces, degrees right of the image's centre "
                   "(0)")  # fmt: skip
    p.add_argument("--band-seed", type=int, nargs="+", metavar="SEED", help="the seed each "
                   "hills or model band is drawn with (0; hills follow --seed)")  # fmt: skip
    p.add_argument("--ground", help="a terrain model (default 'terrain'), '#rrggbb' or 'none'")
    p.add_argument("--ground-period", type=float, help="metres before the ground repeats (12)")
    p.add_argument("--albedo", type=float, help="the terrain's mean albedo (0.2)")
    p.add_argument("--eye-height", type=float, help="the eye above the ground, m (1.7)")
    p.add_argument("--seed", type=int, help="seed of the cloud, cirrus and ground textures and "
                   "the hills (0)")  # fmt: skip
    p.add_argument("--width", type=int, help="equirect width (height = width / 2) or cube face")
    p.add_argument("--cube", action="store_true", help="six cube faces NAME_px.EXT ... _nz")
    p.add_argument("--window", type=_window, help="only X,Y,WIDTH,HEIGHT of the equirect or strip")
    p.add_argument("--strip", type=_size, metavar="WxH", help="a matte strip of WxH pixels, seen "
                   "through --camera (default cylindrical)")  # fmt: skip
    p.add_argument("--camera", choices=STRIP_PROJECTIONS, help="a strip's camera: cylindrical "
                   "(a cyclorama's, rows even in height) or perspective (a pinhole)")  # fmt: skip
    p.add_argument("--fov", type=float, help="a strip's horizontal field of view, degrees (120; "
                   "360 wraps a cylindrical strip into a cyclorama)")  # fmt: skip
    p.add_argument("--vfov", type=float, help="a cylindrical strip's vertical field of view, "
                   "degrees (default: pixels square at the horizon)")  # fmt: skip
    p.add_argument("--horizon", type=float, help="where a strip's horizon lies, as a fraction "
                   "of its height from the top (0.6)")  # fmt: skip
    p.add_argument("--heading", type=float, help="the azimuth a strip's centre faces, degrees "
                   "right of the equirect's centre (0)")  # fmt: skip
    p.add_argument("--exposure", type=_exposure, metavar="STOPS|auto", help="8/16-bit files: "
                   "radiance x 2^STOPS (default auto: the clear sky's key made 0.25, toward where "
                   "photographs of the sky expose it)")  # fmt: skip
    p.add_argument("--tone", choices=TONES, help="8/16-bit files: filmic (default: as a "
                   "camera's picture, as Blender's Filmic and AgX views), shoulder (linear with a "
                   "soft roll-off above 0.6) or standard (a plain clip, as Blender's Standard "
                   "view)")  # fmt: skip
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
        edge_warp_m=args.cloud_edges, clustering=args.cloud_clustering,
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
    cirrus_changes = _given(amount=args.cirrus, altitude_m=args.cirrus_altitude, seed=args.seed)
    cirrus = c.cirrus
    if cirrus is None and args.cirrus:
        cirrus = CirrusSettings()
    if cirrus is not None:
        cirrus = dataclasses.replace(cirrus, **cirrus_changes)
    elif args.cirrus_altitude is not None:
        raise RequestError("--cirrus-altitude needs a veil: --cirrus AMOUNT")
    ground_changes = _given(
        source=args.ground, period_m=args.ground_period, albedo=args.albedo,
        eye_height_m=args.eye_height, seed=args.seed,
    )  # fmt: skip
    if "source" in ground_changes:
        ground_changes["model_hash"] = ""
    ground = dataclasses.replace(c.ground, **ground_changes)
    horizon = _horizon(args, c.horizon)
    composition = dataclasses.replace(
        c, sky=sky, clouds=clouds, cirrus=cirrus, ground=ground, horizon=horizon
    )
    changes = _given(width=args.width, window=args.window, tone=args.tone)
    if args.exposure is not None:
        changes["exposure"] = None if args.exposure == "auto" else args.exposure
    if composition != c:
        changes["metered"] = None  # another sky: meter it again
    if args.cube:
        changes.update(projection="cube", camera=None)
    changes.update(_strip_changes(args, base))
    if {"width", "projection", "camera"} & changes.keys():
        changes.setdefault("window", None)
    return base.replace(composition=composition, **changes)


def _horizon(
    args: argparse.Namespace, bands: tuple[HorizonSettings, ...]
) -> tuple[HorizonSettings, ...]:
    """The horizon bands ``--horizon-band`` and its distance, heading and seed flags ask for: new
    bands, or the recipe's with the flags given; one value of a flag applies to every band."""
    if args.horizon_band is not None:
        if args.horizon_band == ["none"]:
            bands = ()
        else:
            bands = tuple(HorizonSettings(path) for path in args.horizon_band)
    if args.seed is not None:  # a new seed is a new landscape, its hills too
        bands = tuple(
            dataclasses.replace(band, seed=args.seed) if band.kind == "hills" else band
            for band in bands
        )
    changes = {
        "distance_m": args.band_distance, "heading": args.band_heading, "seed": args.band_seed,
    }  # fmt: skip
    for name, values in changes.items():
        if values is None:
            continue
        flag = "--band-" + name.split("_")[0]
        if not bands:
            raise RequestError(f"{flag} needs a horizon band: --horizon-band FILE")
        if len(values) not in (1, len(bands)):
            raise RequestError(f"{flag}: give one value, or one per band ({len(bands)})")
        values = values * len(bands) if len(values) == 1 else values
        bands = tuple(
            dataclasses.replace(band, **{name: value})
            for band, value in zip(bands, values, strict=True)
        )
    return bands


def _strip_changes(args: argparse.Namespace, base: SkyRecipe) -> dict:
    """The projection, camera and width that ``--strip`` and the camera flags ask for."""
    camera_changes = _given(
        fov=args.fov, vertical_fov=args.vfov, horizon=args.horizon, heading=args.heading
    )
    asked = camera_changes or args.camera is not None
    if args.strip is None and base.camera is None:
        if asked:
            raise RequestError("--camera, --fov, --vfov, --horizon and --heading need --strip WxH")
        return {}
    if args.strip is not None and args.cube:
        raise RequestError("--strip and --cube are different outputs: give one")
    if args.strip is None and args.cube:
        return {}
    camera = base.camera or StripCamera()
    changes = {}
    if args.strip is not None:
        changes["width"], camera_changes["height"] = args.strip
        changes["projection"] = args.camera or (
            base.projection if base.camera else STRIP_PROJECTIONS[0]
        )
    elif args.width is not None:  # the same view, at another size
        camera_changes["height"] = max(1, round(camera.height * args.width / base.width))
    if args.camera is not None:
        changes["projection"] = args.camera
        if args.camera == "perspective" and args.vfov is None:
            camera_changes["vertical_fov"] = None
    if camera_changes or "projection" in changes:
        changes["camera"] = dataclasses.replace(camera, **camera_changes)
    return changes


def describe_lamp(lamp: SunLight, sky: SkySettings) -> str:
    """The Sun lamp as one line a person can copy into Blender."""
    colour = ", ".join(f"{c:.3f}" for c in lamp.colour)
    return (
        f"Sun lamp: elevation {sky.sun_elevation:.2f} deg, azimuth {sky.sun_azimuth:.2f} deg "
        f"(right of the image's centre), angular diameter {lamp.angular_diameter:.3f} deg, "
        f"strength {lamp.strength:.2f} W/m^2, colour ({colour})"
    )


def run_sky(args: argparse.Namespace, progress: ProgressFn) -> int:
    """Render the sky the flags ask for; print the files, the exposure and the Sun lamp."""
    recipe = sky_recipe(args)
    display = holds_display_values(args.out, args.bit_depth)
    if not display and (args.exposure is not None or args.tone is not None):
        raise RequestError(
            "--exposure and --tone make 8/16-bit PNG and TIFF files; a float file (EXR, 32-bit "
            "TIFF) keeps the radiance in Blender's units, to expose in Blender"
        )
    files, lamp = render_sky_to_file(
        recipe, args.out, bit_depth=args.bit_depth, device=args.device, progress=progress
    )
    written = read_sky_recipe(files[0])
    size = f"{recipe.width}x{recipe.height}" + (" faces" if recipe.projection == "cube" else "")
    if recipe.camera is not None:
        size += f" {recipe.projection}, {recipe.camera.fov:g} degrees across"
    print(f"wrote {', '.join(map(str, files))} ({size})")
    if display:
        how = "given" if written.exposure is not None else "metered"
        print(f"exposure {written.exposure_stops:+.2f} stops ({how}), tone {written.tone}")
    print(describe_lamp(lamp, recipe.composition.sky))
    return 0
