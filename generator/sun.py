"""A sun disc in a 360-degree sky: the light a learned sky cannot give.

The bundled sky model learned from a handful of HDR panoramas whose suns are a pixel or two at
its native scale, so it draws a bright glow but no disc (at most ~7 stops above the median sky;
real skies in our data reach 13-19). A sun is what makes a World cast crisp shadows, so a recipe
may ask for one: a limb-darkened disc of ``Sun.size`` degrees with radiance 2 ** ``Sun.stops``
and a faint circumsolar glow, added in linear light after the sky is drawn, above the horizon
only. Every pixel is a pure function of its direction, so bands, windows and any resolution
agree, and the disc's total light (radiance x solid angle) is the same at every resolution: a
disc narrower than ``MIN_RADIUS_PIXELS`` is drawn wider and proportionally dimmer.
"""

from __future__ import annotations

import numpy as np

from generator.recipe import Sun

MIN_RADIUS_PIXELS = 1.5
LIMB_DARKENING = 0.6
"""Linear limb-darkening coefficient u: I(mu) = 1 - u (1 - mu); the disc's mean is 1 - u / 3."""
GLOW_STOPS = -11.0
"""Radiance of the circumsolar glow at the disc's edge, in stops relative to the disc."""
GLOW_WIDTH_DEG = 2.0
SUN_COLOUR = np.array([1.05, 1.0, 0.95], dtype=np.float32)
"""Slightly warm white (linear Rec. 709, luminance ~1): sunlight seen through the air."""


def _directions(elevation_deg: np.ndarray, azimuth_deg: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 3) for elevations and azimuths in degrees (broadcast)."""
    el, az = np.radians(elevation_deg), np.radians(azimuth_deg)
    el, az = np.broadcast_arrays(el, az)
    return np.stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)], axis=-1)


def sun_radiance(
    sun: Sun, rows: np.ndarray, cols: np.ndarray, width: int, height: int
) -> np.ndarray:
    """(len(rows), len(cols)) linear radiance the sun adds to those pixels of an equirect
    canvas of ``width`` x ``height``."""
    pixel_deg = 360.0 / width
    elevation = 90.0 - (np.asarray(rows, np.float64) + 0.5) * 180.0 / height
    azimuth = (np.asarray(cols, np.float64) + 0.5) * pixel_deg - 180.0
    pixels = _directions(elevation[:, None], azimuth[None, :])
    centre = _directions(np.float64(sun.elevation), np.float64(sun.azimuth))
    # The angle from the sun's centre, accurate at small angles (atan2 of |cross| and dot).
    cross = np.linalg.norm(np.cross(pixels, centre), axis=-1)
    angle = np.degrees(np.arctan2(cross, pixels @ centre))
    radius = 0.5 * sun.size
    drawn = max(radius, MIN_RADIUS_PIXELS * pixel_deg)
    peak = 2.0**sun.stops * (radius / drawn) ** 2
    coverage = np.clip((drawn - angle) / pixel_deg + 0.5, 0.0, 1.0)  # anti-aliased edge
    mu = np.sqrt(np.clip(1.0 - np.square(angle / drawn), 0.0, 1.0))
    disc = peak * coverage * (1.0 - LIMB_DARKENING * (1.0 - mu))
    glow = 2.0 ** (sun.stops + GLOW_STOPS) * np.exp(
        -np.maximum(angle - radius, 0.0) / GLOW_WIDTH_DEG
    )
    horizon = np.clip(elevation / pixel_deg + 0.5, 0.0, 1.0)[:, None]  # the ground hides it
    return ((disc + glow) * horizon).astype(np.float32)


def add_sun(
    band: np.ndarray, sun: Sun, rows: np.ndarray, cols: np.ndarray, width: int, height: int
) -> np.ndarray:
    """``band`` (linear RGB, rows x cols of the canvas) with the sun's light added."""
    return band + sun_radiance(sun, rows, cols, width, height)[..., None] * SUN_COLOUR
