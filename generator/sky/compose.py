"""A composed sky: the clear atmosphere, a learned cloud layer and a textured ground, lit by one
sun, each a pure function of the view direction.

Every output pixel is computed from its direction, the settings and the output's angular pixel
size only (never from the band, window or cube face it is rendered in), so equirect bands,
windows, the wrap seam, the poles and the six cube faces agree exactly. Directions come as rows
that share their elevation (``Rays``): what depends on the elevation alone (distances to the
ground and the layer, footprints, slants, table rows) is computed once per row by the same
arithmetic a lone direction gets, and the pixels in float32.

- Ground (``y < 0``): a plane ``eye_height_m`` below the eye, albedo from a terrain tile filtered
  by the pixel's footprint (``generator.sky.plane``) in lighter and darker patches of metres to
  hundreds of metres (``generator.sky.relief.ground_patches``), Lambertian, lit by the sun (the
  Sun lamp's irradiance, shadowed by the clouds above) and the sky's irradiance, seen through
  the air (``generator.sky.aerial``): toward the horizon it fades into the horizon's haze.
- Clouds (``y > 0``): a layer (a shell ``altitude_m`` above the eye) of optical thickness (a
  cloud model's density or a cloud map at ``cover``, ``generator.sky.layers.cloud_texture``),
  its clouds columns on the layer's base as tall as their thickness (``column_top``): seen
  obliquely, sharp outlines, flat bases and rounded tops; a fine relief
  (``generator.sky.relief``) roughens their edges and tops up close.
  Cheap single scattering: the sun's light at the layer (through the air, reddened at sunset,
  on the clouds' tops and, for a low sun, their walls) scattered by a two-lobe Henyey-Greenstein
  phase (a forward glow around the sun, some back-scatter), strongest where the cloud is about one
  optical depth thick (bright thin edges), plus diffuse light through it to the base (less
  through thick clouds, whose sides let much of it out: grey bases; leaving the base mostly
  downward, so a deck is brighter overhead than toward the horizon), what a sunlit wall sends
  back (walls where a ray meets a cloud above its base; brighter where its billows face the
  sun, darker where they face away), the sky's light from above and the
  ground's from below. The glow and the sides' light
  come through the clouds' own shade (``sun_path_depth``): dark cores and far sides, clouds dark
  against a low sun with bright rims. Where thin, the clear sky shows
  through: alpha = 1 - exp(-tau). The air between the eye and the layer hazes it toward the
  horizon. Cover 0 draws no layer: the clear sky exactly.
- Cirrus (``y > 0``, behind the clouds): a thin veil of ice fibres far higher
  (``generator.sky.cirrus``), the sun's light scattered once and the sky's light it intercepts,
  over the clear sky by its opacity; its shade falls on the ground and dims the Sun lamp.
  Amount 0 (or none) draws the sky without it exactly.
- Horizon bands (``generator.sky.horizon``): landscape images standing around the eye at their
  distance, their land lit as reflectance by the sun (through the clouds' shadow) and the sky,
  hazed by the air in front, composited over all of the above by their alpha, far to near.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import NamedTuple

import numpy as np
import torch

from generator.sky.aerial import surface_distance
from generator.sky.atmosphere import (
    DISC_FRACTION,
    Rays,
    SkySettings,
    SunLight,
    atmosphere,
    azimuth_from_sun,
    clear_rows,
    sun_light,
    sun_vector,
)
from generator.sky.cirrus import CirrusSettings, cirrus_texture
from generator.sky.hills import FIELDS
from generator.sky.horizon import (
    FACING,
    FILL_FARTHER,
    BandPaths,
    HorizonBand,
    HorizonSettings,
    band_distance,
)
from generator.sky.layers import (
    TAU_MAX,
    CloudSettings,
    GroundSettings,
    deck_share,
    gaussian_spectrum,
)
from generator.sky.plane import PlaneTexture
from generator.sky.relief import cloud_relief, ground_patches, sunlit_slopes
from generator.sky.spectrum import REC709_LUMINANCE
from generator.sky.tables import lerp_planes

CHUNK = 1 << 18
"""Directions evaluated at a time: bounds memory; results do not depend on it."""
BLOCK = 1 << 17
"""Pixels per block of rows a thread computes; results do not depend on it. Two threads
computed a 16K sky's bands about a tenth faster with blocks of 2^17 than of 2^16 (fewer calls
holding the interpreter), as fast as with 2^18, and slower with 2^15."""
CLOUD_DEPTH_M = 300.0
"""Depth of the cloud layer: a ray rising at a low angle crosses it over a long horizontal
stretch, where the clouds it passes hide the gaps between them (toward the horizon, broken
cloud closes into a deck, as it does in photographs)."""
DEPTH_TAPS = 11
"""Most samples along a ray's way through the layer, from its base to its top, where that way
is longer than its footprint (taking the cloud's top as linear between them, 11 look as 12
do). Steep rays take fewer: no closer together than the layer's texels, between which its
thickness is linear anyway."""
FULL_DEPTH_TAU = TAU_MAX
"""Column optical thickness of a cloud as tall as the layer is deep: the thickest broken cloud
(``generator.sky.layers.TAU_MAX``). An extinction of 0.04 per metre, a mean free path of 25 m,
as in fair-weather cumulus: thinner clouds are lower, with sharp outlines."""
MAX_SLANT = 4.0
"""Longest path through the layer, in layer thicknesses: clouds are about as deep as wide, so
a grazing view does not see through hundreds of them."""
PHASE_LOBES = ((0.8, 0.75), (-0.25, 0.25))
"""(g, weight) of the Henyey-Greenstein lobes: a strong forward glow, some back-scatter."""
SIDES = 1.0
"""Light an isolated cloud's sides take from a low sun, per unit of what its top takes from
one overhead: a wall squarely facing the sun takes all of it, so at sunset the walls glow. Scaled
by the clear fraction (1 - cover): in a closed deck no side faces the sun. At 0.5 a sunlit
wall sent back a sixth of what a white wall facing a 3-degree sun does: sunset cumulus were
tan, darker than the sky behind them."""
LIGHT_SPREAD_M = CLOUD_DEPTH_M / 2.0
"""Lateral spread (Gaussian sigma) of the sunlight inside the clouds: many scatterings carry it
sideways about as far as it goes down, so their shade is soft; along the sun's way alone it
streaked toward the sun."""
LOW_SUN = 0.05
"""Sine of the lowest sun elevation whose light the clouds' self-shadow follows: below it, the
way to the sun through the layer is as long as at 2.9 degrees."""
ASYMMETRY = 0.85
"""Mean cosine of a water cloud's scattering, for its diffuse transmission."""
BILLOW_LIGHT = 0.6
"""How much a billow's face turned toward the sun brightens a sunlit wall, per RMS of the
relief's slope (``generator.sky.relief.sunlit_slopes``); one turned away darkens it as much.
Without it a wall was lit evenly, a flat cut-out; at 1 with every lump lit apart the clouds
looked carved from sandstone. It fades out with the billows as the layer closes."""
SIDE_LEAK = 2.0
"""Light a broken cloud loses through its sides on its way down to its base: the base passes
what a slab (1 + SIDE_LEAK) times as thick passes, so big cumulus have grey bases under white
rims. Clouds as deep as wide lose much of the light their tops take through their walls
(three-dimensional transfer, where the slab's formula holds for a closed deck); it fades out
with the deck (``deck_share``) as the billows do."""
EMERGENCE = 2.0
"""The light diffusing out through a cloud's base leaves it mostly downward: its radiance at
an angle theta from the vertical goes as 1 + EMERGENCE cos(theta), scaled to carry the same
flux as an even glow. At 2 it is the CIE standard overcast sky, whose zenith is three times
as bright as its horizon; where it was even, an overcast deck was as bright at the horizon as
overhead."""
HEMISPHERE = (128, 256)
"""Elevations x azimuths at which the clouded sky's light on the ground is integrated, each
direction reading the layer at its finest level (a filtered, mean thickness would turn broken
cloud into a bright, even veil)."""
AIR_THREADS = 2
"""Threads marching the air's tables (``prepare_air``): each march holds about 45 MiB of
temporaries, so more would raise a render's peak for little on two cores."""
SUN_TABLE = 1024
SUN_TABLE_LOW = -0.3
"""The sunlight at the layer is tabulated for local sun cosines from this to 1."""

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def block_pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool of ``threads`` workers for blocks of rows, kept between calls: bands
    computed side by side (``generator.sky.skyfile.SkyRenderer``) queue their blocks in it, so
    while one band's last block runs the next band's first ones use the other cores. With a
    pool per band they waited at its end: two threads kept 1.8 cores busy, now 1.9."""
    with _pools_lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="sky-blocks")
        return _pools[threads]


def _in_blocks(shape: tuple[int, int], fill: Callable[[slice], None]) -> None:
    """Calls ``fill`` with slices of the rows of an (R, C) output, blocks of about ``BLOCK``
    pixels spread over ``torch.get_num_threads()`` threads (numpy lets go of the interpreter
    in its loops)."""
    rows, columns = shape
    step = max(1, BLOCK // columns)
    parts = [slice(start, start + step) for start in range(0, rows, step)]
    threads = min(torch.get_num_threads(), len(parts))
    if threads <= 1:
        for part in parts:
            fill(part)
    else:
        list(block_pool(threads).map(fill, parts))


@dataclass(frozen=True)
class SkyComposition:
    """What a composed sky is made of: the air and sun, an optional cloud layer and cirrus
    veil above it, the ground, and landscape bands at the horizon (any number, at their
    distances)."""

    sky: SkySettings = field(default_factory=SkySettings)
    clouds: CloudSettings | None = None
    cirrus: CirrusSettings | None = None
    ground: GroundSettings = field(default_factory=GroundSettings)
    horizon: tuple[HorizonSettings, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "horizon", tuple(self.horizon))


def sun_path_depth(thickness: PlaneTexture, sun: np.ndarray) -> PlaneTexture:
    """The optical depth from the middle of the cloud layer's depth to the sun (``sun`` a unit
    direction above the horizon), per point of the layer: a plane texture like ``thickness``.

    A ray toward the sun leaves the layer ``CLOUD_DEPTH_M`` / 2 higher, having crossed
    ``CLOUD_DEPTH_M / 2 / tan(elevation)`` of it sideways, through whatever cloud lies there:
    extinction is the thickness spread evenly over the depth, so the depth is the mean
    thickness along that stretch over 2 sin(elevation). With the sun overhead it is half the
    cloud's own thickness (thick cores are dark inside, thin edges lit); with a low sun the
    stretch crosses neighbouring clouds, so a cloud's far side and clouds behind others lie in
    shade while the edges facing the sun are lit. The stretch is averaged exactly, in the
    tile's spectrum (the mean over a segment is a sinc there), so the tile stays periodic, and
    spread by ``LIGHT_SPREAD_M``."""
    tile = thickness.levels[0][..., 0].astype(np.float64)
    size = tile.shape[0]
    sine = max(float(sun[1]), LOW_SUN)
    horizontal = math.hypot(float(sun[0]), float(sun[2]))
    reach = CLOUD_DEPTH_M / 2.0 * math.sqrt(1.0 - sine * sine) / sine / thickness.texel_m
    across, down = (
        (float(sun[0]) / horizontal, float(sun[2]) / horizontal) if horizontal > 0 else (0.0, 0.0)
    )
    rows = np.fft.fftfreq(size)[:, None]  # cycles per texel, down the tile (+z)
    columns = np.fft.rfftfreq(size)[None, :]  # across it (+x)
    along = (columns * across + rows * down) * reach  # cycles over the stretch
    mean = np.sinc(along) * np.exp(2j * np.pi * along / 2)  # the segment from 0 to reach
    spread = gaussian_spectrum(size, LIGHT_SPREAD_M / thickness.texel_m)
    averaged = np.fft.irfft2(np.fft.rfft2(tile) * mean * spread, s=tile.shape)
    depth = np.maximum(averaged, 0.0) / (2.0 * sine)
    return PlaneTexture(depth.astype(np.float32)[..., None], thickness.period_m)


def surface_heights(composition: SkyComposition) -> dict[str, float]:
    """The heights (km above the eye; the ground's below) of the surfaces a sky of
    ``composition`` sees through the air, by layer: ``ground``, ``clouds``, ``cirrus``."""
    heights = {}
    if composition.ground.kind != "none":
        heights["ground"] = -composition.ground.eye_height_m / 1000.0
    if composition.clouds is not None and composition.clouds.cover > 0.0:
        heights["clouds"] = composition.clouds.altitude_m / 1000.0
    if composition.cirrus is not None and composition.cirrus.amount > 0.0:
        heights["cirrus"] = composition.cirrus.altitude_m / 1000.0
    return heights


def prepare_air(composition: SkyComposition) -> None:
    """Builds (and caches) the atmosphere's tables and the aerial perspective toward each of
    the composition's surfaces: a caller drawing the layers' tiles builds them alongside, and
    ``ComposedSky`` then finds them made. The sky view and each surface's paths are marched on
    ``AIR_THREADS`` threads: a moved sun, whose sky reuses its layers' textures, waits on
    these alone (the bundled sky's in 2.3 s on one thread)."""
    air = atmosphere(composition.sky)
    marches = [lambda: air.view]
    marches += [partial(air.paths, h) for h in surface_heights(composition).values()]
    with ThreadPoolExecutor(AIR_THREADS) as pool:
        for done in [pool.submit(march) for march in marches]:
            done.result()


def prepare_shadow(composition: SkyComposition, clouds: PlaneTexture) -> PlaneTexture | None:
    """The clouds' shade for this sun (``sun_path_depth`` of their texture ``clouds``) as
    ``ComposedSky`` takes it, for a caller to make while the air's tables are still being
    marched (an FFT of the tile, 0.7 s at 2048 px). None with the sun below the horizon."""
    sun = sun_vector(composition.sky)
    return sun_path_depth(clouds, sun) if sun[1] > 0.0 else None


def prepare_billows(
    composition: SkyComposition,
) -> tuple[PlaneTexture | None, PlaneTexture | None]:
    """The clouds' billows (``cloud_relief``) and their faces' light for this sun
    (``sunlit_slopes``), as ``ComposedSky`` takes them: made alongside the tiles by a caller
    drawing them (about 1.3 s on one core). None for what the composition has none of."""
    clouds = composition.clouds
    if clouds is None or clouds.cover <= 0.0 or deck_share(clouds.cover) >= 1.0:
        return None, None
    relief = cloud_relief(clouds.seed)
    sun = sun_vector(composition.sky)
    return relief, sunlit_slopes(relief, sun) if sun[1] > 0.0 else None


class Toward(NamedTuple):
    """What the layers over the sky share about each view direction: its horizontal
    components (float32), the cosine of its angle to the sun, the clouds' phase function
    there, and its azimuth from the sun (the aerial-perspective tables' column)."""

    x: np.ndarray
    z: np.ndarray
    cosine: np.ndarray
    phase: np.ndarray
    azimuth: np.ndarray


class OnLayer(NamedTuple):
    """Where rays meet a layer above the eye: the distance (km), the cosine of the ray's angle
    to the layer's vertical there and the pixel's footprint on it (m), per row; the distance
    in metres (float32) and the sine of the sun's elevation at the meeting point, per pixel."""

    distance: np.ndarray
    facing: np.ndarray
    metres: np.ndarray
    footprint: np.ndarray
    sun_up: np.ndarray


def henyey_greenstein(cosine: np.ndarray) -> np.ndarray:
    """The clouds' phase function (per steradian) at scattering-angle cosines ``cosine``."""
    total = np.zeros_like(cosine)
    for g, weight in PHASE_LOBES:
        base = np.float32(1 + g * g) - np.float32(2 * g) * cosine
        total += np.float32(weight * (1 - g * g) / (4 * np.pi)) / (base * np.sqrt(base))
    return total


def column_top(tau: np.ndarray, height: np.ndarray) -> np.ndarray:
    """How far above a ray's sample at ``height`` (0 the layer's base, 1 its top) the top of
    the cloud there is, in layer depths: each cloud stands on the base as tall as its column
    thickness ``tau`` fills at the extinction of ``FULL_DEPTH_TAU`` over the layer's depth;
    thicker ones fill the depth, denser. Negative where the sample is above the cloud."""
    return tau * np.float32(1.0 / FULL_DEPTH_TAU) - height


def roughened(tau: np.ndarray, billows: np.ndarray | np.float32) -> np.ndarray:
    """Column thickness ``tau`` under the billows' relief ``billows`` (``_billows``): the
    relief multiplies a column up to ``FULL_DEPTH_TAU`` (as tall as the layer is deep), moving
    its top and edges, and leaves the rest, the depth of a thicker, denser column, as it is.
    Multiplying all of it mottled a closing deck's masses (τ up to 34 at cover 0.9) with
    blotches of a hundred metres, where a deck's base is smooth."""
    return tau + (billows - np.float32(1.0)) * np.minimum(tau, np.float32(FULL_DEPTH_TAU))


def share_inside(below: np.ndarray, above: np.ndarray) -> np.ndarray:
    """The share of a stretch of a ray between two samples that lies inside the cloud, where
    the cloud's top is ``below`` and ``above`` (``column_top``) over the two: the top taken as
    linear between them, so the share moves smoothly as the ray moves. (Counting each sample
    as inside or not, with a ramp one sample high, drew a contour line per sample where a
    cloud's top slopes.) An even column's shares sum to its height exactly."""
    inside = np.maximum(below, 0.0) + np.maximum(above, 0.0)
    return inside / np.maximum(np.abs(below) + np.abs(above), np.float32(1e-12))


class ComposedSky:
    """A composition with its tables and textures prepared: ``radiance(directions, pixel)``.

    ``ground_texture`` (albedo) and ``cloud_texture`` (optical thickness) come from
    ``generator.sky.layers``; None for a plain-colour or no ground, and for no clouds.
    ``horizon_bands`` are the composition's bands prepared (``generator.sky.horizon``), in
    the order of ``composition.horizon``. ``cloud_shadow`` is ``sun_path_depth`` of
    ``cloud_texture`` for this sun when a caller has made it (``prepare_shadow``, 0.7 s at 2048
    px); None makes it. ``cirrus`` is the cirrus veil's
    texture (``generator.sky.cirrus.cirrus_texture``) when another sky has made it; None
    makes it if the composition has a veil. ``relief`` is the clouds' billows
    (``generator.sky.relief.cloud_relief`` of the cloud seed) when another sky has made it;
    None makes it. ``sunlit`` is ``generator.sky.relief.sunlit_slopes`` of the billows for this
    sun when another sky of the same sun and clouds has made it; None makes it. ``patches`` is
    the ground's (``generator.sky.relief.ground_patches`` of the ground seed) when a caller has
    made it; None makes it for a ground texture. ``air_shade``
    is ``_mean_shade`` when another sky of the same sun and layers has taken it (0.06 s at
    2048 px); None takes it.
    """

    def __init__(
        self,
        composition: SkyComposition,
        ground_texture: PlaneTexture | None = None,
        cloud_texture: PlaneTexture | None = None,
        horizon_bands: tuple[HorizonBand, ...] = (),
        cloud_shadow: PlaneTexture | None = None,
        cirrus: PlaneTexture | None = None,
        relief: PlaneTexture | None = None,
        sunlit: PlaneTexture | None = None,
        air_shade: float | None = None,
        patches: PlaneTexture | None = None,
    ) -> None:
        self.composition = composition
        sky, ground, clouds = composition.sky, composition.ground, composition.clouds
        self.air = atmosphere(sky)
        self.sun = sun_vector(sky)
        self.lamp = sun_light(sky)
        self.ground_texture = ground_texture
        self.patches = None
        if ground_texture is not None:
            self.patches = patches or ground_patches(ground.seed)
        heights = surface_heights(composition)
        self.eye_km = ground.eye_height_m / 1000.0
        if "ground" in heights:
            self.ground_paths = self.air.paths(heights["ground"])
        self.clouds = clouds if clouds is not None and clouds.cover > 0.0 else None
        self.cloud_texture = cloud_texture if self.clouds is not None else None
        self.relief = None  # none for a closed deck: its billows fade out entirely
        self.roughen = np.multiply
        if self.clouds is not None:  # the share of the layer still broken cloud, not deck
            self.broken = 1.0 - deck_share(self.clouds.cover)
            if self.cloud_texture is not None and self.broken > 0.0:
                self.relief = relief or cloud_relief(self.clouds.seed)
                # only a deck's masses are deeper than the layer; broken cloud takes the product
                if float(self.cloud_texture.levels[0].max()) > FULL_DEPTH_TAU:
                    self.roughen = roughened
        self.cloud_shadow = self.sunlit = None
        if self.cloud_texture is not None and self.sun[1] > 0.0:
            self.cloud_shadow = cloud_shadow or sun_path_depth(self.cloud_texture, self.sun)
            if self.relief is not None:
                self.sunlit = sunlit or sunlit_slopes(self.relief, self.sun)
        shadowing = []  # (texture, height above the ground in m) of each layer shading it
        if self.clouds is not None:
            self.layer_km = heights["clouds"]
            self.cloud_paths = self.air.paths(self.layer_km)
            self.layer_sun = self._sun_table(self.layer_km)
            leak = 1.0 + SIDE_LEAK * self.broken
            self.base_dimming = np.float32(0.75 * (1.0 - ASYMMETRY) * leak)
            if self.cloud_texture is not None:
                shadowing.append((self.cloud_texture, self.clouds.altitude_m + ground.eye_height_m))
        veil = composition.cirrus
        self.cirrus = veil if veil is not None and veil.amount > 0.0 else None
        self.cirrus_texture = None
        if self.cirrus is not None:
            self.cirrus_texture = cirrus or cirrus_texture(self.cirrus)
            self.cirrus_km = heights["cirrus"]
            self.cirrus_paths = self.air.paths(self.cirrus_km)
            self.cirrus_sun = self._sun_table(self.cirrus_km)
            shadowing.append((self.cirrus_texture, self.cirrus.altitude_m + ground.eye_height_m))
        self.shadowing = tuple(shadowing)
        self.ground_albedo = (
            ground.colour()
            if ground.kind == "colour"
            else np.full(3, ground.albedo, dtype=np.float32)
        )
        self.sky_light = (self.air.sky_irradiance / np.pi).astype(np.float32)
        if self.clouds is not None:
            albedo = float(self.ground_albedo @ REC709_LUMINANCE) / np.pi
            sunlit = self.lamp.irradiance * max(float(self.sun[1]), 0.0)
            self.ground_sun = (sunlit * albedo).astype(np.float32)
            self.ground_sky = (self.air.sky_irradiance * albedo).astype(np.float32)
        self.sky_irradiance = self.air.sky_irradiance.astype(np.float32)
        if air_shade is None:
            air_shade = self._mean_shade() if self.shadowing else 1.0
        self.air_shade = air_shade
        self.ambient = self.sky_light  # under the layers: the clear sky's until the clouded's
        if self.cloud_texture is not None or self.cirrus is not None:
            self.sky_irradiance = self._clouded_irradiance()  # its air lit by the clear sky's
            self.ambient = (self.sky_irradiance / np.pi).astype(np.float32)
        if len(horizon_bands) != len(composition.horizon):
            raise ValueError("one prepared band per horizon band of the composition")
        # far to near, each over what lies behind it
        self.bands = tuple(sorted(horizon_bands, key=lambda b: -b.settings.distance_m))
        if self.bands:
            self.hills_tint = self._hills_tint()
            self.band_ground = self.air.paths(-self.eye_km)
            self.band_paths = tuple(
                BandPaths(self.air, sky, b.settings.distance_m / 1000.0, b.top_deg + 1.0)
                for b in self.bands
            )

    def radiance(self, directions: np.ndarray, pixel_rad: float) -> np.ndarray:
        """(..., 3) float32 linear Rec. 709 radiance toward unit ``directions`` (..., 3) of an
        output whose pixels are ``pixel_rad`` radians wide (the footprint filter and the disc's
        anti-aliasing depend on it, never on the piece computed)."""
        directions = np.asarray(directions, dtype=np.float64)
        flat = directions.reshape(-1, 3)
        out = np.empty(flat.shape, dtype=np.float32)
        for start in range(0, len(flat), CHUNK):
            rays = Rays.of(flat[start : start + CHUNK])
            out[start : start + CHUNK] = self.radiance_of(rays, pixel_rad)[:, 0]
        return out.reshape(directions.shape)

    def radiance_of(self, rays: Rays, pixel_rad: float, horizon: bool = True) -> np.ndarray:
        """(R, C, 3) float32 radiance toward ``rays``, in blocks of rows spread over
        ``torch.get_num_threads()`` threads (numpy lets go of the interpreter in its loops):
        every value is computed by its row alone, so neither the blocks nor the thread count
        change it. ``horizon`` False leaves the horizon bands out (``horizon_over`` adds them
        to a sky with an alpha channel)."""
        out = np.empty((*rays.shape, 3), dtype=np.float32)

        def block(part: slice) -> None:
            self._block(rays.take(part), pixel_rad, out[part], horizon)

        _in_blocks(rays.shape, block)
        return out

    @property
    def has_layers(self) -> bool:
        """Whether a veil or a cloud layer lies over the clear sky."""
        return self.cirrus is not None or self.clouds is not None

    @property
    def has_ground(self) -> bool:
        """Whether there is ground below the horizon (else it is black)."""
        return self.composition.ground.kind != "none"

    def _clear(self, rays: Rays, pixel_rad: float) -> tuple[np.ndarray, np.ndarray]:
        """The clear sky with its disc toward ``rays`` (y >= 0), and their azimuths from the
        sun, which the layers over it read too."""
        azimuth = azimuth_from_sun(rays.x, rays.z, self.composition.sky)
        sky = clear_rows(rays, self.composition.sky, math.degrees(pixel_rad), azimuth)
        return sky, azimuth

    def radiance_between(
        self,
        rays: Rays,
        anchors: Rays,
        spread: Callable[[np.ndarray], np.ndarray],
        pixel_rad: float,
        horizon: bool = True,
    ) -> np.ndarray:
        """(R, C, 3) float32 radiance toward ``rays``, rows all above or all below the
        horizon, with what lies over the clear sky (the veil and the cloud layer,
        ``has_layers``) or the ground computed toward ``anchors`` (R, A) alone and ``spread``
        from there to the rays (an (R, A, n) array to (R, C, n)); the clear sky, whose disc
        is sharp, toward every ray. For an equirect's rows near the poles, whose pixels lie
        much closer together than its rows (``generator.sky.polar``). ``horizon`` as for
        ``radiance_of``."""
        out = np.empty((*rays.shape, 3), dtype=np.float32)

        def block(part: slice) -> None:
            seen, at = rays.take(part), anchors.take(part)
            if seen.y[0, 0] < 0.0:
                out[part] = spread(self._ground(at, pixel_rad)) if self.has_ground else 0.0
            else:
                sky, _ = self._clear(seen, pixel_rad)
                both = spread(np.concatenate(self._layers(at, pixel_rad), axis=-1))
                out[part] = both[..., :1] * sky + both[..., 1:]
            if horizon and self.bands:
                self.horizon_over(seen, pixel_rad, out[part])

        _in_blocks(rays.shape, block)
        return out

    def _block(self, rays: Rays, pixel_rad: float, out: np.ndarray, horizon: bool = True) -> None:
        """Fills ``out`` (R, C, 3) with the radiance toward ``rays``."""
        below = rays.y[:, 0] < 0.0
        up, down = np.nonzero(~below)[0], np.nonzero(below)[0]
        if down.size:
            out[down] = self._ground(rays.take(down), pixel_rad) if self.has_ground else 0.0
        if up.size:
            seen = rays if up.size == len(below) else rays.take(up)
            sky, azimuth = self._clear(seen, pixel_rad)
            out[up] = self._overhead(seen, sky, pixel_rad, azimuth)
        if horizon and self.bands:
            self.horizon_over(rays, pixel_rad, out)

    def horizon_over(
        self, rays: Rays, pixel_rad: float, out: np.ndarray, coverage: np.ndarray | None = None
    ) -> None:
        """Composites the horizon bands, far to near, over ``out`` (R, C, 3), the radiance toward
        ``rays``, in place; a drawn range of hills down to its feet (``_above_feet``). With
        ``coverage`` (R, C; a sky without ground: its alpha) ``out`` is straight colour over that
        coverage, and both are updated: the land is opaque where the band is. Where a band's
        alpha is 0 nothing changes, bit for bit."""
        for band, paths in zip(self.bands, self.band_paths, strict=True):
            rows = band.rows(rays, pixel_rad)
            if not rows.size:
                continue
            seen = rays.take(rows)
            sampled = band.sample(seen, pixel_rad)
            if band.settings.kind == "hills":
                sampled *= self._above_feet(seen, band.settings.distance_m, pixel_rad)[..., None]
            alpha = sampled[..., 3]
            hit = alpha > 0.0
            if not hit.any():
                continue
            land = self._band_light(band, paths, seen, sampled)  # premultiplied
            behind = out[rows]
            a = alpha[..., None]
            if coverage is None:
                mixed = behind * (1.0 - a) + land
            else:
                cover = coverage[rows]
                total = cover + alpha * (1.0 - cover)
                premultiplied = behind * (cover * (1.0 - alpha))[..., None] + land
                mixed = premultiplied / np.maximum(total, 1e-12)[..., None]
                coverage[rows] = np.where(hit, total, cover)
            out[rows] = np.where(hit[..., None], mixed, behind)

    def _above_feet(self, rays: Rays, distance_m: float, pixel_rad: float) -> np.ndarray:
        """(R, 1) share of each row's pixels above a drawn range's feet, asin(eye height /
        distance) below the horizon: lower down the ground plane is nearer than the range
        (``hills.FEET_DEGREES``). Antialiased over the pixel's size: 1 from half a pixel above
        the feet up."""
        feet = math.asin(min(self.eye_km * 1000.0 / distance_m, 1.0))
        depression = -np.arcsin(np.clip(rays.y, -1.0, 1.0))
        return np.clip((feet - depression) / pixel_rad + 0.5, 0.0, 1.0).astype(np.float32)

    def _hills_tint(self) -> np.ndarray:
        """(3,) what drawn hills' reflectance is multiplied by: the hue of the ground's mean
        colour over their fields' (``hills.FIELDS``), each at unit luminance, so the hills are
        the same kind of land as the ground that runs to their feet (tan under a desert's
        terrain, green under a meadow's) and keep their own lightness (woods and shade make
        land darker from afar than the ground underfoot); 1 without ground."""
        if self.ground_texture is not None:
            mean = self.ground_texture.mean[:3].astype(np.float64)
        elif self.composition.ground.kind == "colour":
            mean = self.ground_albedo.astype(np.float64)
        else:
            return np.ones(3, dtype=np.float32)
        fields = FIELDS.astype(np.float64)
        hue = np.maximum(mean, 1e-6) / max(float(mean @ REC709_LUMINANCE), 1e-6)
        return (hue / (fields / float(fields @ REC709_LUMINANCE))).astype(np.float32)

    def _mean_shade(self) -> float:
        """The share of the sun's light that reaches below the layers, on average over them:
        the mean of e^(-tau / sin(sun elevation)) over each tile. The bands are lit evenly by
        it (cloud shadows drawn from each pixel's place on the land ran in streaks along the
        band's rows or columns), and so is the air under the layers (``_air_under_layers``)."""
        if self.sun[1] <= 0.0:
            return 1.0
        slant = max(float(self.sun[1]), 0.05)
        shade = 1.0
        for texture, _ in self.shadowing:
            tau = texture.levels[0][..., 0].astype(np.float64)
            shade *= float(np.exp(-np.minimum(tau / slant, 80.0)).mean())
        return shade

    def _band_light(
        self,
        band: HorizonBand,
        paths: BandPaths,
        rays: Rays,
        sampled: np.ndarray,
    ) -> np.ndarray:
        """(R, C, 3) premultiplied radiance of a band's land toward ``rays``: its colour (times
        the gain) as reflectance, lit by the sun on a surface leaning toward the eye (dimmed by
        the clouds' mean shadow) and by the sky and the ground, seen through the air in
        front."""
        s = band.settings
        reflectance = sampled[..., :3] * np.float32(s.gain)
        if s.kind == "hills":
            reflectance = reflectance * self.hills_tint
        alpha, filled = sampled[..., 3:4], sampled[..., 4:5]
        x, z = rays.x.astype(np.float32), rays.z.astype(np.float32)
        across = np.maximum(np.sqrt(x * x + z * z), np.float32(1e-9))
        sun = self.sun.astype(np.float32)
        toward_sun = (x * sun[0] + z * sun[2]) / across  # the view's horizontal part vs the sun's
        # the surface's normal: up, leaning FACING toward the eye and, where the band holds
        # it, sideways (toward increasing azimuth) as the land's slope there
        towards = sun[1] - np.float32(FACING) * toward_sun
        if sampled.shape[-1] > 5:
            lean = sampled[..., 5] / np.maximum(sampled[..., 3], np.float32(1e-6))
            towards = towards + lean * (z * sun[0] - x * sun[2]) / across
            norm = 1.0 / np.sqrt(np.float32(1.0 + FACING * FACING) + lean * lean)
            up = norm[..., None]  # the normal's vertical component
        else:
            norm = up = np.float32(1.0 / math.sqrt(1.0 + FACING * FACING))
        facing = np.maximum(towards, 0.0) * norm
        sun_irradiance = self.lamp.irradiance.astype(np.float32)
        direct = facing[..., None] * (sun_irradiance * np.float32(self.air_shade))
        horizontal = sun_irradiance * np.float32(max(float(self.sun[1]), 0.0))
        bounce = self.ground_albedo * (horizontal + self.sky_irradiance)
        diffuse = self.sky_irradiance * np.float32(0.5 * (1 + up)) + bounce * np.float32(
            0.5 * (1 - up)
        )
        surface = reflectance / np.float32(np.pi) * (direct + diffuse)
        azimuth = azimuth_from_sun(rays.x, rays.z, self.composition.sky)
        elevation = np.degrees(np.arcsin(np.clip(rays.y, -1.0, 1.0)))
        added, kept = paths(azimuth, elevation)
        below = rays.y[:, 0] < 0.0
        if not below.any():
            return self._air_under_layers(added, kept) * alpha + kept * surface
        # the land below the horizon, nearer: the ground's table; the far land filling the
        # band's gaps there, farther
        distance = band_distance(rays.y, s.distance_m / 1000.0)[below]  # km, per row
        near_added, near_kept = self.band_ground(azimuth[below], distance)
        added[below], kept[below] = near_added, near_kept
        far = np.full_like(distance, s.distance_m / 1000.0 * FILL_FARTHER)
        far_added, far_kept = self.band_ground(azimuth[below], far)
        share = np.zeros_like(alpha)
        share[below] = filled[below] / np.maximum(alpha[below], np.float32(1e-6))
        added[below] += (far_added - added[below]) * share[below]
        kept[below] += (far_kept - kept[below]) * share[below]
        return self._air_under_layers(added, kept) * alpha + kept * surface

    def _ground(self, rays: Rays, pixel_rad: float) -> np.ndarray:
        distance = surface_distance(rays.y, self.air.radius, -self.eye_km)
        metres = np.minimum(distance, 1e9) * 1000.0
        footprint = metres * pixel_rad / np.sqrt(-rays.y)
        metres32 = metres.astype(np.float32)
        x, z = metres32 * rays.x.astype(np.float32), metres32 * rays.z.astype(np.float32)
        if self.ground_texture is None:
            albedo = self.ground_albedo
        else:
            albedo = self.ground_texture.sample(x, z, footprint)
            albedo *= self.patches.sample(x, z, footprint)
        sun_up = float(self.sun[1])
        sunlit = (self.lamp.irradiance * max(sun_up, 0.0)).astype(np.float32)
        if sun_up > 0.0:  # the clouds' and the veil's shadows, each where the sun's ray meets it
            slant = np.float32(max(sun_up, 0.05))
            sun_x, sun_z = np.float32(self.sun[0]), np.float32(self.sun[2])
            tau = np.zeros(x.shape, dtype=np.float32)
            for texture, height_m in self.shadowing:
                reach = np.float32(height_m) / slant
                tau += texture.sample(x + reach * sun_x, z + reach * sun_z, footprint)[..., 0]
            if self.shadowing:
                shade = np.exp(-np.minimum(tau / slant, np.float32(80.0)))
                sunlit = sunlit * shade[..., None]
        surface = albedo / np.float32(np.pi) * (sunlit + self.sky_irradiance)
        azimuth = azimuth_from_sun(rays.x, rays.z, self.composition.sky)
        added, kept = self.ground_paths(azimuth, distance)
        return self._air_under_layers(added, kept) + kept * surface

    def _air_under_layers(self, added: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """The light of the air in front of something below the layers (the ground, land, a
        cloud's base or wall), ``added`` as the clear, sunlit air's: the layers' mean shade
        (``air_shade``) lets that much of the sun through to it, and the rest of it is lit by
        the light under them (the clouded sky's irradiance over pi), in proportion to the air's
        opacity 1 - ``kept``. Under an overcast deck the haze toward a low sun no longer glows
        as if the sky were clear."""
        if self.air_shade >= 1.0:
            return added
        shade = np.float32(self.air_shade)
        return added * shade + (1.0 - kept) * (self.ambient * (1.0 - shade))

    def _clouded_irradiance(self) -> np.ndarray:
        """(3,) irradiance of a horizontal plane from the clouded sky without the sun's disc,
        summed over a grid of directions above the eye: an overcast deck lights the ground with
        its own grey light, broken cloud adds its bright sides to the clear sky's."""
        rows, columns = HEMISPHERE
        elevation = (np.arange(rows) + 0.5) * (np.pi / 2 / rows)
        azimuth = (np.arange(columns) + 0.5) * (2 * np.pi / columns)
        e, a = np.meshgrid(elevation, azimuth, indexing="ij")
        directions = np.stack([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)], -1)
        rays = Rays.of(directions.reshape(-1, 3))
        clear = clear_rows(rays, replace(self.composition.sky, sun_disc=False))
        seen = self._overhead(rays, clear, 1e-6).reshape(rows, columns, 3)
        weight = (np.sin(e) * np.cos(e))[..., None] * (np.pi / 2 / rows) * (2 * np.pi / columns)
        return (seen * weight).sum(axis=(0, 1)).astype(np.float32)

    def _through_layer(
        self,
        metres: np.ndarray,
        x: np.ndarray,
        z: np.ndarray,
        up: np.ndarray,
        facing: np.ndarray,
        footprint: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean optical thickness along each ray's way through the layer's depth (rows of one
        elevation share the number of samples and their spacing), as a column's thickness: the
        clouds are columns standing on the layer's base (``column_top``). Near the zenith one
        sample at the layer's base; toward the horizon up to ``DEPTH_TAPS`` from the base to
        the top of the stretch the ray crosses, each filtered over the spacing (over half of
        it, frayed edges showed as combs of copies). Between two samples the ray is inside the
        cloud over the share ``share_inside`` says: seen obliquely a cloud shows a sharp
        outline, a flat base and a rounded top, where thickness spread evenly over the depth
        blurred every edge over the whole stretch. An even column's mean is its thickness
        exactly. Also the part of it seen through a cloud's base: between the lowest two
        samples, and on while the ray stays inside the cloud it entered there (a ray that
        enters a cloud from below sees its base however far it goes on inside; counting all
        but the lowest stretch as wall lit every cloud overhead by a low sun tan). What a ray
        meets past it is a wall (``_cloud`` lights the two apart); overhead, where one
        sample reads the layer, it is all base.

        The billows (``_billows``) are read once per ray, in the middle of its way through
        the layer, and roughen every sample's column (``roughened``): read at every sample
        they added 17 s to a 16K sky's 46."""
        across = np.sqrt(np.maximum(1.0 - np.square(facing), 0.0))
        stretch = CLOUD_DEPTH_M * across / np.maximum(facing, 1e-3)  # horizontal, per row
        finest = np.maximum(footprint, self.cloud_texture.texel_m)  # no closer than a texel
        taps = np.clip(np.ceil(stretch / finest) + 1, 1, DEPTH_TAPS)
        taps[stretch < footprint] = 1  # the whole stretch within one footprint
        count = int(taps.max())
        if count == 1:
            at = (metres * x, metres * z, footprint)
            tau = self.roughen(self.cloud_texture.sample(*at)[..., 0], self._billows(*at))
            return tau, tau
        horizontal = np.sqrt(np.maximum(1.0 - np.square(up), 1e-12))
        gaps = np.maximum(taps - 1, 1)
        spread = np.maximum(footprint, stretch / gaps)
        half = np.where(taps > 1, stretch * 0.5, 0.0)  # a row of one sample: at its base
        middle = metres + (half / horizontal).astype(np.float32)
        billows = self._billows(middle * x, middle * z, spread)
        full = np.float32(FULL_DEPTH_TAU)

        def sample(tap: int) -> tuple[np.ndarray, np.ndarray]:
            """The thickness at a ray's ``tap``-th sample and the cloud's top over it."""
            height = (np.minimum(tap, taps - 1) / gaps).astype(np.float32)  # 0..1
            along = metres + (stretch * height / horizontal).astype(np.float32)
            tau = self.cloud_texture.sample(along * x, along * z, spread)[..., 0]
            tau = self.roughen(tau, billows)
            return tau, column_top(tau, height)

        lowest, below = sample(0)  # a row of one sample reads the first
        last, total = lowest, np.zeros(x.shape, dtype=np.float32)
        first_done = int(taps.min())
        for tap in range(1, count):
            tau, top = sample(tap)
            dense = np.maximum(np.float32(0.5) * (tau + last), full)
            share = share_inside(below, top)
            if tap >= first_done:  # rows with fewer samples have done
                share *= tap < taps
            total += share * dense
            if tap == 1:
                base, inside = total.copy(), share
            else:  # the base goes on while the ray stays inside the cloud it entered there
                inside = np.minimum(inside, share)
                base += inside * dense
            last, below = tau, top
        single = taps == 1
        total = np.where(single, lowest, total / gaps.astype(np.float32))
        return total, np.where(single, lowest, base / gaps.astype(np.float32))

    def _billows(
        self, x: np.ndarray, z: np.ndarray, footprint: np.ndarray
    ) -> np.ndarray | np.float32:
        """The multiplier of the layer's thickness at ``x``, ``z``: the whole relief on broken
        cloud, fading out as the layer closes into a deck (which it mottled like a dirty
        sheet); 1 for a closed deck."""
        if self.relief is None:
            return np.float32(1.0)
        relief = self.relief.sample(x, z, footprint)[..., 0]
        if self.broken < 1.0:
            relief = 1.0 + (relief - 1.0) * self.broken
        return relief

    def _sun_table(self, km: float) -> np.ndarray:
        """(3, SUN_TABLE) the sun's light reaching a layer ``km`` up, per colour channel and
        local sun cosine from ``SUN_TABLE_LOW`` to 1 (through the air: reddened, and still lit
        after sunset)."""
        cosines = np.linspace(SUN_TABLE_LOW, 1.0, SUN_TABLE)
        light = DISC_FRACTION * self.air.sunlight(cosines, km)
        return np.ascontiguousarray(light.T, dtype=np.float32)

    @staticmethod
    def _sunlight(table: np.ndarray, sun_up: np.ndarray) -> np.ndarray:
        """(..., 3) ``table`` (``_sun_table``) read at local sun cosines ``sun_up``, linearly."""
        scale = np.float32((SUN_TABLE - 1) / (1.0 - SUN_TABLE_LOW))
        index = (np.clip(sun_up, SUN_TABLE_LOW, 1.0) - np.float32(SUN_TABLE_LOW)) * scale
        low = np.minimum(index.astype(np.intp), SUN_TABLE - 2)
        return lerp_planes(table, low, index - low)

    def _overhead(
        self, rays: Rays, sky: np.ndarray, pixel_rad: float, azimuth: np.ndarray | None = None
    ) -> np.ndarray:
        """The cirrus veil and then the cloud layer in front of it over the clear ``sky``
        toward ``rays`` (y >= 0); ``sky`` itself where there are neither."""
        if not self.has_layers:
            return sky
        passed, light = self._layers(rays, pixel_rad, azimuth)
        return passed * sky + light

    def _layers(
        self, rays: Rays, pixel_rad: float, azimuth: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(R, C, 1) the share of the light behind them that passes the veil and the cloud
        layer toward ``rays`` (y >= 0, ``has_layers``), and (R, C, 3) the light they add in
        front of it. What depends on the direction alone (the angle to the sun, the phase
        function there, the azimuth: given where the caller has it) is computed once for both."""
        x32, z32 = rays.x.astype(np.float32), rays.z.astype(np.float32)
        sun = self.sun.astype(np.float32)
        cosine = x32 * sun[0] + (rays.y * self.sun[1]).astype(np.float32) + z32 * sun[2]
        if azimuth is None:
            azimuth = azimuth_from_sun(rays.x, rays.z, self.composition.sky)
        toward = Toward(x32, z32, cosine, henyey_greenstein(cosine), azimuth)
        veil = self._veil(rays, toward, pixel_rad) if self.cirrus is not None else None
        if self.clouds is None:
            return veil
        passed, light = self._cloud(rays, toward, pixel_rad)
        if veil is None:
            return passed, light
        return veil[0] * passed, veil[1] * passed + light

    def _on_layer(self, rays: Rays, toward: Toward, km: float, pixel_rad: float) -> OnLayer:
        """Where ``rays`` (y >= 0) meet a layer ``km`` above the eye, on the curved earth."""
        radius = self.air.radius
        distance = surface_distance(rays.y, radius, km)
        facing = np.maximum((radius * rays.y + distance) / (radius + km), 1e-6)  # vertical
        metres = distance * 1000.0
        sun_up = (
            np.float32(radius * self.sun[1]) + distance.astype(np.float32) * toward.cosine
        ) / np.float32(radius + km)
        footprint = metres * pixel_rad / np.sqrt(facing)
        return OnLayer(distance, facing, metres.astype(np.float32), footprint, sun_up)

    def _veil(self, rays: Rays, toward: Toward, pixel_rad: float) -> tuple[np.ndarray, np.ndarray]:
        """The cirrus veil toward ``rays`` (y >= 0), as ``_layers``: thin ice, so the sun's
        light scattered once (the phase function's glow around the sun) and the sky's light
        it intercepts, in proportion to its opacity 1 - e^(-tau slant), seen through the air
        below it; toward the horizon the slant closes it into a milky band."""
        at = self._on_layer(rays, toward, self.cirrus_km, pixel_rad)
        x, z = at.metres * toward.x, at.metres * toward.z
        tau = self.cirrus_texture.sample(x, z, at.footprint)[..., 0]
        slanted = tau * (1.0 / at.facing).astype(np.float32)
        alpha = -np.expm1(-slanted)
        single = toward.phase * slanted * np.exp(-slanted)
        veil = self._sunlight(self.cirrus_sun, at.sun_up) * single[..., None]
        veil += self.sky_light * alpha[..., None]
        added, kept = self.cirrus_paths(toward.azimuth, at.distance)
        return (1.0 - alpha)[..., None], alpha[..., None] * added + kept * veil

    def _cloud(self, rays: Rays, toward: Toward, pixel_rad: float) -> tuple[np.ndarray, np.ndarray]:
        """The cloud layer toward ``rays`` (y >= 0), as ``_layers``: what depends on the
        elevation (distance, slant, footprint) once per row."""
        at = self._on_layer(rays, toward, self.layer_km, pixel_rad)
        facing, footprint, metres32, sun_up = at.facing, at.footprint, at.metres, at.sun_up
        x32, z32, cosine = toward.x, toward.z, toward.cosine
        tau, base = self._through_layer(metres32, x32, z32, rays.y, facing, footprint)
        slant = np.minimum(1.0 / facing, MAX_SLANT).astype(np.float32)
        slanted = tau * slant
        opacity = -np.expm1(-slanted)
        alpha = opacity[..., None]
        # what the eye sees of walls rather than of bases: the share of the light the ray
        # loses past the lowest sample
        walls = np.maximum(
            1.0 + np.expm1(-base * slant) / np.maximum(opacity, np.float32(1e-6)), 0.0
        )
        sunlight = self._sunlight(self.layer_sun, sun_up)
        diffuse = 1.0 / (1.0 + self.base_dimming * tau)
        # the light diffusing out of a base leaves it mostly downward; a wall's as it comes
        even = np.float32(3.0 / (3.0 + 2.0 * EMERGENCE))  # the same flux as an even glow
        downward = even * (1.0 + np.float32(EMERGENCE) * facing.astype(np.float32))
        scattered = ((diffuse - np.exp(-tau)) * (walls + (1.0 - walls) * downward))[..., None]
        single = toward.phase * slanted * np.exp(-slanted)
        across = np.sqrt(np.maximum(1.0 - np.square(sun_up), 0.0))
        sides = np.float32(SIDES * (1.0 - self.clouds.cover)) * across * walls
        if self.cloud_shadow is not None:  # the sun's way in: through the cloud and its neighbours
            mid = metres32 + np.float32(CLOUD_DEPTH_M / 2.0) / np.maximum(facing, 1e-3).astype(
                np.float32
            )
            depth = self.cloud_shadow.sample(mid * x32, mid * z32, footprint)[..., 0]
            shade = np.exp(-np.minimum(depth, np.float32(80.0)))
            single *= shade
            # a cloud's sides as the moon's phases: seen with the sun behind, the eye sees
            # their sunlit half; toward the sun, the half the light must cross the cloud for
            sunward = np.float32(0.5) * (1.0 + cosine)
            sides *= (1.0 - sunward) + sunward * shade
            if self.sunlit is not None:
                facing_sun = self.sunlit.sample(mid * x32, mid * z32, footprint)[..., 0]
                lumps = np.float32(BILLOW_LIGHT * self.broken) * facing_sun
                sides *= np.maximum(1.0 + lumps, 0.0)
        single = single[..., None]
        # the tops' light comes down through the cloud to its base; a sunlit wall sends back
        # what does not pass through it
        lit = np.maximum(sun_up, 0.0)[..., None] * scattered + (sides * (1.0 - diffuse))[..., None]
        cloud = sunlight * (single + lit / np.float32(np.pi))
        cloud += self.sky_light * scattered
        # the ground below a cloud is lit through it: a thick cloud's base is not lit from below
        below = self.ground_sun * diffuse[..., None] + self.ground_sky
        cloud += below * (1.0 - diffuse)[..., None]
        added, kept = self.cloud_paths(toward.azimuth, at.distance)
        return 1.0 - alpha, alpha * self._air_under_layers(added, kept) + kept * cloud

    def sun_lamp(self) -> SunLight:
        """The Sun lamp matching the disc, dimmed by the cloud and veil in front of the sun."""
        if not self.has_layers or self.sun[1] <= 0.0:
            return self.lamp
        rays = Rays.of(self.sun[None, :])
        size = math.radians(self.composition.sky.sun_size)
        through = float(self._layers(rays, size)[0][0, 0, 0])  # what passes both layers
        return SunLight(
            self.lamp.direction,
            self.lamp.angular_diameter,
            self.lamp.colour,
            self.lamp.strength * through,
        )
