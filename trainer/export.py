"""Turning a run into a model file: the moving average of G, with what it was trained on."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from generator.files import save_model
from generator.network import Generator, ModelConfig
from trainer.checkpoint import CHECKPOINT_NAME, load_checkpoint, load_module
from trainer.config import TrainConfig


def training_seconds(log_path: Path) -> float:
    """Time spent training, from the run's log (images between rows / their images per second)."""
    if not log_path.is_file():
        return 0.0
    seconds, images = 0.0, 0
    with open(log_path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            done, rate = int(row["images"]), float(row["images_per_s"])
            if rate > 0 and done > images:
                seconds += (done - images) / rate
            images = done
    return seconds


LOCAL_PATH_KEYS = ("folder", "model", "run")
"""Entries of a run's records that name places on its maker's disk."""


def without_local_paths(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (nested) with each local path cut to its last name: a model file is shared,
    and where its maker keeps photos and runs is neither its users' business nor of use to
    them. The run's own checkpoint keeps the full paths, which ``--resume`` needs."""
    shared = {}
    for key, value in record.items():
        if isinstance(value, dict):
            value = without_local_paths(value)
        elif key in LOCAL_PATH_KEYS and isinstance(value, str):
            value = Path(value).name
        shared[key] = value
    return shared


def native_scale(config: ModelConfig) -> dict[str, float]:
    """What one native pixel is: a fraction of a degree (skies), or of the training frame (a
    photo's full scene height, a texture's tile): the scale a bigger request is drawn at."""
    height, width = config.native_frame
    if config.sphere:
        return {"pixels_per_degree": round(width / 360.0, 4), "sphere_width": width}
    return {"frame_width": width, "frame_height": height}


def export_run(run: Path, out: Path, metadata: dict[str, Any] | None = None) -> tuple[str, int]:
    """Write the run's averaged generator to ``out``; returns (file hash, step).

    The file's ``training`` entry records steps, images, hours and settings; ``metadata`` adds
    more entries (each stored as JSON text unless it is a string)."""
    tensors, meta = load_checkpoint(run / CHECKPOINT_NAME)
    config = TrainConfig.from_json(meta["config"])
    ema = Generator(config.model)
    load_module("ema", ema, tensors)
    training = {
        "steps": meta["step"],
        "images": meta["images"],
        "hours": round(training_seconds(run / "log.csv") / 3600.0, 2),
        "data": meta["data"],
        "train_config": json.loads(config.to_json()),
    }
    if "started_from" in meta:  # fine-tuned: steps and hours above count this run only
        training["started_from"] = meta["started_from"]
    entries = {
        "training": json.dumps(without_local_paths(training), sort_keys=True),
        "native_scale": json.dumps(native_scale(config.model), sort_keys=True),
    }
    for key, value in (metadata or {}).items():
        entries[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return save_model(ema, out, entries), meta["step"]
