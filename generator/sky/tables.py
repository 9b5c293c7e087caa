"""The three look-up tables of Hillaire's sky (EGSR 2020), derived here for a spherical planet.

1. Transmittance from any point to the top of the atmosphere, by altitude and zenith angle
   (Bruneton's parametrisation, which spends texels near the horizon). Zero where the planet is
   in the way.
2. Multiple scattering. Light scattered twice or more is nearly isotropic and, within the
   distance light travels, nearly the same as at the point itself. Under those two assumptions
   the mean radiance S1 of once-scattered light arriving at a point (sunlight scattered once
   anywhere in the sphere of directions, plus sunlight reflected by the ground) is amplified by
   every further order by the same factor f, the fraction of isotropic light at the point that
   the surrounding air scatters back to it: S = S1 (1 + f + f^2 + ...) = S1 / (1 - f). The
   table holds S per unit of solar irradiance by altitude and sun zenith angle; a point with
   scattering coefficient sigma_s then sends sigma_s S toward any direction.
3. The sky seen from the observer: single scattering with the true phase functions plus the
   table-2 term, ray-marched per view zenith angle and azimuth from the sun (the sky is symmetric
   about the sun's vertical plane), with the observer's horizon between two rows so that sky and
   ground never blend. Below the horizon the ray ends on the ground: a grey Lambertian ground
   lit by the sun and the sky, seen through the air in between.

Every table is a function of the settings only; each ray segment is integrated analytically
assuming constant coefficients on it (energy conserving for any step size). Arrays carry the
17 spectral samples last; all values are per unit of the solar spectral irradiance.
"""

from __future__ import annotations

import numpy as np

from generator.sky.medium import (
    EARTH_RADIUS_KM,
    TOP_RADIUS_KM,
    Medium,
    mie_phase,
    rayleigh_phase,
)

TRANSMITTANCE_SHAPE = (64, 256)  # radius, zenith angle
TRANSMITTANCE_STEPS = 48
MULTIPLE_SHAPE = (32, 32)  # sun zenith cosine, sqrt(altitude)
MULTIPLE_DIRECTIONS = 64
MULTIPLE_STEPS = 20
SKY_SHAPE = (256, 128)  # view zenith angle (horizon-centred), azimuth from the sun
SKY_STEPS = 40
HORIZON_ROW = SKY_SHAPE[0] // 2
"""First row above the horizon; the rows below it see the ground."""


def lerp_planes(planes: np.ndarray, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(..., C) each of ``planes`` (C, M) interpolated linearly between its entries ``index``
    and ``index`` + 1 by ``weight`` (the shape of ``index``), one channel at a time: numpy
    gathers single values faster than short rows."""
    out = np.empty((*np.shape(weight), len(planes)), dtype=planes.dtype)
    for channel, plane in enumerate(planes):
        value = plane.take(index)
        value += (plane.take(index + 1) - value) * weight
        out[..., channel] = value
    return out


def bilinear(
    table: np.ndarray,
    fy: np.ndarray,
    fx: np.ndarray,
    lo: int | np.ndarray = 0,
    hi: int | np.ndarray | None = None,
) -> np.ndarray:
    """``table`` (NY, NX, C) at fractional texel coordinates (broadcast), rows clamped to
    ``lo..hi`` (arrays or ints, hi > lo) and columns to the table, in the table's precision:
    element-wise, so the same for any batch.

    Rows are interpolated first, then columns. Where ``fy`` (and ``lo``, ``hi``) hold one value
    per row of ``fx`` (last axis 1) and rows are longer than the table's (an equirect's rows: one
    elevation, many azimuths), the table's two rows are interpolated once per row and only the
    column step is done per element: the same operations on the same numbers, so the same values.
    """
    ny, nx, channels = table.shape
    hi = ny - 1 if hi is None else hi
    fy = np.clip(fy, lo, hi)
    fx = np.clip(fx, 0, nx - 1)
    y0 = np.minimum(fy.astype(np.intp), np.asarray(hi) - 1)
    x0 = np.minimum(fx.astype(np.intp), nx - 2)
    wy = (fy - y0).astype(table.dtype)[..., None]
    wx = (fx - x0).astype(table.dtype)
    if np.ndim(fy) == np.ndim(fx) >= 2 and np.shape(fy)[-1] == 1 and np.shape(fx)[-1] > nx:
        top = table[y0[..., 0]]
        rows = top + (table[y0[..., 0] + 1] - top) * wy
        planes = np.moveaxis(rows, -1, 0).reshape(channels, -1).copy()
        first = x0 + (np.arange(planes.shape[1] // nx) * nx).reshape((*x0.shape[:-1], 1))
        return lerp_planes(planes, first, wx)
    flat = table.reshape(-1, channels)
    first = y0 * nx + x0
    left = flat.take(first, axis=0)
    left += (flat.take(first + nx, axis=0) - left) * wy
    right = flat.take(first + 1, axis=0)
    right += (flat.take(first + nx + 1, axis=0) - right) * wy
    left += (right - left) * wx[..., None]
    return left


def distance_to_top(radius: np.ndarray, cosine: np.ndarray) -> np.ndarray:
    discriminant = np.square(radius) * (np.square(cosine) - 1.0) + TOP_RADIUS_KM**2
    return np.maximum(-radius * cosine + np.sqrt(np.maximum(discriminant, 0.0)), 0.0)


def ground_hit(radius: np.ndarray, cosine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether a ray from ``radius`` with zenith cosine ``cosine`` meets the planet, and where."""
    discriminant = np.square(radius) * (np.square(cosine) - 1.0) + EARTH_RADIUS_KM**2
    hits = (cosine < 0.0) & (discriminant >= 0.0)
    return hits, np.maximum(-radius * cosine - np.sqrt(np.maximum(discriminant, 0.0)), 0.0)


def _along(radius: float | np.ndarray, cosine: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Distance from the planet's centre after ``t`` km along a ray."""
    return np.sqrt(np.maximum(np.square(radius) + np.square(t) + 2.0 * radius * cosine * t, 0.0))


_HORIZON_KM = np.sqrt(TOP_RADIUS_KM**2 - EARTH_RADIUS_KM**2)


class Transmittance:
    """Table 1: ``self(radius, cosine)`` is the (..., 17) transmittance toward the sun."""

    def __init__(self, medium: Medium) -> None:
        n_r, n_mu = TRANSMITTANCE_SHAPE
        rho = _HORIZON_KM * np.linspace(0.0, 1.0, n_r)[:, None]
        radius = np.sqrt(np.square(rho) + EARTH_RADIUS_KM**2)
        d_min, d_max = TOP_RADIUS_KM - radius, rho + _HORIZON_KM
        d = d_min + np.linspace(0.0, 1.0, n_mu)[None, :] * (d_max - d_min)
        with np.errstate(invalid="ignore", divide="ignore"):
            cosine = np.where(
                d > 0, (_HORIZON_KM**2 - np.square(rho) - np.square(d)) / (2 * radius * d), 1.0
            )
        cosine = np.clip(cosine, -1.0, 1.0)
        depth = np.zeros((n_r, n_mu, medium.rayleigh.size))
        for k in range(TRANSMITTANCE_STEPS):
            t = d * (k + 0.5) / TRANSMITTANCE_STEPS
            depth += medium.at(_along(radius, cosine, t) - EARTH_RADIUS_KM)[2]
        self.table = np.exp(-depth * (d / TRANSMITTANCE_STEPS)[..., None]).astype(np.float32)

    def __call__(self, radius: np.ndarray, cosine: np.ndarray) -> np.ndarray:
        radius = np.clip(radius, EARTH_RADIUS_KM, TOP_RADIUS_KM)
        rho = np.sqrt(np.maximum(np.square(radius) - EARTH_RADIUS_KM**2, 0.0))
        d_min, d_max = TOP_RADIUS_KM - radius, rho + _HORIZON_KM
        x_mu = (distance_to_top(radius, cosine) - d_min) / (d_max - d_min)
        n_r, n_mu = TRANSMITTANCE_SHAPE
        value = bilinear(self.table, rho / _HORIZON_KM * (n_r - 1), x_mu * (n_mu - 1))
        return np.where(ground_hit(radius, cosine)[0][..., None], 0.0, value)


def _segment(
    light: np.ndarray, extinction: np.ndarray, dt: np.ndarray, through: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A segment of constant coefficients: the light it adds (source ``light`` per km, seen
    through ``through``) and its transmittance."""
    step = np.exp(-extinction * dt)
    safe = np.maximum(extinction, 1e-12)
    return through * light * (1.0 - step) / safe, step


def _fibonacci_sphere(n: int) -> np.ndarray:
    """(n, 3) nearly uniform unit vectors (z up)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (3.0 - np.sqrt(5.0)) * i
    s = np.sqrt(1.0 - z * z)
    return np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=-1)


class MultipleScattering:
    """Table 2: ``self(radius, sun_cosine)`` is S, the (..., 17) mean radiance of light
    scattered twice or more, per unit solar irradiance."""

    def __init__(self, medium: Medium, transmittance: Transmittance, ground_albedo: float):
        n_mu, n_h = MULTIPLE_SHAPE
        sun = np.linspace(-1.0, 1.0, n_mu)[:, None, None]
        altitude = (TOP_RADIUS_KM - EARTH_RADIUS_KM) * np.square(np.linspace(0, 1, n_h))
        radius = (EARTH_RADIUS_KM + altitude)[None, :, None]
        ray = _fibonacci_sphere(MULTIPLE_DIRECTIONS)
        up, across = ray[:, 2], ray[:, 0]
        sun_across = np.sqrt(1.0 - np.square(sun))
        hits, ground = ground_hit(radius, up)
        length = np.where(hits, ground, distance_to_top(radius, up))
        dt = (length / MULTIPLE_STEPS)[..., None]
        once = np.zeros((*np.broadcast_shapes(sun.shape, radius.shape, up.shape), 17))
        back = np.zeros_like(once)
        through = np.ones_like(once)
        for k in range(MULTIPLE_STEPS):
            t = length * (k + 0.5) / MULTIPLE_STEPS
            r = _along(radius, up, t)
            sun_cosine = (t * across * sun_across + (radius + t * up) * sun) / r
            rayleigh, mie, extinction = medium.at(r - EARTH_RADIUS_KM)
            scattering = rayleigh + mie
            lit = transmittance(r, sun_cosine) / (4.0 * np.pi)
            added, step = _segment(scattering * lit, extinction, dt, through)
            once += added
            back += _segment(scattering, extinction, dt, through)[0]
            through = through * step
        # Sunlight reflected once by the (Lambertian) ground where the ray meets it.
        ground_sun = (radius + ground * up) * sun + ground * across * sun_across
        ground_sun = ground_sun / EARTH_RADIUS_KM
        lit_ground = transmittance(np.full_like(ground_sun, EARTH_RADIUS_KM), ground_sun)
        reflected = ground_albedo / np.pi * lit_ground * np.maximum(ground_sun, 0.0)[..., None]
        once += np.where(hits[..., None], through * reflected, 0.0)
        # Equally weighted directions: (1 / 4 pi) * integral over the sphere = the mean.
        first, fraction = once.mean(axis=2), back.mean(axis=2)
        self.table = (first / (1.0 - fraction)).astype(np.float32)

    def __call__(self, radius: np.ndarray, sun_cosine: np.ndarray) -> np.ndarray:
        n_mu, n_h = MULTIPLE_SHAPE
        altitude = np.clip((radius - EARTH_RADIUS_KM) / (TOP_RADIUS_KM - EARTH_RADIUS_KM), 0, 1)
        return bilinear(
            self.table, (sun_cosine + 1.0) * 0.5 * (n_mu - 1), np.sqrt(altitude) * (n_h - 1)
        )


def march(
    medium: Medium,
    transmittance: Transmittance,
    multiple: MultipleScattering,
    radius: float,
    up: np.ndarray,
    to_sun: np.ndarray,
    sun_up: float,
    length: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Light scattered toward an observer at ``radius`` along rays of zenith cosine ``up`` and
    cosine ``to_sun`` with the sun (whose elevation has sine ``sun_up``), over ``length`` km
    (broadcast): single scattering with the true phase functions plus table 2's term, in
    ``SKY_STEPS`` steps that crowd toward the observer. (..., 17) light per unit solar
    irradiance and the transmittance of the whole path."""
    rayleigh_p, mie_p = rayleigh_phase(to_sun)[..., None], mie_phase(to_sun)[..., None]
    light = np.zeros((*np.broadcast_shapes(to_sun.shape, length.shape), 17))
    through = np.ones_like(light)
    edges = np.square(np.linspace(0.0, 1.0, SKY_STEPS + 1))
    for k in range(SKY_STEPS):
        t = length * 0.5 * (edges[k] + edges[k + 1])
        dt = (length * (edges[k + 1] - edges[k]))[..., None]
        r = _along(radius, up, t)
        sun_cosine = (t * to_sun + radius * sun_up) / r
        rayleigh, mie, extinction = medium.at(r - EARTH_RADIUS_KM)
        source = (rayleigh * rayleigh_p + mie * mie_p) * transmittance(r, sun_cosine)
        source += (rayleigh + mie) * multiple(r, sun_cosine)
        added, step = _segment(source, extinction, dt, through)
        light += added
        through = through * step
    return light, through


def _trapezoid(values: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    values = np.moveaxis(values, axis, 0)
    widths = np.diff(x).reshape((-1,) + (1,) * (values.ndim - 1))
    return (0.5 * (values[1:] + values[:-1]) * widths).sum(axis=0)


class SkyView:
    """Table 3 for an observer at ``radius`` km and the sun at ``sun_elevation`` radians:
    ``self.table`` (rows, azimuths, 17) is the radiance per unit solar irradiance; rows run from
    the nadir to the zenith with the horizon between rows ``HORIZON_ROW - 1`` and ``HORIZON_ROW``;
    columns from the sun's azimuth (0) to the opposite one (pi)."""

    def __init__(
        self,
        medium: Medium,
        transmittance: Transmittance,
        multiple: MultipleScattering,
        radius: float,
        sun_elevation: float,
        ground_albedo: float,
        sun_fraction: float,
    ) -> None:
        n_v, n_a = SKY_SHAPE
        self.radius = radius
        self.horizon = np.pi - np.arcsin(EARTH_RADIUS_KM / radius)
        zenith = self.row_angles()[:, None]
        azimuth = np.linspace(0.0, np.pi, n_a)[None, :]
        up, sideways = np.cos(zenith), np.sin(zenith)
        sun_up, sun_across = np.sin(sun_elevation), np.cos(sun_elevation)
        to_sun = sideways * np.cos(azimuth) * sun_across + up * sun_up
        hits, ground = ground_hit(radius, up)
        length = np.where(hits, ground, distance_to_top(radius, up))
        light, through = march(medium, transmittance, multiple, radius, up, to_sun, sun_up, length)
        above = slice(HORIZON_ROW, n_v)
        facing = np.maximum(up[above], 0.0) * sideways[above]
        half = _trapezoid(light[above] * facing[..., None], zenith[above, 0], axis=0)
        sky_irradiance = -2.0 * _trapezoid(half, azimuth[0], axis=0)  # rows run downward in angle
        ground_sun = np.where(hits, (ground * to_sun + radius * sun_up) / EARTH_RADIUS_KM, 0.0)
        sunlit = sun_fraction * transmittance(np.full_like(ground_sun, EARTH_RADIUS_KM), ground_sun)
        lit = sunlit * np.maximum(ground_sun, 0.0)[..., None] + sky_irradiance
        light += np.where(hits[..., None], through * ground_albedo / np.pi * lit, 0.0)
        self.table = light
        self.sky_irradiance = sky_irradiance
        """(17,) irradiance of a horizontal plane at the observer from the sky (no sun)."""

    def row_angles(self) -> np.ndarray:
        """View zenith angle of each row: squares of the distance from the horizon's texel
        coordinate, so rows crowd toward the horizon where the sky changes fastest."""
        v = np.linspace(0.0, 1.0, SKY_SHAPE[0])
        offset = np.square(2.0 * v - 1.0)
        return np.where(
            np.arange(SKY_SHAPE[0]) >= HORIZON_ROW,
            self.horizon * (1.0 - offset),
            self.horizon + (np.pi - self.horizon) * offset,
        )

    def coordinates(
        self, zenith: np.ndarray, azimuth: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Fractional (row, column) of view directions and each one's allowed row range (its
        own side of the horizon)."""
        n_v, n_a = SKY_SHAPE
        sky = zenith < self.horizon
        v = np.where(
            sky,
            0.5 + 0.5 * np.sqrt(np.clip(1.0 - zenith / self.horizon, 0.0, 1.0)),
            0.5 - 0.5 * np.sqrt(np.clip((zenith - self.horizon) / (np.pi - self.horizon), 0, 1)),
        )
        lo = np.where(sky, HORIZON_ROW, 0)
        hi = np.where(sky, n_v - 1, HORIZON_ROW - 1)
        return v * (n_v - 1), azimuth / np.pi * (n_a - 1), lo, hi
