"""An equirect's rows near the poles: a row at elevation e holds as many pixels as the
horizon's on a circle cos(e) as long, so its pixels lie 1 / cos(e) times closer together than
its rows, and what a pixel sees there of the veil and the clouds or of the ground (each
filtered over a pixel's footprint, the row spacing) changes little from one to the next.
There that is computed at every ``stride``-th column of the whole image (``column_strides``:
at most one row spacing apart) and spread linearly between; the clear sky, whose disc is
sharp, at every pixel. The anchors are columns of the whole image, so a window, a tile or a
band computes the same values as the whole, and they wrap with the image. Beyond 60 degrees,
a third of the rows, the layers and the ground cost a half to a sixty-fourth of what they
did."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MAX_STRIDE = 64
"""Most columns between anchors: at the zenith itself every pixel looks the same way."""


def column_strides(width: int, rows: np.ndarray) -> np.ndarray:
    """(R,) the anchor spacing of each of an equirect's ``rows``: the largest power of two,
    up to ``MAX_STRIDE``, that divides ``width`` and keeps anchors no farther apart along the
    row than the rows are (stride x cos(elevation) <= 1); 1 within 60 degrees of the
    horizon."""
    height = width // 2
    elevation = np.radians(90.0 - (np.asarray(rows) + 0.5) * 180.0 / height)
    across = np.cos(elevation)
    limit = np.minimum(1.0 / np.maximum(across, 1.0 / MAX_STRIDE), MAX_STRIDE)
    strides = np.exp2(np.floor(np.log2(limit))).astype(np.int64)
    while np.any(width % strides):  # a stride that does not divide the width: halved
        strides = np.where(width % strides == 0, strides, strides // 2)
    return strides


def anchors_and_spread(
    columns: np.ndarray, stride: int, width: int
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The anchor columns (global, within 0..width) that ``columns`` (global, wrapped into
    0..width) lie between at ``stride``, and the function that spreads (R, anchors, n) values
    at them to (R, columns, n): linearly, from the anchor at or left of each column to the
    next one (the first again past the last: the image wraps)."""
    columns = np.asarray(columns)
    left = columns // stride * stride
    right = (left + stride) % width
    anchors = np.unique(np.concatenate([left, right]))
    at_left = np.searchsorted(anchors, left)
    at_right = np.searchsorted(anchors, right)
    share = ((columns - left) / stride).astype(np.float32)[None, :, None]

    def spread(values: np.ndarray) -> np.ndarray:
        left = values.take(at_left, axis=1)
        left += (values.take(at_right, axis=1) - left) * share
        return left

    return anchors, spread
