"""The coordinate encoding c shared by rendering and training.

Vertical: tanh of the row's position in the model's native frame (-1 top, +1 bottom at the frame's
edges), so positions beyond the frame saturate instead of extrapolating. Horizontal: a sin/cos pair
of period T, so the encoding is the same everywhere along an endless strip, and a canvas that wraps
gets a period that divides its width exactly.
"""

from __future__ import annotations

import math

import numpy as np

from generator.network.config import ModelConfig


def coordinate_period(config: ModelConfig, wrap_cells: int | None) -> float:
    """Horizontal period: T, or for a canvas wrapping every ``wrap_cells`` cells, the nearest
    period that divides it (``wrap_cells / round(wrap_cells / T)``)."""
    if not wrap_cells:
        return config.period
    return wrap_cells / max(1, round(wrap_cells / config.period))


def frame_position(config: ModelConfig, rows: np.ndarray) -> np.ndarray:
    """Latent rows as positions in the native frame: -1 at its top edge, +1 at its bottom edge."""
    half = config.native_height / 2.0
    return (np.asarray(rows, dtype=np.float64) + 0.5 - half) / half


def encode_coordinates(
    config: ModelConfig, rows: np.ndarray, cols: np.ndarray, period: float
) -> np.ndarray:
    """(B, coord_channels, h, w) float32 encoding of global latent rows (B, h) and cols (B, w)."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    b, h, w = rows.shape[0], rows.shape[1], cols.shape[1]
    channels = []
    if config.horizontal_conditioning:
        angle = 2.0 * math.pi * np.mod(cols + 0.5, period) / period
        channels += [
            np.broadcast_to(np.sin(angle)[:, None, :], (b, h, w)),
            np.broadcast_to(np.cos(angle)[:, None, :], (b, h, w)),
        ]
    if config.vertical_conditioning:
        vertical = np.tanh(frame_position(config, rows))
        channels.insert(0, np.broadcast_to(vertical[:, :, None], (b, h, w)))
    if not channels:
        return np.zeros((b, 0, h, w), dtype=np.float32)
    return np.stack(channels, axis=1).astype(np.float32)
