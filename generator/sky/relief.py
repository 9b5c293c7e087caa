"""Billows on the clouds: a fine, seeded relief that multiplies the cloud layer's thickness.

A cloud model's tile has 14.6 m texels and draws soft, rounded blobs, so near the zenith a
cloud's edge is a smooth ramp over a few hundred metres, and its columns (``column_top``) have
smooth domes for tops. Real cumulus are lumpy at every scale down to metres: cauliflower tops and
crisp, ragged edges. The relief is a periodic log-normal field of mean 1 on a finer tile,
read at the pixel's footprint like the layer itself: up close it roughens edges and tops; far
away (a footprint of hundreds of metres) it averages to 1 and the layer is as drawn. It
multiplies the thickness, so clear sky stays clear and cover keeps its meaning.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from generator.sky.layers import fractal_field, gaussian_spectrum
from generator.sky.plane import PlaneTexture

RELIEF_RMS = 0.35
"""RMS of the log of the multiplier: tops and edges move by about a third of the column's
height. At 0.6 with power down to 4 m it drew spiky peaks and spires (docs/sky.md)."""
RELIEF_LONGEST_M = 400.0
RELIEF_SLOPE = 4.0
"""Scales up to this, power ~ k^-4: most of it in lumps of 100-400 m, a little at the texel."""
RELIEF_TILE = 2048
RELIEF_PERIOD_M = 4096.0
"""2 m texels, repeating every 4 km: under a layer whose own clouds repeat every 30 km the
repeat is not seen."""
FACE_SPREAD_M = 40.0
"""The smallest billows whose faces the sun lights apart (Gaussian sigma of the slopes'
smoothing): every 2 m lump lit apart drew sandstone, not cloud."""
RELIEF_AXIS = 16
"""The field's stream, apart from the layer's other uses of its seed."""


@lru_cache(maxsize=2)
def cloud_relief(seed: int) -> PlaneTexture:
    """The relief of a layer of cloud seed ``seed``: a plane texture of mean exactly 1 (so its
    coarsest level, what a pixel far away reads, is 1). The last two are kept (about 1 s)."""
    texel_m = RELIEF_PERIOD_M / RELIEF_TILE
    field = fractal_field(
        RELIEF_TILE, texel_m, seed, RELIEF_AXIS, RELIEF_LONGEST_M, slope=RELIEF_SLOPE
    )
    multiplier = np.exp(RELIEF_RMS * field)
    multiplier /= multiplier.mean(dtype=np.float64)
    return PlaneTexture(multiplier.astype(np.float32)[..., None], RELIEF_PERIOD_M)


def sunlit_slopes(relief: PlaneTexture, sun: np.ndarray) -> PlaneTexture | None:
    """How far each billow's face turns toward the sun (unit ``sun``): minus the slope of the
    relief's log along the sun's horizontal heading, smoothed over ``FACE_SPREAD_M`` and of
    unit RMS, as a plane texture like ``relief``. Its mean is 0, so far away, where a pixel
    reads its coarse levels, it lights nothing. None with the sun overhead, where no face
    turns toward it more than another."""
    horizontal = math.hypot(float(sun[0]), float(sun[2]))
    if horizontal < 1e-6:
        return None
    across, down = float(sun[0]) / horizontal, float(sun[2]) / horizontal
    height = np.log(relief.levels[0][..., 0].astype(np.float64))
    size = height.shape[0]
    rows = np.fft.fftfreq(size)[:, None]  # cycles per texel, down the tile (+z)
    columns = np.fft.rfftfreq(size)[None, :]  # across it (+x)
    toward = 2j * np.pi * (columns * across + rows * down)  # the derivative toward the sun
    spread = gaussian_spectrum(size, FACE_SPREAD_M / relief.texel_m)
    slope = np.fft.irfft2(np.fft.rfft2(height) * toward * spread, s=height.shape)
    facing = -slope / max(float(slope.std()), 1e-12)
    return PlaneTexture(facing.astype(np.float32)[..., None], relief.period_m)
