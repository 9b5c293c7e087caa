"""Helpers shared by the benchmarks: untrained models, child processes, memory sampling."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def model_config(preset: str):
    """``tiny``/``paper`` from generator.network.config, ``cpu`` from the trainer's presets."""
    if preset == "cpu":
        from trainer.config import PRESETS as TRAIN_PRESETS

        return TRAIN_PRESETS["cpu"].model
    from generator.network.config import PRESETS

    return PRESETS[preset]


def make_model(preset: str, folder: str | os.PathLike) -> str:
    """An untrained model of ``preset`` (torch.manual_seed(0)), saved in ``folder``."""
    import torch

    from generator import Generator, save_model

    path = str(Path(folder) / f"untrained-{preset}.safetensors")
    if not os.path.exists(path):
        torch.manual_seed(0)
        save_model(Generator(model_config(preset)), path, {"trained": "no (benchmark)"})
    return path


def rss_anon_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class PeakMemory:
    """Samples this process's RssAnon every 20 ms while in the ``with`` block."""

    def __enter__(self) -> PeakMemory:
        self.peak_kib = rss_anon_kib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self.peak_kib = max(self.peak_kib, rss_anon_kib())

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, rss_anon_kib())

    @property
    def mib(self) -> float:
        return self.peak_kib / 1024


def run_child(script: str, job: dict, threads: int | None = None, timeout: float = 3600) -> dict:
    """Run ``script --child JOB`` in a fresh process; it prints one JSON object last."""
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what `python -m generator` runs with
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, script, "--child", json.dumps(job)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"child failed: {job}\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine_state() -> dict:
    """Load average and the busiest other processes: how contended the measurement was."""
    load = os.getloadavg()
    busy = []
    try:
        out = subprocess.run(
            ["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True
        ).stdout.splitlines()[1:6]
        for line in out:
            pid, cpu, args = line.split(None, 2)
            if int(pid) != os.getpid() and float(cpu) >= 20:
                busy.append(f"{args[:60]} ({cpu}% CPU)")
    except (OSError, ValueError):
        pass
    return {
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in load],
        "busy_processes": busy,
        "time": time.strftime("%Y-%m-%d %H:%M"),
    }
