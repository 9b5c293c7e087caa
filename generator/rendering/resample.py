"""Exact separable resampling of a small in-memory image to any size, one band of rows at a time.

A model draws a 360-degree sky at its native scale; the requested size is reached by resampling
that canvas. Each output pixel is a fixed weighted sum of source pixels (Keys' cubic, a = -0.5,
widened when shrinking so it does not alias), so any band of rows comes out the same as the same
rows of the whole image, and a periodic axis wraps exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CUBIC_A = -0.5


def _cubic(t: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel (Catmull-Rom for a = -0.5); support [-2, 2]."""
    t = np.abs(t)
    a = CUBIC_A
    near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    far = ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a
    return np.where(t <= 1.0, near, np.where(t < 2.0, far, 0.0))


@dataclass(frozen=True)
class AxisWeights:
    """For each output position: source indices (n, taps) and their weights (n, taps)."""

    indices: np.ndarray
    weights: np.ndarray


def axis_weights(
    out_size: int, in_size: int, *, periodic: bool, start: int = 0, count: int | None = None
) -> AxisWeights:
    """Weights for output positions [start, start + count) of an axis resized from ``in_size``
    to ``out_size`` pixels (pixel centres aligned, as image resizers do). ``periodic`` wraps the
    source; otherwise its edge pixels repeat."""
    count = out_size - start if count is None else count
    scale = out_size / in_size
    stretch = max(1.0, 1.0 / scale)  # shrinking: widen the kernel by the reduction factor
    support = 2.0 * stretch
    taps = math.ceil(2.0 * support) + 1
    centres = (np.arange(start, start + count, dtype=np.float64) + 0.5) / scale - 0.5
    first = np.floor(centres - support).astype(np.int64) + 1
    indices = first[:, None] + np.arange(taps)[None, :]
    weights = _cubic((indices - centres[:, None]) / stretch)
    weights /= weights.sum(axis=1, keepdims=True)
    indices = np.mod(indices, in_size) if periodic else np.clip(indices, 0, in_size - 1)
    return AxisWeights(indices, weights.astype(np.float32))


def resample_rows(
    image: np.ndarray,
    out_height: int,
    out_width: int,
    rows: tuple[int, int],
    *,
    wrap_x: bool,
    wrap_y: bool = False,
) -> np.ndarray:
    """Output rows [rows[0], rows[1]) of ``image`` (h, w, c) resized to out_height x out_width."""
    height, width = image.shape[:2]
    vertical = axis_weights(
        out_height, height, periodic=wrap_y, start=rows[0], count=rows[1] - rows[0]
    )
    horizontal = axis_weights(out_width, width, periodic=wrap_x)
    source = image.astype(np.float32, copy=False)
    columns = np.einsum("rt,rtwc->rwc", vertical.weights, source[vertical.indices])
    out = np.zeros((columns.shape[0], out_width, image.shape[2]), dtype=np.float32)
    for tap in range(horizontal.indices.shape[1]):
        out += columns[:, horizontal.indices[:, tap]] * horizontal.weights[None, :, tap, None]
    return out
