"""A high, thin veil of ice cloud (cirrus) above the cloud layer: fibres combed by the wind
into patches, seen in perspective like the other layers.

The cloud model draws one kind of cloud, the soft heaps of the low layer it learned. Real skies
often carry a second, far higher layer: fibrous streaks of ice 6-10 km up, thin enough to show
the blue through them. Its shape is simple enough to draw from a few seeded, periodic fields
(``generator.sky.layers.fractal_field``'s kind): an envelope of fields up to 50 km long
with soft edges, holding feathery fibres stretched along the wind, both bent by a slow warp.
The tile wraps, so the veil is seamless and, sampled by ``PlaneTexture``, a pure function of
the view direction like the rest of the sky.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from generator.errors import RequestError
from generator.sky.layers import check_tile, fractal_field
from generator.sky.plane import PlaneTexture, wrapped_bilinear

CIRRUS_TAU = 1.0
"""Optical thickness of the thickest fibres (all but the thickest thousandth of the layer) at
amount 1: the sun through them is dimmed to e^-1 overhead, and toward the horizon the veil
closes into a milky band."""
FIBRE_STRETCH = 4.0
"""How much longer than wide the fibres are (the spectrum's anisotropy): streaks up to 10 km
long and 175-600 m wide. Stretched 8 times (16 km) they ran across the whole sky as an even hatch
of parallel hairlines, like a scratched lens."""
FIBRE_LONGEST_M = 2500.0
FIBRE_SHORTEST_M = 700.0
"""The fibres' scales in the stretched metric: a k^-3 spectrum between these. Down to 300 m the
finest fibres were hairlines 75 m wide, a hatch of them over every patch."""
FIBRE_CONTRAST = 1.6
"""RMS of the log of the fibres' thickness (a log-normal field of mean 1): every part of a field
holds some ice, most of it in a few strong streaks, as photographs of cirrus fibratus show (the
brightest tenth of a patch holds 70 % of its ice; at 0.9, 44 %: an even hatch of parallel lines
like a scratched lens). Cut at a threshold instead (wisps where the field exceeded 0.2 of its
spread), the veil broke into short white flecks scattered over the blue, like confetti in a
120-degree view (docs/sky.md)."""
PATCH_STRETCH = 2.0
PATCH_LONGEST_M = 25000.0
PATCH_SHORTEST_M = 3000.0
PATCH_SHARE = 0.35
"""The share of the layer the fields cover; the rest is clear. Fields of 3-25 km (before, 1.5-8
km) gather the fibres into a few sheets with open blue between, not an even sprinkle."""
PATCH_EDGE = 1.0
"""How far (in standard deviations of the fields' field) a field's edge fades in: feathered
edges, not the cut-out outlines a linear ramp gave."""
BEND_M = 400.0
BEND_LONGEST_M = 30000.0
BEND_SHORTEST_M = 10000.0
"""RMS of the warp that bends the fibres and patches, and its scales: streaks that curve gently
over tens of kilometres. A larger or finer one (1 km over 5-25 km) curled them into swirls and
hooks, a vortex overhead; larger still folded them into marbling."""
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


@dataclass(frozen=True)
class CirrusSettings:
    """A veil of cirrus ``altitude_m`` above the eye: ``amount`` 0 none to 1 thick enough to dim
    the sun (peak optical thickness ``CIRRUS_TAU``); its ``tile`` px repeat every ``period_m``
    metres; ``seed`` chooses it and the way its fibres run (``wind_heading``)."""

    amount: float = 0.3
    seed: int = 0
    altitude_m: float = 8000.0
    tile: int = 2048
    period_m: float = 60000.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        check_tile(self.tile, self.period_m, problems, "cirrus")
        if not 0.0 <= self.amount <= 1.0:
            problems.append("the cirrus amount must be within 0..1")
        if not 2000.0 <= self.altitude_m <= 15000.0:
            problems.append("the cirrus altitude must be 2000..15000 m above the eye")
        if problems:
            raise RequestError("; ".join(problems))


def wind_heading(seed: int) -> float:
    """The direction the fibres run, radians from the layer's ``z`` axis toward ``x``: a
    seed's own (golden-angle steps), so seeds differ in it as real skies do."""
    return (seed * GOLDEN_ANGLE) % math.pi


def cirrus_thickness(settings: CirrusSettings) -> np.ndarray:
    """(tile, tile) float32 optical thickness of the veil, periodic: fields covering
    ``PATCH_SHARE`` of the layer, fading in at their edges, holding fibres of ice."""
    size, seed = settings.tile, settings.seed
    texel_m = settings.period_m / size
    wind = {"slope": 3.0, "heading": wind_heading(seed)}
    fibres = fractal_field(
        size, texel_m, seed, 12, FIBRE_LONGEST_M, FIBRE_SHORTEST_M, stretch=FIBRE_STRETCH, **wind
    )
    patches = fractal_field(
        size, texel_m, seed, 13, PATCH_LONGEST_M, PATCH_SHORTEST_M, stretch=PATCH_STRETCH, **wind
    )
    bend = [
        fractal_field(size, texel_m, seed, axis, BEND_LONGEST_M, BEND_SHORTEST_M, 3.0)
        * (BEND_M / texel_m)
        for axis in (14, 15)
    ]
    u = (np.arange(size)[None, :] + bend[0]).astype(np.float32)
    v = (np.arange(size)[:, None] + bend[1]).astype(np.float32)
    both = wrapped_bilinear(np.stack([fibres, patches], -1).astype(np.float32), u, v)
    inside = (both[..., 1] - np.quantile(both[..., 1], 1.0 - PATCH_SHARE)) / PATCH_EDGE
    envelope = np.clip(inside, 0.0, 1.0)
    envelope *= envelope * (3.0 - 2.0 * envelope)  # smoothstep
    fibre = np.exp(FIBRE_CONTRAST * both[..., 0] - FIBRE_CONTRAST**2 / 2.0)
    thickness = envelope * fibre
    thickness *= CIRRUS_TAU * settings.amount / max(float(np.quantile(thickness, 0.999)), 1e-12)
    return thickness.astype(np.float32)


@lru_cache(maxsize=2)
def cirrus_texture(settings: CirrusSettings) -> PlaneTexture:
    """The veil's thickness as a plane texture (its pyramid averages thickness, so far away a
    pixel sees the mean extinction of fibres and gaps). The last two are kept: a sky drawn
    again with another sun or cover reuses its veil (1-2 s at 2048 px)."""
    return PlaneTexture(cirrus_thickness(settings)[..., None], settings.period_m)
