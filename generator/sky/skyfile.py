"""Composed skies as images: the recipe, the renderers (equirect bands, cube faces, matte
strips) and files.

A ``SkyRecipe`` holds the composition and the output (an equirect of ``width`` x ``width / 2``,
six cube faces of ``width``, or a ``width`` x ``camera.height`` matte strip seen through a
cylindrical or perspective ``camera``, ``generator.sky.strip``), and the models' hashes once
rendered, so ``--recipe`` re-renders it exactly. Files are streamed by row bands and atomic
(``generator.files.imagefile``); each carries the recipe and the matching Sun lamp. An EXR with the
sun's disc is 32-bit float by default: the disc is ~10^6 in these units and half float stops at
65504.

With no ground (``GroundSettings('none')``) files get an alpha channel: 1 for sky, 0 for ground,
at the horizon the fraction of the pixel above it (``horizon_coverage``, a function of the pixel
alone), the colour there that of the sky just above the horizon (straight; OpenEXR premultiplies
it). 8- and 16-bit files (PNG, TIFF) hold display values: the radiance times 2^exposure through
a tone curve (``tone_map``); the exposure is the recipe's, or the sky's meter reading
(``meter``: the key of its clear atmosphere, the log-average luminance of the dome, made
mid-grey), recorded in the recipe so a re-render matches. Float files (EXR, 32-bit TIFF) hold
radiance in Blender's units.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from generator.errors import BackdropError, Cancelled, RequestError
from generator.files.imagefile import (
    band_dither,
    check_output,
    holds_display_values,
    open_image_writer,
    read_metadata,
)
from generator.files.modelfile import LoadedModel, load_model
from generator.files.recipe import MAX_SIDE, Window
from generator.rendering.progress import increments
from generator.rendering.render import CancelFn, ProgressFn, RowBandRenderer
from generator.sky import tilestore
from generator.sky.atmosphere import Rays, SkySettings, SunLight
from generator.sky.cirrus import CirrusSettings, cirrus_texture
from generator.sky.compose import (
    ComposedSky,
    SkyComposition,
    prepare_air,
    prepare_billows,
    prepare_shadow,
)
from generator.sky.cubemap import FACES, face_pixel_directions
from generator.sky.hills import hills_band
from generator.sky.horizon import (
    HorizonBand,
    HorizonSettings,
    band_model_size,
    check_band_model,
    read_band,
)
from generator.sky.layers import (
    CloudSettings,
    GroundSettings,
    cloud_texture,
    ground_texture,
    image_tile,
    is_image,
    model_tile,
    tile_count,
)
from generator.sky.plane import PlaneTexture
from generator.sky.polar import anchors_and_spread, column_strides
from generator.sky.recent import Recent
from generator.sky.relief import cloud_relief, ground_patches
from generator.sky.spectrum import REC709_LUMINANCE
from generator.sky.strip import STRIP_PROJECTIONS, StripCamera, strip_height, strip_rays

SKY_KEY = "endless-backdrops:sky"
LAMP_KEY = "endless-backdrops:sun-lamp"
SOFTWARE = "Endless Backdrops"
SKY_VERSION = 6
"""2: matte strips (``camera``), the exposure and tone of 8/16-bit files. 3: horizon bands
(``composition.horizon``): an older reader would drop them silently, so it refuses. 4: frayed
cloud edges (``clouds.edge_warp_m``); an older recipe's clouds had none, and are read so.
5: clouds gathered into fields (``clouds.clustering``); older ones are read without. 6: a cirrus
veil (``composition.cirrus``): an older reader would drop it silently, so it refuses."""
PROJECTIONS = ("equirect", "cube", *STRIP_PROJECTIONS)
TONES = ("filmic", "shoulder", "standard")
"""How 8/16-bit files map exposed radiance to 0..1: ``filmic`` as a camera's picture (an
S-curve: mid-grey lifted to 0.27, a toe in the darks, highlights rolling off over three stops
above white), as Blender's Filmic and AgX views show the EXR; ``standard`` clips at 1
(Blender's Standard view); ``shoulder`` is the same up to ``KNEE`` and then rolls off smoothly
toward 1, so the bright sky by the sun and sunlit clouds keep some gradation instead of a flat
white, with the darker, greyer blue of a plain linear picture."""
DEFAULT_TONE = "filmic"
"""The tone of a recipe that names none: skies look photographed (docs/sky.md, "A photograph's
exposure and tone")."""
KNEE = 0.6
"""Where the shoulder begins (linear, 0.8 in sRGB): below it ``shoulder`` equals ``standard``."""
CLEAR_KEY = 0.25
"""What the meter makes of the clear sky's key (the log-average luminance of its dome): half a
stop over mid-grey (0.18), toward where photographs of the sky put it (the sky boxes' clear
blue shows 0.55-0.75 in display luminance; at mid-grey ours showed 0.35-0.45). Three quarters
of a stop, where the photographs' blue is, took the skies farther from the darker reserved
panoramas than the gallery's goal allows (docs/sky.md, "A photograph's exposure and tone")."""
CLOUDED_KEY = 0.27
"""Where the meter puts the key of a clouded dome at most (linear): an overcast deck shows
light grey, not white (``filmic`` makes 0.27 the 0.4 of a linear picture). Broken cloud under
a high sun is held by it too (the bundled sky at cover 0.4 and 35°, 0.7 stop under its clear
sky's exposure); a few clouds, or broken cloud at sunset, keep the clear sky's exposure."""
METER_SIZE = (128, 32)
"""Azimuths x elevations of the upper hemisphere the meter reads."""
BAND_PIXELS = 1 << 20
"""Output pixels per band: memory stays flat for any size."""


@dataclass(frozen=True)
class SkyRecipe:
    """A composed sky and its output: an equirect ``width`` x ``width / 2`` (or a ``window``
    of it), ``cube`` faces of ``width`` pixels, or a ``cylindrical`` or ``perspective`` matte
    strip ``width`` x ``camera.height`` (or a window of it). ``exposure`` (stops; None: the
    ``metered`` one) and ``tone`` (``TONES``) make 8/16-bit files; ``metered`` is the sky's
    meter reading, recorded when first rendered."""

    composition: SkyComposition = dataclasses.field(default_factory=SkyComposition)
    width: int = 4096
    projection: str = "equirect"
    window: Window | None = None
    camera: StripCamera | None = None
    exposure: float | None = None
    tone: str = DEFAULT_TONE
    metered: float | None = None
    version: int = SKY_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or not 2 <= self.width <= MAX_SIDE:
            raise RequestError(f"the width must be a whole number of pixels, 2..{MAX_SIDE}")
        if self.projection not in PROJECTIONS:
            raise RequestError(
                f"unknown projection {self.projection!r}: use {', '.join(PROJECTIONS)}"
            )
        if self.projection == "equirect" and self.width % 2:
            raise RequestError("an equirect sky is 2:1: give an even width")
        strip = self.projection in STRIP_PROJECTIONS
        if strip and self.camera is None:
            raise RequestError(f"a {self.projection} strip needs its camera")
        if not strip and self.camera is not None:
            raise RequestError(f"a camera makes a strip, not an {self.projection} sky")
        if strip:
            self.camera.check(self.projection, self.width)
        if self.tone not in TONES:
            raise RequestError(f"unknown tone {self.tone!r}: use {' or '.join(TONES)}")
        for name in ("exposure", "metered"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int | float) and math.isfinite(value) and abs(value) <= 64
            ):
                raise RequestError(f"the {name} must be a number of stops within -64..64")
        if self.window is not None:
            w = self.window
            if self.projection == "cube":
                raise RequestError("a window is a part of an equirect sky or strip, not of faces")
            if w.width < 1 or w.height < 1 or w.y < 0 or w.y + w.height > self.height:
                raise RequestError("a window must lie within the output's rows")
            wraps = self.projection == "equirect" or (strip and self.camera.wraps)
            if not wraps and (w.x < 0 or w.x + w.width > self.width):
                raise RequestError(
                    "a window must lie within the strip's columns (only a 360-degree one wraps)"
                )

    @property
    def height(self) -> int:
        if self.camera is not None:
            return self.camera.height
        return self.width // 2 if self.projection == "equirect" else self.width

    @property
    def pixel_rad(self) -> float:
        """The output's angular pixel size: what the footprint filter and the disc follow."""
        if self.camera is not None:
            return self.camera.pixel_rad(self.projection, self.width)
        return (
            2.0 * math.pi / self.width
            if self.projection == "equirect"
            else 0.5 * math.pi / self.width
        )

    @property
    def exposure_stops(self) -> float | None:
        """The exposure 8/16-bit files get: the recipe's, else the metered one."""
        return self.exposure if self.exposure is not None else self.metered

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SkyRecipe:
        try:
            data = json.loads(text)
            if data.get("version", SKY_VERSION) > SKY_VERSION:
                raise RequestError("this sky was made by a newer version of Endless Backdrops")
            parts = data["composition"]
            clouds, cirrus = parts.get("clouds"), parts.get("cirrus")
            version = data.get("version", SKY_VERSION)
            if clouds is not None and version < 4:
                clouds = {"edge_warp_m": 0.0} | clouds
            if clouds is not None and version < 5:
                clouds = {"clustering": 0.0} | clouds
            composition = SkyComposition(
                sky=SkySettings(**parts["sky"]),
                clouds=None if clouds is None else CloudSettings(**clouds),
                cirrus=None if cirrus is None else CirrusSettings(**cirrus),
                ground=GroundSettings(**parts["ground"]),
                horizon=tuple(HorizonSettings(**band) for band in parts.get("horizon", ())),
            )
            window, camera = data.get("window"), data.get("camera")
            return cls(
                composition=composition,
                width=data["width"],
                projection=data["projection"],
                window=None if window is None else Window(**window),
                camera=None if camera is None else StripCamera(**camera),
                exposure=data.get("exposure"),
                tone=data.get("tone", DEFAULT_TONE),
                metered=data.get("metered"),
            )
        except RequestError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise RequestError(f"not a valid sky recipe ({err})") from None

    def replace(self, **changes) -> SkyRecipe:
        return dataclasses.replace(self, **changes)


TILE_CACHE_SIZE = 4
"""Model tiles kept in memory (a 2048-px tile is 48 MiB and ~10 CPU s to draw): a sky re-rendered
in one process with another sun, cover, exposure or output (the add-on, a strip after its
equirect) draws its ground and clouds once."""
_tiles: Recent[np.ndarray] = Recent(TILE_CACHE_SIZE)
TEXTURE_CACHE_SIZE = 2
"""Layer textures kept in memory (the clouds' at 2048 px is about 45 MiB and 3-4 s to make,
the ground's 64 MiB and 1 s): a sky re-rendered with another sun, exposure or output makes
them once: moving the sun then re-renders the bundled sky's 1024 x 512 preview in 2-3 s."""
_textures: Recent[PlaneTexture] = Recent(TEXTURE_CACHE_SIZE)
HILLS_CACHE_SIZE = 4
"""Drawn ranges of hills kept prepared for sampling (about 34 MiB each with its pyramid, 0.8 s
to draw and prepare): the bundled sky's two and another seed's. Made again for every sky, they
took 0.3-0.5 s of the 2 s a preview takes after the sun is moved."""
_hills: Recent[HorizonBand] = Recent(HILLS_CACHE_SIZE)


def _drawn_hills(band: HorizonSettings) -> HorizonBand:
    """A range of hills drawn from its seed, prepared for sampling."""
    return HorizonBand(hills_band(band.seed, band.distance_m), band)


def forget_layers() -> None:
    """Drops the tiles, textures and hills kept for later skies in this process (about 0.3 GiB
    after a few skies of 2048-px layers), as the add-on does when it is disabled. The next sky makes
    them again, its tiles from disk (``generator.sky.tilestore``)."""
    _tiles.clear()
    _textures.clear()
    cirrus_texture.cache_clear()
    cloud_relief.cache_clear()
    ground_patches.cache_clear()
    _hills.clear()


def _tile_key(
    model: LoadedModel, seed: int, styles: tuple[int, ...], size: int, height: int | None = None
) -> tuple:
    device = next(model.generator.parameters()).device
    return model.hash, str(device), seed, tuple(styles), size, height


def cached_tile(
    model: LoadedModel,
    seed: int,
    styles: tuple[int, ...],
    size: int,
    tiles_done: Callable[[float], None] | None = None,
    cancel: CancelFn | None = None,
    height: int | None = None,
) -> np.ndarray:
    """``model_tile`` (a landscape band with ``height``), drawn once per process for the last
    ``TILE_CACHE_SIZE`` kinds of tile, and kept on disk between processes
    (``generator.sky.tilestore``): the same array (read-only) as drawing it again, the model
    and device being the same."""
    key = _tile_key(model, seed, styles, size, height)

    def draw() -> np.ndarray:
        tile = tilestore.load(key, (height or size, size))
        if tile is None:
            tile = model_tile(model, seed, styles, size, tiles_done, cancel, height)
            tile.setflags(write=False)
            tilestore.save(key, tile)
        return tile

    return _tiles.get(key, draw)


def _tile_ready(key: tuple) -> bool:
    """Whether the tile of ``key`` needs no drawing: kept in memory or on disk."""
    return key in _tiles or tilestore.holds(key)


def _rgb_layer(model: LoadedModel, source: str, option: str) -> LoadedModel:
    """Ground and clouds take a model's RGB: a landscape model's coverage would break the
    ground's colour transform or turn into cloud density. One line instead."""
    if model.config.alpha:
        raise RequestError(
            f"{source} is a landscape model with alpha: give it as --horizon-band, not {option}"
        )
    return model


class PreparedLayers:
    """Loads the recipe's models (checking hashes) at once, so mistakes fail before a file is
    opened; draws their tiles (or takes them from ``cached_tile``) and builds the composition
    on first use."""

    def __init__(self, recipe: SkyRecipe, device: str = "cpu") -> None:
        composition = recipe.composition
        self.models: dict[str, LoadedModel] = {}
        ground, clouds = composition.ground, composition.clouds
        if ground.kind == "model":
            self.models["ground"] = _rgb_layer(
                _load(ground.source, ground.model_hash, device), ground.source, "--ground"
            )
            ground = dataclasses.replace(ground, model_hash=self.models["ground"].hash)
        elif ground.kind == "colour":
            ground.colour()  # a malformed colour fails now
        self.cloud_map: np.ndarray | None = None
        if clouds is not None and clouds.cover > 0.0 and is_image(clouds.model):
            self.cloud_map, digest = image_tile(clouds.model, clouds.tile)
            _check_hash(clouds.model, clouds.model_hash, digest, "cloud map")
            clouds = dataclasses.replace(clouds, model_hash=digest)
        elif clouds is not None and clouds.cover > 0.0:
            self.models["clouds"] = _rgb_layer(
                _load(clouds.model, clouds.model_hash, device), clouds.model, "--clouds"
            )
            clouds = dataclasses.replace(clouds, model_hash=self.models["clouds"].hash)
        self.band_images: list[np.ndarray | None] = []
        self.band_models: list[LoadedModel | None] = []
        horizon = []
        for band in composition.horizon:
            if band.kind == "model":
                model = _load(band.source, band.source_hash, device)
                check_band_model(model, band.source)
                self.band_models.append(model)
                self.band_images.append(None)
                horizon.append(dataclasses.replace(band, source_hash=model.hash))
                continue
            self.band_models.append(None)
            if band.kind == "hills":  # drawn with the layers (``_band``)
                self.band_images.append(None)
                horizon.append(band)
                continue
            pixels, digest = read_band(band.source)
            _check_hash(band.source, band.source_hash, digest, "horizon band")
            HorizonBand(pixels[:2], band)  # a band wider than 360 degrees fails now
            self.band_images.append(pixels)
            horizon.append(dataclasses.replace(band, source_hash=digest))
        self.recipe = recipe.replace(
            composition=dataclasses.replace(
                composition, ground=ground, clouds=clouds, horizon=tuple(horizon)
            )
        )
        self._sky: ComposedSky | None = None
        self._composing = threading.Lock()  # bands rendered side by side compose it once

    @property
    def ready(self) -> bool:
        """Whether the tiles are rendered and the composition built."""
        return self._sky is not None

    def _tile_settings(self, name: str) -> tuple[int, tuple[int, ...], int]:
        layer = getattr(self.recipe.composition, name)
        return layer.seed, layer.styles, layer.tile

    @property
    def tiles(self) -> int:
        """Progress units of the layers' tiles still to draw."""
        total = 0
        for name, model in self.models.items():
            seed, styles, size = self._tile_settings(name)
            cached = _tile_ready(_tile_key(model, seed, styles, size))
            total += 0 if cached else tile_count(model, size)
        for model, band in zip(self.band_models, self.recipe.composition.horizon, strict=True):
            if model is not None:
                height, width = band_model_size(model, band)
                cached = _tile_ready(_tile_key(model, band.seed, band.styles, width, height))
                total += 0 if cached else tile_count(model, width, height)
        return total

    def sky(
        self, tiles_done: Callable[[float], None] | None = None, cancel: CancelFn | None = None
    ) -> ComposedSky:
        with self._composing:
            if self._sky is None:
                # numpy's tables and textures on two threads of their own while torch draws
                # the tiles (the bundled sky at 1024 x 512 in 13-14 s; 21 s all on one thread)
                side = ThreadPoolExecutor(2)
                try:
                    self._sky = self._compose(side, tiles_done, cancel)
                finally:  # a cancelled render does not wait for the side's work
                    side.shutdown(wait=False, cancel_futures=True)
        return self._sky

    def _compose(
        self,
        side: ThreadPoolExecutor,
        tiles_done: Callable[[float], None] | None,
        cancel: CancelFn | None,
    ) -> ComposedSky:
        """The composition with its layers' textures: the tiles drawn here; the air's tables,
        the veil, the clouds' billows, the ground's patches and the clouds' and ground's
        textures (each once its tile is drawn) on the ``side``. The clouds' tile is drawn
        first: their texture takes longest (3-4 s at 2048 px), and made here after both tiles
        it kept one core idle. Their shade for this sun is made here once the texture is,
        while the side still marches the air."""
        c = self.recipe.composition
        air = side.submit(prepare_air, c)
        veil = None
        if c.cirrus is not None and c.cirrus.amount > 0.0:
            veil = side.submit(cirrus_texture, c.cirrus)
        billows = side.submit(prepare_billows, c)
        textures = {}
        clouds = ground = patches = None
        if "clouds" in self.models:
            settings = self._tile_settings("clouds")
            tile = cached_tile(self.models["clouds"], *settings, tiles_done, cancel)
            key = (_tile_key(self.models["clouds"], *settings), c.clouds)
            clouds = side.submit(_textures.get, key, partial(cloud_texture, tile, c.clouds))
        if self.cloud_map is not None:  # its settings hold the map's digest
            made = partial(cloud_texture, self.cloud_map, c.clouds)
            clouds = side.submit(_textures.get, ("cloud map", c.clouds), made)
        if "ground" in self.models:
            settings = self._tile_settings("ground")
            tile = cached_tile(self.models["ground"], *settings, tiles_done, cancel)
            key = (_tile_key(self.models["ground"], *settings), c.ground)
            ground = side.submit(_textures.get, key, partial(ground_texture, tile, c.ground))
            patches = side.submit(ground_patches, c.ground.seed)
        bands = [
            self._band(pixels, model, band, tiles_done, cancel)
            for pixels, model, band in zip(
                self.band_images, self.band_models, c.horizon, strict=True
            )
        ]
        if cancel is not None and cancel():
            raise Cancelled("render cancelled")
        if clouds is not None:  # their shade made here while the side marches the air
            textures["cloud_texture"] = clouds.result()
            textures["cloud_shadow"] = prepare_shadow(c, textures["cloud_texture"])
        air.result()
        if veil is not None:
            textures["cirrus"] = veil.result()
        if ground is not None:
            textures["ground_texture"] = ground.result()
            textures["patches"] = patches.result()
        textures["relief"], textures["sunlit"] = billows.result()
        return ComposedSky(c, **textures, horizon_bands=tuple(bands))

    @staticmethod
    def _band(
        pixels: np.ndarray | None,
        model: LoadedModel | None,
        band: HorizonSettings,
        tiles_done: Callable[[float], None] | None,
        cancel: CancelFn | None,
    ) -> HorizonBand:
        """A band image's band, a range of hills drawn from its seed, or the 360-degree band a
        landscape model draws (at its scale: exactly 360 degrees over the drawn width)."""
        if band.kind == "hills":
            return _hills.get(band, partial(_drawn_hills, band))
        if model is None:
            return HorizonBand(pixels, band)
        height, width = band_model_size(model, band)
        drawn = cached_tile(model, band.seed, band.styles, width, tiles_done, cancel, height)
        return HorizonBand(drawn, dataclasses.replace(band, degrees_per_pixel=None))


def _load(name: str, expected_hash: str, device: str) -> LoadedModel:
    model = load_model(name, device)
    _check_hash(name, expected_hash, model.hash, "model")
    return model


def _check_hash(name: str, expected: str, found: str, what: str) -> None:
    if expected and found != expected:
        raise RequestError(
            f"the recipe was made with {what} {expected[:12]} as {name!r}, "
            f"but that file is now {found[:12]}"
        )


def equirect_rays(width: int, rows: np.ndarray, columns: np.ndarray) -> Rays:
    """Directions of equirect pixel centres as rows (``Rays``); the first and last rows look
    exactly at the zenith and nadir, so each is one constant value (no pinch at the poles)."""
    height = width // 2
    rows = np.asarray(rows)
    elevation = np.radians(90.0 - (rows + 0.5) * 180.0 / height)[:, None]
    azimuth = np.radians((np.asarray(columns) + 0.5) * 360.0 / width - 180.0)[None, :]
    across = np.cos(elevation)
    across[(rows == 0) | (rows == height - 1)] = 0.0
    y = np.sin(elevation)
    y[rows == 0], y[rows == height - 1] = 1.0, -1.0
    return Rays(y, across * np.sin(azimuth), across * np.cos(azimuth))


def equirect_pixel_directions(width: int, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(rows, columns, 3) directions of ``equirect_rays``."""
    rays = equirect_rays(width, rows, columns)
    return np.stack(np.broadcast_arrays(rays.x, rays.y, rays.z), axis=-1)


def horizon_coverage(
    height: Callable[[np.ndarray, np.ndarray], np.ndarray], rows: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """(R, C) fraction of each pixel ``rows`` x ``columns`` above the horizon: its alpha over a
    transparent ground. ``height(r, c)`` is a function of fractional pixel coordinates (centres
    at i + 0.5) with the sign of the view's up component that is linear in them across the
    horizon (``SkyRenderer.height``). The coverage of a box pixel by a straight edge is then
    1/2 + h / (|dh/dc| + |dh/dr|), the differences over the pixel's width and height, clipped
    to 0..1: a function of the pixel alone, exact for a level horizon."""
    r = np.asarray(rows, dtype=np.float64)[:, None] + 0.5
    c = np.asarray(columns, dtype=np.float64)[None, :] + 0.5
    centre = np.broadcast_to(height(r, c), (r.shape[0], c.shape[1]))
    spread = np.abs(height(r, c + 0.5) - height(r, c - 0.5))
    spread = np.broadcast_to(spread + np.abs(height(r + 0.5, c) - height(r - 0.5, c)), centre.shape)
    ratio = np.divide(centre, spread, out=np.where(centre >= 0.0, 1.0, -1.0), where=spread > 0)
    alpha = np.clip(0.5 + ratio, 0.0, 1.0)
    alpha[alpha < 1e-9] = 0.0  # a horizon on a pixel's edge (an equirect's): no rounding dust
    alpha[alpha > 1.0 - 1e-9] = 1.0
    return alpha


def _level(rays: Rays, lift: np.ndarray) -> Rays:
    """``rays`` with the rows ``lift`` turned to the horizon at their azimuth (y = 0)."""
    y, x, z = rays.y.copy(), rays.x.copy(), rays.z.copy()
    across = np.hypot(x[lift], z[lift])
    x[lift] /= across
    z[lift] /= across
    y[lift] = 0.0
    return Rays(y, x, z)


class SkyRenderer(RowBandRenderer):
    """Rows of an equirect (or its window), of one cube ``face`` or of a matte strip (or its
    window), top to bottom in bands; with ``alpha`` (a recipe without ground) RGBA rows."""

    bands_ahead = 2
    """Two bands at once: their blocks share ``generator.sky.compose.block_pool``, so no core
    waits at the end of a band for the other's last block."""

    def __init__(
        self, layers: PreparedLayers, face: str | None = None, *, alpha: bool = False
    ) -> None:
        self.layers, self.recipe, self.face = layers, layers.recipe, face
        r = self.recipe
        if (face is None) == (r.projection == "cube"):
            raise RequestError("a cube face renders cube recipes; other projections have none")
        if alpha and r.composition.ground.kind != "none":
            raise RequestError("only a sky without ground (--ground none) has an alpha channel")
        self.alpha = alpha
        win = r.window
        self.rows = (win.y, win.y + win.height) if win else (0, r.height)
        wraps = r.projection == "equirect" or (r.camera is not None and r.camera.wraps)
        columns = np.arange(win.x, win.x + win.width) if win else np.arange(r.width)
        self.columns = np.mod(columns, r.width) if wraps else columns
        self.band_rows = max(1, BAND_PIXELS // len(self.columns))

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return self.rows[1] - self.rows[0], len(self.columns), 4 if self.alpha else 3

    def band_shape(self, index: int) -> tuple[int, int, int]:
        top, bottom = self.band_range(index)
        return bottom - top, len(self.columns), self.output_shape[2]

    @property
    def total_tiles(self) -> int:
        return (0 if self.layers.ready else self.layers.tiles) + self.band_count

    def rays(self, rows: np.ndarray) -> Rays:
        r = self.recipe
        if r.camera is not None:
            return strip_rays(r.projection, r.camera, r.width, rows, self.columns)
        if self.face is None:
            return equirect_rays(r.width, rows, self.columns)
        d = face_pixel_directions(self.face, r.width, rows)
        return Rays.of(d.reshape(-1, 3))

    def height(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """A function of fractional pixel coordinates (centres at i + 0.5) with the sign of the
        view's up component, linear in them across the horizon: the elevation (equirect), the
        unnormalised direction's up component (cube faces) or ``strip_height``."""
        r = self.recipe
        if r.camera is not None:
            return strip_height(r.projection, r.camera, r.width, rows, columns)
        if self.face is None:
            return 0.5 * math.pi - np.asarray(rows) * (math.pi / r.height)
        major, right, down = (axis[1] for axis in FACES[self.face])
        u, v = columns * (2.0 / r.width) - 1.0, rows * (2.0 / r.width) - 1.0
        return major + u * right + v * down

    def _radiance(
        self, sky: ComposedSky, rays: Rays, rows: np.ndarray, horizon: bool = True
    ) -> np.ndarray:
        """(R, C, 3) radiance toward the ``rays`` of ``rows``; an equirect's rows near the
        poles with their layers or ground computed at anchor columns and spread between them
        (``generator.sky.polar``)."""
        r = self.recipe
        if r.camera is not None or self.face is not None:
            return sky.radiance_of(rays, r.pixel_rad, horizon)
        below = rays.y[:, 0] < 0.0
        strides = column_strides(r.width, rows)
        if not sky.has_layers:  # above the horizon every pixel alone: the clear sky exactly
            strides = np.where(below, strides, 1)
        if np.all(strides == 1):
            return sky.radiance_of(rays, r.pixel_rad, horizon)
        out = np.empty((*rays.shape, 3), dtype=np.float32)
        for stride, side in {(int(k), bool(b)) for k, b in zip(strides, below, strict=True)}:
            part = np.nonzero((strides == stride) & (below == side))[0]
            seen = rays.take(part)
            if stride == 1:
                out[part] = sky.radiance_of(seen, r.pixel_rad, horizon)
                continue
            anchors, spread = anchors_and_spread(self.columns, stride, r.width)
            at = equirect_rays(r.width, rows[part], anchors)
            out[part] = sky.radiance_between(seen, at, spread, r.pixel_rad, horizon)
        return out

    def render_band(
        self,
        index: int,
        cancel: CancelFn | None = None,
        tiles_done: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        sky = self.layers.sky(tiles_done, cancel)
        if cancel is not None and cancel():
            raise Cancelled("render cancelled")
        top, bottom = self.band_range(index)
        rows = np.arange(top, bottom)
        rays = seen = self.rays(rows)
        shape = (bottom - top, len(self.columns))
        if not self.alpha:
            band = self._radiance(sky, rays, rows).reshape(*shape, 3)
        else:
            alpha = horizon_coverage(self.height, rows, self.columns)
            # a pixel partly above the horizon shows the sky just above it (straight colour)
            lift = (rays.y[:, 0] < 0.0) & (alpha.reshape(rays.shape).max(axis=1) > 0.0)
            if lift.any():
                seen = _level(rays, lift)
            colour = self._radiance(sky, seen, rows, horizon=False)
            alpha = alpha.reshape(rays.shape)
            colour[alpha == 0.0] = 0.0
            if sky.bands:  # the land over the sky: straight colour, its alpha added
                sky.horizon_over(rays, self.recipe.pixel_rad, colour, alpha)
            band = np.concatenate((colour, alpha.astype(np.float32)[..., None]), axis=-1)
            band = band.reshape(*shape, 4)
        if tiles_done is not None:
            tiles_done(1)
        return band


def lamp_json(lamp: SunLight) -> str:
    """The Sun lamp as stored in a file and printed: direction (the sky's frame: y up, z the
    image's centre), angular diameter (degrees), colour and strength (W/m^2)."""
    return json.dumps(dataclasses.asdict(lamp), sort_keys=True)


def _bit_depth(path: Path, recipe: SkyRecipe, bit_depth: int | None) -> int | None:
    """32-bit float for an EXR with the disc, whose radiance overflows half float."""
    disc = recipe.composition.sky.sun_disc and recipe.composition.sky.sun_elevation > -1.0
    if path.suffix.lower() != ".exr" or not disc:
        return bit_depth
    if bit_depth == 16:
        raise RequestError(
            "half float (--bit-depth 16) cannot hold the sun's disc: use 32, or leave the disc "
            "out (--no-disc) and light the scene with the Sun lamp"
        )
    return 32


def face_paths(path: str | os.PathLike) -> dict[str, Path]:
    """The six files of a cube map written for ``path``: NAME_px.EXT, NAME_nx.EXT, ..."""
    path = Path(path)
    return {face: path.with_name(f"{path.stem}_{face}{path.suffix}") for face in FACES}


def tone_map(radiance: np.ndarray, exposure: float, tone: str = DEFAULT_TONE) -> np.ndarray:
    """Display values (linear, 0..1, float32) of linear ``radiance`` (..., 3) exposed by
    ``exposure`` stops: ``standard`` clips at 1; ``shoulder`` equals it up to ``KNEE`` and then
    rolls off as KNEE + (1 - KNEE)(1 - exp(-(x - KNEE) / (1 - KNEE))), smooth at the knee and
    reaching 1 only at infinity; ``filmic`` is x (2.51 x + 0.03) / (x (2.43 x + 0.59) + 0.14),
    the rational fit to the ACES film look by K. Narkowicz (2015), white from x = 7.2. All
    three work per channel, so the brightest light turns white."""
    x = np.asarray(radiance, dtype=np.float32) * np.float32(2.0**exposure)
    if tone == "standard":
        return np.clip(x, 0.0, 1.0)
    if tone == "filmic":
        x = np.maximum(x, 0.0)
        curve = x * (np.float32(2.51) * x + np.float32(0.03))
        curve /= x * (np.float32(2.43) * x + np.float32(0.59)) + np.float32(0.14)
        return np.minimum(curve, np.float32(1.0))
    if tone != "shoulder":
        raise RequestError(f"unknown tone {tone!r}: use {' or '.join(TONES)}")
    x = np.maximum(x, 0.0)
    room = np.float32(1.0 - KNEE)
    rolled = np.float32(KNEE) + room * -np.expm1(-(x - np.float32(KNEE)) / room)
    return np.where(x <= KNEE, x, rolled).astype(np.float32)


def _dome_luminance(sky: ComposedSky) -> tuple[np.ndarray, np.ndarray]:
    """Luminance of ``sky``'s upper hemisphere on the meter's grid, and each direction's weight
    (its solid angle)."""
    columns, rows = METER_SIZE
    elevation = (np.arange(rows) + 0.5) * (0.5 * math.pi / rows)
    azimuth = (np.arange(columns) + 0.5) * (2.0 * math.pi / columns)
    across = np.cos(elevation)[:, None]
    rays = Rays(
        np.sin(elevation)[:, None].copy(), across * np.sin(azimuth), across * np.cos(azimuth)
    )
    radiance = sky.radiance_of(rays, 2.0 * math.pi / columns)
    luminance = np.maximum(radiance.astype(np.float64) @ REC709_LUMINANCE, 1e-9)
    return luminance, np.broadcast_to(across, luminance.shape)


def meter(sky: ComposedSky) -> float:
    """The exposure (stops) that makes the key of the sky's clear atmosphere ``CLEAR_KEY``:
    the log-average luminance of its upper hemisphere, the disc and the clouds left out, each
    direction weighted by its solid angle. It depends on the air and the sun alone, so every
    output of one sky (equirect, faces, strips looking anywhere) gets the same exposure, and so
    do its clear and lightly clouded versions: clouds show as bright as they are against the
    clear sky. With the sun 45-60° up it is 0.7-0.9 stop over a grey card's incident reading
    (the add-on's scene exposure; 0.4 stop at 30°): a photograph of the sky is exposed brighter
    than one of the land under it. With the sun low it is darker, keeping the glow's colour.
    Where the clouds would make the dome as a whole bright (an overcast deck, which would be
    white), it is lowered until the clouded dome's key lands at ``CLOUDED_KEY``: a light
    grey, as a camera shows a cloud deck."""
    c = sky.composition
    clear = SkyComposition(
        sky=dataclasses.replace(c.sky, sun_disc=False), ground=GroundSettings("none")
    )
    luminance, weight = _dome_luminance(ComposedSky(clear))
    key = math.exp(float((weight * np.log(luminance)).sum() / weight.sum()))
    exposure = math.log2(CLEAR_KEY / key)
    if sky.cloud_texture is not None or sky.cirrus_texture is not None:
        clouded = dataclasses.replace(clear, clouds=c.clouds, cirrus=c.cirrus)
        clouded_sky = ComposedSky(
            clouded,
            None,
            sky.cloud_texture,
            cloud_shadow=sky.cloud_shadow,
            cirrus=sky.cirrus_texture,
            relief=sky.relief,
            sunlit=sky.sunlit,
            air_shade=sky.air_shade,
        )  # the same sun and layers: the same shade, veil, billows and shaded air
        luminance, weight = _dome_luminance(clouded_sky)
        clouded_key = math.exp(float((weight * np.log(luminance)).sum() / weight.sum()))
        exposure = min(exposure, math.log2(CLOUDED_KEY / clouded_key))
    return round(exposure, 3)


def render_sky_to_file(
    recipe: SkyRecipe,
    path: str | os.PathLike,
    *,
    bit_depth: int | None = None,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[list[Path], SunLight]:
    """Render a composed sky into ``path`` (an equirect or a strip) or six ``face_paths(path)``
    (a cube), atomically: on a failure or cancellation no file of this call is left. Returns the
    files and the matching Sun lamp (dimmed by any cloud before the sun), which each file
    records too. Without ground the files have an alpha channel; 8/16-bit ones are exposed
    (the recipe's ``exposure``, else the meter's, then recorded in their recipe as
    ``metered``) and tone-mapped."""
    path = Path(path)
    layers = PreparedLayers(recipe, device)
    depth = _bit_depth(path, layers.recipe, bit_depth)
    faces = face_paths(path) if recipe.projection == "cube" else {None: path}
    for target in faces.values():
        check_output(target, depth)
    alpha = recipe.composition.ground.kind == "none"
    renderers = {face: SkyRenderer(layers, face, alpha=alpha) for face in faces}
    total = layers.tiles + sum(r.band_count for r in renderers.values())
    done = 0.0

    def tick(count: float) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    sky = layers.sky(tick, cancel)
    lamp = sky.sun_lamp()
    display = holds_display_values(path, depth)
    if display and layers.recipe.exposure is None and layers.recipe.metered is None:
        layers.recipe = layers.recipe.replace(metered=meter(sky))
    final = layers.recipe
    metadata = {SKY_KEY: final.to_json(), LAMP_KEY: lamp_json(lamp), "Software": SOFTWARE}
    written: list[Path] = []
    try:
        for face, target in faces.items():
            renderer = renderers[face]
            height, width, _ = renderer.output_shape
            with open_image_writer(
                target, width, height, bit_depth=depth, metadata=metadata, alpha=alpha, fast=True
            ) as w:
                top = renderer.rows[0]
                for band in renderer.bands(increments(tick), cancel):
                    rows = np.arange(top, top + len(band))
                    top += len(band)
                    if display:
                        band[..., :3] = tone_map(band[..., :3], final.exposure_stops, final.tone)
                    w.write_rows(band, band_dither(w, band, rows, renderer.columns))
                    del band
            written.append(target)
    except BaseException:
        for finished in written:
            finished.unlink(missing_ok=True)
        raise
    return written, lamp


def render_sky_array(
    recipe: SkyRecipe,
    *,
    device: str = "cpu",
    cancel: CancelFn | None = None,
    alpha: bool = False,
) -> np.ndarray:
    """The equirect or strip (or its window) as (h, w, 3), or the cube as (6, N, N, 3) in
    ``FACES`` order: float32 linear radiance; with ``alpha`` (a sky without ground) a fourth
    channel, the coverage, and straight colour at the horizon, as its files hold."""
    layers = PreparedLayers(recipe, device)
    if recipe.projection != "cube":
        return SkyRenderer(layers, alpha=alpha).render(cancel=cancel)
    faces = [SkyRenderer(layers, face, alpha=alpha).render(cancel=cancel) for face in FACES]
    return np.stack(faces)


def read_sky_recipe(path: str | os.PathLike) -> SkyRecipe:
    """The sky recipe of a file we wrote, or of a ``.json`` file."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            return SkyRecipe.from_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise BackdropError(f"cannot read {path}: {err}") from None
    text = read_metadata(path).get(SKY_KEY)
    if text is None:
        raise RequestError(f"{path} carries no composed-sky recipe")
    return SkyRecipe.from_json(text)
