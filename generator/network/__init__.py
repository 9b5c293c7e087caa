"""The networks and their exact size arithmetic.

``model`` is the InfinityGAN generator (structure synthesizer Gs and texture synthesizer Gt) built
from the padding-free blocks of ``layers``; ``superres`` is the x2 super-resolution stage. What
they read at a position comes from ``latents`` (position-keyed zl, zn, zg), ``coordinates`` (the
coordinate encoding) and ``fusion`` (per-pixel style weights). ``config`` holds every shape and
hyper-parameter, and ``geometry`` is the rect arithmetic the forward pass moves by, so sizes are
exact. Imports nothing of the generator but ``generator.errors``.
"""

from generator.network.config import PRESETS, ModelConfig
from generator.network.coordinates import encode_coordinates
from generator.network.geometry import Rect, required_latent_span
from generator.network.layers import EqualLinear, leaky_relu_gain
from generator.network.model import Generator
from generator.network.superres import SuperResConfig, SuperResolution, upscale

__all__ = [
    "PRESETS",
    "EqualLinear",
    "Generator",
    "ModelConfig",
    "Rect",
    "SuperResConfig",
    "SuperResolution",
    "encode_coordinates",
    "leaky_relu_gain",
    "required_latent_span",
    "upscale",
]
