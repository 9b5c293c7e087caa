"""Conversions between a model's output space and linear light.

'srgb' models work in sRGB-encoded values mapped to [-1, 1] (LDR photos); 'log' models work in
log2 radiance divided by ``log_stops`` (HDR skies), so a sun 20 stops above the sky still fits.
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
