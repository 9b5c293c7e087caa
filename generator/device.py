"""Choosing where to run: CUDA or MPS when present, CPU always.

Started as ``python -m generator`` (also under torchrun), the OpenMP threads of PyTorch's CPU
kernels wait passively unless OMP_WAIT_POLICY says otherwise. With the default spin-waiting, a
render sharing the cores with any other busy process ran 10x slower (each kernel waits for the
thread that lost its core); waiting passively cost nothing measurable on a quiet machine. It has to
be set before PyTorch is loaded, hence here, and only for our own command line: a program that
imports the generator keeps its own settings.
"""

from __future__ import annotations

import itertools
import os
import sys


def _launched_as_cli() -> bool:
    argv = getattr(sys, "orig_argv", [])
    return any(a == "-m" and b == "generator" for a, b in itertools.pairwise(argv))


if _launched_as_cli() and "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from generator.errors import RequestError  # noqa: E402

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
