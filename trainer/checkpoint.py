"""Checkpoints as safetensors + JSON: resumable, atomic, and never unpickled.

A checkpoint holds the models, the optimisers' state, the moving average of G, every process's
RNG state and the step. It is written to a temporary file and renamed, so a run killed at any
moment (even by SIGKILL) leaves the previous complete checkpoint in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor

from generator import BackdropError
from generator.files import write_safetensors

CHECKPOINT_NAME = "checkpoint.safetensors"
FORMAT_NAME = "endless-backdrops-checkpoint"


class CheckpointError(BackdropError):
    """A missing or damaged checkpoint."""


def make_run_dir(run_dir: Path) -> None:
    """Create a run's folder up front, so a bad --out fails before any work, in one line."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CheckpointError(f"cannot use {run_dir} as a run folder: it is a file") from None
    except OSError as err:
        raise CheckpointError(f"cannot create run folder {run_dir}: {err.strerror}") from None


def save_checkpoint(path: Path, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Atomically write ``tensors`` and JSON-able ``meta`` to ``path``."""
    payload = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    header = {"format": FORMAT_NAME, "meta": json.dumps(meta, sort_keys=True)}
    write_safetensors(path, payload, header)


def load_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    if not path.is_file():
        raise CheckpointError(f"no checkpoint in {path.parent} (expected {path.name})")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            header = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is damaged: {err}") from None
    if header.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not an Endless Backdrops checkpoint")
    return tensors, json.loads(header["meta"])


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(prefix: str, module: torch.nn.Module, tensors: dict[str, Tensor]) -> None:
    start = f"{prefix}."
    module.load_state_dict({k[len(start) :]: v for k, v in tensors.items() if k.startswith(start)})


def optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict, list]:
    """Optimiser state split into tensors (safetensors) and param groups (JSON)."""
    state = optimizer.state_dict()
    tensors = {
        f"{prefix}.{index}.{name}": value
        for index, values in state["state"].items()
        for name, value in values.items()
    }
    return tensors, state["param_groups"]


def load_optimizer(
    prefix: str, optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], groups: list
) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    start = f"{prefix}."
    for key, value in tensors.items():
        if key.startswith(start):
            index, name = key[len(start) :].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})
