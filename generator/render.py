"""The canvas renderer: any canvas, or any window of one, by independent batched tiles.

A tile is a square of latent cells. Its pixels are computed from the latent span the network needs
(``geometry.required_latent_span``) and cropped to the tile; because the network is padding-free
and every position-dependent input is looked up by global position, the result is the same whatever
the tile size, batch, order or window. Rows come out in bands (one tile row at a time), so a file
writer can stream them and memory stays bounded by a band, not the canvas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from generator.colorspace import model_to_linear
from generator.coordinates import coordinate_period, encode_coordinates
from generator.errors import Cancelled, RequestError
from generator.fusion import fusion_weights
from generator.geometry import Rect, required_latent_span
from generator.latents import LOCAL_LATENT_STREAM, NOISE_STREAM_BASE, NormalField, global_latent
from generator.modelfile import LoadedModel
from generator.poles import soften_poles
from generator.recipe import Recipe

DEFAULT_TILE = 256
DEFAULT_BATCH = 4
ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class PixelRegion:
    """Global pixel rows [top, top+height) and columns [left, left+width)."""

    top: int
    left: int
    height: int
    width: int


class CanvasRenderer:
    """Renders one recipe with one model; iterate ``bands()`` for rows top to bottom."""

    def __init__(
        self,
        model: LoadedModel,
        recipe: Recipe,
        *,
        tile: int = DEFAULT_TILE,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self.model, self.recipe, self.config = model, recipe, model.config
        self.device = next(model.generator.parameters()).device
        self.batch = max(1, int(batch))
        self.ppc = self.config.pixels_per_cell
        self._validate(tile)
        self.period_cells = (
            recipe.height // self.ppc if recipe.wrap == "xy" else None,
            recipe.width // self.ppc if recipe.wrap in ("x", "xy") else None,
        )
        self.region, self._columns = self._plan_region()
        largest_side = -(-max(self.region.height, self.region.width) // self.ppc) + 1
        self.tile_cells = max(1, min(int(tile) // self.ppc, largest_side))
        self._zl = NormalField(
            recipe.seed, LOCAL_LATENT_STREAM, self.config.zl_dim, self.period_cells
        )
        self._noise: dict[tuple[int, int], NormalField] = {}
        styles = recipe.style_list
        self.zg = torch.from_numpy(
            np.stack([global_latent(s.seed, self.config.zg_dim) for s in styles])
        )
        self.anchors = [(s.x, s.y) for s in styles]
        self.coord_period = coordinate_period(self.config, self.period_cells[1])
        ctx_start, ctx_size = required_latent_span(self.config, 0, self.tile_cells * self.ppc)
        self._context_before, self._context_size = -ctx_start, ctx_size
        self._row_tiles = _tile_starts(
            self.region.top, self.region.height, self.ppc, self.tile_cells
        )
        self._col_tiles = _tile_starts(
            self.region.left, self.region.width, self.ppc, self.tile_cells
        )

    def _validate(self, tile: int) -> None:
        recipe, config, ppc = self.recipe, self.config, self.ppc
        if recipe.model_hash not in ("", self.model.hash):
            raise RequestError(
                f"the recipe was made with model {recipe.model_hash[:12]}, "
                f"but this model is {self.model.hash[:12]}"
            )
        if int(tile) < 1:
            raise RequestError("tile size must be at least 1 pixel")
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
        return self.region.height, width, 3

    def bands(
        self, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> Iterator[np.ndarray]:
        """Linear-light float32 RGB rows of the window, one tile row at a time, top to bottom."""
        done, total = 0, self.total_tiles
        span = self.tile_cells * self.ppc
        region = self.region
        for row_cell in self._row_tiles:
            band_top = max(region.top, row_cell * self.ppc)
            band_bottom = min(region.top + region.height, row_cell * self.ppc + span)
            band = np.empty((band_bottom - band_top, region.width, 3), dtype=np.float32)
            for first in range(0, len(self._col_tiles), self.batch):
                if cancel is not None and cancel():
                    raise Cancelled("render cancelled")
                col_cells = self._col_tiles[first : first + self.batch]
                rgb = self._render_tiles(row_cell, col_cells, cancel)
                for col_cell, tile_rgb in zip(col_cells, rgb, strict=True):
                    self._paste(band, band_top, col_cell * self.ppc, row_cell * self.ppc, tile_rgb)
                done += len(col_cells)
                if progress is not None:
                    progress(done, total)
            yield self._finish_band(band, band_top)

    def render(
        self, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> np.ndarray:
        """The whole window as one (h, w, 3) float32 linear-light array."""
        out = np.empty(self.output_shape, dtype=np.float32)
        row = 0
        for band in self.bands(progress, cancel):
            out[row : row + band.shape[0]] = band
            row += band.shape[0]
        return out

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
        self, row_cell: int, col_cells: list[int], cancel: CancelFn | None = None
    ) -> np.ndarray:
        """(B, span, span, 3) linear pixels of the tiles starting at these latent cells."""
        n = self._context_size
        origins = np.array(
            [(row_cell - self._context_before, c - self._context_before) for c in col_cells]
        )
        zl = np.stack([self._zl.window(int(oy), int(ox), n, n) for oy, ox in origins])
        batch = len(col_cells)
        zg = self.zg[None].expand(batch, -1, -1).to(self.device)
        fields = _TileFields(self, origins, cancel)
        # TF32 convolutions would make tiles differ by ~1e-3 depending on their size.
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            rgb, rect = self.model.generator(
                torch.from_numpy(zl).to(self.device), zg, fields, Rect(0, 0, n, n)
            )
        span = self.tile_cells * self.ppc
        offset = self._context_before * self.ppc - rect.top  # tile origin inside the output rect
        rgb = rgb[:, :, offset : offset + span, offset : offset + span]
        return model_to_linear(rgb.permute(0, 2, 3, 1).float().cpu().numpy(), self.config)

    def noise_field(self, layer: int, level: int) -> NormalField:
        key = (layer, level)
        if key not in self._noise:
            scale = 2**level
            period = tuple(p * scale if p else None for p in self.period_cells)
            self._noise[key] = NormalField(self.recipe.seed, NOISE_STREAM_BASE + layer, 1, period)
        return self._noise[key]


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
        self, renderer: CanvasRenderer, origins: np.ndarray, cancel: CancelFn | None = None
    ) -> None:
        self.r = renderer
        self.origins = origins
        self._cancel = cancel
        self._weights: dict[tuple[int, Rect], Tensor | None] = {}

    def _positions(self, level: int, rect: Rect) -> tuple[np.ndarray, np.ndarray]:
        """Global integer rows (B, h) and columns (B, w) of ``rect`` at ``level``."""
        scale = 2**level
        rows = self.origins[:, :1] * scale + rect.top + np.arange(rect.height)[None]
        cols = self.origins[:, 1:] * scale + rect.left + np.arange(rect.width)[None]
        return rows, cols

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
        field = self.r.noise_field(layer, level)
        rows, cols = self._positions(level, rect)
        zn = np.stack(
            [
                field.window(int(r[0]), int(c[0]), rect.height, rect.width)
                for r, c in zip(rows, cols, strict=True)
            ]
        )
        return torch.from_numpy(zn).to(self.r.device)

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
