"""Land at the horizon without a photograph: a range of hills standing around the eye, drawn
from a seed.

A composed sky over a flat ground plane meets its sky in a bare, ruled line, where real
panoramas show hills, woods and fields on the skyline. Their outline is geometry, simple enough
to draw from seeded periodic noise: a ridge line whose height falls off with frequency as
terrain profiles do (rolling hills a degree or two high), woods in patches along it (crowns a
fraction of a degree high), and land below it whose colour mixes woods and fields. The band
goes through everything a band image does (``generator.sky.horizon``: lit by the sun and sky on
slopes facing the eye, hazed by the air in front of it at its distance), so a far range is
blue and faint, a near one dark and clear, and toward a low sun both are silhouettes. It is
360 degrees wide and periodic, so the wrap stays exact.
"""

from __future__ import annotations

import numpy as np

HILLS = "hills"
"""The source name of a drawn range of hills (``HorizonSettings.source``)."""
PIXELS_PER_DEGREE = 16
"""The band's texels: twice a photographed band's (8), so a 16K equirect (45 px a degree)
magnifies the outline under three times, not six."""
HALF_HEIGHT_DEGREES = 6.0
"""The band reaches this far above (and below) the horizon: room for the highest ridges with
their woods."""
FEET_DEGREES = 1.0
"""How far below the horizon the land goes on, to the range's feet: they lie asin(eye height /
distance) below it (0.024 degrees for an eye 1.7 m up and hills 4 km away), where the ground
plane in front of them comes nearer than they are, and the composition cuts the land there
(``ComposedSky`` ``horizon_over``). With nothing below the horizon, the plane beyond the range
(kilometres of haze, out to its own horizon) showed through as a light line along the hills'
feet, a pixel or two of a 16K equirect and more in a narrow view. One degree holds the feet of a
range 57 eye heights away or farther."""
RIDGE_MEAN_DEGREES = 1.5
RIDGE_RMS_DEGREES = 0.9
"""The ridge line's mean height and spread above the horizon: rolling hills, where it dips
below the horizon, flat land (the ground plane shows)."""
RIDGE_SLOPE = 1.35
"""Amplitude ~ k^-RIDGE_SLOPE over k = 2.. cycles around: the spectrum of a terrain profile
(a Hurst exponent near 0.85), smooth hills carrying a little fine relief."""
RIDGE_CEILING_DEGREES = 4.8
"""Ridges are rounded off below this (a soft maximum), within the band's height."""
WOODS_SHARE = 0.55
"""The share of the skyline under woods; the rest is open land, its outline the ridge's."""
CROWN_DEGREES = 0.22
"""How high the woods' crowns stand over the ground at most (trees 15 m high 4 km away)."""
CROWNS_PER_DEGREE = 8
"""The crowns' spacing along the skyline, as fine as the band's texels hold (at 4 km, one tree
every 9 m)."""
WOODS = np.array([0.030, 0.042, 0.022], dtype=np.float32)
FIELDS = np.array([0.085, 0.095, 0.050], dtype=np.float32)
"""Linear reflectances of woods and of open fields and meadows."""
PATCH_TEXELS = 16.0
"""The largest patches of woods and fields, in texels down the band (1 degree; six times that
along it): a hillside holds several. Without a largest size the spectrum's k^-1.8 power piled
up at the longest scales, which along a band 12 degrees high meant columns: 97 % of it was
constant down each column, so whole stretches of a range were all woods or all fields, and
the near range was one flat colour."""
WOODS_CONTRAST = 1.2
"""How sharply woods give way to fields: the share of woods is 0.5 plus this times the
patches' field (unit RMS), clipped to 0..1."""
SLOPE_DEGREES = 1.5
"""The scale over which the land's slope across the view is taken from its outline: hillsides,
not the woods' crowns."""
LEAN_DEPTH_DEGREES = 1.2
"""How far below the skyline a flank's slope shows, fading: lower down lies nearer land."""
HILLS_STREAM = 0x48696C6C
"""Seeds the hills' random numbers apart from every other layer's drawn from the same seed."""


def _periodic_noise(
    rng: np.random.Generator, width: int, slope: float, lowest: int, highest: int
) -> np.ndarray:
    """(width,) float64 periodic noise of unit RMS with amplitude ~ k^-``slope`` between
    ``lowest`` and ``highest`` cycles around."""
    k = np.arange(width // 2 + 1, dtype=np.float64)
    amplitude = np.where((k >= lowest) & (k <= highest), np.maximum(k, 1.0) ** -slope, 0.0)
    spectrum = (rng.standard_normal(k.size) + 1j * rng.standard_normal(k.size)) * amplitude
    noise = np.fft.irfft(spectrum, n=width)
    return noise / max(float(noise.std()), 1e-12)


def _band_noise(rng: np.random.Generator, height: int, width: int, long: int) -> np.ndarray:
    """(height, width) float64 noise of unit RMS, periodic across the width, features about
    ``long`` times wider than high (fields and woods foreshortened on a far slope), none
    larger than ``PATCH_TEXELS`` high."""
    rows = np.fft.fftfreq(height)[:, None]
    columns = np.fft.rfftfreq(width)[None, :] * long
    k2 = np.square(rows) + np.square(columns)
    amplitude = (k2 + 1.0 / PATCH_TEXELS**2) ** -0.9 * np.exp(-k2 * 40.0)
    amplitude[0, 0] = 0.0
    white = rng.standard_normal((height, width))
    noise = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=(height, width))
    return noise / max(float(noise.std()), 1e-12)


def ridge_degrees(seed: int, distance_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(width,) the skyline's height above the horizon in degrees at each column's centre,
    where woods stand on it (0..1), and the land's lean there: its slope across the view, the
    fall of the ridge toward increasing azimuth (angle over angle is height over distance along
    the range), from its outline smoothed over ``SLOPE_DEGREES``. A seed's own range, another at
    another distance."""
    width = 360 * PIXELS_PER_DEGREE
    rng = np.random.default_rng([HILLS_STREAM, seed % 2**63, round(distance_m)])
    ground = RIDGE_MEAN_DEGREES + RIDGE_RMS_DEGREES * _periodic_noise(
        rng, width, RIDGE_SLOPE, 2, 720
    )
    ceiling = RIDGE_CEILING_DEGREES
    ground = np.where(ground > 0.0, ceiling * np.tanh(ground / ceiling), ground)
    patches = _periodic_noise(rng, width, 1.5, 3, 180)
    threshold = np.quantile(patches, 1.0 - WOODS_SHARE)
    woods = np.clip((patches - threshold) * 4.0, 0.0, 1.0)
    crowns = np.abs(_periodic_noise(rng, width, 0.6, 60, 360 * CROWNS_PER_DEGREE))
    crowns = np.minimum(crowns / 2.0, 1.0) ** 0.5
    skyline = ground + woods * (ground > 0.0) * CROWN_DEGREES * (0.45 + 0.55 * crowns)
    k = np.fft.rfftfreq(width, d=1.0 / width)  # cycles around
    smooth = np.exp(-0.5 * np.square(k * SLOPE_DEGREES / 360.0))
    rise = np.fft.irfft(np.fft.rfft(ground) * smooth * (2j * np.pi * k / 360.0), n=width)
    return skyline, woods, -rise


def hills_band(seed: int, distance_m: float) -> np.ndarray:
    """(H, W, 5) float32 band of a range of hills: linear reflectance, coverage and the land's
    lean across the view (``ridge_degrees``), straight; 360 degrees over W at
    ``PIXELS_PER_DEGREE``, the horizon on the top edge of row H // 2, the land going on
    ``FEET_DEGREES`` below it (down to the range's feet, which the composition cuts) and
    nothing lower. 0.2-0.3 s to draw; a process keeps the last few
    prepared (``generator.sky.skyfile``)."""
    height = round(2 * HALF_HEIGHT_DEGREES * PIXELS_PER_DEGREE)
    width = 360 * PIXELS_PER_DEGREE
    skyline, woods, lean = ridge_degrees(seed, distance_m)
    top = (height // 2 - np.arange(height, dtype=np.float64)) / PIXELS_PER_DEGREE  # row tops
    # each texel's share under the skyline (its outline antialiased), down to FEET_DEGREES
    bottom = top[:, None] - 1.0 / PIXELS_PER_DEGREE
    cover = np.clip((skyline[None, :] - bottom) * PIXELS_PER_DEGREE, 0.0, 1.0)
    cover[height // 2 + round(FEET_DEGREES * PIXELS_PER_DEGREE) :] = 0.0
    rng = np.random.default_rng([HILLS_STREAM, seed % 2**63, round(distance_m), 1])
    # woods and fields in patches over the slopes; along the skyline, the woods its crowns show
    near = np.clip(1.0 - (skyline[None, :] - bottom) / (2.0 * CROWN_DEGREES), 0.0, 1.0)
    patches = 0.5 + WOODS_CONTRAST * _band_noise(rng, height, width, 6)
    wooded = np.clip(patches + near * (woods[None, :] - 0.5), 0.0, 1.0)[..., None]
    colour = FIELDS * (1.0 - wooded) + WOODS * wooded
    colour = colour * np.exp(0.25 * _band_noise(rng, height, width, 3))[..., None]
    # the flanks show their slope near the skyline; lower down, the land in front of them
    depth = np.maximum(skyline[None, :] - bottom, 0.0)
    leaning = (lean[None, :] * np.clip(1.0 - depth / LEAN_DEPTH_DEGREES, 0.0, 1.0))[..., None]
    return np.concatenate([colour, cover[..., None], leaning], axis=-1).astype(np.float32)
