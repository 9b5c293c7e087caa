"""What goes in and out: image files, photos, model files and recipes.

``imagefile`` streams PNG, OpenEXR and TIFF band by band (and reads them back), ``photo`` decodes
any photo a user hands us to linear light, ``colorspace`` converts between a model's values and
linear light, ``modelfile`` reads and writes model files (safetensors, never pickles) and
``bundled`` finds the default models by name, ``recipe`` is everything that reproduces a render.
Every file appears only when complete (``atomicfile``). Imports ``generator.network`` (a model
file rebuilds its network), never the renderers.
"""

from generator.files.bundled import MODELS_DIR, bundled_recipes
from generator.files.colorspace import (
    linear_to_model,
    model_range,
    model_to_linear,
    model_to_output,
    output_to_model,
)
from generator.files.imagefile import (
    linear_to_srgb,
    open_image_writer,
    read_image,
    read_metadata,
    srgb_to_linear,
)
from generator.files.modelfile import (
    LoadedModel,
    file_hash,
    load_model,
    save_model,
    write_safetensors,
)
from generator.files.photo import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    decoded_size,
    filter_premultiplied,
    load_linear,
    read_photo,
    resize_linear,
)
from generator.files.recipe import Recipe, Style, Sun, Window, auto_scale, extended, new_recipe

__all__ = [
    "IMAGE_EXTENSIONS",
    "MODELS_DIR",
    "ImageReadError",
    "LoadedModel",
    "Recipe",
    "Style",
    "Sun",
    "Window",
    "auto_scale",
    "bundled_recipes",
    "decoded_size",
    "extended",
    "file_hash",
    "filter_premultiplied",
    "linear_to_model",
    "linear_to_srgb",
    "load_linear",
    "load_model",
    "model_range",
    "model_to_linear",
    "model_to_output",
    "new_recipe",
    "open_image_writer",
    "output_to_model",
    "read_image",
    "read_metadata",
    "read_photo",
    "resize_linear",
    "save_model",
    "srgb_to_linear",
    "write_safetensors",
]
