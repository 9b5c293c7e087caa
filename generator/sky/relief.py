"""Seeded log-normal multipliers of mean 1 on a plane: billows on the clouds (their thickness)
and patches on the ground (its albedo).

A cloud model's tile has 14.6 m texels and draws soft, rounded blobs, so near the zenith a
cloud's edge is a smooth ramp over a few hundred metres, and its columns (``column_top``) have
smooth domes for tops. Real cumulus are lumpy at every scale down to metres: cauliflower tops and
crisp, ragged edges. The relief is a periodic log-normal field of mean 1 on a finer tile,
read at the pixel's footprint like the layer itself: up close it roughens edges and tops; far
away (a footprint of hundreds of metres) it averages to 1 and the layer is as drawn. It
multiplies the thickness (a column's first layer-depth of it: ``compose.roughened``), so clear
sky stays clear and cover keeps its meaning.

A terrain model's tile is 12 m of ground repeated, so beyond a few tens of metres the plain is
one even colour out to the horizon. Real ground is patchy at every scale from metres to
kilometres (bare soil and vegetation, damp and dry, stone and sand): the ground's patches are
the same kind of field, coarser, multiplying its albedo; far away they average to 1, so the
ground's mean (its albedo setting, the hills' tint) stays what it was.
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


PATCH_RMS = 0.3
"""RMS of the log of the ground's albedo multiplier: patches a third lighter or darker than the
ground's mean, as dry and damp or bare and grown ground differ. At 0.4 the darkest read as the
shadows of clouds that were not there."""
PATCH_LIMIT = 2.5
"""Where the log of the ground's albedo multiplier is bounded, smoothly (``limit``
tanh(f / ``limit``), f its field in RMS, scaled back to the same RMS): the brightest patches
2.2 times the ground's mean albedo, the darkest 0.42 of it, as natural ground ranges (about
0.1-0.45 around the default 0.2). Unbounded, a 4-km tile of 4 million texels reaches 5-6 RMS
somewhere: the default ground's brightest patch, 205 m from the eye, was 5.9 times the mean,
an albedo of 1.2 (more light than falls on it). Within 2 RMS the patches are as they were, to
a tenth of their contrast."""
PATCH_LONGEST_M = 400.0
PATCH_SLOPE = 2.5
"""Scales up to this, power ~ k^-2.5: from the eye 1.7 m up the plain shows the ground from a
few metres to a few kilometres away, so patches of 2-400 m are what it sees; fields of up to
1.5 km with power ~ k^-3 lay foreshortened into lines below a pixel and left the view as even
as before."""
PATCH_TILE = 2048
PATCH_PERIOD_M = 4096.0
"""2 m texels, repeating every 4 km: beyond that distance a pixel's footprint averages them."""
PATCH_AXIS = 17
"""The field's stream, apart from the ground seed's other uses."""


def lognormal_texture(
    seed: int,
    axis: int,
    tile: int,
    period_m: float,
    longest_m: float,
    slope: float,
    rms: float,
    limit: float | None = None,
) -> PlaneTexture:
    """A plane texture of e^(``rms`` f), f a seeded periodic field of unit RMS with power
    ~ k^-``slope`` up to ``longest_m`` (``fractal_field``), scaled to a mean of exactly 1 (so
    its coarsest level, what a pixel far away reads, is 1). With ``limit``, f is first
    ``limit`` tanh(f / ``limit``), scaled back to unit RMS: its rare extremes bounded,
    smoothly, and its contrast as it was."""
    texel_m = period_m / tile
    field = fractal_field(tile, texel_m, seed, axis, longest_m, slope=slope)
    if limit is not None:
        field = np.tanh(field / limit)
        field /= max(float(field.std()), 1e-12)
    multiplier = np.exp(rms * field)
    multiplier /= multiplier.mean(dtype=np.float64)
    return PlaneTexture(multiplier.astype(np.float32)[..., None], period_m)


@lru_cache(maxsize=2)
def cloud_relief(seed: int) -> PlaneTexture:
    """The relief of a layer of cloud seed ``seed`` (``lognormal_texture``). The last two are
    kept (about 1 s)."""
    return lognormal_texture(
        seed, RELIEF_AXIS, RELIEF_TILE, RELIEF_PERIOD_M, RELIEF_LONGEST_M, RELIEF_SLOPE, RELIEF_RMS
    )


@lru_cache(maxsize=2)
def ground_patches(seed: int) -> PlaneTexture:
    """The patches of a ground of seed ``seed``: its albedo's multiplier
    (``lognormal_texture``). The last two are kept (0.4-0.7 s)."""
    return lognormal_texture(
        seed, PATCH_AXIS, PATCH_TILE, PATCH_PERIOD_M, PATCH_LONGEST_M, PATCH_SLOPE, PATCH_RMS,
        PATCH_LIMIT,
    )  # fmt: skip


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
