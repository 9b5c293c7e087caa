"""The clear sky: radiance of a physically based atmosphere as a pure function of direction.

``clear_sky(directions, settings)`` looks each direction up in the sky-view table of
``generator.sky.tables`` (bilinear, element-wise), so any window, tile, wrap or batch split of
the same directions gives the same values. ``sun_light(settings)`` is the Sun lamp that matches
the disc: a disc-free sky plus that lamp lights a scene as the sky with its disc does.

Units are Blender's Sky Texture's (``generator.sky.spectrum``): a scene exposed for Blender's
Multiple Scattering sky is exposed right for this one. As in Blender, the disc's centre has the
radiance of a uniform disc carrying the transmitted solar irradiance, darkened toward the limb
(``generator.rendering.sun.LIMB_DARKENING``) without renormalising, so disc and lamp deliver
(1 - u / 3) = 0.8 of the transmitted solar irradiance; the sky itself is lit by all of it.

Directions are unit vectors (x, y, z): y up, z toward azimuth 0 (the centre column of the
project's equirect images), x toward azimuth 90 degrees (to its right).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass

import numpy as np

from generator.errors import RequestError
from generator.rendering.sun import LIMB_DARKENING, MIN_RADIUS_PIXELS
from generator.sky.aerial import SurfacePaths
from generator.sky.medium import EARTH_RADIUS_KM, Medium
from generator.sky.spectrum import SOLAR_IRRADIANCE, to_rec709
from generator.sky.sunposition import solar_position
from generator.sky.tables import (
    MultipleScattering,
    SkyView,
    Transmittance,
    bilinear,
)

DISC_FRACTION = 1.0 - LIMB_DARKENING / 3.0
"""Share of the transmitted solar irradiance the limb-darkened disc (and its lamp) delivers."""
CHUNK = 1 << 18
"""Directions evaluated at a time: bounds memory; results do not depend on it."""


@dataclass(frozen=True)
class SkySettings:
    """A clear sky. Angles in degrees: ``sun_azimuth`` from the image's centre column (north for
    ``at_place``), positive to the right (east); ``altitude``: the observer's height above sea
    level in metres; ``haze``, ``air`` and ``ozone``: density multipliers (1 = a clean clear
    day, as Blender's aerosol, air and ozone densities; haze 5 is a city, 10 a hazy day);
    ``ground_albedo``: the grey ground seen below the horizon and lighting the air;
    ``sun_size``: the disc's angular diameter (Blender's default); ``sun_disc``: whether
    ``clear_sky`` draws it (leave it out when a Sun lamp from ``sun_light`` lights the scene).
    """

    sun_elevation: float = 30.0
    sun_azimuth: float = 0.0
    altitude: float = 100.0
    haze: float = 1.0
    air: float = 1.0
    ozone: float = 1.0
    ground_albedo: float = 0.3
    sun_size: float = 0.545
    sun_disc: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not -90.0 <= self.sun_elevation <= 90.0:
            problems.append("the sun's elevation must be within -90..90 degrees")
        if not -360.0 <= self.sun_azimuth <= 360.0:
            problems.append("the sun's azimuth must be within -360..360 degrees")
        if not 0.0 <= self.altitude <= 60000.0:
            problems.append("the altitude must be within 0..60000 m")
        for name in ("haze", "air", "ozone"):
            if not 0.0 <= getattr(self, name) <= 100.0:
                problems.append(f"{name} must be within 0..100")
        if not 0.0 <= self.ground_albedo <= 1.0:
            problems.append("the ground albedo must be within 0..1")
        if not 0.05 <= self.sun_size <= 20.0:
            problems.append("the sun's size must be 0.05..20 degrees")
        if problems:
            raise RequestError("; ".join(problems))

    @classmethod
    def at_place(
        cls, when: dt.datetime, latitude: float, longitude: float, **settings
    ) -> SkySettings:
        """The sky over a place at a moment (``when`` must carry its time zone), with north at
        the image's centre column and east to its right."""
        elevation, azimuth = solar_position(when, latitude, longitude)
        return cls(
            sun_elevation=elevation, sun_azimuth=(azimuth + 180.0) % 360.0 - 180.0, **settings
        )


@dataclass(frozen=True)
class SunLight:
    """The Sun lamp matching the disc: where it points from (a unit vector toward the sun, in the
    directions' frame), its angular diameter in degrees, its colour (brightest channel 1) and
    strength (W/m^2 of irradiance, as Blender's Sun lamp takes it: colour x strength)."""

    direction: tuple[float, float, float]
    angular_diameter: float
    colour: tuple[float, float, float]
    strength: float

    @property
    def irradiance(self) -> np.ndarray:
        """Linear Rec. 709 irradiance on a plane facing the sun."""
        return np.asarray(self.colour) * self.strength


def direction(elevation_deg: np.ndarray, azimuth_deg: np.ndarray) -> np.ndarray:
    """(..., 3) unit vectors for elevations and azimuths in degrees (broadcast)."""
    el, az = np.radians(elevation_deg), np.radians(azimuth_deg)
    return np.stack(
        np.broadcast_arrays(np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)), axis=-1
    )


def equirect_directions(width: int, height: int, rows: np.ndarray | None = None) -> np.ndarray:
    """(rows, width, 3) directions of pixel centres of a ``width`` x ``height`` equirect
    (``rows`` defaults to all): row 0 at the top, column ``width / 2`` facing azimuth 0."""
    rows = np.arange(height) if rows is None else np.asarray(rows)
    elevation = 90.0 - (rows + 0.5) * 180.0 / height
    azimuth = (np.arange(width) + 0.5) * 360.0 / width - 180.0
    return direction(elevation[:, None], azimuth[None, :])


def _in_gamut(rgb: np.ndarray) -> np.ndarray:
    """Light as deep red as a sun on the horizon lies outside Rec. 709: its negative blue is
    clipped (no negative light in an environment or a lamp)."""
    return np.maximum(rgb, 0.0)


@functools.lru_cache(maxsize=4)
def _air(
    air: float, haze: float, ozone: float, ground_albedo: float
) -> tuple[Medium, Transmittance, MultipleScattering]:
    """The tables that do not depend on the sun or the observer."""
    medium = Medium.of(air=air, haze=haze, ozone=ozone)
    transmittance = Transmittance(medium)
    return medium, transmittance, MultipleScattering(medium, transmittance, ground_albedo)


class Atmosphere:
    """The tables for one set of settings (the sun's azimuth aside), the sky in colour. The
    sky-view table (``view``) and the aerial perspective toward surfaces (``paths``) are built
    on first use, each a march of its own, so they can be built side by side."""

    def __init__(
        self,
        elevation: float,
        altitude: float,
        haze: float,
        air: float,
        ozone: float,
        ground_albedo: float,
    ) -> None:
        self.medium, self.transmittance, self.multiple = _air(air, haze, ozone, ground_albedo)
        self._elevation = math.radians(elevation)
        self._paths: dict[float, SurfacePaths] = {}
        self.radius = EARTH_RADIUS_KM + max(altitude, 1.0) / 1000.0
        self._ground_albedo = ground_albedo

    @functools.cached_property
    def view(self) -> SkyView:
        """The sky-view table (built on first use: ``generator.sky.compose.prepare_air`` builds
        it beside the aerial perspective's tables)."""
        return SkyView(
            self.medium,
            self.transmittance,
            self.multiple,
            self.radius,
            self._elevation,
            self._ground_albedo,
            DISC_FRACTION,
        )

    @functools.cached_property
    def colour(self) -> np.ndarray:
        """The sky-view table in linear Rec. 709, float32: what every pixel looks up."""
        return _in_gamut(to_rec709(self.view.table * SOLAR_IRRADIANCE)).astype(np.float32)

    @functools.cached_property
    def sky_irradiance(self) -> np.ndarray:
        """Linear Rec. 709 irradiance of a horizontal plane at the observer from the sky."""
        return _in_gamut(to_rec709(self.view.sky_irradiance * SOLAR_IRRADIANCE))

    def sunlight(self, up: np.ndarray, height_km: float = 0.0) -> np.ndarray:
        """(..., 3) transmitted solar irradiance along directions with y-component ``up``, at
        the observer or ``height_km`` above it."""
        radius = self.radius + height_km
        return _in_gamut(to_rec709(self.transmittance(radius, up) * SOLAR_IRRADIANCE))

    def paths(self, height_km: float) -> SurfacePaths:
        """Aerial perspective toward the surface ``height_km`` above (> 0: a cloud layer) or
        below (< 0: the ground) the observer, built once per height."""
        if height_km not in self._paths:
            self._paths[height_km] = SurfacePaths(
                self.medium,
                self.transmittance,
                self.multiple,
                self.radius,
                self._elevation,
                height_km,
            )
        return self._paths[height_km]


@functools.lru_cache(maxsize=8)
def _atmosphere(*key: float) -> Atmosphere:
    return Atmosphere(*key)


def atmosphere(settings: SkySettings) -> Atmosphere:
    """The prepared atmosphere of ``settings`` (cached: built once per render)."""
    return _tables(settings)


def _tables(settings: SkySettings) -> Atmosphere:
    s = settings
    return _atmosphere(s.sun_elevation, s.altitude, s.haze, s.air, s.ozone, s.ground_albedo)


def sun_vector(settings: SkySettings) -> np.ndarray:
    """The unit direction toward the sun of ``settings`` (float64)."""
    return direction(np.float64(settings.sun_elevation), np.float64(settings.sun_azimuth))


def _angle_between(d: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Angles in radians between rows of ``d`` and ``s``, accurate at small angles (atan2 of
    |cross| and dot), element-wise."""
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    cross = np.sqrt(
        np.square(y * s[2] - z * s[1])
        + np.square(z * s[0] - x * s[2])
        + np.square(x * s[1] - y * s[0])
    )
    return np.arctan2(cross, x * s[0] + y * s[1] + z * s[2])


def clear_sky(
    directions: np.ndarray, settings: SkySettings, pixel_deg: float | None = None
) -> np.ndarray:
    """(..., 3) float32 linear Rec. 709 radiance toward ``directions`` (..., 3), unit vectors.

    Below the horizon: the air in front of a grey ground of ``ground_albedo``, lit by the sun
    (as the lamp) and the sky. ``pixel_deg``, the output's pixel size, lets the disc be drawn
    anti-aliased and at least ``MIN_RADIUS_PIXELS`` wide with the same total light; without it
    a direction sees the disc or not.
    """
    directions = np.asarray(directions, dtype=np.float64)
    flat = directions.reshape(-1, 3)
    out = np.empty(flat.shape, dtype=np.float32)
    for start in range(0, len(flat), CHUNK):
        rows = Rays.of(flat[start : start + CHUNK])
        out[start : start + CHUNK] = clear_rows(rows, settings, pixel_deg)[:, 0]
    return out.reshape(directions.shape)


@dataclass(frozen=True)
class Rays:
    """View directions as rows that share their up component: ``y`` (R, 1), ``x`` and ``z``
    (R, C), float64, contiguous. An equirect's row is one row of C pixels; any other set of
    directions is R rows of one (``Rays.of``). What depends on the elevation alone is computed
    once per row, by the same arithmetic either way, so a direction's value does not depend on
    how it was asked for."""

    y: np.ndarray
    x: np.ndarray
    z: np.ndarray

    @classmethod
    def of(cls, directions: np.ndarray) -> Rays:
        """Rays of (N, 3) directions, one per row."""
        d = np.asarray(directions, dtype=np.float64)
        return cls(*(np.ascontiguousarray(d[:, k : k + 1]) for k in (1, 0, 2)))

    def take(self, rows: np.ndarray | slice) -> Rays:
        return Rays(self.y[rows], self.x[rows], self.z[rows])

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape


def azimuth_from_sun(x: np.ndarray, z: np.ndarray, settings: SkySettings) -> np.ndarray:
    """Angles in radians (0..pi, float32) between the vertical planes of directions with
    horizontal components ``x``, ``z`` and of the sun. A vertical direction (the zenith or
    nadir, where x and z are rounding noise) has no vertical plane: it gets 0, so every pixel
    of a pole row reads the tables alike."""
    az = math.radians(settings.sun_azimuth)
    sun_x, sun_z = np.float32(math.sin(az)), np.float32(math.cos(az))
    x, z = x.astype(np.float32), z.astype(np.float32)
    angle = np.abs(np.arctan2(x * sun_z - z * sun_x, x * sun_x + z * sun_z))
    return np.where(np.abs(x) + np.abs(z) < 1e-9, np.float32(0.0), angle)


def clear_rows(
    rays: Rays,
    settings: SkySettings,
    pixel_deg: float | None = None,
    azimuth: np.ndarray | None = None,
) -> np.ndarray:
    """(R, C, 3) float32 ``clear_sky`` toward ``rays``: the table's row coordinate once per row,
    its column per direction. ``azimuth``: their ``azimuth_from_sun`` where a caller has it."""
    atmosphere = _tables(settings)
    zenith = np.arccos(np.clip(rays.y, -1.0, 1.0))
    if azimuth is None:
        azimuth = azimuth_from_sun(rays.x, rays.z, settings)
    fy, fx, lo, hi = atmosphere.view.coordinates(zenith, azimuth)
    radiance = bilinear(atmosphere.colour, fy, fx, lo, hi)
    if settings.sun_disc:
        _add_disc(radiance, rays, settings, pixel_deg, atmosphere)
    return radiance


def _disc_profile(angle: np.ndarray, drawn: float, pixel: float) -> np.ndarray:
    """Relative radiance of the drawn disc: limb-darkened, its edge anti-aliased over a pixel."""
    coverage = np.clip((drawn - angle) / pixel + 0.5, 0.0, 1.0) if pixel else angle <= drawn
    mu = np.sqrt(np.clip(1.0 - np.square(angle / drawn), 0.0, 1.0))
    return coverage * (1.0 - LIMB_DARKENING * (1.0 - mu))


@functools.lru_cache(maxsize=16)
def _disc_scale(drawn: float, pixel: float) -> float:
    """What turns the profile into radiance per unit transmitted irradiance: the disc delivers
    ``DISC_FRACTION`` of it whatever its drawn size and edge (the profile's integral over solid
    angle, at 4096 radii)."""
    reach = drawn + pixel
    angle = (np.arange(4096) + 0.5) / 4096 * reach
    solid = 2.0 * np.pi * np.sin(angle) * (reach / 4096)
    return DISC_FRACTION / float((_disc_profile(angle, drawn, pixel) * solid).sum())


def _add_disc(
    radiance: np.ndarray,
    rays: Rays,
    settings: SkySettings,
    pixel_deg: float | None,
    atmosphere: Atmosphere,
) -> None:
    """Adds the disc's radiance where it reaches (rows within its reach of the sun's
    elevation, then directions within it). Drawn wider than it is where pixels are coarse, it
    keeps its total light; undrawn (no ``pixel_deg``) its centre has the radiance of a uniform
    disc, as Blender's."""
    radius = math.radians(settings.sun_size / 2.0)
    pixel = math.radians(pixel_deg) if pixel_deg else 0.0
    drawn = max(radius, MIN_RADIUS_PIXELS * pixel)
    reach = drawn + pixel
    elevation = np.arcsin(np.clip(rays.y[:, 0], -1.0, 1.0))
    rows = np.nonzero(np.abs(elevation - math.radians(settings.sun_elevation)) <= 2 * reach)[0]
    if rows.size == 0:
        return
    near_rays = rays.take(rows)
    d = np.stack(np.broadcast_arrays(near_rays.x, near_rays.y, near_rays.z), axis=-1).reshape(-1, 3)
    sun = sun_vector(settings)
    cosine = d[:, 0] * sun[0] + d[:, 1] * sun[1] + d[:, 2] * sun[2]
    near = np.nonzero(cosine >= math.cos(min(2.0 * reach, math.pi)))[0]
    angle = _angle_between(d[near], sun)
    near, angle = near[angle <= reach], angle[angle <= reach]
    if near.size == 0:
        return
    weight = _disc_profile(angle, drawn, pixel) * _disc_scale(drawn, pixel)
    block = radiance[rows].reshape(-1, 3)
    block[near] += (atmosphere.sunlight(d[near, 1]) * weight[:, None]).astype(np.float32)
    radiance[rows] = block.reshape(len(rows), -1, 3)


def sun_light(settings: SkySettings, samples: int = 32) -> SunLight:
    """The Sun lamp matching the disc: its light is the disc's, integrated over a grid of
    ``samples`` x ``samples`` points across it (a setting sun is partly hidden, a low one
    redder at its lower limb)."""
    radius = settings.sun_size / 2.0
    offsets = (np.arange(samples) + 0.5) / samples * 2.0 - 1.0
    across, up = np.meshgrid(offsets, offsets)
    inside = np.square(across) + np.square(up) <= 1.0
    across, up = across[inside], up[inside]
    limb = 1.0 - LIMB_DARKENING * (1.0 - np.sqrt(1.0 - np.square(across) - np.square(up)))
    elevation = np.radians(settings.sun_elevation + radius * up)
    light = _tables(settings).sunlight(np.sin(elevation))
    irradiance = (light * limb[:, None]).mean(axis=0)
    strength = float(irradiance.max())
    colour = irradiance / strength if strength > 0 else np.ones(3)
    return SunLight(
        direction=tuple(float(v) for v in sun_vector(settings)),
        angular_diameter=settings.sun_size,
        colour=tuple(float(c) for c in colour),
        strength=strength,
    )
