"""The canvas renderer: any canvas, or any window of one, by independent batched tiles.

A tile is a square of latent cells. Its pixels are computed from the latent span the network needs
(``geometry.required_latent_span``) and cropped to the tile; because the network is padding-free
and every position-dependent input is looked up by global position, the result is the same whatever
the tile size, batch, order or window. Rows come out in bands (one tile row at a time), so a file
writer can stream them and memory stays bounded by a band, not the canvas.

Unless given, the tile size comes from a memory budget (``generator.rendering.planning``): the
largest tile whose working memory plus one output band fits, since a larger tile recomputes less
halo. The plan depends only on the model, the canvas and the budget, so every run cuts a canvas the
same way. ``precision`` 'bf16' (CPU or CUDA) or 'fp16' (CUDA, MPS) runs the convolutions in
autocast; tiles then agree within ``PRECISION_TOLERANCE`` instead of fp32's 1e-5.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from generator.errors import Cancelled, RequestError
from generator.files.colorspace import model_to_output
from generator.files.modelfile import LoadedModel
from generator.files.recipe import Recipe, Style
from generator.network.config import ModelConfig
from generator.network.coordinates import coordinate_period, encode_coordinates
from generator.network.fusion import fusion_weights
from generator.network.geometry import Rect, required_latent_span
from generator.network.latents import (
    LOCAL_LATENT_STREAM,
    NOISE_STREAM_BASE,
    NormalField,
    PatchedField,
    global_latent,
    position_normals,
)
from generator.rendering.heap import kept_heap
from generator.rendering.planning import plan_tiles, synthesis_layer_progress, tiles_in_flight
from generator.rendering.poles import soften_poles
from generator.rendering.workers import TilePool, abandon, cpu_workers, run_all, wait_all

DEFAULT_TILE: int | None = None
"""None: chosen from the memory budget (``planning.plan_tiles``)."""
DEFAULT_BATCH: int | None = None
"""None: one tile per batch (tiles are already as large as the budget allows)."""
PRECISIONS = ("fp32", "bf16", "fp16")
PRECISION_TOLERANCE = {"fp32": 1e-5, "bf16": 1e-3, "fp16": 1e-2}
"""Largest difference between tilings of one canvas, in linear light (values of 0..1). Measured
on a CPU: fp32 ~4e-6 (tiny) to ~2e-5 (``cpu`` preset), bf16 ~1e-6 (the rounding to bf16 hides the
convolutions' order differences). fp16 is untested here (no GPU). Against fp32, bf16 differs by
~4e-3 on average and up to ~0.15 at a few saturated pixels (untrained ``cpu`` preset)."""
PRECISION_KEY = "precision"
"""Where a recipe's ``extra`` records a precision other than fp32."""
ProgressFn = Callable[[float, int], None]
"""``progress(done, total)``: tiles done so far, counting the finished layers of tiles in progress
(in 1/64ths of a tile, so a render with few large tiles still moves and its time left can be
estimated), and the total; ``done`` reaches ``total`` exactly."""
PROGRESS_STEPS = 64
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class PixelRegion:
    """Global pixel rows [top, top+height) and columns [left, left+width)."""

    top: int
    left: int
    height: int
    width: int


class BandRenderer:
    """Rows top to bottom in bands: subclasses give ``output_shape``, ``band_count``,
    ``total_tiles`` (progress units) and ``render_band``; the rest follows from them."""

    output_shape: tuple[int, int, int]
    band_count: int
    total_tiles: int
    bands_ahead = 1
    """Bands computed at once, on threads of their own, while the caller takes the last one."""

    def render_band(
        self,
        index: int,
        cancel: CancelFn | None = None,
        tiles_done: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        raise NotImplementedError

    def bands(
        self, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> Iterator[np.ndarray]:
        """Linear-light float32 RGB rows of the window (RGBA, coverage in [0, 1], for a model
        with alpha), one band at a time, top to bottom.

        The next ``bands_ahead`` bands are computed (on other threads) while the caller takes
        this one, so writing a file does not leave the cores idle between bands.
        """
        tiles_done = _tile_counter(progress, self.total_tiles)
        count, ahead = self.band_count, self.bands_ahead
        with kept_heap(), ThreadPoolExecutor(ahead) as pool:
            pending = deque(
                pool.submit(self.render_band, index, cancel, tiles_done)
                for index in range(min(ahead, count))
            )
            for index in range(ahead, count + ahead):
                band = pending.popleft().result()
                if index < count:
                    pending.append(pool.submit(self.render_band, index, cancel, tiles_done))
                yield band

    def render(
        self, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> np.ndarray:
        """The whole window as one (h, w, 3) (or (h, w, 4)) float32 linear-light array."""
        out = np.empty(self.output_shape, dtype=np.float32)
        row = 0
        for band in self.bands(progress, cancel):
            out[row : row + band.shape[0]] = band
            row += band.shape[0]
            del band
        return out


def _tile_counter(progress: ProgressFn | None, total: int) -> Callable[[float], None]:
    """``tiles_done(count)`` that reports the running total to ``progress``, from any thread."""
    done, lock = 0.0, threading.Lock()

    def tiles_done(count: float) -> None:
        nonlocal done
        with lock:
            done += count
            if progress is not None:
                progress(done, total)

    return tiles_done


class RowBandRenderer(BandRenderer):
    """Output rows ``rows`` = (first, end) cut into bands of ``band_rows``: how the renderers
    that finish a canvas afterwards (resampled skies, scaled canvases) stream their output."""

    rows: tuple[int, int]
    band_rows: int
    tiles_per_band = 1

    @property
    def band_count(self) -> int:
        return -(-(self.rows[1] - self.rows[0]) // self.band_rows)

    def band_range(self, index: int) -> tuple[int, int]:
        """Rows [top, bottom) of band ``index``."""
        top = self.rows[0] + index * self.band_rows
        return top, min(top + self.band_rows, self.rows[1])

    def band_shape(self, index: int) -> tuple[int, int, int]:
        top, bottom = self.band_range(index)
        return bottom - top, self.output_shape[1], self.output_shape[2]


def is_sphere_request(model: LoadedModel, recipe: Recipe) -> bool:
    """A 360-degree sky of a sky model: drawn as its native sphere, then resampled."""
    return recipe.projection == "equirect" and model.config.sphere


class CanvasRenderer(BandRenderer):
    """Renders one recipe with one model; iterate ``bands()`` for rows top to bottom."""

    def __init__(
        self,
        model: LoadedModel,
        recipe: Recipe,
        *,
        tile: int | None = DEFAULT_TILE,
        batch: int | None = DEFAULT_BATCH,
        precision: str | None = None,
        memory_budget_mib: float | None = None,
    ) -> None:
        self.model, self.recipe, self.config = model, recipe, model.config
        self.device = next(model.generator.parameters()).device
        self.precision = _check_precision(
            precision or recipe.extra.get(PRECISION_KEY, "fp32"), self.device
        )
        self.ppc = self.config.pixels_per_cell
        self._validate(tile)
        self.period_cells = (
            recipe.height // self.ppc if recipe.wrap == "xy" else None,
            recipe.width // self.ppc if recipe.wrap in ("x", "xy") else None,
        )
        self.region, self._columns = self._plan_region()
        if tile is None:
            plan = plan_tiles(
                self.config,
                self.region.width,
                self.region.height,
                left_px=self.region.left,
                top_px=self.region.top,
                budget_mib=memory_budget_mib,
                device_type=self.device.type,
                equirect=recipe.projection == "equirect",
            )
            self.tile_rows, self.tile_cols = plan.tile_rows, plan.tile_cols
        else:
            largest_side = -(-max(self.region.height, self.region.width) // self.ppc) + 1
            self.tile_rows = self.tile_cols = max(1, min(int(tile) // self.ppc, largest_side))
        if batch is not None and int(batch) < 1:
            raise RequestError("batch must be at least 1 tile")
        self.batch = int(batch or 1)
        self._memory_slots = tiles_in_flight(
            self.config,
            self.tile_rows,
            self.tile_cols,
            self.batch,
            self.region.width,
            memory_budget_mib,
            self.device.type,
        )
        self.local_latents = _local_latents(recipe, self.config.zl_dim, self.period_cells)
        styles = recipe.style_list
        self.zg = torch.from_numpy(np.stack([_style_latent(s, self.config) for s in styles]))
        self.anchors = [(s.x, s.y) for s in styles]
        self.coord_period = coordinate_period(self.config, self.period_cells[1])
        self._layer_progress = synthesis_layer_progress(self.config, self.tile_rows, self.tile_cols)
        ctx_start, ctx_rows = required_latent_span(self.config, 0, self.tile_rows * self.ppc)
        ctx_cols = required_latent_span(self.config, 0, self.tile_cols * self.ppc)[1]
        self._context_before, self._context_size = -ctx_start, (ctx_rows, ctx_cols)
        self._row_tiles = _tile_starts(
            self.region.top, self.region.height, self.ppc, self.tile_rows
        )
        self._col_tiles = _tile_starts(
            self.region.left, self.region.width, self.ppc, self.tile_cols
        )

    def _validate(self, tile: int | None) -> None:
        recipe, config, ppc = self.recipe, self.config, self.ppc
        if recipe.model_hash not in ("", self.model.hash):
            raise RequestError(
                f"the recipe was made with model {recipe.model_hash[:12]}, "
                f"but this model is {self.model.hash[:12]}"
            )
        if tile is not None and int(tile) < 1:
            raise RequestError("tile size must be at least 1 pixel")
        if recipe.sun is not None or recipe.scale > 1 or is_sphere_request(self.model, recipe):
            raise RequestError(
                "CanvasRenderer draws the model's plain canvas: a sun, a scale above 1 or a sky "
                "model's 360-degree sky need make_renderer (or render_array, render_to_file)"
            )
        for axis, name in (("x", "width"), ("y", "height")):
            size = getattr(recipe, name)
            if axis in recipe.wrap and size % ppc:
                lower, upper = max(ppc, size - size % ppc), size - size % ppc + ppc
                raise RequestError(
                    f"a canvas that wraps along {axis} needs a {name} that is a multiple of {ppc} "
                    f"pixels for this model (try {lower} or {upper})"
                )
        if recipe.wrap == "xy" and config.vertical_conditioning:
            raise RequestError(
                "this model is conditioned on vertical position, so it cannot tile vertically "
                "(wrap 'xy'); use wrap 'x' or a model trained without vertical conditioning"
            )
        if recipe.projection == "equirect" and recipe.window is not None:
            w = recipe.window
            if w.y < 0 or w.y + w.height > recipe.height:
                raise RequestError("an equirect window must lie within the sphere's rows")

    def _plan_region(self) -> tuple[PixelRegion, np.ndarray | None]:
        """Pixels to compute, and the columns of them to keep (equirect windows need full rows)."""
        r = self.recipe
        win = r.window
        x, y, w, h = (win.x, win.y, win.width, win.height) if win else (0, 0, r.width, r.height)
        if r.projection != "equirect":
            return PixelRegion(r.top + y, r.left + x, h, w), None
        columns = np.mod(np.arange(x, x + w), r.width)
        return PixelRegion(r.top + y, r.left, h, r.width), columns

    @property
    def total_tiles(self) -> int:
        return len(self._row_tiles) * len(self._col_tiles)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        width = self.region.width if self._columns is None else len(self._columns)
        return self.region.height, width, self.config.channels

    @property
    def band_count(self) -> int:
        return len(self._row_tiles)

    @property
    def tile_shape(self) -> tuple[int, int]:
        """(height, width) of a tile in pixels."""
        return self.tile_rows * self.ppc, self.tile_cols * self.ppc

    def band_rows(self, index: int) -> tuple[int, int, int]:
        """(first latent row of its tiles, top pixel row, bottom pixel row) of band ``index``."""
        region, row_cell = self.region, self._row_tiles[index]
        top = max(region.top, row_cell * self.ppc)
        bottom = min(region.top + region.height, (row_cell + self.tile_rows) * self.ppc)
        return row_cell, top, bottom

    def band_shape(self, index: int) -> tuple[int, int, int]:
        """Shape of ``render_band(index)``'s result."""
        _, top, bottom = self.band_rows(index)
        return bottom - top, self.output_shape[1], self.config.channels

    @property
    def tiles_per_band(self) -> int:
        return len(self._col_tiles)

    def render_band(
        self,
        index: int,
        cancel: CancelFn | None = None,
        tiles_done: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """Band ``index`` (0 at the top): its rows, finished (poles, columns) as ``bands`` gives
        them. Bands are independent, so processes can share a canvas by bands."""
        band = _Band(self, index)
        work = functools.partial(self._render_batch, band, cancel, tiles_done)
        with kept_heap():
            workers = cpu_workers(self.device, len(band.batches), self._memory_slots)
            run_all(work, band.batches, workers)
            return self._finished(band, cancel)

    def bands(
        self, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> Iterator[np.ndarray]:
        """As ``BandRenderer.bands``; on CPU workers, the next band's tiles are queued behind
        this band's, so no worker waits for the slowest tile of a band (nor for the writer)."""
        workers = cpu_workers(self.device, self.total_tiles, self._memory_slots)
        if workers <= 1 or self.band_count == 1:
            yield from super().bands(progress, cancel)
            return
        tiles_done = _tile_counter(progress, self.total_tiles)
        with kept_heap(), TilePool(workers) as pool:
            queued: deque[tuple[_Band, list]] = deque()

            def queue(index: int) -> None:
                band = _Band(self, index)
                work = functools.partial(self._render_batch, band, cancel, tiles_done)
                queued.append((band, [pool.submit(work, cells) for cells in band.batches]))

            try:
                for index in range(min(2, self.band_count)):
                    queue(index)
                for index in range(self.band_count):
                    band, futures = queued.popleft()
                    wait_all(futures)
                    yield self._finished(band, cancel)
                    if index + 2 < self.band_count:  # two bands in memory besides the caller's
                        queue(index + 2)
            finally:  # the caller stopped early, or a tile failed
                for _, futures in queued:
                    abandon(futures)

    def _render_batch(
        self,
        band: _Band,
        cancel: CancelFn | None,
        tiles_done: Callable[[float], None] | None,
        col_cells: list[int],
    ) -> None:
        if cancel is not None and cancel():
            raise Cancelled("render cancelled")
        reported = 0.0

        def work_done(fraction: float) -> None:
            """Mid-batch progress in 1/64ths of a tile: sums of them stay exact in floats, so
            the counts still reach whole numbers and the total exactly."""
            nonlocal reported
            amount = math.floor(fraction * len(col_cells) * PROGRESS_STEPS) / PROGRESS_STEPS
            if amount > reported:
                tiles_done(amount - reported)
                reported = amount

        hook = work_done if tiles_done is not None else None
        rgb = self._render_tiles(band.row_cell, col_cells, cancel, hook)
        for col_cell, tile_rgb in zip(col_cells, rgb, strict=True):
            self._paste(
                band.pixels, band.top, col_cell * self.ppc, band.row_cell * self.ppc, tile_rgb
            )
        if tiles_done is not None:
            tiles_done(len(col_cells) - reported)

    def _finished(self, band: _Band, cancel: CancelFn | None) -> np.ndarray:
        if cancel is not None and cancel():  # asked while the band's last tiles were running
            raise Cancelled("render cancelled")
        return self._finish_band(band.pixels, band.top)

    def _finish_band(self, band: np.ndarray, band_top: int) -> np.ndarray:
        if self.recipe.projection == "equirect":
            band = soften_poles(band, band_top - self.recipe.top, self.recipe.height)
        if self._columns is not None:
            band = band[:, self._columns]
        return band

    def _paste(
        self, band: np.ndarray, band_top: int, tile_left: int, tile_top: int, tile: np.ndarray
    ) -> None:
        """Copy the part of a tile (whose pixel origin is tile_top/left) that lies in the band."""
        region = self.region
        x0 = max(tile_left, region.left)
        x1 = min(tile_left + tile.shape[1], region.left + region.width)
        y0, y1 = band_top, band_top + band.shape[0]
        band[:, x0 - region.left : x1 - region.left] = tile[
            y0 - tile_top : y1 - tile_top, x0 - tile_left : x1 - tile_left
        ]

    @torch.inference_mode()
    def _render_tiles(
        self,
        row_cell: int,
        col_cells: list[int],
        cancel: CancelFn | None = None,
        work_done: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """(B, span, span, channels) linear pixels of the tiles starting at these latent cells."""
        n_rows, n_cols = self._context_size
        origins = np.array(
            [(row_cell - self._context_before, c - self._context_before) for c in col_cells]
        )
        batch = len(col_cells)
        zl = np.empty((batch, self.config.zl_dim, n_rows, n_cols), dtype=np.float32)
        for sample, (oy, ox) in enumerate(origins):
            self.local_latents.window_into(zl[sample], int(oy), int(ox))
        zg = self.zg[None].expand(batch, -1, -1).to(self.device)
        fields = _TileFields(self, origins, cancel, work_done)
        # TF32 convolutions would make tiles differ by ~1e-3 depending on their size.
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False), self._autocast():
            rgb, rect = self.model.generator(
                torch.from_numpy(zl).to(self.device), zg, fields, Rect(0, 0, n_rows, n_cols)
            )
        height, width = self.tile_shape
        offset = self._context_before * self.ppc - rect.top  # tile origin inside the output rect
        rgb = rgb[:, :, offset : offset + height, offset : offset + width]
        return model_to_output(rgb.permute(0, 2, 3, 1).float().cpu().numpy(), self.config)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def position_fields(self, origins: np.ndarray) -> _TileFields:
        """Coordinates, noise and style weights of latent spans whose first cells are
        ``origins`` (B, 2): what a tile's forward pass reads, for callers that run the network
        themselves (photo inversion)."""
        return _TileFields(self, origins)


class _Band:
    """One band's output buffer and the batches of tiles that fill it."""

    def __init__(self, renderer: CanvasRenderer, index: int) -> None:
        self.row_cell, self.top, bottom = renderer.band_rows(index)
        self.pixels = np.empty(
            (bottom - self.top, renderer.region.width, renderer.config.channels), dtype=np.float32
        )
        columns, batch = renderer._col_tiles, renderer.batch
        self.batches = [columns[first : first + batch] for first in range(0, len(columns), batch)]


def _local_latents(
    recipe: Recipe, channels: int, period: tuple[int | None, int | None]
) -> NormalField | PatchedField:
    """zl of the recipe's seed, with its explicit patch (an inverted photo) where it has one."""
    field = NormalField(recipe.seed, LOCAL_LATENT_STREAM, channels, period)
    patch = recipe.local_latents
    if patch is None:
        return field
    return PatchedField(field, patch.top, patch.left, patch.values(channels))


def _style_latent(style: Style, config: ModelConfig) -> np.ndarray:
    if style.zg is None:
        return global_latent(style.seed, config.zg_dim)
    if len(style.zg) != config.zg_dim:
        raise RequestError(
            f"the recipe's style latent has {len(style.zg)} values; this model needs "
            f"{config.zg_dim}"
        )
    return np.asarray(style.zg, dtype=np.float32)


def _check_precision(precision: str, device: torch.device) -> str:
    if precision not in PRECISIONS:
        raise RequestError(
            f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}"
        )
    if precision == "fp16" and device.type == "cpu":
        raise RequestError("fp16 needs a GPU (CUDA or MPS); on a CPU use bf16 or fp32")
    if precision == "bf16" and device.type == "mps":
        raise RequestError("bf16 is not supported on MPS; use fp16 or fp32")
    return precision


def _tile_starts(start_px: int, size_px: int, ppc: int, tile_cells: int) -> list[int]:
    """Latent cells where tiles start so that they cover pixels [start, start + size)."""
    first = start_px // ppc
    last = -(-(start_px + size_px) // ppc)
    return list(range(first, last, tile_cells))


class _TileFields:
    """Position-keyed inputs for one batch of tiles (see ``model.PositionFields``).

    Every layer asks for its coordinates or noise first, so this is also where a cancellation
    is honoured mid-tile: a big tile on a CPU can take seconds, a layer takes a fraction.
    """

    def __init__(
        self,
        renderer: CanvasRenderer,
        origins: np.ndarray,
        cancel: CancelFn | None = None,
        work_done: Callable[[float], None] | None = None,
    ) -> None:
        self.r = renderer
        self.origins = origins
        self._cancel = cancel
        self._work_done = work_done
        self._weights: dict[tuple[int, Rect], Tensor | None] = {}

    def _positions(self, level: int, rect: Rect) -> tuple[np.ndarray, np.ndarray]:
        """Global integer rows (B, h) and columns (B, w) of ``rect`` at ``level``."""
        scale = 2**level
        rows = self.origins[:, :1] * scale + rect.top + np.arange(rect.height)[None]
        cols = self.origins[:, 1:] * scale + rect.left + np.arange(rect.width)[None]
        return rows, cols

    def _wrapped_positions(self, level: int, rect: Rect) -> tuple[Tensor, Tensor]:
        """``_positions`` reduced modulo the canvas period at ``level`` (a periodic lookup)."""
        positions = self._positions(level, rect)
        wrapped = [
            np.mod(p, period * 2**level) if period else p
            for p, period in zip(positions, self.r.period_cells, strict=True)
        ]
        return tuple(torch.from_numpy(p).to(self.r.device) for p in wrapped)

    def _check_cancel(self) -> None:
        if self._cancel is not None and self._cancel():
            raise Cancelled("render cancelled")

    def coordinates(self, rect: Rect) -> Tensor:
        self._check_cancel()
        rows, cols = self._positions(0, rect)
        coords = encode_coordinates(self.r.config, rows, cols, self.r.coord_period)
        return torch.from_numpy(coords).to(self.r.device)

    def noise(self, layer: int, level: int, rect: Rect) -> Tensor:
        self._check_cancel()
        if self._work_done is not None:  # the layers before this one are done
            self._work_done(self.r._layer_progress[layer])
        rows, cols = self._wrapped_positions(level, rect)
        return position_normals(self.r.recipe.seed, NOISE_STREAM_BASE + layer, rows, cols)

    def style_weights(self, level: int, rect: Rect) -> Tensor | None:
        if len(self.r.anchors) == 1:
            return None
        key = (level, rect)
        if key not in self._weights:
            rows, cols = self._positions(level, rect)
            scale = 2.0**level
            period = tuple(float(p) if p else None for p in self.r.period_cells)
            maps = [
                fusion_weights(
                    (r + 0.5) / scale,
                    (c + 0.5) / scale,
                    self.r.anchors,
                    self.r.recipe.blend,
                    period,
                )
                for r, c in zip(rows, cols, strict=True)
            ]
            self._weights[key] = torch.from_numpy(np.stack(maps)).to(self.r.device)
        return self._weights[key]
