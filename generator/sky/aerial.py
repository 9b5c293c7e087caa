"""Aerial perspective: what the air adds and takes away between the observer and a surface.

A horizontal surface (the ground below the eye, a cloud layer above it) is met by each view
direction at a distance that depends only on the direction's elevation, so the light scattered
into the ray on the way and the transmittance of the path are, like the sky itself, a table over
(view elevation, azimuth from the sun) for one set of settings. Rows are spaced evenly in
d / (d + ``NEAR_KM``), d the distance to the surface, so they resolve the first kilometres (where
haze grows fastest) and still reach the horizon, where a flat ground is infinitely far and the
path ends at the top of the atmosphere: there the ground's haze is the horizon's sky.

The ground is a flat plane (an endless plain: it fades into the horizon's haze); a cloud layer
is a shell concentric with the planet (it meets the horizon at a finite distance, as real cloud
decks do, about 140 km away for one at 1.5 km).
"""

from __future__ import annotations

import numpy as np

from generator.sky.medium import Medium
from generator.sky.spectrum import SOLAR_IRRADIANCE, to_rec709
from generator.sky.tables import (
    MultipleScattering,
    Transmittance,
    bilinear,
    distance_to_top,
    ground_hit,
    march,
)

ROWS, AZIMUTHS = 256, 128
NEAR_KM = 10.0
_WHITE = to_rec709(SOLAR_IRRADIANCE)


def surface_distance(up: np.ndarray, radius: float, height_km: float) -> np.ndarray:
    """Distance in km along rays of zenith cosine ``up`` from ``radius`` to the surface at
    ``height_km`` relative to the observer: a plane below (``height_km`` < 0, rays with
    ``up`` < 0; infinite at the horizon) or a shell above (rays with ``up`` >= 0)."""
    if height_km < 0.0:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(up < 0.0, -height_km / -up, np.inf)
    top = radius + height_km
    return -radius * up + np.sqrt(np.square(radius * up) + top * top - radius * radius)


def path_table(
    medium: Medium,
    transmittance: Transmittance,
    multiple: MultipleScattering,
    radius: float,
    up: np.ndarray,
    length: np.ndarray,
    sun_elevation: float,
    azimuths: int,
) -> np.ndarray:
    """(rows, ``azimuths``, 6) float32 table of the light the air scatters into paths of
    ``length`` km from the observer at ``radius`` km with zenith cosines ``up`` (rows, 1), and
    their transmittance, in linear Rec. 709 per unit of solar irradiance's colour, at azimuths
    from the sun even over 0..pi, the sun ``sun_elevation`` radians up."""
    azimuth = np.linspace(0.0, np.pi, azimuths)[None, :]
    sideways = np.sqrt(np.maximum(1.0 - np.square(up), 0.0))
    sun_up, sun_across = np.sin(sun_elevation), np.cos(sun_elevation)
    to_sun = sideways * np.cos(azimuth) * sun_across + up * sun_up
    light, through = march(medium, transmittance, multiple, radius, up, to_sun, sun_up, length)
    added = np.maximum(to_rec709(light * SOLAR_IRRADIANCE), 0.0)
    kept = np.maximum(to_rec709(through * SOLAR_IRRADIANCE) / _WHITE, 0.0)
    return np.concatenate([added, kept], axis=-1).astype(np.float32)


class SurfacePaths:
    """Table of (in-scattered light, transmittance) in linear Rec. 709 per unit of solar
    irradiance's colour, for the paths from the observer at ``radius`` km to the surface at
    ``height_km``, the sun at ``sun_elevation`` radians."""

    def __init__(
        self,
        medium: Medium,
        transmittance: Transmittance,
        multiple: MultipleScattering,
        radius: float,
        sun_elevation: float,
        height_km: float,
    ) -> None:
        self.radius, self.height_km = radius, height_km
        self.v_near = self._v(abs(height_km))
        self.v_far = 1.0 if height_km < 0.0 else self._v(surface_distance(0.0, radius, height_km))
        v = np.linspace(self.v_near, self.v_far, ROWS)
        with np.errstate(divide="ignore"):
            distance = NEAR_KM * v / (1.0 - v)
        up = self._cosine(distance)[:, None]
        hits, ground = ground_hit(radius, up)
        cap = np.where(hits, ground, distance_to_top(radius, up))
        length = np.minimum(distance[:, None], cap)
        self.table = path_table(
            medium, transmittance, multiple, radius, up, length, sun_elevation, AZIMUTHS
        )

    @staticmethod
    def _v(distance: np.ndarray | float) -> np.ndarray | float:
        return distance / (distance + NEAR_KM)

    def _cosine(self, distance: np.ndarray) -> np.ndarray:
        """The zenith cosine whose ray meets the surface at ``distance`` (inverse of
        ``surface_distance``)."""
        h, r = self.height_km, self.radius
        with np.errstate(divide="ignore", invalid="ignore"):
            if h < 0.0:
                return np.where(np.isfinite(distance), h / distance, -0.0)
            return ((r + h) ** 2 - r * r - np.square(distance)) / (2.0 * r * distance)

    def __call__(self, azimuth: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) float32 in-scattered light and (..., 3) transmittance of the rays at
        ``azimuth`` from the sun (radians, 0..pi) that meet the surface at ``distance``
        (``surface_distance``), broadcast: a distance per row (R, 1) and azimuths (R, C) look
        the table's row up once per row (``bilinear``)."""
        v = np.where(np.isfinite(distance), self._v(np.minimum(distance, 1e30)), 1.0)
        span = max(self.v_far - self.v_near, 1e-12)
        fy = (v - self.v_near) / span * (ROWS - 1)
        fx = azimuth / np.pi * (AZIMUTHS - 1)
        values = bilinear(self.table, fy, fx)
        return values[..., :3], values[..., 3:]
