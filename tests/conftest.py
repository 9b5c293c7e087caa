"""Shared fixtures: tiny random-weight models saved as real model files."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from generator import PRESETS, Generator, load_model, save_model

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(name: str) -> ModuleType:
    """A script of ``tools/`` (not a package) imported by path, once; registered under its name
    because dataclasses look their module up there."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def make_model_file(
    path, *, vertical: bool = True, seed: int = 0, rgb_scale: float = 1.0, **changes
):
    """A tiny generator with random weights whose noise really matters (strength 0.5).

    ``rgb_scale`` < 1 tames the output layers so that most pixels stay inside the colour range,
    as a trained model's do (random ones clip half their pixels; clipped pixels have no gradient).
    """
    torch.manual_seed(seed)
    config = dataclasses.replace(PRESETS["tiny"], vertical_conditioning=vertical, **changes)
    generator = Generator(config)
    with torch.no_grad():
        for name, param in generator.named_parameters():
            if name.endswith("noise_strength"):
                param.fill_(0.5)
            if name.startswith("texture.to_rgb") and param.ndim > 1 and "affine" not in name:
                param.mul_(rgb_scale)
    save_model(generator, path)
    return path


@pytest.fixture(scope="session", autouse=True)
def no_tiles_on_disk():
    """Tests draw their layers' tiles (and write nothing to the user's cache folder); the
    tests of ``generator.sky.tilestore`` name a folder of their own."""
    from generator.sky import tilestore

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(tilestore.VARIABLE, "")
        yield


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return make_model_file(tmp_path_factory.mktemp("models") / "tiny.safetensors")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    return load_model(tiny_model_path)


@pytest.fixture(scope="session", params=["no-vertical", "no-coordinates"])
def flat_model(tmp_path_factory, request):
    """Models without vertical conditioning (one without any coordinates, like the bundled
    terrain model): they can tile on a torus."""
    path = tmp_path_factory.mktemp("models") / f"flat-{request.param}.safetensors"
    horizontal = request.param == "no-vertical"
    return load_model(
        make_model_file(path, vertical=False, seed=1, horizontal_conditioning=horizontal)
    )


@pytest.fixture(scope="session")
def sphere_model(tmp_path_factory):
    """A tiny HDR sky model whose 64 x 32 px native frame is the whole sphere."""
    path = tmp_path_factory.mktemp("models") / "sphere.safetensors"
    return load_model(make_model_file(path, seed=2, sphere=True, color_space="log", log_stops=2.0))
