"""360-degree skies from sphere models: the native sphere, resampled to the requested size.

A sphere model (``ModelConfig.sphere``) was trained on whole equirect panoramas, so its native
frame already is the full sphere: a bigger equirect canvas at native scale would only repeat the
sky, it could not add detail. An equirect request is therefore drawn as the native frame (exactly
tiled, wrapped horizontally), doubled by the model's super-resolution stage while the request is
at least twice as wide (``generator.network.superres``: new detail, still exact and wrapped), and
resampled to the requested size in the model's own space (log radiance for HDR models, so no
negative light), band by band; the poles are softened at the output's resolution and the
recipe's sun, if any, is added (``generator.rendering.sun``). Any band or window equals the same
pixels of the whole output.

``generator.rendering.pick.make_renderer`` picks this renderer for a sky model's equirect recipe;
it offers the same interface as the other two.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from generator.errors import Cancelled, RequestError
from generator.files.colorspace import linear_to_model, model_to_linear
from generator.files.modelfile import LoadedModel
from generator.files.recipe import Recipe
from generator.network.superres import band_count, upscale
from generator.rendering.poles import soften_poles
from generator.rendering.progress import increments
from generator.rendering.render import CancelFn, CanvasRenderer, RowBandRenderer, is_sphere_request
from generator.rendering.resample import resample_rows
from generator.rendering.sun import add_sun

BAND_PIXELS = 1 << 21
"""Output pixels per band (24 MiB of float32 RGB): memory stays flat for any output size."""
SUPERRES_MAX_WIDTH = 4096
"""Widest sphere the super-resolution passes make (100 MiB in memory); wider requests resample
it, so a 16384 x 8192 sky needs no more memory than a 4096 x 2048 one."""


def native_sphere_recipe(model: LoadedModel, recipe: Recipe) -> Recipe:
    """The canvas a sphere model draws for an equirect recipe: its native frame, wrapping in x."""
    height, width = model.config.native_frame
    return recipe.replace(
        width=width,
        height=height,
        left=0,
        top=0,
        wrap="x",
        projection="flat",
        window=None,
        sun=None,
    )


class SphereRenderer(RowBandRenderer):
    """Renders an equirect recipe with a sphere model (see the module docstring)."""

    def __init__(self, model: LoadedModel, recipe: Recipe, **options) -> None:
        if not is_sphere_request(model, recipe):
            raise RequestError("SphereRenderer needs an equirect recipe and a sphere model")
        self.model, self.recipe, self.config = model, recipe, model.config
        self.native = CanvasRenderer(model, native_sphere_recipe(model, recipe), **options)
        win = recipe.window
        self.rows = (win.y, win.y + win.height) if win else (0, recipe.height)
        if win is not None and (win.y < 0 or win.y + win.height > recipe.height):
            raise RequestError("an equirect window must lie within the sphere's rows")
        self._columns = np.mod(np.arange(win.x, win.x + win.width), recipe.width) if win else None
        self.band_rows = max(1, BAND_PIXELS // recipe.width)
        self._canvas: np.ndarray | None = None

    @property
    def output_shape(self) -> tuple[int, int, int]:
        width = self.recipe.width if self._columns is None else len(self._columns)
        return self.rows[1] - self.rows[0], width, 3

    @property
    def total_tiles(self) -> int:
        """Progress units: the native canvas's tiles, the super-resolution bands, then one per
        output band."""
        return self.native.total_tiles + sum(self._superres_bands()) + self.band_count

    def _superres_bands(self) -> list[int]:
        height, width = self.native.recipe.height, self.native.recipe.width
        counts = []
        for stage in range(self.superres_stages):
            counts.append(band_count(self.model.superres, height << stage, width << stage))
        return counts

    @property
    def superres_stages(self) -> int:
        """x2 super-resolution passes before resampling: while the doubled sphere is no wider
        than the request (and ``SUPERRES_MAX_WIDTH``), if the model has the stage and the
        recipe wants it."""
        if self.model.superres is None or not self.recipe.superres:
            return 0
        width, stages = self.native.recipe.width, 0
        while 2 * width <= min(self.recipe.width, SUPERRES_MAX_WIDTH):
            width, stages = 2 * width, stages + 1
        return stages

    def native_canvas(
        self, cancel: CancelFn | None = None, tiles_done: Callable[[float], None] | None = None
    ) -> np.ndarray:
        """The sphere in the model's space (h, w, 3) before resampling: the native frame, then
        the super-resolution passes; rendered once and kept."""
        if self._canvas is None:
            linear = self.native.render(increments(tiles_done), cancel)
            canvas = linear_to_model(linear, self.config)
            for stage in range(self.superres_stages):
                canvas = upscale(
                    self.model.superres, canvas, seed=self.recipe.seed, stage=stage,
                    wrap=(False, True), cancel=cancel,
                    band_done=None if tiles_done is None else lambda: tiles_done(1),
                )  # fmt: skip
            self._canvas = canvas
        return self._canvas

    def render_band(
        self,
        index: int,
        cancel: CancelFn | None = None,
        tiles_done: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """Output band ``index`` (``band_rows`` rows, the last one shorter), finished."""
        canvas = self.native_canvas(cancel, tiles_done)
        if cancel is not None and cancel():
            raise Cancelled("render cancelled")
        top, bottom = self.band_range(index)
        r = self.recipe
        band = resample_rows(canvas, r.height, r.width, (top, bottom), wrap_x=True)
        band = soften_poles(model_to_linear(band, self.config), top, r.height)
        if self._columns is not None:
            band = band[:, self._columns]
        if r.sun is not None:
            columns = np.arange(r.width) if self._columns is None else self._columns
            band = add_sun(band, r.sun, np.arange(top, bottom), columns, r.width, r.height)
        if tiles_done is not None:
            tiles_done(1)
        return band
