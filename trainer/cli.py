"""``python -m trainer``: learn a backdrop style from a folder of photos, export a model file."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator import BackdropError
from trainer.checkpoint import CHECKPOINT_NAME, load_checkpoint
from trainer.config import PRESETS, ConfigError, TrainConfig

TRACEBACK_VARIABLE = "ENDLESS_BACKDROPS_TRACEBACK"
"""Set to show a bug's traceback instead of one line."""
EXAMPLES = """examples:
  python -m trainer train --data photos/ --out runs/coast --preset cpu
  python -m trainer train --resume runs/coast                 # continue where it stopped
  python -m trainer train --start-from runs/coast --data more/ --out runs/coast2 --set lr=0.001
  python -m trainer train --start-from sky-360 --data my_skies/ --out runs/my-sky   # fine-tune
  python -m trainer train --data my_photos/ --out runs/mine --hours 1 --start-from terrain
  python -m trainer train --data textures/ --out runs/ground --no-vertical   # tileable on a torus
  python -m trainer export runs/coast --out coast.safetensors
  python -m trainer evaluate coast.safetensors --real reserved/ --train photos/
  torchrun --nproc_per_node=4 -m trainer train --data photos/ --out runs/big --preset paper
"""


def _override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("expected NAME=VALUE, e.g. lr=0.001 or model.period=64")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def positive_count(text: str) -> int:
    """A positive whole number (how many frames, canvases, steps a measurement takes)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def positive_hours(text: str) -> float:
    """A time budget in hours, > 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of hours > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train an Endless Backdrops model on your own photos.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (or resume) a run")
    train.add_argument("--data", type=Path, help="folder of photos (searched recursively)")
    train.add_argument("--out", type=Path, help="run folder for checkpoints, samples and logs")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run")
    train.add_argument(
        "--start-from", type=Path, metavar="RUN_DIR|MODEL",
        help="begin a new run (--out) from another run's networks, or a model file's (a bundled "
        "model's name too: --start-from sky-360), with its settings except those given here",
    )  # fmt: skip
    train.add_argument(
        "--preset",
        default="cpu",
        choices=sorted(PRESETS),
        help="model size and schedule (default cpu: a style in hours on a CPU); "
        "'python -m trainer presets' lists them",
    )
    train.add_argument("--steps", type=int, help="total optimisation steps")
    train.add_argument(
        "--hours", type=positive_hours,
        help="a time budget: checkpoint, write samples and stop after this many hours (or at "
        "--steps, whichever comes first); the progress bar shows the time left",
    )  # fmt: skip
    train.add_argument("--batch", type=int, help="images per step")
    train.add_argument("--accumulate", type=int, help="gradient accumulation rounds per step")
    train.add_argument("--workers", type=int, help="data loader processes")
    train.add_argument("--seed", type=int)
    train.add_argument("--checkpoint-minutes", type=float, help="minutes between checkpoints")
    train.add_argument("--no-vertical", action="store_true", help="no vertical conditioning")
    train.add_argument("--no-hflip", action="store_true", help="no horizontal flips")
    train.add_argument("--equirect", action="store_true", help="photos are 360° panoramas")
    train.add_argument(
        "--augment",
        nargs="*",
        metavar="NAME",
        help="DiffAugment transforms: color translation cutout",
    )
    train.add_argument(
        "--set", type=_override, action="append", default=[], metavar="NAME=VALUE",
        help="any other setting, e.g. --set lr=0.001 --set model.gs_width=128",
    )  # fmt: skip
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    export = sub.add_parser("export", help="write the run's averaged generator as a model file")
    export.add_argument("run", type=Path)
    export.add_argument("--out", type=Path, required=True)

    evaluate = sub.add_parser(
        "evaluate",
        help="measure a model: SWD against reserved photos, seams, wrap, poles, repetition",
    )
    evaluate.add_argument("model", type=Path)
    evaluate.add_argument(
        "--real", type=Path, required=True, help="reserved (never trained) photos"
    )
    evaluate.add_argument("--train", type=Path, help="training photos: the SWD baseline")
    evaluate.add_argument(
        "--samples", type=positive_count, default=16, help="generated frames per measure"
    )
    evaluate.add_argument(
        "--wide", type=positive_count, default=8, help="field-of-view factor of the 2nd SWD"
    )
    evaluate.add_argument(
        "--canvases",
        type=positive_count,
        default=4,
        help="canvases the seam and wrap figures average",
    )
    evaluate.add_argument(
        "--first-seed", type=int, default=0, metavar="SEED",
        help="seed of the first generated frame (another set of frames: how much a figure "
        "depends on which frames were drawn)",
    )  # fmt: skip
    evaluate.add_argument(
        "--no-kid", action="store_true",
        help="skip KID and FID (their Inception network takes ~0.2 s per frame on a CPU core)",
    )  # fmt: skip
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")

    quality = sub.add_parser(
        "evaluate-outpaint",
        help="measure outpainting of reserved photos: photo seam, extension SWD, redraw PSNR",
    )
    quality.add_argument("model", type=Path)
    quality.add_argument("--real", type=Path, required=True, help="reserved (never trained) photos")
    quality.add_argument("--train", type=Path, required=True, help="training photos: SWD baseline")
    quality.add_argument(
        "--photos", type=positive_count, default=4, help="how many photos to outpaint"
    )
    quality.add_argument(
        "--steps", type=positive_count, default=300, help="inversion steps per photo"
    )
    quality.add_argument("--json", action="store_true", help="print the figures as JSON")

    train_sr = sub.add_parser(
        "train-sr", help="train a model's super-resolution stage (x2 detail for big skies)"
    )
    train_sr.add_argument("--model", type=Path, help="the model whose native scale is doubled")
    train_sr.add_argument("--data", type=Path, help="real images at twice its native scale or more")
    train_sr.add_argument("--out", type=Path, help="run folder")
    train_sr.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run")
    train_sr.add_argument("--steps", type=int, help="total steps (default 5000)")
    train_sr.add_argument(
        "--set", type=_override, action="append", default=[], metavar="NAME=VALUE",
        help="any SRTrainConfig setting, e.g. --set adversarial_weight=0.1",
    )  # fmt: skip

    export_sr = sub.add_parser(
        "export-sr", help="write the model with the run's super-resolution stage inside"
    )
    export_sr.add_argument("run", type=Path)
    export_sr.add_argument("--out", type=Path, required=True)
    export_sr.add_argument("--model", type=Path, help="base model (default: the one trained on)")

    evaluate_sr = sub.add_parser(
        "evaluate-sr",
        help="measure a sky model's super-resolution stage: scale consistency, detail, speed",
    )
    evaluate_sr.add_argument("model", type=Path)
    evaluate_sr.add_argument("--real", type=Path, required=True, help="reserved sky panoramas")
    evaluate_sr.add_argument("--train", type=Path, required=True, help="training panoramas")
    evaluate_sr.add_argument("--samples", type=positive_count, default=4, help="skies per measure")
    evaluate_sr.add_argument(
        "--width", type=positive_count, default=2048, help="1x width of the consistency test"
    )
    evaluate_sr.add_argument("--json", action="store_true", help="print the figures as JSON")

    sub.add_parser("presets", help="print the training presets")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values = dict(args.set)
    for flag, key in (
        ("steps", "steps"), ("batch", "batch"), ("accumulate", "accumulate"),
        ("workers", "workers"), ("seed", "seed"), ("checkpoint_minutes", "checkpoint_minutes"),
    ):  # fmt: skip
        if getattr(args, flag) is not None:
            values[key] = getattr(args, flag)
    if args.no_vertical:
        values["model.vertical_conditioning"] = False
    if args.no_hflip:
        values["hflip"] = False
    if args.equirect:
        values["equirect"] = True
    if args.augment is not None:
        values["augment"] = args.augment
    return values


def _refuse_existing_run(run: Path) -> None:
    """A new run must not overwrite another run's checkpoint (and with it its progress)."""
    if (run / CHECKPOINT_NAME).exists():
        raise ConfigError(f"{run} already holds a run: use --resume {run} or another --out")


def _cmd_train(args: argparse.Namespace) -> int:
    from trainer.train import starting_point, train

    if args.resume is not None and args.start_from is not None:
        raise ConfigError("use --resume RUN_DIR or --start-from RUN_DIR, not both")
    start = None
    if args.resume is not None:
        _, meta = load_checkpoint(args.resume / CHECKPOINT_NAME)
        config = TrainConfig.from_json(meta["config"]).with_overrides(_overrides(args))
        data = args.data or Path(meta["data"]["folder"])
        run = args.resume
    else:
        if args.data is None or args.out is None:
            raise ConfigError("train needs --data DIR and --out RUN_DIR (or --resume RUN_DIR)")
        if args.start_from is not None:
            start = starting_point(args.start_from, PRESETS[args.preset])
        base = start.settings if start is not None else PRESETS[args.preset]
        config = base.with_overrides(_overrides(args))
        data, run = args.data, args.out
        _refuse_existing_run(run)
    result = train(
        config, data, run, resume=args.resume is not None, start_from=start,
        show_progress=not args.quiet, hours=args.hours,
    )  # fmt: skip
    print(f"step {result.step} of {config.steps}; checkpoint in {run / CHECKPOINT_NAME}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from trainer.export import export_run

    digest, step = export_run(args.run, args.out)
    print(f"wrote {args.out} (step {step}, hash {digest[:12]})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from generator.files import load_model
    from trainer.evaluate import evaluate, report_json

    model = load_model(args.model)
    report = evaluate(
        model, args.real, args.train, samples=args.samples, wide=args.wide,
        canvases=args.canvases, first_seed=args.first_seed, with_kid=not args.no_kid,
    )  # fmt: skip
    print(report_json(report) if args.json else "\n".join(report.lines()))
    return 0


def _cmd_evaluate_outpaint(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from generator.files import load_model
    from trainer.outpaint_quality import evaluate_outpaint

    model = load_model(args.model)
    report = evaluate_outpaint(model, args.real, args.train, photos=args.photos, steps=args.steps)
    print(json.dumps(asdict(report), sort_keys=True) if args.json else "\n".join(report.lines()))
    return 0


def _cmd_train_sr(args: argparse.Namespace) -> int:
    from trainer.superres import SRTrainConfig, train_superres

    values = dict(args.set)
    if args.steps is not None:
        values["steps"] = args.steps
    saved: dict[str, Any] = {}
    if args.resume is not None:
        _, meta = load_checkpoint(args.resume / CHECKPOINT_NAME)
        saved = json.loads(meta["config"])
        model, run = args.model or Path(meta["model"]), args.resume
        if args.data is None:
            raise ConfigError("train-sr --resume needs --data DIR (the images are not recorded)")
    else:
        if args.model is None or args.data is None or args.out is None:
            raise ConfigError("train-sr needs --model FILE --data DIR --out RUN_DIR")
        model, run = args.model, args.out
        _refuse_existing_run(run)
    try:
        config = SRTrainConfig(**{**saved, **values})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid train-sr setting ({err})") from None
    step = train_superres(config, model, args.data, run, resume=args.resume is not None)
    print(f"step {step} of {config.steps}; checkpoint in {run / CHECKPOINT_NAME}")
    return 0


def _cmd_export_sr(args: argparse.Namespace) -> int:
    from trainer.superres import export_superres

    digest = export_superres(args.run, args.out, args.model)
    print(f"wrote {args.out} (with its super-resolution stage, hash {digest[:12]})")
    return 0


def _cmd_evaluate_sr(args: argparse.Namespace) -> int:
    from generator.files import load_model
    from trainer.superres_quality import evaluate_superres

    model = load_model(args.model)
    if model.superres is None or not model.config.sphere:
        raise ConfigError(f"{args.model} is not a sky model with a super-resolution stage")
    report = evaluate_superres(model, args.real, args.train, samples=args.samples, width=args.width)
    text = json.dumps(dataclasses.asdict(report), sort_keys=True)
    print(text if args.json else "\n".join(report.lines()))
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    print(f"{'preset':8} {'px/cell':>7} {'frame':>9} {'patch':>5} {'batch':>5} {'steps':>7}")
    for name, preset in PRESETS.items():
        m = preset.model
        height, width = m.native_frame
        frame = f"{width}x{height}"
        print(
            f"{name:8} {m.pixels_per_cell:7} {frame:>9} {preset.patch:5} {preset.batch:5}"
            f" {preset.steps:7}"
        )
    return 0


COMMANDS = {
    "train": _cmd_train,
    "export": _cmd_export,
    "evaluate": _cmd_evaluate,
    "evaluate-outpaint": _cmd_evaluate_outpaint,
    "train-sr": _cmd_train_sr,
    "export-sr": _cmd_export_sr,
    "evaluate-sr": _cmd_evaluate_sr,
    "presets": _cmd_presets,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except BackdropError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled (a training run keeps its last checkpoint)", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line, and the traceback only when asked for
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        print(f"error: unexpected {type(err).__name__}: {err} (set {TRACEBACK_VARIABLE}=1 for "
              "the traceback)", file=sys.stderr)  # fmt: skip
        return 1
