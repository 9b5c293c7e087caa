"""Matte strips: the composed sky seen through a cylindrical or a perspective camera.

A strip is ``width`` x ``camera.height`` pixels. Its pixels' view directions are a pure function
of the pixel (never of the band, window or tile rendered), so tiles and windows equal the whole.

- **Cylindrical** (a central cylindrical panorama: what a cyclorama, a cylinder around the scene,
  shows from its axis): columns are even in azimuth over ``fov`` degrees, centred on
  ``heading``; rows are even in tan(elevation), as heights on the cylinder. The horizon lies
  ``horizon`` of the height below the top edge; the rows span ``vertical_fov`` degrees, or, when
  that is None, pixels are square at the horizon (as wide in elevation as in azimuth). A ``fov``
  of exactly 360 wraps: column ``width`` is column 0 (the same directions, bit for bit), so the
  left and right edges meet.
- **Perspective** (a pinhole camera, no roll): ``fov`` degrees across, square pixels, turned
  toward ``heading`` and pitched so that the horizon (a straight, level line in such a camera)
  lies ``horizon`` of the height below the top edge.

Directions use the sky's frame (``generator.sky.atmosphere``): y up, z toward azimuth 0, x toward
azimuth 90 (the right). ``strip_height`` is a function of (fractional) pixel coordinates with the
sign of the up component, zero on the horizon: what the anti-aliased horizon of a transparent
ground needs (``generator.sky.skyfile``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from generator.errors import RequestError
from generator.files.recipe import MAX_SIDE
from generator.sky.atmosphere import Rays

STRIP_PROJECTIONS = ("cylindrical", "perspective")


@dataclass(frozen=True)
class StripCamera:
    """The camera of a matte strip (its width is the recipe's): ``height`` px, ``fov`` degrees
    across, centred on azimuth ``heading`` (degrees right of the equirect's centre column),
    the horizon ``horizon`` of the height below the top edge; a cylindrical strip's rows span
    ``vertical_fov`` degrees (None: square pixels at the horizon)."""

    height: int = 1024
    fov: float = 120.0
    horizon: float = 0.6
    vertical_fov: float | None = None
    heading: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.height, int) or not 1 <= self.height <= MAX_SIDE:
            problems.append(f"a strip's height must be a whole number of pixels, 1..{MAX_SIDE}")
        if not 0.0 < self.fov <= 360.0:
            problems.append("the field of view must be more than 0 and at most 360 degrees")
        if not 0.0 <= self.horizon <= 1.0:
            problems.append("the horizon is a fraction of the height from the top, 0..1")
        if self.vertical_fov is not None and not 0.0 < self.vertical_fov < 180.0:
            problems.append("the vertical field of view must be between 0 and 180 degrees")
        if not math.isfinite(self.heading):
            problems.append("the heading must be a number of degrees")
        if problems:
            raise RequestError("; ".join(problems))

    def check(self, projection: str, width: int) -> None:
        """What the projection cannot do with this camera, as a RequestError."""
        if projection not in STRIP_PROJECTIONS:
            raise RequestError(f"unknown strip camera {projection!r}: cylindrical or perspective")
        if projection == "perspective":
            if self.fov >= 170.0:
                raise RequestError("a perspective strip's field of view must be under 170 degrees")
            if self.vertical_fov is not None:
                raise RequestError(
                    "a perspective camera's pixels are square: its vertical field of view "
                    "follows from the width, height and --fov"
                )
            pitch = math.degrees(math.atan(self._pitch_tangent(width)))
            if abs(pitch) >= 85.0:
                raise RequestError("the horizon is too far from the centre for this camera")

    @property
    def wraps(self) -> bool:
        """Whether the strip is a whole cyclorama: its left and right edges meet."""
        return self.fov == 360.0

    def pixel_rad(self, projection: str, width: int) -> float:
        """The angular size of a pixel at the horizon (cylindrical) or at the image's centre
        (perspective): the size the footprint filter and the disc follow."""
        if projection == "cylindrical":
            return math.radians(self.fov) / width
        return 2.0 * math.tan(math.radians(self.fov) / 2.0) / width

    def scale(self, width: int) -> float:
        """Cylindrical: tan(elevation) per unit of height (pixels / height) from the horizon."""
        if self.vertical_fov is None:
            return self.height * math.radians(self.fov) / width
        target, above, below = math.radians(self.vertical_fov), self.horizon, 1.0 - self.horizon
        low, high = 0.0, 1.0
        while math.atan(above * high) + math.atan(below * high) < target:
            high *= 2.0
        for _ in range(200):  # bisection: the same float64 steps on every machine
            middle = 0.5 * (low + high)
            if math.atan(above * middle) + math.atan(below * middle) < target:
                low = middle
            else:
                high = middle
        return 0.5 * (low + high)

    def _focal(self, width: int) -> float:
        """Perspective: the focal length in pixels."""
        return 0.5 * width / math.tan(math.radians(self.fov) / 2.0)

    def _pitch_tangent(self, width: int) -> float:
        """Perspective: tan(pitch), up positive, that puts the horizon at its row."""
        return (self.horizon - 0.5) * self.height / self._focal(width)


def _columns_azimuth(camera: StripCamera, width: int, columns: np.ndarray) -> np.ndarray:
    """Cylindrical: the azimuth (radians) of (fractional) columns, wrapped for a cyclorama."""
    columns = np.asarray(columns, dtype=np.float64)
    if camera.wraps:
        columns = np.mod(columns, width)
    degrees = camera.heading + (columns / width - 0.5) * camera.fov
    return np.radians(degrees)


def _rows_tangent(camera: StripCamera, width: int, rows: np.ndarray) -> np.ndarray:
    """Cylindrical: tan(elevation) of (fractional) rows, 0 at the horizon."""
    rows = np.asarray(rows, dtype=np.float64)
    return (camera.horizon - rows / camera.height) * camera.scale(width)


def strip_rays(
    projection: str, camera: StripCamera, width: int, rows: np.ndarray, columns: np.ndarray
) -> Rays:
    """Directions of the centres of pixels ``rows`` x ``columns`` (whole numbers) as ``Rays``:
    rows of a cylindrical strip share their elevation; a perspective strip's pixels are rows
    of one (``len(rows) * len(columns)`` rows, row-major)."""
    rows = np.asarray(rows, dtype=np.float64) + 0.5
    columns = np.asarray(columns, dtype=np.float64) + 0.5
    if projection == "cylindrical":
        t = _rows_tangent(camera, width, rows)[:, None]
        across = 1.0 / np.sqrt(1.0 + t * t)
        azimuth = _columns_azimuth(camera, width, columns)[None, :]
        return Rays(
            np.ascontiguousarray(t * across),
            np.ascontiguousarray(across * np.sin(azimuth)),
            np.ascontiguousarray(across * np.cos(azimuth)),
        )
    d = perspective_directions(camera, width, rows[:, None], columns[None, :])
    return Rays.of(d.reshape(-1, 3))


def perspective_directions(
    camera: StripCamera, width: int, rows: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """(..., 3) unit directions through (fractional) pixel coordinates of a perspective strip
    (pixel centres at i + 0.5)."""
    focal = camera._focal(width)
    rows, columns = np.broadcast_arrays(
        np.asarray(rows, dtype=np.float64), np.asarray(columns, dtype=np.float64)
    )
    u = (columns - 0.5 * width) / focal
    v = (rows - 0.5 * camera.height) / focal
    pitch = math.atan(camera._pitch_tangent(width))
    heading = math.radians(camera.heading)
    sp, cp, sh, ch = math.sin(pitch), math.cos(pitch), math.sin(heading), math.cos(heading)
    forward = np.array([sh * cp, sp, ch * cp])
    right = np.array([ch, 0.0, -sh])
    up = np.array([-sh * sp, cp, -ch * sp])
    d = forward + u[..., None] * right - v[..., None] * up
    return d / np.sqrt((u * u + v * v) + 1.0)[..., None]


def strip_height(
    projection: str, camera: StripCamera, width: int, rows: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """A function of (fractional) pixel coordinates, centres at i + 0.5, with the sign of the
    view's up component and linear in them across the horizon: tan(elevation) for a
    cylindrical strip, the unnormalised direction's up component for a perspective one. Its
    zero is the horizon: a row (cylindrical) or a level straight line (perspective)."""
    shape = np.broadcast_shapes(np.shape(rows), np.shape(columns))
    if projection == "cylindrical":
        return np.broadcast_to(_rows_tangent(camera, width, rows), shape)
    pitch = math.atan(camera._pitch_tangent(width))
    v = (np.asarray(rows, dtype=np.float64) - 0.5 * camera.height) / camera._focal(width)
    return np.broadcast_to(math.sin(pitch) - v * math.cos(pitch), shape)
