"""A texture on a horizontal plane, seen in perspective without aliasing or visible repetition.

The learned layers of a composed sky (the ground, the clouds) are periodic tiles rendered once by
a torus-wrapping model (``wrap xy``: exact, seamless) and laid on a plane in metres. Toward the
horizon one pixel covers a large patch of the plane, so a pixel reads a mip pyramid of the tile
(each level the last halved through a (1, 3, 3, 1) filter, periodic) at the level of its
footprint, trilinearly: far away the texture tends to its mean instead of shimmering, and the
tile's repetition fades with its detail. Sampling is element-wise and addressed by plane
position, so a pixel's value depends only on its position and footprint, never on the band,
tile or face that asks.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


def halve(t: np.ndarray, axis: int) -> np.ndarray:
    """Every second texel along ``axis``, filtered by (1, 3, 3, 1) / 8 around the pair it
    replaces (periodically): centred where a 2 x 2 average is, but without its blocks, which
    bilinear magnification of a coarse level otherwise shows as square clouds. Computed on the
    even and odd texels apart, so only the kept half is filtered."""
    kept = [slice(None)] * t.ndim
    kept[axis] = slice(0, None, 2)
    even = t[tuple(kept)]
    kept[axis] = slice(1, None, 2)
    odd = t[tuple(kept)]
    return 0.375 * (odd + even) + 0.125 * (np.roll(odd, 1, axis) + np.roll(even, -1, axis))


def _pyramid(tile: np.ndarray) -> list[np.ndarray]:
    """Level 0 is ``tile``; each next level halves the last both ways, down to one texel.
    Each level (N, N, C) keeps its channels apart in memory (one plane after another), so
    ``wrapped_bilinear`` reads a channel as a flat array."""
    levels = [np.asarray(tile, dtype=np.float32)]
    while levels[-1].shape[0] > 1:
        t = levels[-1].astype(np.float64)
        levels.append(halve(halve(t, 0), 1).astype(np.float32))
    return [np.moveaxis(np.ascontiguousarray(np.moveaxis(t, -1, 0)), 0, -1) for t in levels]


class PlaneTexture:
    """A square periodic ``tile`` (N, N, C), N a power of two, repeating every ``period_m``
    metres on the plane; ``sample`` reads it filtered by a footprint."""

    def __init__(self, tile: np.ndarray, period_m: float) -> None:
        n = tile.shape[0]
        if tile.ndim != 3 or tile.shape[1] != n or n & (n - 1):
            raise ValueError(f"a plane texture needs a square power-of-two tile, got {tile.shape}")
        self.levels = _pyramid(tile)
        self.period_m = float(period_m)
        self.texel_m = self.period_m / n
        self.mean = self.levels[-1][0, 0].copy()

    @property
    def channels(self) -> int:
        return self.levels[0].shape[2]

    def sample(self, x_m: np.ndarray, z_m: np.ndarray, footprint_m: np.ndarray) -> np.ndarray:
        """(R, K, C) float32: the texture at plane positions ``x_m``, ``z_m`` (R, K) in metres,
        filtered over footprints of ``footprint_m`` (R, 1) metres (a pixel's width on the plane),
        one per row: the level is chosen once per row; each row is sampled element-wise."""
        top = len(self.levels) - 1
        lod = np.clip(np.log2(np.maximum(footprint_m, 1e-30) / self.texel_m), 0.0, float(top))
        base = np.minimum(lod.astype(np.intp), top)[:, 0]
        levels = np.unique(base)
        if len(levels) == 1:  # the usual case: a block's rows read one level
            return self._trilinear(int(levels[0]), x_m, z_m, lod)
        out = np.empty((*np.shape(x_m), self.channels), dtype=np.float32)
        for level in levels:
            at = np.nonzero(base == level)[0]
            out[at] = self._trilinear(int(level), x_m[at], z_m[at], lod[at])
        return out

    def _trilinear(
        self, level: int, x_m: np.ndarray, z_m: np.ndarray, lod: np.ndarray
    ) -> np.ndarray:
        """Rows whose footprints' levels ``lod`` (R, 1) lie in ``level``..``level`` + 1: that
        level, blended toward the next by the fraction."""
        low = self._bilinear(level, x_m, z_m)
        blend = (lod - level).astype(np.float32)[..., None]
        if level < len(self.levels) - 1 and blend.any():  # where the blend is 0 it adds 0
            low += (self._bilinear(level + 1, x_m, z_m) - low) * blend
        return low

    def _bilinear(self, level: int, x_m: np.ndarray, z_m: np.ndarray) -> np.ndarray:
        """(..., C) float32 bilinear samples of one level, wrapping around the tile."""
        return wrapped_bilinear(self.levels[level], *self._texel_coordinates(level, x_m, z_m))

    def _texel_coordinates(
        self, level: int, x_m: np.ndarray, z_m: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Plane positions as ``wrapped_bilinear``'s texel coordinates in ``level``."""
        scale = np.float32(self.levels[level].shape[0] / self.period_m)
        return x_m * scale - np.float32(0.5), z_m * scale - np.float32(0.5)


class Threshold(Protocol):
    """A pointwise function that thresholds a field: ``floor`` where the field is at or below
    its threshold, rising above it, with an inverse there."""

    floor: float

    def __call__(self, field: np.ndarray) -> np.ndarray: ...

    def inverse(self, value: np.ndarray) -> np.ndarray: ...


class ThresholdTexture(PlaneTexture):
    """A ``PlaneTexture`` of ``transfer(field)``, ``field`` (N, N, 1) smooth and ``transfer``
    a ``Threshold`` (a cloud's thickness from its density's rank). Every level is read by
    interpolating a field and then applying ``transfer``, so an outline the threshold draws is
    a smooth curve at any magnification: interpolating thresholded texels drew it along the
    texels' edges, in stairs (14.6 m on the bundled clouds, many pixels of a 16K sky
    overhead) and, seen obliquely through coarser levels, in straight-edged teeth. The finest
    level's field is ``field``; a coarser one's is what ``transfer`` maps to the level's mean
    of ``transfer(field)`` (the levels ``PlaneTexture`` keeps), or in the gaps, where that
    mean is the floor, the mean field: far away a pixel still reads the mean of what it
    covers, exactly at texel centres."""

    def __init__(self, field: np.ndarray, period_m: float, transfer: Threshold) -> None:
        field = np.ascontiguousarray(field, dtype=np.float32)
        super().__init__(transfer(field), period_m)
        self.transfer = transfer
        self.fields = [field]
        for value, averaged in zip(self.levels[1:], _pyramid(field)[1:], strict=True):
            above = value > np.float32(transfer.floor)
            inverse = transfer.inverse(np.where(above, value, np.float32(transfer.floor)))
            self.fields.append(np.where(above, inverse, np.minimum(averaged, 0.0)))

    def _bilinear(self, level: int, x_m: np.ndarray, z_m: np.ndarray) -> np.ndarray:
        coordinates = self._texel_coordinates(level, x_m, z_m)
        return self.transfer(wrapped_bilinear(self.fields[level], *coordinates))


def wrapped_bilinear(texels: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., C) bilinear samples of a square power-of-two tile (N, N, C) at texel coordinates
    ``u`` (across) and ``v`` (down), 0 at the first texel's centre, wrapping around the tile.
    Each channel is read as a flat array (numpy gathers single values 1.7 times faster than
    rows of one or three): without a copy where the channels are planes, as a
    ``PlaneTexture``'s levels are."""
    n, channels = texels.shape[0], texels.shape[2]
    if n == 1:  # the coarsest level, read far away: positions there may pass int32's range
        shape = np.broadcast_shapes(np.shape(u), np.shape(v))
        return np.broadcast_to(texels[0, 0], (*shape, channels)).astype(np.float32)
    u0, v0 = np.floor(u), np.floor(v)
    wu, wv = u - u0, v - v0
    # int32 indices, updated in place: fewer and narrower temporaries than int64 ones
    j0 = u0.astype(np.int32)
    j0 &= n - 1
    j1 = j0 + 1
    j1 &= n - 1
    i0 = v0.astype(np.int32)
    i0 &= n - 1
    i1 = i0 + 1
    i1 &= n - 1
    i0 *= n
    i1 *= n
    corners = (i0 + j0, i0 + j1, i1 + j0, i1 + j1)
    out = None if channels == 1 else np.empty((*np.shape(wu), channels), dtype=np.float32)
    for channel in range(channels):
        flat = texels[..., channel].reshape(n * n)
        top = flat.take(corners[0])
        top += (flat.take(corners[1]) - top) * wu
        bottom = flat.take(corners[2])
        bottom += (flat.take(corners[3]) - bottom) * wu
        top += (bottom - top) * wv
        if out is None:
            return top[..., None]
        out[..., channel] = top
    return out
