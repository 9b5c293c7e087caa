"""Spatial style fusion: a smooth partition of unity over style anchors, a function of position.

Weights are a blurred nearest-anchor assignment: an anchor's raw weight falls smoothly from 1 (it is
the nearest) to 0 (it is ``blend`` latent cells farther than the nearest), then weights are
normalised. Far from the borders between regions exactly one weight is 1, so each region equals the
single-style render there; every layer evaluates the weights at its own resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _axis_distance(pos: np.ndarray, anchor: float, period: float | None) -> np.ndarray:
    d = np.abs(pos - anchor)
    if period:
        d = np.mod(d, period)
        d = np.minimum(d, period - d)
    return d


def fusion_weights(
    rows: np.ndarray,
    cols: np.ndarray,
    anchors: Sequence[tuple[float, float | None]],
    blend: float,
    period: tuple[float | None, float | None] = (None, None),
) -> np.ndarray:
    """Weights (n_anchors, len(rows), len(cols)) at latent-unit positions ``rows`` x ``cols``.

    ``anchors`` are (x, y) in latent units; y None means a vertical band (distance along x only).
    ``period`` is the canvas's wrap period (rows, columns) in latent units, None where it does not
    wrap: distances are then measured around the cylinder or torus.
    """
    rows = np.asarray(rows, dtype=np.float64)[:, None]
    cols = np.asarray(cols, dtype=np.float64)[None, :]
    dist = []
    for ax, ay in anchors:
        d2 = _axis_distance(cols, ax, period[1]) ** 2
        if ay is not None:
            d2 = d2 + _axis_distance(rows, ay, period[0]) ** 2
        dist.append(np.broadcast_to(np.sqrt(d2), (rows.shape[0], cols.shape[1])))
    d = np.stack(dist)
    excess = (d - d.min(axis=0, keepdims=True)) / max(blend, 1e-6)
    raw = 1.0 - _smoothstep(excess)
    return (raw / raw.sum(axis=0, keepdims=True)).astype(np.float32)
