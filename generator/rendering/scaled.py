"""Flat canvases at ``scale`` x the native scale: the same scene, with more detail.

A 16384 x 2048 matte painting from a model whose frame is 256 px tall would otherwise be a strip
of tiny features; at ``scale`` 8 it is the native canvas of 2048 x 256 px, doubled three times
by the model's super-resolution stage (or by exact cubic upsampling when it has none). Output
pixel P of the final stage comes from native pixel P >> stages, so positions stay global: each
band of output rows renders the native rows it needs (plus the stage's margin at every pass)
as a window of the native canvas, and runs the passes on real canvas only, never on padding.
Bands, windows, wrap and ``extend`` are therefore exact, and memory is bounded by a band.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from generator.errors import Cancelled, RequestError
from generator.files.colorspace import linear_to_model, model_to_linear
from generator.files.modelfile import LoadedModel
from generator.files.recipe import Recipe, Window
from generator.network.superres import SuperResolution, cubic_stage, upscale_region
from generator.rendering.render import CancelFn, CanvasRenderer, RowBandRenderer

BAND_PIXELS = 1 << 21
"""Output pixels per band (24 MiB of float32 RGB)."""


class ScaledRenderer(RowBandRenderer):
    """Renders a flat recipe whose ``scale`` is above 1 (see the module docstring)."""

    def __init__(self, model: LoadedModel, recipe: Recipe, **options) -> None:
        scale, ppc = recipe.scale, model.config.pixels_per_cell
        if recipe.projection != "flat" or scale < 2:
            raise RequestError("ScaledRenderer needs a flat recipe with scale >= 2")
        for axis, size, start in (
            ("x", recipe.width, recipe.left),
            ("y", recipe.height, recipe.top),
        ):
            if axis in recipe.wrap and (size % (scale * ppc) or start % scale):
                raise RequestError(
                    f"a canvas that wraps along {axis} at scale {scale} needs a size that is a "
                    f"multiple of {scale * ppc} pixels"
                )
        self.model, self.recipe, self.options = model, recipe, options
        self.stages = scale.bit_length() - 1
        use_stage = model.superres is not None and recipe.superres
        self.net: SuperResolution = model.superres if use_stage else cubic_stage()
        self.native = recipe.replace(
            width=recipe.width // scale if "x" in recipe.wrap else recipe.width,
            height=recipe.height // scale if "y" in recipe.wrap else recipe.height,
            left=recipe.left // scale,
            top=recipe.top // scale,
            scale=1,
            window=None,
        )
        CanvasRenderer(model, self.native, **options)  # validates the native canvas up front
        win = recipe.window or Window(0, 0, recipe.width, recipe.height)
        self.rows = (recipe.top + win.y, recipe.top + win.y + win.height)
        self._cols = (recipe.left + win.x, recipe.left + win.x + win.width)
        rows = max(8 * scale, BAND_PIXELS // win.width)
        self.band_rows = rows - rows % scale

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return self.rows[1] - self.rows[0], self._cols[1] - self._cols[0], 3

    @property
    def total_tiles(self) -> int:
        """Progress units: one per band."""
        return self.band_count

    def render_band(
        self,
        index: int,
        cancel: CancelFn | None = None,
        tiles_done: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """Output rows of band ``index`` in linear light (global rows, window columns)."""
        top, bottom = self.band_range(index)
        m = self.net.config.margin
        (r0, r1), (c0, c1) = (
            _native_span(top, bottom, self.stages, m),
            _native_span(*self._cols, self.stages, m),
        )
        native = self.native
        window = Window(c0 - native.left, r0 - native.top, c1 - c0, r1 - r0)
        canvas = CanvasRenderer(self.model, native.replace(window=window), **self.options)
        pixels = linear_to_model(canvas.render(cancel=cancel), self.model.config)
        for stage in range(self.stages):
            if cancel is not None and cancel():
                raise Cancelled("render cancelled")
            period = tuple(
                (size << stage) if axis in native.wrap else None
                for axis, size in (("y", native.height), ("x", native.width))
            )
            pixels = upscale_region(
                self.net, pixels, r0, c0, seed=self.recipe.seed, stage=stage, period=period
            )
            r0, c0 = 2 * (r0 + m), 2 * (c0 + m)  # where this pass's output starts
        band = pixels[top - r0 : bottom - r0, self._cols[0] - c0 : self._cols[1] - c0]
        if tiles_done is not None:
            tiles_done(1)
        return model_to_linear(band, self.model.config)


def _native_span(start: int, end: int, stages: int, margin: int) -> tuple[int, int]:
    """Native pixels [a, b) whose ``stages`` passes cover output pixels [start, end)."""
    for _ in range(stages):
        start, end = start // 2 - margin, -(-end // 2) + margin
    return start, end
