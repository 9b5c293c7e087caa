"""Training throughput (images/s) of the presets on this machine.

Runs warm-up steps then timed steps of each preset on a folder of photos (default: the test
photos) and prints images per second. Run:

    python benchmarks/train_throughput.py --presets tiny cpu --steps 20
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from trainer.config import PRESETS
from trainer.train import train

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"


def images_per_second(preset: str, data: Path, steps: int) -> float:
    """Rate logged over the second block of ``steps`` steps (the first one warms up)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = {"steps": 2 * steps, "log_every": steps, "sample_every": 10**9}
        config = PRESETS[preset].with_overrides({**settings, "checkpoint_minutes": 1e9})
        train(config, data, Path(folder), show_progress=False)
        with open(Path(folder) / "log.csv", encoding="utf-8") as log:
            rows = list(csv.DictReader(log))
        return float(rows[-1]["images_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "cpu"], choices=sorted(PRESETS))
    parser.add_argument("--data", type=Path, default=PHOTOS)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(f"{'preset':8} {'images/s':>9}")
    for preset in args.presets:
        rate = images_per_second(preset, args.data, args.steps)
        print(f"{preset:8} {rate:9.2f}")


if __name__ == "__main__":
    main()
