"""Choosing where to run: CUDA or MPS when present, CPU always."""

from __future__ import annotations

import torch

from generator.errors import RequestError

DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU; asking for a missing one is a clear error."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise RequestError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RequestError("CUDA was requested but no CUDA GPU is available; use --device cpu")
    if name == "mps" and not _mps_available():
        raise RequestError("MPS was requested but is not available on this machine")
    return torch.device(name)
