"""Composed skies as images: the recipe, the renderers (equirect bands, cube faces) and files.

A ``SkyRecipe`` holds the composition and the output (an equirect of ``width`` x ``width / 2``,
or six cube faces of ``width``), and the models' hashes once rendered, so ``--recipe`` re-renders
it exactly. Files are streamed by row bands and atomic (``generator.imagefile``); each carries the
recipe and the matching Sun lamp. An EXR with the sun's disc is 32-bit float by default: the disc
is ~10^6 in these units and half float stops at 65504.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.errors import BackdropError, Cancelled, RequestError
from generator.imagefile import check_output, open_image_writer, read_metadata
from generator.modelfile import LoadedModel, load_model
from generator.progress import increments
from generator.recipe import MAX_SIDE, Window
from generator.render import CancelFn, ProgressFn, RowBandRenderer
from generator.sky.atmosphere import Rays, SkySettings, SunLight
from generator.sky.compose import ComposedSky, SkyComposition
from generator.sky.cubemap import FACES, face_pixel_directions
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

SKY_KEY = "endless-backdrops:sky"
LAMP_KEY = "endless-backdrops:sun-lamp"
SOFTWARE = "Endless Backdrops"
SKY_VERSION = 1
PROJECTIONS = ("equirect", "cube")
BAND_PIXELS = 1 << 20
"""Output pixels per band: memory stays flat for any size."""


@dataclass(frozen=True)
class SkyRecipe:
    """A composed sky and its output: an equirect ``width`` x ``width / 2`` (or a ``window``
    of it), or ``cube`` faces of ``width`` pixels."""

    composition: SkyComposition = dataclasses.field(default_factory=SkyComposition)
    width: int = 4096
    projection: str = "equirect"
    window: Window | None = None
    version: int = SKY_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or not 2 <= self.width <= MAX_SIDE:
            raise RequestError(f"the width must be a whole number of pixels, 2..{MAX_SIDE}")
        if self.projection not in PROJECTIONS:
            raise RequestError(f"unknown projection {self.projection!r}: use equirect or cube")
        if self.projection == "equirect" and self.width % 2:
            raise RequestError("an equirect sky is 2:1: give an even width")
        if self.window is not None:
            w = self.window
            if self.projection == "cube":
                raise RequestError("a window is a part of an equirect sky, not of cube faces")
            if w.width < 1 or w.height < 1 or w.y < 0 or w.y + w.height > self.height:
                raise RequestError("an equirect window must lie within the sphere's rows")

    @property
    def height(self) -> int:
        return self.width // 2 if self.projection == "equirect" else self.width

    @property
    def pixel_rad(self) -> float:
        """The output's angular pixel size: what the footprint filter and the disc follow."""
        return (
            2.0 * math.pi / self.width
            if self.projection == "equirect"
            else 0.5 * math.pi / self.width
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SkyRecipe:
        try:
            data = json.loads(text)
            if data.get("version", SKY_VERSION) > SKY_VERSION:
                raise RequestError("this sky was made by a newer version of Endless Backdrops")
            parts = data["composition"]
            clouds = parts.get("clouds")
            composition = SkyComposition(
                sky=SkySettings(**parts["sky"]),
                clouds=None if clouds is None else CloudSettings(**clouds),
                ground=GroundSettings(**parts["ground"]),
            )
            window = data.get("window")
            return cls(
                composition=composition,
                width=data["width"],
                projection=data["projection"],
                window=None if window is None else Window(**window),
            )
        except RequestError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise RequestError(f"not a valid sky recipe ({err})") from None

    def replace(self, **changes) -> SkyRecipe:
        return dataclasses.replace(self, **changes)


class PreparedLayers:
    """Loads the recipe's models (checking hashes) at once, so mistakes fail before a file is
    opened; renders their tiles and builds the composition on first use."""

    def __init__(self, recipe: SkyRecipe, device: str = "cpu") -> None:
        composition = recipe.composition
        self.models: dict[str, LoadedModel] = {}
        ground, clouds = composition.ground, composition.clouds
        if ground.kind == "model":
            self.models["ground"] = _load(ground.source, ground.model_hash, device)
            ground = dataclasses.replace(ground, model_hash=self.models["ground"].hash)
        elif ground.kind == "colour":
            ground.colour()  # a malformed colour fails now
        self.cloud_map: np.ndarray | None = None
        if clouds is not None and clouds.cover > 0.0 and is_image(clouds.model):
            self.cloud_map, digest = image_tile(clouds.model, clouds.tile)
            _check_hash(clouds.model, clouds.model_hash, digest, "cloud map")
            clouds = dataclasses.replace(clouds, model_hash=digest)
        elif clouds is not None and clouds.cover > 0.0:
            self.models["clouds"] = _load(clouds.model, clouds.model_hash, device)
            clouds = dataclasses.replace(clouds, model_hash=self.models["clouds"].hash)
        self.recipe = recipe.replace(
            composition=dataclasses.replace(composition, ground=ground, clouds=clouds)
        )
        self._sky: ComposedSky | None = None

    @property
    def ready(self) -> bool:
        """Whether the tiles are rendered and the composition built."""
        return self._sky is not None

    @property
    def tiles(self) -> int:
        """Progress units of the layers' tiles."""
        c = self.recipe.composition
        sizes = {"ground": c.ground.tile, "clouds": c.clouds.tile if c.clouds else 0}
        return sum(tile_count(m, sizes[name]) for name, m in self.models.items())

    def sky(
        self, tiles_done: Callable[[float], None] | None = None, cancel: CancelFn | None = None
    ) -> ComposedSky:
        if self._sky is None:
            c = self.recipe.composition
            textures = {}
            if "ground" in self.models:
                g = c.ground
                tile = model_tile(
                    self.models["ground"], g.seed, g.styles, g.tile, tiles_done, cancel
                )
                textures["ground_texture"] = ground_texture(tile, g)
            if "clouds" in self.models:
                k = c.clouds
                tile = model_tile(
                    self.models["clouds"], k.seed, k.styles, k.tile, tiles_done, cancel
                )
                textures["cloud_texture"] = cloud_texture(tile, k)
            if self.cloud_map is not None:
                textures["cloud_texture"] = cloud_texture(self.cloud_map, c.clouds)
            self._sky = ComposedSky(c, **textures)
        return self._sky


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


class SkyRenderer(RowBandRenderer):
    """Rows of an equirect (or its window) or of one cube ``face``, top to bottom in bands."""

    def __init__(self, layers: PreparedLayers, face: str | None = None) -> None:
        self.layers, self.recipe, self.face = layers, layers.recipe, face
        r = self.recipe
        if (face is None) != (r.projection == "equirect"):
            raise RequestError("a cube face renders cube recipes; equirect ones have none")
        win = r.window
        self.rows = (win.y, win.y + win.height) if win else (0, r.height)
        self.columns = (
            np.mod(np.arange(win.x, win.x + win.width), r.width) if win else np.arange(r.width)
        )
        self.band_rows = max(1, BAND_PIXELS // len(self.columns))

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return self.rows[1] - self.rows[0], len(self.columns), 3

    @property
    def total_tiles(self) -> int:
        return (0 if self.layers.ready else self.layers.tiles) + self.band_count

    def rays(self, rows: np.ndarray) -> Rays:
        if self.face is None:
            return equirect_rays(self.recipe.width, rows, self.columns)
        d = face_pixel_directions(self.face, self.recipe.width, rows)
        return Rays.of(d.reshape(-1, 3))

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
        band = sky.radiance_of(self.rays(np.arange(top, bottom)), self.recipe.pixel_rad)
        band = band.reshape(bottom - top, len(self.columns), 3)
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


def render_sky_to_file(
    recipe: SkyRecipe,
    path: str | os.PathLike,
    *,
    bit_depth: int | None = None,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[list[Path], SunLight]:
    """Render a composed sky into ``path`` (an equirect) or six ``face_paths(path)`` (a cube),
    atomically: on a failure or cancellation no file of this call is left. Returns the files and
    the matching Sun lamp (dimmed by any cloud before the sun), which each file records too."""
    path = Path(path)
    layers = PreparedLayers(recipe, device)
    depth = _bit_depth(path, layers.recipe, bit_depth)
    faces = face_paths(path) if recipe.projection == "cube" else {None: path}
    for target in faces.values():
        check_output(target, depth)
    renderers = {face: SkyRenderer(layers, face) for face in faces}
    total = layers.tiles + sum(r.band_count for r in renderers.values())
    done = 0.0

    def tick(count: float) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    lamp = layers.sky(tick, cancel).sun_lamp()
    metadata = {SKY_KEY: layers.recipe.to_json(), LAMP_KEY: lamp_json(lamp), "Software": SOFTWARE}
    written: list[Path] = []
    try:
        for face, target in faces.items():
            renderer = renderers[face]
            height, width, _ = renderer.output_shape
            with open_image_writer(target, width, height, bit_depth=depth, metadata=metadata) as w:
                for band in renderer.bands(increments(tick), cancel):
                    w.write_rows(band)
                    del band
            written.append(target)
    except BaseException:
        for finished in written:
            finished.unlink(missing_ok=True)
        raise
    return written, lamp


def render_sky_array(
    recipe: SkyRecipe, *, device: str = "cpu", cancel: CancelFn | None = None
) -> np.ndarray:
    """The equirect (or its window) as (h, w, 3), or the cube as (6, N, N, 3) in ``FACES``
    order: float32 linear radiance."""
    layers = PreparedLayers(recipe, device)
    if recipe.projection == "equirect":
        return SkyRenderer(layers).render(cancel=cancel)
    return np.stack([SkyRenderer(layers, face).render(cancel=cancel) for face in FACES])


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
