"""A sun disc in a 360-degree sky: the light a learned sky cannot give.

The bundled sky model learned from a handful of HDR panoramas whose suns are a pixel or two at
its native scale, so it draws a bright glow but no disc (at most ~7 stops above the median sky;
real skies in our data reach 13-19). A sun is what makes a World cast crisp shadows, so a recipe
may ask for one: a limb-darkened disc of ``Sun.size`` degrees with radiance 2 ** ``Sun.stops``
and a circumsolar glow, added in linear light after the sky is drawn, above the horizon only,
within ``REACH_DEG`` of the sun (computed only there: a 16K sky pays ~1 s for it). Every pixel
is a pure function of its direction, so bands, windows and any resolution agree, and the disc's
total light (radiance x solid angle) is the same at every resolution: a disc narrower than
``MIN_RADIUS_PIXELS`` is drawn wider and proportionally dimmer.
"""

from __future__ import annotations

import numpy as np

from generator.files.recipe import Sun

MIN_RADIUS_PIXELS = 1.5
LIMB_DARKENING = 0.6
"""Linear limb-darkening coefficient u: I(mu) = 1 - u (1 - mu); the disc's mean is 1 - u / 3."""
GLOW_STOPS = -11.0
"""Radiance of the circumsolar glow at the disc's edge, in stops relative to the disc."""
GLOW_WIDTH_DEG = 2.0
REACH_DEG = 30.0
"""Beyond this angle from the sun it adds nothing: its glow there is 2 ** -11 x e ** -14 of the
disc (~2e-7 of a 2 ** 15 sun's radiance: far below a half-float step of the sky)."""
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
    canvas of ``width`` x ``height``: zero beyond its reach, computed only near it."""
    pixel_deg = 360.0 / width
    elevation = 90.0 - (np.asarray(rows, np.float64) + 0.5) * 180.0 / height
    azimuth = (np.asarray(cols, np.float64) + 0.5) * pixel_deg - 180.0
    radius = 0.5 * sun.size
    drawn = max(radius, MIN_RADIUS_PIXELS * pixel_deg)
    reach = max(REACH_DEG, drawn + 2.0 * pixel_deg)
    near_rows = np.abs(elevation - sun.elevation) <= reach + pixel_deg
    near_cols = _near_azimuths(azimuth, elevation[near_rows], sun, reach + pixel_deg)
    out = np.zeros((len(elevation), len(azimuth)), dtype=np.float32)
    if not near_rows.any() or not near_cols.any():
        return out
    el, az = elevation[near_rows], azimuth[near_cols]
    x, y, z = np.moveaxis(_directions(el[:, None], az[None, :]), -1, 0)
    cx, cy, cz = _directions(np.float64(sun.elevation), np.float64(sun.azimuth))
    # The angle from the sun's centre, accurate at small angles (atan2 of |cross| and dot),
    # element-wise so that a pixel's value never depends on the shape of the piece computed.
    cross = np.sqrt(
        np.square(y * cz - z * cy) + np.square(z * cx - x * cz) + np.square(x * cy - y * cx)
    )
    angle = np.degrees(np.arctan2(cross, x * cx + y * cy + z * cz))
    peak = 2.0**sun.stops * (radius / drawn) ** 2
    coverage = np.clip((drawn - angle) / pixel_deg + 0.5, 0.0, 1.0)  # anti-aliased edge
    mu = np.sqrt(np.clip(1.0 - np.square(angle / drawn), 0.0, 1.0))
    disc = peak * coverage * (1.0 - LIMB_DARKENING * (1.0 - mu))
    glow = 2.0 ** (sun.stops + GLOW_STOPS) * np.exp(
        -np.maximum(angle - radius, 0.0) / GLOW_WIDTH_DEG
    )
    horizon = np.clip(el / pixel_deg + 0.5, 0.0, 1.0)[:, None]  # the ground hides it
    light = np.where(angle <= reach, (disc + glow) * horizon, 0.0)
    out[np.ix_(near_rows, near_cols)] = light
    return out


def _near_azimuths(
    azimuth: np.ndarray, elevations: np.ndarray, sun: Sun, reach: float
) -> np.ndarray:
    """Columns that can lie within ``reach`` degrees of the sun on any of these rows: the widest
    azimuth difference allowed by the spherical law of cosines (all columns near a pole)."""
    if elevations.size == 0:
        return np.zeros(azimuth.shape, dtype=bool)
    phi, phi_sun = np.radians(elevations), np.radians(sun.elevation)
    denominator = np.cos(phi) * np.cos(phi_sun)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = (np.cos(np.radians(reach)) - np.sin(phi) * np.sin(phi_sun)) / denominator
    cosine = np.where(denominator > 1e-9, cosine, -1.0)
    widest = float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))).max())
    difference = np.abs((azimuth - sun.azimuth + 180.0) % 360.0 - 180.0)
    return difference <= widest


def add_sun(
    band: np.ndarray, sun: Sun, rows: np.ndarray, cols: np.ndarray, width: int, height: int
) -> np.ndarray:
    """``band`` (linear RGB, rows x cols of the canvas) with the sun's light added."""
    return band + sun_radiance(sun, rows, cols, width, height)[..., None] * SUN_COLOUR
