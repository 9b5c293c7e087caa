"""Conversions between a model's output space and linear light.

'srgb' models work in sRGB-encoded values mapped to [-1, 1] (LDR photos); 'log' models work in
log2 radiance divided by ``log_stops`` (HDR skies), so a sun 20 stops above the sky still fits.
A model with alpha (``ModelConfig.alpha``) has a fourth channel, 2 * coverage - 1 in either
space; ``model_to_output`` and ``output_to_model`` convert whole pixels, colour and coverage.
"""

from __future__ import annotations

import numpy as np

from generator.files.imagefile import linear_to_srgb, srgb_to_linear
from generator.network.config import ModelConfig

LOG_FLOOR_STOPS = -24.0
"""Darkest radiance a log model represents (2**-24): black pixels map here, not to -inf."""


def model_range(config: ModelConfig) -> tuple[float, float]:
    """The model-space values that map to distinct colours; outputs beyond are clipped."""
    if config.color_space == "log":
        return LOG_FLOOR_STOPS / config.log_stops, 32.0 / config.log_stops
    return -1.0, 1.0


def model_to_linear(values: np.ndarray, config: ModelConfig) -> np.ndarray:
    """Model output (any shape, channels last or first) to float32 linear light."""
    if config.color_space == "log":
        stops = np.clip(values * config.log_stops, LOG_FLOOR_STOPS, 32.0)
        return np.exp2(stops).astype(np.float32)
    return srgb_to_linear(np.clip((values + 1.0) * 0.5, 0.0, 1.0))


def linear_to_model(linear: np.ndarray, config: ModelConfig) -> np.ndarray:
    """Float linear light to the model's space (the inverse of ``model_to_linear``)."""
    linear = np.asarray(linear, dtype=np.float32)
    if config.color_space == "log":
        stops = np.log2(np.maximum(linear, 2.0**LOG_FLOOR_STOPS))
        return (stops / config.log_stops).astype(np.float32)
    return (linear_to_srgb(np.clip(linear, 0.0, 1.0)) * 2.0 - 1.0).astype(np.float32)


def model_to_output(values: np.ndarray, config: ModelConfig, axis: int = -1) -> np.ndarray:
    """Model pixels (channels along ``axis``) to what renders hold: float32 linear colour, and
    for a model with alpha coverage in [0, 1] after it (``values`` may be an RGB-only slice
    of them too). An RGB model's pixels are ``model_to_linear``'s, bit for bit."""
    if values.shape[axis] == 3:
        return model_to_linear(values, config)
    colour, alpha = np.split(values, [3], axis=axis)
    coverage = np.clip((alpha + 1.0) * 0.5, 0.0, 1.0).astype(np.float32)
    return np.concatenate([model_to_linear(colour, config), coverage], axis=axis)


def output_to_model(pixels: np.ndarray, config: ModelConfig, axis: int = -1) -> np.ndarray:
    """The inverse of ``model_to_output``: linear colour (and coverage, a fourth channel)."""
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.shape[axis] == 3:
        return linear_to_model(pixels, config)
    colour, alpha = np.split(pixels, [3], axis=axis)
    coverage = (np.clip(alpha, 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)
    return np.concatenate([linear_to_model(colour, config), coverage], axis=axis)
