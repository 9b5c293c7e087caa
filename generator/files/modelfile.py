"""Model files: safetensors weights plus JSON metadata (config, training summary). Never pickles."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from generator.device import resolve_device
from generator.errors import ModelError, OutputError
from generator.files.atomicfile import write_atomically
from generator.files.bundled import (
    LEARNED_SKY,
    is_sky_recipe,
    resolve_model_path,
    unknown_model_hint,
)
from generator.network.config import ModelConfig
from generator.network.model import Generator
from generator.network.superres import SuperResConfig, SuperResolution

SUPERRES_PREFIX = "superres."
SUPERRES_CONFIG_KEY = "superres_config"
FORMAT_NAME = "endless-backdrops-generator"
FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    """A generator ready for inference, with where it came from."""

    generator: Generator
    config: ModelConfig
    hash: str
    path: Path | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    superres: SuperResolution | None = None
    """The model's super-resolution stage, if it was trained one (``trainer train-sr``)."""


def file_hash(path: str | os.PathLike) -> str:
    """sha256 of the file's bytes: the model's identity in every recipe."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(
    generator: Generator,
    path: str | os.PathLike,
    metadata: dict[str, str] | None = None,
    superres: SuperResolution | None = None,
) -> str:
    """Write ``generator`` (and its super-resolution stage) atomically; returns the file's hash."""
    path = Path(path)
    header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION)}
    header.update(metadata or {})
    header["config"] = generator.config.to_json()
    header.pop(SUPERRES_CONFIG_KEY, None)
    modules = {"": generator}
    if superres is not None:
        header[SUPERRES_CONFIG_KEY] = superres.config.to_json()
        modules[SUPERRES_PREFIX] = superres
    tensors = {
        prefix + k: v.detach().to("cpu", torch.float32).contiguous()
        for prefix, module in modules.items()
        for k, v in module.state_dict().items()
    }
    if path.is_dir():
        raise OutputError(f"cannot write model to {path}: it is a folder; give a file name")
    try:
        write_safetensors(path, tensors, header)
    except OSError as err:
        raise OutputError(f"cannot write model to {path}: {err.strerror or err}") from None
    return file_hash(path)


def write_safetensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]
) -> None:
    """A safetensors file written all or nothing (``generator.files.atomicfile``): a kill while a
    model or checkpoint is saved leaves the previous file intact."""
    write_atomically(path, save(tensors, metadata=metadata))


def not_a_learned_model(given: str | os.PathLike) -> str:
    """The one line for a composed sky's recipe (the bundled ``sky``) where a learned model is
    needed: outpainting, extending, fine-tuning, ``render --recipe``."""
    return (
        f"{given} is a composed sky (a sky recipe: 'python -m generator sky --recipe {given}'), "
        f"not a learned model; this needs a learned model, e.g. the bundled whole-sphere sky "
        f"'{LEARNED_SKY}'"
    )


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Read and validate a model file, or a bundled model by name (``"terrain"``); every failure
    is one ``ModelError`` line (a composed sky's recipe, the bundled ``sky``, is not a model).
    ``device`` as a name ("auto", "cuda", ...) is checked as the command line checks it (a
    ``RequestError`` if unknown or missing)."""
    if isinstance(device, str):
        device = resolve_device(device)
    given, path = path, resolve_model_path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}{unknown_model_hint(given)}")
    if is_sky_recipe(path):
        raise ModelError(not_a_learned_model(given))
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ModelError(
            f"{path} is not a readable model file (corrupt or not safetensors): {err}"
        ) from None
    if metadata.get("format") != FORMAT_NAME:
        raise ModelError(f"{path} is a safetensors file but not an Endless Backdrops model")
    if int(metadata.get("format_version", "0")) > FORMAT_VERSION:
        raise ModelError(f"{path} was made by a newer version of Endless Backdrops")
    config = ModelConfig.from_json(metadata.get("config", ""))
    generator = Generator(config)
    superres = None
    if SUPERRES_CONFIG_KEY in metadata:
        superres = SuperResolution(SuperResConfig.from_json(metadata[SUPERRES_CONFIG_KEY]))
    own = {k: v for k, v in tensors.items() if not k.startswith(SUPERRES_PREFIX)}
    stage = {k[len(SUPERRES_PREFIX) :]: v for k, v in tensors.items() if k not in own}
    for module, state in ((generator, own), (superres, stage)):
        if module is None:
            continue
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            detail = first[1].strip() if len(first) > 1 else first[0]
            raise ModelError(
                f"{path} does not match its own config (incompatible): {detail}"
            ) from None
        module.eval().requires_grad_(False).to(device)
    if superres is None and stage:
        raise ModelError(f"{path} holds a super-resolution stage without its config")
    bad = [k for k, v in tensors.items() if not torch.isfinite(v).all()]
    if bad:
        raise ModelError(f"{path} holds non-finite weights (e.g. {bad[0]}): the file is damaged")
    return LoadedModel(generator, config, file_hash(path), path, metadata, superres)


def _json_or_text(value: str) -> object:
    """A metadata entry as data: safetensors metadata holds only strings, so structured entries
    (training, quality, credits) are stored as JSON text and read back as what they are."""
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


def describe(model: LoadedModel) -> dict[str, object]:
    """A JSON-friendly summary for ``info`` and the add-on."""
    params = sum(p.numel() for p in model.generator.parameters())
    extra = {
        k: _json_or_text(v) for k, v in model.metadata.items() if k not in ("config", "format")
    }
    return {
        "path": str(model.path) if model.path else None,
        "hash": model.hash,
        "parameters": params,
        "pixels_per_latent_cell": model.config.pixels_per_cell,
        "config": json.loads(model.config.to_json()),
        "metadata": extra,
    }
