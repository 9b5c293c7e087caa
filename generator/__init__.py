"""Endless Backdrops generator: seamless backdrops of any size from an InfinityGAN-style model.

The Python API used by scripts and the Blender add-on::

    from generator import load_model, new_recipe, render_to_file
    model = load_model("sky.safetensors")
    recipe = new_recipe(model.config, model.hash, 4096, 2048, seed=7, wrap="x",
                        projection="equirect")
    render_to_file(model, recipe, "sky.exr", progress=print)

The public API is this package and its rooms' ``__init__`` (``generator.network``,
``generator.files``, ``generator.rendering``, ``generator.sky``): see docs/how-it-works.md,
"Layout".
"""

from generator.device import resolve_device
from generator.errors import BackdropError, Cancelled, ModelError, OutputError, RequestError
from generator.files import (
    LoadedModel,
    Recipe,
    Style,
    Sun,
    Window,
    extended,
    load_model,
    new_recipe,
    save_model,
)
from generator.network import PRESETS, Generator, ModelConfig
from generator.rendering import (
    CanvasRenderer,
    make_renderer,
    read_recipe,
    render_array,
    render_to_file,
)
from generator.sky import (
    CirrusSettings,
    CloudSettings,
    GroundSettings,
    HorizonSettings,
    SkyComposition,
    SkyRecipe,
    StripCamera,
    read_sky_recipe,
    render_sky_array,
    render_sky_to_file,
    tone_map,
)

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "BackdropError",
    "Cancelled",
    "CanvasRenderer",
    "CirrusSettings",
    "CloudSettings",
    "Generator",
    "GroundSettings",
    "HorizonSettings",
    "LoadedModel",
    "ModelConfig",
    "ModelError",
    "OutputError",
    "Recipe",
    "RequestError",
    "SkyComposition",
    "SkyRecipe",
    "StripCamera",
    "Style",
    "Sun",
    "Window",
    "extended",
    "load_model",
    "make_renderer",
    "new_recipe",
    "read_recipe",
    "read_sky_recipe",
    "render_array",
    "render_sky_array",
    "render_sky_to_file",
    "render_to_file",
    "resolve_device",
    "save_model",
    "tone_map",
]
