"""The landscape at the horizon: a band of land (hills, tree lines, fields, a town) standing around
the eye, composited over the sky, the clouds and the far ground.

A band's source is an RGBA image 360 degrees wide (``tools/horizon_bands.py`` writes them: 128 px
high, 8 px per degree, 2880 px = 360 degrees) whose alpha is the land (255) and the sky (0), its
horizon on the boundary above its middle row (row ``height // 2`` starts there) and its texels
square in angle. It stands on a cylinder ``distance_m`` around the eye, its horizon at the true
horizon (elevation 0), its centre column facing ``heading``. Each view direction within the band's
elevations reads it bilinearly at the mip level of the output's pixel size (a pyramid of
premultiplied colour and alpha, periodic in azimuth), so a pixel's value is a function of its
direction and the output's pixel size alone: windows, tiles and the 360-degree wrap stay exact.

The band's linear colour is taken as reflectance (times ``gain``), lit by the Sun lamp (through the
clouds' shadow) and the sky's irradiance on a surface tilted toward the eye (land seen from afar
shows slopes and sides facing the viewer: toward a low sun it is a dark silhouette, away from it
warm-lit), and seen through the air in front of it: above the horizon the path to the cylinder
(``distance_m``, rising with the elevation); below it the land comes nearer, smoothly
(``band_distance``: half as far ``NEAR_DEGREES`` below the horizon), so the band's foreground
is clearer than its skyline. So a far band is hazy, a near one clear. The band's lowest degree
fades into the ground plane below it.

A band's horizon is its median skyline, so at half its azimuths the land ends below the true
horizon (the land falls away, or the photographer stood high): there the flat ground plane
would show a strip of near ground between the horizon and the skyline. With ``fill`` (default)
the band's transparent pixels below its horizon are land farther than the band: the colour of
the land that first shows below the gap (the far skyline, often already hazy in the photo),
averaged along the azimuth over ``FILL_DEGREES``, hazed as land ``FILL_FARTHER`` times as far
as the band (a fifth channel of the pyramid keeps the filled share of each texel's alpha).

A learned landscape model is the second kind of source (``HorizonSettings.kind`` 'model': a
bundled name or a model file with alpha, ``ModelConfig.alpha``, trained by ``python -m trainer
train --preset landscape`` on such bands). It draws the band: its native frame's rows (the
elevations it learned, horizon at the middle) all the way round at its own scale, wrapping in x
(``band_model_size``), chosen by ``seed`` and ``styles`` as a cloud layer's tile is; the drawn
RGBA band is then used exactly as a band image is.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from generator.errors import RequestError
from generator.files.imagefile import srgb_to_linear
from generator.files.modelfile import LoadedModel
from generator.files.photo import IMAGE_EXTENSIONS
from generator.sky.aerial import path_table
from generator.sky.atmosphere import Atmosphere, Rays, SkySettings
from generator.sky.hills import HILLS
from generator.sky.plane import halve
from generator.sky.tables import bilinear

FADE_DEGREES = 1.0
"""The band's lowest degree fades into the ground plane below it (a band ends a few degrees
below the horizon; below it the composition's ground goes on)."""
FACING = 0.5
"""The land's mean surface leans toward the eye by atan(FACING) from horizontal (27 degrees):
slopes, tree sides and walls facing the viewer. Its sunlight is the lamp's along that normal."""
NEAR_DEGREES = 1.0
"""How fast a band's land comes nearer below its horizon: at this depression it is half as far
as the band, at 8 degrees a ninth. Smooth through the horizon (the ground plane's own distance,
1.7 m / tan(depression), fell from 3 km to 1 km within a tenth of a degree, drawing a line of
haze through the buildings and trees that the band's horizon row cuts)."""
PATH_ROWS, PATH_AZIMUTHS = 64, 64
"""The aerial-perspective table of a band above the horizon: elevations x azimuths from the sun."""
FILL_DEGREES = 6.0
"""Azimuths over which the far land under the band's gaps is averaged (a Gaussian's 2 sigma)."""
FILL_FARTHER = 5.0
"""How much farther than the band the far land that fills its gaps below the horizon lies."""


@dataclass(frozen=True)
class HorizonSettings:
    """A landscape band at the horizon: ``source`` a band image (RGBA, land opaque, sky
    transparent, horizon at its middle, 360 degrees wide unless ``degrees_per_pixel`` says
    otherwise; a narrower band covers only its span around ``heading``) or a landscape model
    with alpha (a name or path: it draws a 360-degree band, ``seed`` and ``styles`` choosing
    it, at ``degrees_per_pixel`` or else its own scale). It stands ``distance_m`` from the eye
    (the haze in front of it), its centre column facing ``heading`` degrees right of the
    image's centre; its linear colour times ``gain`` is the land's reflectance; ``fill`` makes
    its transparent pixels below the horizon far land (the colour of the land below them,
    smoothed along the azimuth). ``source_hash`` is the image's (or model file's) SHA-256
    once rendered."""

    source: str
    distance_m: float = 3000.0
    heading: float = 0.0
    degrees_per_pixel: float | None = None
    gain: float = 1.0
    fill: bool = True
    source_hash: str = ""
    seed: int = 0
    styles: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(int(s) for s in self.styles))
        problems = []
        if not 10.0 <= self.distance_m <= 200000.0:
            problems.append("a horizon band's distance must be 10..200000 m")
        if not math.isfinite(self.heading):
            problems.append("a horizon band's heading must be a number of degrees")
        if self.degrees_per_pixel is not None and not 0.0 < self.degrees_per_pixel <= 10.0:
            problems.append("a horizon band's degrees per pixel must be within 0..10")
        if not 0.0 < self.gain <= 10.0:
            problems.append("a horizon band's gain must be within 0..10")
        if self.source == HILLS and self.degrees_per_pixel is not None:
            problems.append("hills are drawn all the way round: give them no degrees per pixel")
        if problems:
            raise RequestError("; ".join(problems))

    @property
    def kind(self) -> str:
        """'image' (a band image), 'hills' (a range drawn from ``seed``,
        ``generator.sky.hills``) or 'model' (a learned landscape model)."""
        if self.source == HILLS:
            return "hills"
        return "image" if Path(self.source).suffix.lower() in IMAGE_EXTENSIONS else "model"


def check_band_model(model: LoadedModel, source: str) -> None:
    """A band's model must draw coverage (land over the sky it leaves): one line if not."""
    if not model.config.alpha:
        raise RequestError(
            f"{source} draws no alpha (land over sky), so it cannot be a horizon band: give a "
            "landscape model (python -m trainer train --preset landscape) or a band image"
        )


def band_model_size(model: LoadedModel, settings: HorizonSettings) -> tuple[int, int]:
    """(height, width) px of the band a landscape model draws: its native frame's rows, and
    whole latent cells all the way round at ``settings.degrees_per_pixel``, else at the model's
    own scale (``ModelConfig.degrees_per_pixel``). The band is then 360 degrees over exactly
    its width (the cells' rounding changes its scale by under a cell's share)."""
    config = model.config
    degrees = settings.degrees_per_pixel or config.degrees_per_pixel
    cells = max(1, round(360.0 / degrees / config.pixels_per_cell))
    return config.native_frame[0], cells * config.pixels_per_cell


def band_distance(up: np.ndarray, distance_km: float) -> np.ndarray:
    """Distance (km) of a band's land toward rays of zenith cosine ``up`` (one per row): the
    band's above the horizon, nearer below it (``NEAR_DEGREES``)."""
    depression = np.degrees(np.arcsin(np.clip(-np.asarray(up, dtype=np.float64), 0.0, 1.0)))
    return distance_km / (1.0 + depression / NEAR_DEGREES)


def read_band(path: str) -> tuple[np.ndarray, str]:
    """(H, W, 4) float32 of a band image: linear colour and alpha (straight), and the SHA-256 of
    the file's bytes (a recipe records it)."""
    try:
        data = Path(path).read_bytes()
        with Image.open(path) as image:
            if "A" not in image.mode and "transparency" not in image.info:
                raise RequestError(
                    f"a horizon band needs an alpha channel (land opaque, sky transparent): "
                    f"{path} has none"
                )
            pixels = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as err:
        raise RequestError(f"cannot read the horizon band {path}: {err}") from None
    if pixels.shape[0] < 2 or pixels.shape[1] < 2:
        raise RequestError(f"the horizon band {path} is too small")
    rgba = np.concatenate([srgb_to_linear(pixels[..., :3]), pixels[..., 3:]], axis=-1)
    return rgba.astype(np.float32), hashlib.sha256(data).hexdigest()


def _halve(t: np.ndarray, axis: int, periodic: bool) -> np.ndarray:
    """Every second texel along ``axis``, filtered by (1, 3, 3, 1) / 8 around the pair it
    replaces: periodically (as the plane textures' pyramids, ``plane.halve``), or with
    transparent (zero) texels beyond the edges (an odd length gains one)."""
    if periodic:
        return halve(t, axis)
    n = t.shape[axis]
    pad = [(0, 0)] * t.ndim
    pad[axis] = (1, 2 + n % 2)
    p = np.pad(t, pad)
    m = (n + 1) // 2
    take = lambda offset: np.take(p, 1 + offset + 2 * np.arange(m), axis=axis)  # noqa: E731
    return 0.375 * (take(0) + take(1)) + 0.125 * (take(-1) + take(2))


class HorizonBand:
    """A band image prepared for sampling: a pyramid of premultiplied linear colour and alpha
    (and the filled share of the alpha; with a fifth channel in ``rgba``, the land's lean
    toward increasing azimuth, premultiplied too)."""

    def __init__(self, rgba: np.ndarray, settings: HorizonSettings) -> None:
        height, width = rgba.shape[:2]
        self.settings = settings
        self.degrees = settings.degrees_per_pixel or 360.0 / width
        span = width * self.degrees
        if span > 360.0 * (1 + 1e-9):
            raise RequestError(
                f"the horizon band is {width} px of {self.degrees:g} degrees: more than 360"
            )
        self.wraps = abs(span - 360.0) <= 1e-9 * 360.0
        self.height, self.width = height, width
        self.top_deg = 0.5 * height * self.degrees
        # the horizon is the top edge of row height // 2
        self.horizon_row = float(height // 2)
        colour, alpha = np.maximum(rgba[..., :3], 0.0), rgba[..., 3]
        below = height // 2
        filled = np.zeros_like(alpha)
        if settings.fill and (alpha[below:] >= 0.5).any():
            far = self._far_land(colour[below:], alpha[below:])
            a = alpha[below:, :, None]
            colour = colour.copy()
            colour[below:] = colour[below:] * a + far[None] * (1.0 - a)
            filled[below:] = 1.0 - alpha[below:]
            alpha = alpha.copy()
            alpha[below:] = 1.0
        rows = np.arange(height) + 0.5
        fade = np.clip((height - rows) * self.degrees / FADE_DEGREES, 0.0, 1.0)
        alpha, filled = alpha * fade[:, None], filled * fade[:, None]
        # the elevations its land spans: rows beyond (and their filter's reach) are not read
        land = np.nonzero(alpha.max(axis=1) > 0.0)[0]
        first, last = (land[0], land[-1] + 1) if land.size else (height // 2, height // 2)
        self.land_deg = (
            (self.horizon_row - last) * self.degrees,
            (self.horizon_row - first) * self.degrees,
        )
        channels = [colour * alpha[..., None], alpha[..., None], filled[..., None]]
        if rgba.shape[-1] > 4:  # drawn land's lean, from its outline
            channels.append(rgba[..., 4:5] * alpha[..., None])
        premultiplied = np.concatenate(channels, axis=-1)
        levels = [premultiplied.astype(np.float32)]
        while min(levels[-1].shape[:2]) > 1 and not (self.wraps and levels[-1].shape[1] % 2):
            t = levels[-1].astype(np.float64)
            levels.append(_halve(_halve(t, 0, False), 1, self.wraps).astype(np.float32))
        self.levels = levels

    def _far_land(self, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """(W, 3) per column the colour of the first land pixel below the horizon (the mean of
        those where a column has none), smoothed along the azimuth (periodically if the band
        wraps)."""
        land = alpha >= 0.5
        has = land.any(axis=0)
        first = land.argmax(axis=0)
        top = colour[first, np.arange(colour.shape[1])].astype(np.float64)
        top[~has] = top[has].mean(axis=0)
        sigma = 0.5 * FILL_DEGREES / self.degrees
        width = top.shape[0]
        if self.wraps:
            frequencies = np.fft.rfftfreq(width)
            kernel = np.exp(-2.0 * (np.pi * sigma * frequencies) ** 2)[:, None]
            smooth = np.fft.irfft(np.fft.rfft(top, axis=0) * kernel, n=width, axis=0)
            return np.maximum(smooth, 0.0).astype(np.float32)
        reach = int(3 * sigma) + 1
        taps = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
        padded = np.pad(top, ((reach, reach), (0, 0)), mode="edge")
        smooth = [np.convolve(padded[:, k], taps / taps.sum(), mode="valid") for k in range(3)]
        return np.maximum(np.stack(smooth, axis=-1), 0.0).astype(np.float32)

    def lod(self, pixel_rad: float) -> float:
        """The pyramid level (fractional) for an output's pixel size."""
        ratio = math.degrees(pixel_rad) / self.degrees
        return min(max(math.log2(max(ratio, 1e-30)), 0.0), float(len(self.levels) - 1))

    def rows(self, rays: Rays, pixel_rad: float) -> np.ndarray:
        """Indices of the rows of ``rays`` whose elevation the band (or its filter) reaches."""
        margin = 2.0 ** (math.floor(self.lod(pixel_rad)) + 3) * self.degrees
        elevation = np.degrees(np.arcsin(np.clip(rays.y[:, 0], -1.0, 1.0)))
        low, high = self.land_deg
        inside = (elevation < high + margin) & (elevation > low - margin)
        return np.nonzero(inside)[0]

    def sample(self, rays: Rays, pixel_rad: float) -> np.ndarray:
        """(R, C, 5) float32 premultiplied linear colour, alpha and the filled share of the
        alpha (far land under the band's gaps) toward ``rays``: trilinear
        in the pyramid at the output's pixel size, element-wise (the same for any batch)."""
        elevation = np.degrees(np.arcsin(np.clip(rays.y, -1.0, 1.0)))  # (R, 1)
        azimuth = np.degrees(np.arctan2(rays.x, rays.z))  # (R, C)
        turned = np.mod(azimuth - self.settings.heading + 180.0, 360.0) - 180.0
        u = turned / self.degrees + 0.5 * self.width
        v = self.horizon_row - elevation / self.degrees
        lod = self.lod(pixel_rad)
        level = min(int(lod), len(self.levels) - 1)
        out = self._bilinear(level, u, v)
        blend = np.float32(lod - level)
        if blend > 0.0 and level + 1 < len(self.levels):
            out += (self._bilinear(level + 1, u, v) - out) * blend
        return out

    def _bilinear(self, level: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(R, C, 5) bilinear samples of one level at level-0 coordinates ``u`` (R, C) and ``v``
        (R, 1) or (R, C): transparent beyond the band's rows (and its columns, if it does not
        wrap)."""
        texels = self.levels[level]
        rows, columns = texels.shape[:2]
        scale = 0.5**level
        x = u * scale - 0.5
        y = np.broadcast_to(v * scale - 0.5, x.shape)
        x0, y0 = np.floor(x), np.floor(y)
        wx = (x - x0).astype(np.float32)[..., None]
        wy = (y - y0).astype(np.float32)[..., None]
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        flat = texels.reshape(rows * columns, texels.shape[2])

        def texel(i: np.ndarray, j: np.ndarray) -> np.ndarray:
            inside = (i >= 0) & (i < rows)
            if self.wraps:
                j = np.mod(j, columns)
            else:
                inside &= (j >= 0) & (j < columns)
            index = np.clip(i, 0, rows - 1) * columns + np.clip(j, 0, columns - 1)
            return flat.take(index, axis=0) * inside[..., None].astype(np.float32)

        top = texel(y0, x0)
        top += (texel(y0, x0 + 1) - top) * wx
        bottom = texel(y0 + 1, x0)
        bottom += (texel(y0 + 1, x0 + 1) - bottom) * wx
        top += (bottom - top) * wy
        return top


class BandPaths:
    """Aerial perspective toward a band above the horizon: (in-scattered light, transmittance)
    in linear Rec. 709 per unit of solar irradiance's colour along the paths from the eye to the
    cylinder ``distance_km`` away, by elevation (0 to ``top_deg``) and azimuth from the sun,
    ray-marched as the ground's table is (``generator.sky.aerial``)."""

    def __init__(
        self, air: Atmosphere, sky: SkySettings, distance_km: float, top_deg: float
    ) -> None:
        self.top = max(top_deg, 1e-3)
        elevation = np.radians(np.linspace(0.0, self.top, PATH_ROWS))
        up = np.sin(elevation)[:, None]
        length = distance_km / np.cos(elevation)[:, None]
        self.table = path_table(
            air.medium, air.transmittance, air.multiple, air.radius, up, length,
            math.radians(sky.sun_elevation), PATH_AZIMUTHS,
        )  # fmt: skip

    def __call__(
        self, azimuth: np.ndarray, elevation_deg: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) in-scattered light and transmittance toward ``azimuth`` from the sun
        (radians, 0..pi) at ``elevation_deg`` (one per row, (R, 1))."""
        fy = np.clip(elevation_deg, 0.0, self.top) / self.top * (PATH_ROWS - 1)
        fx = azimuth / np.pi * (PATH_AZIMUTHS - 1)
        values = bilinear(self.table, fy, fx)
        return values[..., :3], values[..., 3:]
