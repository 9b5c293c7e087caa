"""The recipe: everything needed to reproduce or extend a render exactly.

A pixel is a pure function of (model, recipe, global pixel position). The canvas is a rectangle of
global pixel positions; extending it (same seed, styles and wrap) leaves the pixels it shares with
the old canvas identical. Every output file embeds its recipe as JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import numbers
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generator.errors import RequestError
from generator.network.config import ModelConfig

RECIPE_KEY = "endless-backdrops:recipe"
RECIPE_VERSION = 1
WRAP_MODES = ("none", "x", "xy")
PROJECTIONS = ("flat", "equirect")
SCALES = (1, 2, 4, 8)
MAX_SIDE = 1 << 18
"""Largest canvas or window side accepted, in pixels."""
MAX_PIXELS = 1 << 32
"""Largest canvas or window area accepted (4 gigapixels: 64 GB as a float32 array)."""


def whole_number(value: Any) -> int | None:
    """``value`` as an int if it is one of any integer type (numpy's too), else None: a bool,
    a float or a string is a caller's mistake (a seed of 7.9 is not 7), worth a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


@dataclass(frozen=True)
class Style:
    """A global latent zg (from ``seed``) placed at an anchor in global latent cells.

    ``y`` None means a vertical band: only the horizontal distance to the anchor counts. ``zg``,
    when given (a photo's inverted style), is used instead of the seed's vector.
    """

    seed: int
    x: float = 0.0
    y: float | None = None
    zg: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        seed = whole_number(self.seed)
        if seed is None:
            raise RequestError(f"a style's seed must be a whole number, got {self.seed!r}")
        object.__setattr__(self, "seed", seed)
        if self.zg is not None:
            object.__setattr__(self, "zg", tuple(float(v) for v in self.zg))


@dataclass(frozen=True)
class LatentPatch:
    """Explicit local latents zl for global latent cells [top, top + height) x [left, left +
    width), replacing the seed's values there (a photo's inversion). Stored compactly in the
    recipe as base64 of zlib-compressed little-endian float16 (channels, height, width); the
    stored (rounded) values are the truth, so a re-render is exact."""

    top: int
    left: int
    height: int
    width: int
    data: str

    @classmethod
    def from_array(cls, top: int, left: int, values: np.ndarray) -> LatentPatch:
        half = np.ascontiguousarray(values, dtype="<f2")
        packed = base64.b64encode(zlib.compress(half.tobytes(), 9)).decode("ascii")
        return cls(int(top), int(left), int(values.shape[1]), int(values.shape[2]), packed)

    def values(self, channels: int) -> np.ndarray:
        """(channels, height, width) float32; a RequestError if the data does not fit."""
        try:
            raw = zlib.decompress(base64.b64decode(self.data.encode("ascii"), validate=True))
        except (ValueError, zlib.error):
            raise RequestError("the recipe's local latents are damaged") from None
        if len(raw) != 2 * channels * self.height * self.width:
            raise RequestError(
                f"the recipe's local latents do not fit this model ({channels} channels of "
                f"{self.height}x{self.width} cells expected)"
            )
        values = np.frombuffer(raw, dtype="<f2").reshape(channels, self.height, self.width)
        return values.astype(np.float32)


@dataclass(frozen=True)
class Sun:
    """A sun disc added to a 360-degree sky (see ``generator.rendering.sun``).

    ``azimuth`` in degrees from the image's centre column, positive to the right; ``elevation``
    in degrees above the horizon; ``stops``: the disc's radiance is 2 ** stops (the sky model's
    median sky is around 2 ** -3); ``size``: the disc's angular diameter in degrees.
    """

    azimuth: float
    elevation: float
    stops: float = 15.0
    size: float = 0.53

    def __post_init__(self) -> None:
        problems = []
        if not -360.0 <= self.azimuth <= 360.0:
            problems.append("the sun's azimuth must be within -360..360 degrees")
        if not -90.0 <= self.elevation <= 90.0:
            problems.append("the sun's elevation must be within -90..90 degrees")
        if not 0.0 <= self.stops <= 24.0:
            problems.append("the sun's brightness must be 0..24 stops")
        if not 0.05 <= self.size <= 20.0:
            problems.append("the sun's size must be 0.05..20 degrees")
        if problems:
            raise RequestError("; ".join(problems))


@dataclass(frozen=True)
class Window:
    """A sub-rectangle of the canvas, in canvas pixels (may cross a wrapped seam)."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("x", "y", "width", "height"):
            value = whole_number(getattr(self, name))
            if value is None:
                raise RequestError(
                    f"window {name} must be a whole number, got {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Recipe:
    """What to render. ``left``/``top`` place the canvas in global pixels."""

    model_hash: str
    seed: int
    width: int
    height: int
    left: int = 0
    top: int = 0
    wrap: str = "none"
    projection: str = "flat"
    styles: tuple[Style, ...] = ()
    blend: float = 8.0
    """Width of style transitions, in latent cells."""
    window: Window | None = None
    local_latents: LatentPatch | None = None
    """Explicit zl for some cells (from inverting a photo); the seed's everywhere else."""
    superres: bool = True
    """Use the model's super-resolution stage (if it has one) above native scale."""
    scale: int = 1
    """Output pixels per native pixel of a flat canvas (1, 2, 4, 8): the same scene with that
    much more detail. Position, size and window are in output pixels."""
    sun: Sun | None = None
    """A sun disc added to a 360-degree sky (equirect only)."""
    version: int = RECIPE_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        for name in ("seed", "left", "top", "scale"):
            value = whole_number(getattr(self, name))
            if value is None:
                problems.append(f"{name} must be a whole number, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        for name in ("width", "height"):
            value = whole_number(getattr(self, name))
            if value is None or not 1 <= value <= MAX_SIDE:
                problems.append(f"{name} must be a whole number of pixels from 1 to {MAX_SIDE}")
            else:
                object.__setattr__(self, name, value)
        if isinstance(self.window, Sequence) and len(self.window) == 4:
            object.__setattr__(self, "window", Window(*self.window))
        if not problems and self.width * self.height > MAX_PIXELS:
            problems.append(
                f"{self.width}x{self.height} is over the {MAX_PIXELS >> 30} gigapixel limit"
            )
        if self.wrap not in WRAP_MODES:
            problems.append(f"unknown wrap {self.wrap!r}: choose one of {', '.join(WRAP_MODES)}")
        if self.projection not in PROJECTIONS:
            problems.append(f"unknown projection {self.projection!r}: use {', '.join(PROJECTIONS)}")
        if self.projection == "equirect":
            if self.wrap != "x":
                problems.append("an equirect canvas wraps horizontally: use wrap 'x'")
            if self.width != 2 * self.height:
                problems.append("an equirect canvas is 2:1 (width = 2 x height)")
        if isinstance(self.blend, bool) or not isinstance(self.blend, numbers.Real):
            problems.append(f"blend must be a number of latent cells, got {self.blend!r}")
        elif not self.blend > 0:
            problems.append("blend must be > 0 latent cells")
        else:
            object.__setattr__(self, "blend", float(self.blend))
        if self.scale is not None and self.scale not in SCALES:
            problems.append(f"scale must be one of {', '.join(map(str, SCALES))}")
        elif self.scale > 1 and self.projection == "equirect":
            problems.append("a sky's scale follows its width: leave scale at 1")
        if self.sun is not None and self.projection != "equirect":
            problems.append("a sun goes in a 360-degree sky: use the equirect projection")
        if self.window is not None and not isinstance(self.window, Window):
            problems.append(f"window must be a Window(x, y, width, height), got {self.window!r}")
        elif self.window is not None:
            w = self.window
            if w.width < 1 or w.height < 1 or w.width > MAX_SIDE or w.height > MAX_SIDE:
                problems.append("window width and height must be at least 1 pixel")
        if problems:
            raise RequestError("; ".join(problems))

    @property
    def style_list(self) -> tuple[Style, ...]:
        """The styles to use: the recipe's, or one style from ``seed``."""
        return self.styles or (Style(self.seed),)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        try:
            data = json.loads(text)
            data["styles"] = tuple(Style(**s) for s in data.get("styles", ()))
            if data.get("window") is not None:
                data["window"] = Window(**data["window"])
            if data.get("local_latents") is not None:
                data["local_latents"] = LatentPatch(**data["local_latents"])
            if data.get("sun") is not None:
                data["sun"] = Sun(**data["sun"])
            if data.get("version", RECIPE_VERSION) > RECIPE_VERSION:
                raise RequestError("this recipe was made by a newer version of Endless Backdrops")
            return cls(**data)
        except RequestError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise RequestError(f"not a valid recipe ({err})") from None

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)


def extended(
    recipe: Recipe, left: int = 0, top: int = 0, right: int = 0, bottom: int = 0
) -> Recipe:
    """The same picture on a larger canvas: shared pixels stay identical.

    Wrapped axes cannot grow (their period is the canvas size); an equirect canvas is a full
    sphere already.
    """
    if min(left, top, right, bottom) < 0:
        raise RequestError("extensions must be >= 0 pixels")
    if recipe.projection == "equirect" and (left or top or right or bottom):
        raise RequestError("an equirect sky already covers the whole sphere: it cannot be extended")
    if "x" in recipe.wrap and (left or right):
        raise RequestError("this canvas wraps horizontally; it can only be extended up or down")
    if recipe.wrap == "xy" and (top or bottom):
        raise RequestError("this canvas wraps in both directions; it cannot be extended")
    return recipe.replace(
        left=recipe.left - left,
        top=recipe.top - top,
        width=recipe.width + left + right,
        height=recipe.height + top + bottom,
        window=None,
    )


def auto_scale(
    config: ModelConfig, width: int | None, height: int | None, wrap: str = "none"
) -> int:
    """The scale that fits the model's native frame to the request: to its height for a matte
    painting (the frame is the full scene's height), to its width for a texture that tiles both
    ways (the frame is one tile); the largest of ``SCALES`` that does not exceed it."""
    frame_height, frame_width = config.native_frame
    ratio = (width or 0) / frame_width if wrap == "xy" else (height or 0) / frame_height
    return max([s for s in SCALES if s <= ratio], default=1)


def new_recipe(
    config: ModelConfig,
    model_hash: str,
    width: int,
    height: int,
    *,
    seed: int = 0,
    wrap: str | None = None,
    projection: str | None = None,
    style_seeds: Sequence[int] = (),
    anchors: Sequence[tuple[float, float]] | None = None,
    blend: float | None = None,
    window: Window | None = None,
    scale: int = 1,
) -> Recipe:
    """A recipe for a fresh canvas, vertically centred on the model's native frame (the horizon).

    As the command line does, a sky model (``config.sphere``) asked for no particular ``wrap``
    or ``projection`` draws a 360-degree sky (equirect, wrapping in x); other models draw a flat
    canvas without wrap.

    ``scale`` > 1 (flat canvases) draws the scene ``scale`` times larger: the canvas is
    ``width / scale`` native pixels wide, detailed by super-resolution.

    ``style_seeds``: one sets the global style while ``seed`` keeps setting the local latents and
    noise (same layout, another look); two or more fuse styles: evenly spaced vertical bands left
    to right (around the horizon when wrapped), or at ``anchors`` given as (x, y) fractions of the
    canvas. ``blend`` is the transition width in latent cells (default: half the distance between
    anchors).
    """
    if projection is None:
        projection = "equirect" if config.sphere and wrap is None else "flat"
    if wrap is None:
        wrap = "x" if projection == "equirect" else "none"
    for name, value in (("width", width), ("height", height)):
        if whole_number(value) is None:
            raise RequestError(f"{name} must be a whole number of pixels, got {value!r}")
    if whole_number(scale) not in SCALES:
        raise RequestError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale!r}")
    if anchors is not None and len(style_seeds) < 2:
        raise RequestError("anchors place two or more styles: give as many style seeds")
    ppc = config.pixels_per_cell
    top = (config.native_frame[0] * scale - height) // 2
    cells_w, cells_h = width / (ppc * scale), height / (ppc * scale)
    if projection == "equirect" and config.sphere:  # drawn as the native sphere, then resampled
        top, cells_w, cells_h = 0, config.native_width, config.native_height
    styles: tuple[Style, ...] = ()
    if len(style_seeds) == 1:
        styles = (Style(style_seeds[0]),)
    elif style_seeds:
        n = len(style_seeds)
        if anchors is None:
            points = [((i + 0.5) / n, None) for i in range(n)]
        elif len(anchors) != n:
            raise RequestError(f"{n} styles need {n} anchors, got {len(anchors)}")
        else:
            points = list(anchors)
        styles = tuple(
            Style(
                s,
                x=round(fx * cells_w, 6),
                y=None if fy is None else round(top / (ppc * scale) + fy * cells_h, 6),
            )
            for s, (fx, fy) in zip(style_seeds, points, strict=True)
        )
        if blend is None:
            spacing = cells_w / n if anchors is None else 0.5 * (cells_w * cells_h / n) ** 0.5
            blend = max(1.0, 0.5 * spacing)
    return Recipe(
        model_hash=model_hash,
        seed=seed,
        width=width,
        height=height,
        left=0,
        top=top,
        wrap=wrap,
        projection=projection,
        styles=styles,
        blend=8.0 if blend is None else blend,
        window=window,
        scale=scale,
    )
