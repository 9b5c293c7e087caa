"""``python -m generator``: render seamless backdrops from the command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from generator.device import DEVICES, resolve_device
from generator.errors import BackdropError, RequestError
from generator.files.bundled import (
    LEARNED_SKY,
    SUFFIX,
    bundled_models,
    bundled_recipes,
    is_sky_recipe,
    resolve_model_path,
)
from generator.files.imagefile import SUPPORTED_FORMATS, read_metadata
from generator.files.modelfile import describe, load_model, save_model
from generator.files.photo import read_photo
from generator.files.recipe import (
    SCALES,
    WRAP_MODES,
    Recipe,
    Sun,
    Window,
    auto_scale,
    extended,
    new_recipe,
)
from generator.network.config import PRESETS, ModelConfig
from generator.network.model import Generator
from generator.rendering.inversion import QUALITY_STEPS, InversionSettings
from generator.rendering.outpaint import outpaint_to_file, place_photo
from generator.rendering.output import read_recipe, render_to_file
from generator.rendering.parallel import local_device, process_group, render_to_file_parallel, world
from generator.rendering.planning import DEFAULT_BUDGET_MIB
from generator.rendering.progress import ProgressEstimate, format_seconds
from generator.rendering.render import DEFAULT_BATCH, DEFAULT_TILE, PRECISIONS
from generator.sky.command import add_sky_command, run_sky
from generator.sky.skyfile import SKY_KEY, read_sky_recipe

NO_SUPERRES_HELP = (
    "skies above the model's native scale and flat canvases with --scale > 1: plain cubic "
    "resampling instead of its super-resolution stage (faster, softer)"
)
SKY_WIDTH = 4096
"""Default width of a sky model's 360-degree render (4096 x 2048, what Blender users expect)."""
RANK_GRACE_S = 5.0
"""How long a process other than rank 0 of a torchrun group waits before it exits on an error
every rank meets: torchrun stops the group when the first process exits, and rank 0, which
prints the error's one line, could be stopped before it had printed it."""
COMPOSED_RENDER_FLAGS = ("width", "seed", "sun", "window", "bit_depth", "device", "quiet")
"""The render flags a composed sky (``--model sky``) takes: ``python -m generator sky`` has the
same ones and more; the others (canvas, styles, tiling, precision) belong to learned models."""

EXAMPLES = """examples:
  a 4096x2048 HDR equirect sky for Blender's World: the bundled composed sky (a physical atmosphere,
  learned clouds, terrain ground; its Sun lamp is printed and stored in the file):
    python -m generator render --model sky --out sky.exr
  another sky, 8192 wide, other clouds and ground, the sun 30 degrees right of centre, 25 up:
    python -m generator render --model sky --seed 7 --width 8192 --sun 30,25 --out sky7.exr
  the learned whole-sphere sky model (a model of 360-degree panoramas, as one trains on one's
  own), with a sun disc:
    python -m generator render --model sky-360 --sun 30,25 --out learned.exr
  a tileable ground texture with the bundled terrain model:
    python -m generator render --model terrain --wrap xy --width 2048 --height 2048 \\
        --out ground.png
  a wide matte painting fusing three styles left to right (your own model M):
    python -m generator render --model M --width 16384 --height 2048 --styles 4 9 12 --out strip.tif
  make an existing render 1024 pixels wider on each side (old pixels stay identical):
    python -m generator extend strip.tif --model M --left 1024 --right 1024 --out wider.tif
  a tileable terrain rendered by 2 processes (rank 0 writes the file; identical bytes):
    torchrun --nproc_per_node=2 -m generator render --model terrain --wrap xy \\
        --width 8192 --height 8192 --out ground.exr
"""


def _scale(text: str) -> int | str:
    if text == "auto":
        return text
    if text.isdigit() and int(text) in SCALES:
        return int(text)
    raise argparse.ArgumentTypeError(f"choose one of {', '.join(map(str, SCALES))} or auto")


def _window(text: str) -> Window:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected X,Y,WIDTH,HEIGHT in pixels") from None
    return Window(x, y, w, h)


def _anchor(text: str) -> tuple[float, float]:
    try:
        fx, fy = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected X,Y as fractions of the canvas") from None
    return fx, fy


def _sun(text: str) -> Sun:
    try:
        values = [float(v) for v in text.split(",")]
        if not 2 <= len(values) <= 4:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected AZIMUTH,ELEVATION[,STOPS[,SIZE]] in degrees (stops: brightness)"
        ) from None
    try:
        return Sun(*values)
    except RequestError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help=f"model file (.safetensors) or a bundled name: {', '.join(bundled_models())} "
        f"({', '.join(bundled_recipes()) or 'none'}: a composed sky, see 'sky')",
    )
    parser.add_argument(
        "--out", required=True, type=Path, help=f"output image: {SUPPORTED_FORMATS}"
    )
    parser.add_argument(
        "--bit-depth", type=int, help="8/16 for PNG, 8/16/32 for TIFF, 16/32 for EXR"
    )
    parser.add_argument("--device", default="auto", choices=DEVICES, help="where to run (auto)")
    parser.add_argument(
        "--tile",
        type=int,
        default=DEFAULT_TILE,
        help="tile side in pixels (default: chosen from --memory-budget)",
    )
    parser.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help="tiles per batch (default: 1)"
    )
    budgets = ", ".join(f"{k} {v}" for k, v in DEFAULT_BUDGET_MIB.items())
    parser.add_argument(
        "--memory-budget",
        type=float,
        metavar="MIB",
        help=f"working memory to plan tiles for, in MiB (default: {budgets})",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32 (default, exact), bf16 (CPU/CUDA) or fp16 (GPU): faster, tiles agree to "
        "about 1e-3 (bf16) or 1e-2 (fp16); recorded in the recipe",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Endless Backdrops: seamless backdrops of any size from an InfinityGAN model.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser(
        "render",
        help="render a canvas to an image file",
        description="Render a canvas (or a window of one) to PNG, EXR or TIFF. The file embeds "
        "its recipe, so it can be re-rendered or extended exactly.",
    )
    _add_run_options(render)
    render.add_argument("--width", type=int, help="canvas width in pixels (default: model's)")
    render.add_argument("--height", type=int, help="canvas height (default: model's; width/2 sky)")
    render.add_argument("--seed", type=int, help="seed of the local latents and noise (default 0)")
    render.add_argument(
        "--wrap",
        help=f"{', '.join(WRAP_MODES)}: x is a cylinder, xy a torus (default: none; sky models "
        "render a 360-degree sky unless a wrap is given)",
    )
    render.add_argument(
        "--equirect",
        action="store_true",
        help=f"360-degree equirect sky: 2:1, wraps, soft poles (default width {SKY_WIDTH} for "
        "sky models, else 2048)",
    )
    render.add_argument(
        "--styles",
        type=int,
        nargs="+",
        metavar="SEED",
        help="style seeds: one restyles the --seed layout, 2+ fuse left to right",
    )
    render.add_argument(
        "--anchors",
        type=_anchor,
        nargs="+",
        metavar="X,Y",
        help="place the styles at these points, as fractions (0-1) of the canvas",
    )
    render.add_argument("--blend", type=float, help="style transition width in latent cells")
    render.add_argument("--window", type=_window, help="render only X,Y,WIDTH,HEIGHT of the canvas")
    render.add_argument(
        "--recipe",
        type=Path,
        help="re-render the recipe of an image (or .json) we made; --seed, --window, --sun and "
        "--no-superres change it, its canvas stays (enlarge it with extend)",
    )
    render.add_argument(
        "--sun",
        type=_sun,
        metavar="AZ,EL[,STOPS[,SIZE]]",
        help="360-degree skies: add a sun disc at this azimuth (degrees right of the image's "
        "centre) and elevation; radiance 2**STOPS (default 15), SIZE degrees across (0.53)",
    )
    render.add_argument("--no-superres", action="store_true", help=NO_SUPERRES_HELP)
    render.add_argument(
        "--scale",
        type=_scale,
        help="flat canvases: draw the scene 2, 4 or 8 times larger, with super-resolution "
        "detail; 'auto' fits the model's frame to the height (a matte) or, with --wrap xy, "
        "to the width (a texture tile); default 1: native scale, more canvas = more scene",
    )

    extend = sub.add_parser(
        "extend",
        help="enlarge a canvas we rendered; existing pixels stay identical",
        description="Re-render an image's recipe on a larger canvas (outpaint a generated image).",
    )
    extend.add_argument("image", type=Path, help="an image made by this tool (carries its recipe)")
    _add_run_options(extend)
    for side in ("left", "right", "top", "bottom"):
        extend.add_argument(f"--{side}", type=int, default=0, help=f"pixels to add on the {side}")

    outpaint = sub.add_parser(
        "outpaint",
        help="extend a real photo: invert it into the model, render the canvas around it",
        description="Place PHOTO on a canvas, find latents that make the model redraw it, render "
        "the whole canvas with them and blend the photo back with a soft edge. The file's recipe "
        "keeps those latents, so the result can be re-rendered or extended exactly.",
    )
    outpaint.add_argument("photo", type=Path, help="the photo (JPEG, PNG, TIFF, WebP, EXR)")
    _add_run_options(outpaint)
    outpaint.add_argument(
        "--width", type=int, help="canvas width (default: twice the photo's; skies 4096)"
    )
    outpaint.add_argument("--height", type=int, help="canvas height (default: the photo's)")
    outpaint.add_argument("--wrap", help=f"{', '.join(WRAP_MODES)} (sky models: a 360-degree sky)")
    outpaint.add_argument("--equirect", action="store_true", help="a 360-degree sky around it")
    outpaint.add_argument("--seed", type=int, default=0, help="seed of the generated surroundings")
    outpaint.add_argument("--x", type=int, help="photo's left edge (default: centred)")
    outpaint.add_argument("--y", type=int, help="photo's top edge (default: on the horizon)")
    outpaint.add_argument("--feather", type=int, help="soft edge in pixels (default: side / 16)")
    outpaint.add_argument(
        "--quality",
        choices=sorted(QUALITY_STEPS, key=QUALITY_STEPS.get),
        default="default",
        help=", ".join(f"{k} {v} steps" for k, v in QUALITY_STEPS.items()),
    )
    outpaint.add_argument("--steps", type=int, help="inversion steps (overrides --quality)")
    outpaint.add_argument("--no-superres", action="store_true", help=NO_SUPERRES_HELP)

    add_sky_command(sub)

    info = sub.add_parser(
        "info", help="describe a model (a file or a bundled name), or print an image's recipe"
    )
    info.add_argument("path", type=Path)

    init = sub.add_parser(
        "init", help="write an untrained (random-weight) model, to try the pipeline"
    )
    init.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--out", required=True, type=Path)
    return parser


class _ProgressBar:
    """tqdm bar opened on the first update, so a request that fails validation prints no bar.

    The time left comes from ``ProgressEstimate`` (a line fitted through every update, which the
    first batch's one-off set-up does not tilt), not from tqdm's own smoothing.
    """

    def __init__(self, enabled: bool, unit: str = "tile") -> None:
        self.enabled, self.bar, self.unit = enabled, None, unit
        self.estimate = ProgressEstimate()

    def update(self, done: float, total: int) -> None:
        self.estimate(done, total)
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                unit=self.unit,
                dynamic_ncols=True,
                file=sys.stderr,
                bar_format="{l_bar}{bar}| {postfix} [{elapsed}]",
            )
        # The bar moves with partly computed tiles; the count shows whole ones.
        left = format_seconds(self.estimate.remaining_s)
        self.bar.set_postfix_str(f"{math.floor(done)}/{total} {self.unit}s, {left} left", False)
        self.bar.update(done - self.bar.n)
        if done >= total:  # finished: the next phase's bar starts on a line of its own
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _render(args: argparse.Namespace, recipe_for) -> int:
    rank, size, _ = world()
    device = local_device(resolve_device(args.device))
    model = load_model(args.model, device)
    recipe: Recipe = recipe_for(model)
    bar = _ProgressBar(not args.quiet and rank == 0)
    options = {
        "bit_depth": args.bit_depth,
        "tile": args.tile,
        "batch": args.batch,
        "precision": args.precision,
        "memory_budget_mib": args.memory_budget,
        "progress": bar.update,
    }
    try:
        if size > 1:
            with process_group():
                render_to_file_parallel(model, recipe, args.out, **options)
        else:
            render_to_file(model, recipe, args.out, **options)
    finally:
        bar.close()
    if rank == 0:
        print(f"wrote {args.out} ({_size(recipe)})")
    return 0


def _size(recipe: Recipe) -> str:
    w = recipe.window
    return f"{w.width}x{w.height} window" if w else f"{recipe.width}x{recipe.height}"


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def _is_equirect(args: argparse.Namespace, config: ModelConfig) -> bool:
    """--equirect, or a sky model asked for no particular wrap."""
    return args.equirect or (config.sphere and args.wrap is None)


def _canvas(args: argparse.Namespace, model, **options) -> Recipe:
    """A fresh canvas from --width/--height/--wrap/--equirect/--seed (sky models: a 4096 sky)."""
    cfg = model.config
    equirect = _is_equirect(args, cfg)
    if equirect:
        if getattr(args, "scale", None) is not None:
            raise RequestError("a sky's scale follows its width: leave out --scale")
        width = _given(args.width, SKY_WIDTH if cfg.sphere else 2048)
        height = _given(args.height, width // 2)
        wrap = "x"
    else:
        scale = getattr(args, "scale", None) or 1
        wrap = args.wrap or "none"
        if scale == "auto":
            scale = auto_scale(cfg, args.width, args.height, wrap)
        options["scale"] = scale
        frame_height, frame_width = cfg.native_frame
        width = _given(args.width, frame_width * scale)
        height = _given(args.height, frame_height * scale)
    recipe = new_recipe(
        cfg,
        model.hash,
        width,
        height,
        seed=_given(args.seed, 0),
        wrap=wrap,
        projection="equirect" if equirect else "flat",
        **options,
    )
    return recipe.replace(superres=not args.no_superres)


CANVAS_FLAGS = ("width", "height", "wrap", "equirect", "styles", "anchors", "blend", "scale")
"""Render flags that define a fresh canvas: a recipe has its own."""


def _recipe_with_changes(args: argparse.Namespace) -> Recipe:
    """The recipe of ``--recipe`` with the flags that may change it; a canvas flag there is an
    error rather than silently ignored."""
    recipe = read_recipe(args.recipe)
    values = {name: getattr(args, name) for name in CANVAS_FLAGS}
    given = [
        f"--{name}" for name, value in values.items() if value is not None and value is not False
    ]
    if given:
        grow = ", or grow this one with 'extend'" if recipe.wrap == "none" else ""
        raise RequestError(
            f"{', '.join(given)} cannot change the canvas of --recipe; leave out --recipe to "
            f"render a new canvas (this one's seed is {recipe.seed}){grow}"
        )
    changes = {"seed": args.seed, "window": args.window, "sun": args.sun}
    recipe = recipe.replace(**{name: v for name, v in changes.items() if v is not None})
    return recipe.replace(superres=False) if args.no_superres else recipe


def _cmd_render(args: argparse.Namespace) -> int:
    model_file = resolve_model_path(args.model)
    if is_sky_recipe(model_file):
        return _render_composed(args, model_file)

    def recipe_for(model) -> Recipe:
        if args.recipe is not None:
            return _recipe_with_changes(args)
        recipe = _canvas(
            args,
            model,
            style_seeds=args.styles or (),
            anchors=args.anchors,
            blend=args.blend,
            window=args.window,
        )
        return recipe.replace(sun=args.sun)

    return _render(args, recipe_for)


def _render_composed(args: argparse.Namespace, recipe_file: Path) -> int:
    """``render --model sky``: the composed sky of a sky recipe (the bundled ``sky``, or any
    ``.json`` sky recipe), rendered exactly as ``sky --recipe FILE`` with the same flags."""
    given = [
        f"--{name.replace('_', '-')}"
        for name, value in vars(args).items()
        if name not in (*COMPOSED_RENDER_FLAGS, "command", "model", "out", "equirect")
        and value is not None
        and value is not False
    ]
    if given:
        raise RequestError(
            f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to {args.model}, "
            f"a composed sky: it takes --width, --seed, --sun AZ,EL, --window and --bit-depth "
            f"('python -m generator sky --recipe {args.model}' has every setting; the learned "
            f"whole-sphere sky is '{LEARNED_SKY}')"
        )
    if world()[1] > 1:
        raise RequestError("a composed sky renders in one process: start it without torchrun")
    argv = ["sky", "--recipe", str(recipe_file), "--out", str(args.out), "--device", args.device]
    if args.sun is not None:
        if (args.sun.stops, args.sun.size) != (Sun.stops, Sun.size):
            raise RequestError(
                f"a composed sky's sun is physical: give --sun AZ,EL (its size and brightness "
                f"come from the atmosphere: 'python -m generator sky --recipe {args.model}')"
            )
        argv += ["--sun", f"{args.sun.azimuth!r},{args.sun.elevation!r}"]
    if args.window is not None:
        w = args.window
        argv += ["--window", f"{w.x},{w.y},{w.width},{w.height}"]
    for name in ("width", "seed", "bit_depth"):
        if getattr(args, name) is not None:
            argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if args.quiet:
        argv.append("--quiet")
    return _cmd_sky(build_parser().parse_args(argv))


def _cmd_outpaint(args: argparse.Namespace) -> int:
    if world()[1] > 1:
        raise RequestError("outpaint runs in one process: start it without torchrun")
    model = load_model(args.model, resolve_device(args.device))
    photo = read_photo(args.photo)
    if not _is_equirect(args, model.config):  # a flat canvas around the photo, as in Blender
        width = 2 * photo.shape[1]
        args.width = _given(args.width, width + -width % model.config.pixels_per_cell)
        args.height = _given(args.height, photo.shape[0])
    recipe = _canvas(args, model)
    placement = place_photo(model, recipe, photo.shape, args.x, args.y, args.feather)
    steps = args.steps if args.steps is not None else QUALITY_STEPS[args.quality]
    inversion_bar = _ProgressBar(not args.quiet, unit="step")
    bar = _ProgressBar(not args.quiet)
    try:
        found = outpaint_to_file(
            model,
            photo,
            recipe,
            placement,
            args.out,
            photo_path=args.photo,
            settings=InversionSettings(steps=steps),
            inversion_progress=inversion_bar.update,
            progress=bar.update,
            bit_depth=args.bit_depth,
            tile=args.tile,
            batch=args.batch,
            precision=args.precision,
            memory_budget_mib=args.memory_budget,
        )
    finally:
        inversion_bar.close()
        bar.close()
    print(
        f"wrote {args.out} ({recipe.width}x{recipe.height}; the model redraws the photo at "
        f"{found.psnr_db:.1f} dB PSNR)"
    )
    return 0


def _cmd_extend(args: argparse.Namespace) -> int:
    recipe = read_recipe(args.image)
    bigger = extended(recipe, args.left, args.top, args.right, args.bottom)
    return _render(args, lambda model: bigger)


def _describe_composed(name: str, path: Path) -> dict[str, object]:
    """What ``info`` says of a composed sky's recipe (the bundled ``sky``)."""
    recipe = read_sky_recipe(path)
    c = recipe.composition
    sky, clouds, ground = c.sky, c.clouds, c.ground
    parts = [
        f"a physical atmosphere, the sun {sky.sun_elevation:g} deg up and {sky.sun_azimuth:g} "
        f"deg right of the image's centre ({'with' if sky.sun_disc else 'without'} its disc; "
        "the matching Sun lamp is printed and stored in the file)",
        "no clouds"
        if clouds is None
        else f"a cloud layer drawn by {clouds.model!r} at cover {clouds.cover:g}",
    ]
    if c.cirrus is not None:
        parts.append(f"a cirrus veil of amount {c.cirrus.amount:g}")
    parts.append(f"the ground: {ground.source!r}")
    if c.horizon:
        bands = " and ".join(f"{b.source!r} {b.distance_m / 1000:g} km away" for b in c.horizon)
        parts.append(f"at the horizon {bands}")
    return {
        "name": name,
        "path": str(path),
        "kind": "composed sky (a sky recipe)",
        "description": f"A 360-degree sky composed of {', '.join(parts)}.",
        "usage": f"python -m generator render --model {name} --out sky.exr  (--sun AZ,EL, --seed "
        f"S, --width W); every setting: python -m generator sky --recipe {name} --help",
        "recipe": json.loads(recipe.to_json()),
    }


def _cmd_info(args: argparse.Namespace) -> int:
    model_file = resolve_model_path(args.path)
    if model_file.suffix.lower() == SUFFIX:  # a model file, or a bundled model's name
        summary = describe(load_model(model_file))
        meta = summary["metadata"]
        recorded, name = meta.get("name"), str(args.path)
        if name in bundled_models() and recorded not in (None, name):  # bundled under a new name
            meta["name"], meta["renamed_from"] = name, recorded
            if isinstance(meta.get("usage"), str):
                meta["usage"] = meta["usage"].replace(f"--model {recorded} ", f"--model {name} ")
        print(json.dumps(summary, indent=2))
    elif is_sky_recipe(model_file) and model_file.is_file() and model_file != args.path:
        print(json.dumps(_describe_composed(str(args.path), model_file), indent=2))
    elif args.path.suffix.lower() == ".json" and "composition" in _json_keys(args.path):
        print(json.dumps(json.loads(read_sky_recipe(args.path).to_json()), indent=2))
    elif args.path.suffix.lower() != ".json" and SKY_KEY in read_metadata(args.path):
        print(json.dumps(json.loads(read_metadata(args.path)[SKY_KEY]), indent=2))
    else:
        print(json.dumps(json.loads(read_recipe(args.path).to_json()), indent=2))
    return 0


def _json_keys(path: Path) -> set[str]:
    """The top-level keys of a JSON file (none if it is not a JSON object)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return set()
    return set(data) if isinstance(data, dict) else set()


def _cmd_init(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    generator = Generator(PRESETS[args.preset])
    digest = save_model(generator, args.out, {"trained": "no (random weights)"})
    print(f"wrote {args.out} (untrained {args.preset} model, hash {digest[:12]})")
    return 0


def _cmd_sky(args: argparse.Namespace) -> int:
    if args.recipe is not None and not args.recipe.exists():
        found = resolve_model_path(args.recipe)  # a bundled composed sky by name: --recipe sky
        if is_sky_recipe(found) and found.is_file():
            args.recipe = found
    bar = _ProgressBar(not args.quiet, unit="step")
    try:
        return run_sky(args, bar.update)
    finally:
        bar.close()


COMMANDS = {
    "render": _cmd_render,
    "sky": _cmd_sky,
    "extend": _cmd_extend,
    "outpaint": _cmd_outpaint,
    "info": _cmd_info,
    "init": _cmd_init,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BackdropError as err:
        if world()[0] == 0:
            print(f"error: {err}", file=sys.stderr)
        else:  # rank 0 reports it; torchrun stops this process once rank 0 has exited
            time.sleep(RANK_GRACE_S)
        return 2
    except KeyboardInterrupt:
        print("cancelled: no file was written", file=sys.stderr)
        return 130
    except (MemoryError, torch.OutOfMemoryError):
        hint = (
            "a smaller photo (downscale it) or canvas"
            if args.command == "outpaint"
            else "a smaller --memory-budget or --tile"
        )
        print(f"error: out of memory; try {hint}", file=sys.stderr)
        return 3
