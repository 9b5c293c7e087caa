"""Export the default models from their training runs into ``generator/models/``, measured.

    python tools/bundle_models.py                          # sky-360, terrain and clouds
    python tools/bundle_models.py sky-360 --samples 8      # one model, a quicker measurement
    python tools/bundle_models.py clouds --run clouds=RUN  # the cloud layer model from RUN
    python tools/bundle_models.py --only-if-better         # keep a bundled file measured better
    python tools/bundle_models.py terrain --run terrain=training/terrain-tuned --only-if-better
    python tools/bundle_models.py terrain --run terrain=RUN/snapshots/step-0003000.safetensors
    python tools/bundle_models.py --remeasure              # re-record the bundled files' figures

Each model is the moving average of its run's generator (``training/RUN``: the model's name, or
``sky`` for ``sky-360``), with the super-resolution stage of ``training/RUN-sr`` inside when that
run exists. The bundled ``sky`` is no model: it is a composed sky's recipe
(``generator/models/sky.json``) naming the ``clouds`` and ``terrain`` models by name. Each model is
measured as it ships (stage included) with ``trainer.evaluate`` against the reserved images of its
kind (never trained on) and the training images as the baseline, and the file's metadata records
what it was trained on (sources, licences, credits from ``data/manifest.csv``), for how long, its
native scale and the measured quality. The assembled data comes from
``python tools/assemble_data.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.files import MODELS_DIR, LoadedModel, load_model, save_model  # noqa: E402
from trainer.checkpoint import CHECKPOINT_NAME  # noqa: E402
from trainer.cli import positive_count  # noqa: E402
from trainer.evaluate import evaluate  # noqa: E402
from trainer.export import export_run, without_local_paths  # noqa: E402
from trainer.superres import export_superres  # noqa: E402
from trainer.superres_quality import evaluate_superres  # noqa: E402

DEFAULT_DATA = Path("~/.cache/endless-backdrops/data").expanduser()
MANIFEST = ROOT / "data" / "manifest.csv"


@dataclass(frozen=True)
class Bundle:
    folder: str
    """Data folder under train/ and validation/ of the assembled data."""
    description: str
    usage: str
    samples: int
    """Generated frames per measure: on 32 the terrain's 1x ratio ranged 1.15-2.79 between seed
    sets, so 128; the sky's 512x256 frames cost 8x a terrain frame's at 8x, so 64 (6.5 minutes
    on two cores), where its 3 reserved panoramas limit the measure anyway."""
    run: str = ""
    """Training run folder under ``training/`` (default: the bundled name)."""


BUNDLES = {
    "sky-360": Bundle(
        "sky",
        "Learned whole-sphere 360-degree HDR skies: equirect 2:1, log2 radiance, wraps "
        "horizontally, soft poles. The default sky ('sky') is a composed one.",
        "python -m generator render --model sky-360 --out sky.exr  (--sun 30,25 adds a sun disc)",
        samples=64,
        run="sky",
    ),
    "terrain": Bundle(
        "terrain",
        "Tileable top-down ground textures (grass, rock, dirt, sand, snow): wrap xy.",
        "python -m generator render --model terrain --wrap xy --width 2048 --height 2048 "
        "--out ground.png",
        samples=128,
    ),
    "clouds": Bundle(
        "clouds",
        "Cloud layer density (grey: the density) for composed skies: tileable, wrap xy. The "
        "bundled sky ('sky') draws its clouds with it.",
        "python -m generator sky --clouds clouds --cover 0.4 --out sky.exr",
        samples=128,
    ),
}


def trained_on(folder: str) -> dict[str, Any]:
    """Counts, sources, licences and credits of the training images under ``train/folder``."""
    with open(MANIFEST, encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["path"].startswith(f"train/{folder}/")]
    sources = Counter((r["source_package"], r["licence"]) for r in rows)
    credits = sorted({r["attribution"] for r in rows if r["licence"] != "CC0-1.0"})
    return {
        "images": len(rows),
        "sources": [
            {"package": package, "licence": licence, "images": count}
            for (package, licence), count in sorted(sources.items())
        ],
        "credits": credits,
        "held_out": f"validation/{folder} of tools/assemble_data.py (see data/README.md)",
    }


def bundle(
    name: str, data: Path, samples: int, only_if_better: bool = False, run: Path | None = None
) -> dict[str, Any]:
    """Export run ``name`` (``run``, by default ``training/NAME``, or one of a run's snapshot
    model files, with the super-resolution stage of ``training/NAME-sr``), measure it as it will
    ship, and write it to the bundled models. With ``only_if_better`` the bundled file is
    measured again alongside (figures recorded by an older evaluator are not comparable) and
    whichever measures better is written back with today's figures."""
    spec = BUNDLES[name]
    folder = spec.run or name
    run, stage_run = run or ROOT / "training" / folder, ROOT / "training" / f"{folder}-sr"
    with tempfile.TemporaryDirectory() as scratch:
        draft = run if run.is_file() else Path(scratch) / f"{name}.safetensors"
        if not run.is_file():  # a snapshot file is that step's export already
            export_run(run, draft)
        if (stage_run / CHECKPOINT_NAME).is_file():
            staged = Path(scratch) / f"{name}-sr.safetensors"
            export_superres(stage_run, staged, model_path=draft)
            draft = staged
        model = load_model(draft)
    step = json.loads(model.metadata["training"])["steps"]
    metadata = {
        **model.metadata,
        "name": name,
        "description": spec.description,
        "usage": spec.usage,
        "trained_on": json.dumps(trained_on(spec.folder), sort_keys=True),
        # snapshots written before exports left out local paths still name them
        "training": json.dumps(
            without_local_paths(json.loads(model.metadata["training"])), sort_keys=True
        ),
    }
    measured = measure(model, spec, data, samples)
    out = MODELS_DIR / f"{name}.safetensors"
    result: dict[str, Any] = {"name": name, "step": step, **measured.figures}
    result["kept_bundled"] = False
    if only_if_better and out.is_file():
        bundled = load_model(out)
        again = measure(bundled, spec, data, samples)
        result["bundled"] = again.figures
        result["kept_bundled"] = _mean_kid(again.figures) <= _mean_kid(measured.figures)
        print(
            f"{name}: step {step} measures {_mean_kid(measured.figures):.4f} (mean KID), "
            f"the bundled file {_mean_kid(again.figures):.4f}"
        )
        if result["kept_bundled"]:
            model, metadata, measured = bundled, bundled.metadata, again
            print(f"{name}: kept the bundled file (its figures re-recorded)")
    _record(model, metadata, measured, out)
    return result


@dataclass(frozen=True)
class Measured:
    figures: dict[str, Any]
    metadata: dict[str, str]
    """The ``quality`` (and ``superres_quality``) metadata entries."""
    lines: list[str]


def measure(model: LoadedModel, spec: Bundle, data: Path, samples: int) -> Measured:
    """``trainer.evaluate`` of a model as it ships, against the reserved images of its kind."""
    real, train = data / "validation" / spec.folder, data / "train" / spec.folder
    report = evaluate(model, real, train, samples=samples)
    command = (
        f"python -m trainer evaluate MODEL --real DATA/validation/{spec.folder} "
        f"--train DATA/train/{spec.folder} --samples {samples}"
    )
    figures = asdict(report)
    metadata = {"quality": json.dumps({**figures, "command": command}, sort_keys=True)}
    lines = report.lines()
    if model.superres is not None and model.config.sphere:  # evaluate-sr measures skies only
        sr = evaluate_superres(model, real, train)
        metadata["superres_quality"] = json.dumps(asdict(sr), sort_keys=True)
        figures = {**figures, "superres": asdict(sr)}
        lines += sr.lines()
    return Measured(figures, metadata, lines)


def remeasure(name: str, data: Path, samples: int) -> dict[str, Any]:
    """Measure the bundled file ``name`` as it is and record today's figures in it (after the
    evaluator changed; the weights stay)."""
    out = MODELS_DIR / f"{name}.safetensors"
    model = load_model(out)
    measured = measure(model, BUNDLES[name], data, samples)
    _record(model, model.metadata, measured, out)
    return {"name": name, **measured.figures}


def _record(model: LoadedModel, metadata: dict[str, str], measured: Measured, out: Path) -> None:
    """Write ``model`` to ``out`` with its measured figures in the metadata, and print them."""
    out.parent.mkdir(exist_ok=True)
    digest = save_model(
        model.generator, out, {**metadata, **measured.metadata}, superres=model.superres
    )
    print(f"{out.stem}: {out.stat().st_size / 2**20:.1f} MiB, hash {digest[:12]}")
    print("\n".join(f"  {line}" for line in measured.lines))


def _mean_kid(quality: dict[str, Any]) -> float:
    """What --only-if-better compares: the mean of the KIDs at 1x and wide (Inception
    features see what a photo shows, where the SWD sees 7x7 neighbourhoods; and KID is
    unbiased, so it needs no baseline of as many photos)."""
    return (float(quality["kid_1x"]) + float(quality["kid_wide"])) / 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(BUNDLES)}")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="assembled data folder")
    parser.add_argument(
        "--samples", type=positive_count,
        help="generated frames per measure (default: sky-360 64, terrain and clouds 128)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--only-if-better",
        action="store_true",
        help="measure the bundled file again and keep it if its KID (mean of 1x and wide) is lower",
    )
    parser.add_argument(
        "--remeasure",
        action="store_true",
        help="measure the bundled files as they are and record the figures (no export)",
    )
    parser.add_argument(
        "--run", action="append", default=[], metavar="NAME=PATH",
        help="take NAME from this run folder, or from one of its snapshots/*.safetensors, "
        "instead of training/NAME (sky-360: training/sky; e.g. a fine-tuned run)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    runs = dict(item.partition("=")[::2] for item in args.run)
    unknown = sorted((set(args.names) | set(runs)) - set(BUNDLES))
    if unknown:
        parser.error(f"unknown model {unknown}: choose from {', '.join(BUNDLES)}")
    results = []
    for name in args.names or BUNDLES:
        samples = args.samples or BUNDLES[name].samples
        if args.remeasure:
            results.append(remeasure(name, args.data, samples))
            continue
        run = Path(runs[name]) if name in runs else None
        results.append(bundle(name, args.data, samples, args.only_if_better, run))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
