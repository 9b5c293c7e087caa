"""Cost model of a tile: the shape of every layer, its multiply-adds and its memory.

The network is padding-free, so a tile of ``t`` latent cells is computed from a larger latent span
(the context the receptive field needs) and every layer's extent follows from the same rect
arithmetic as the forward pass (``generator.network.geometry``). From these extents we count the
dense convolutions' multiply-adds (for GFLOP/s figures and the halo overhead) and estimate the peak
memory of a batch, which is how the renderer picks its tile size from a memory budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from generator.network.config import ModelConfig
from generator.network.geometry import Rect, required_latent_span

MIB = 1 << 20
DEFAULT_BUDGET_MIB = {"cpu": 768, "cuda": 4096, "mps": 2048}
"""Working memory a render aims for by default (tiles + one output band), per device type.

A fixed number, not a fraction of the free memory: the tile plan decides how the work is cut, and
the same recipe must be cut the same way on every run (and by every process of a parallel run).
"""
BAND_BYTES_CAP = 48 * MIB
"""Largest output band (full-width float32 rows) a plan makes: the only buffer that grows with the
canvas, so a 16384-wide canvas gets flatter tiles instead of a taller band."""
MAX_TILE_CELLS = 128
"""Largest automatic tile side in latent cells: progress and cancel stay responsive."""
MIN_TILE_CELLS = 32
"""Smallest automatic tile side in latent cells, unless the canvas is smaller (see plan_tiles)."""
CACHE_FRIENDLY_BYTES = 32 * MIB
CACHE_PENALTY_PER_DOUBLING = 0.08
"""On a CPU, time per multiply-add grows by about this much each time the largest feature map
of a tile doubles beyond CACHE_FRIENDLY_BYTES (measured: 2-core AVX-512 machine, ``cpu`` preset,
2048x1024, two workers, freed maps kept in the heap (``generator.rendering.heap``): tiles of 256 /
512 / 1024 px, largest maps 9 / 35 / 136 MB, ran at 1.00 / 1.00-1.05 / 0.86 of the per-FLOP speed.
Before the heap was kept, page faults made it 1.00 / 0.84 / 0.72, and the threshold was 8 MiB)."""
FORWARD_OVERHEAD_MACS = 100_000_000
"""Fixed cost of one forward pass (Python, small ops, position lookups; ~3 ms on a CPU core),
in multiply-adds: it makes small tiles of small models expensive."""
BLUR_TAPS = 16
"""Multiply-adds per output sample of the upsampling blur (4 x 4, one channel)."""


@dataclass(frozen=True)
class LayerShape:
    """One convolution of the forward pass for a square input of ``cells`` latent cells."""

    name: str
    level: int
    in_channels: int
    out_channels: int
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    kernel: int
    transposed: bool = False

    @property
    def macs(self) -> int:
        """Dense multiply-adds per sample (a transposed conv counts per input sample)."""
        h, w = self.in_size if self.transposed else self.out_size
        return h * w * self.in_channels * self.out_channels * self.kernel * self.kernel

    @property
    def blur_macs(self) -> int:
        if not self.transposed:
            return 0
        return self.out_size[0] * self.out_size[1] * self.out_channels * BLUR_TAPS

    def activation_bytes(self, batch: int, itemsize: int = 4) -> int:
        """Input plus the output and its temporaries while this layer runs."""
        inputs = self.in_channels * self.in_size[0] * self.in_size[1]
        outputs = self.out_channels * self.out_size[0] * self.out_size[1]
        temporaries = 3 if self.transposed else 2  # conv out (+ blur out) + noise-added copy
        return batch * itemsize * (inputs + temporaries * outputs)


def layer_shapes(config: ModelConfig, rows: int, cols: int | None = None) -> list[LayerShape]:
    """Every convolution for a zl input of ``rows`` x ``cols`` latent cells, in forward order."""
    rect = Rect(0, 0, rows, rows if cols is None else cols)
    shapes: list[LayerShape] = []

    def add(name, level, cin, cout, before, after, kernel, transposed=False):
        shapes.append(
            LayerShape(
                name,
                level,
                cin,
                cout,
                (before.height, before.width),
                (after.height, after.width),
                kernel,
                transposed,
            )
        )

    width = config.zl_dim
    margin = (config.gs_kernel - 1) // 2
    for i in range(config.gs_layers):
        out = rect.shrink(margin)
        cin = width + config.coord_channels
        add(f"gs{i}", 0, cin, config.gs_width, rect, out, config.gs_kernel)
        rect, width = out, config.gs_width
    ch = config.gt_channels
    out = rect.shrink(1)
    add("gt0", 0, width, ch[0], rect, out, 3)
    rect = out
    add("rgb0", 0, ch[0], config.channels, rect, rect, 1)
    for stage in range(1, len(ch)):
        up = rect.upsampled().shrink(1)
        add(f"up{stage}", stage, ch[stage - 1], ch[stage], rect, up, 3, transposed=True)
        out = up.shrink(1)
        add(f"conv{stage}", stage, ch[stage], ch[stage], up, out, 3)
        add(f"rgb{stage}", stage, ch[stage], config.channels, out, out, 1)
        rect = out
    return shapes


def synthesis_layer_progress(config: ModelConfig, rows: int, cols: int) -> list[float]:
    """For each texture-synthesis layer (gt0, up1, conv1, up2, ...), the fraction of a tile's
    multiply-adds (blurs included) already done when it starts: progress within a tile."""
    shapes = tile_layers(config, rows, cols)
    costs = [s.macs + s.blur_macs for s in shapes]
    total, done, starts = sum(costs), 0, []
    for shape, cost in zip(shapes, costs, strict=True):
        if shape.name == "gt0" or shape.name.startswith(("up", "conv")):
            starts.append(done / total)
        done += cost
    return starts


def context_cells(config: ModelConfig, tile_cells: int) -> int:
    """Latent cells (per side) a tile of ``tile_cells`` needs, its context included."""
    return required_latent_span(config, 0, tile_cells * config.pixels_per_cell)[1]


def tile_layers(config: ModelConfig, rows: int, cols: int | None = None) -> list[LayerShape]:
    """The convolutions of a tile of ``rows`` x ``cols`` latent cells (context included)."""
    cols = rows if cols is None else cols
    return layer_shapes(config, context_cells(config, rows), context_cells(config, cols))


def tile_macs(
    config: ModelConfig, rows: int, cols: int | None = None, *, blur: bool = False
) -> int:
    """Multiply-adds of one tile (dense convolutions; ``blur`` adds the upsampling blurs)."""
    return sum(s.macs + (s.blur_macs if blur else 0) for s in tile_layers(config, rows, cols))


def macs_per_pixel(config: ModelConfig, *, blur: bool = False) -> float:
    """Dense multiply-adds per output pixel of an ideal single pass (no halo: the limit of an
    infinitely large tile)."""
    # Per position, a layer at level l costs the same whatever the extent; a pixel holds
    # 4 ** (l - stages) positions of level l.
    stages = config.upsampling_stages
    total = 0.0
    for s in layer_shapes(config, 64):
        h, w = s.in_size if s.transposed else s.out_size
        level = s.level - 1 if s.transposed else s.level  # a transposed conv counts its inputs
        total += s.macs / (h * w) * 4.0 ** (level - stages)
        if blur and s.transposed:
            total += s.blur_macs / (s.out_size[0] * s.out_size[1]) * 4.0 ** (s.level - stages)
    return total


def tile_bytes(
    config: ModelConfig, rows: int, cols: int | None = None, batch: int = 1, itemsize: int = 4
) -> int:
    """Estimated peak working memory of a batch of tiles (largest layer, plus inputs)."""
    cols = rows if cols is None else cols
    peak = max(s.activation_bytes(batch, itemsize) for s in tile_layers(config, rows, cols))
    ppc = config.pixels_per_cell
    rgb = batch * 3 * 4 * (rows * ppc + 16) * (cols * ppc + 16) * 3
    return int(1.25 * (peak + rgb))


def largest_feature_bytes(
    config: ModelConfig, rows: int, cols: int | None = None, itemsize: int = 4
) -> int:
    shapes = tile_layers(config, rows, cols)
    return max(
        itemsize
        * max(
            s.in_channels * s.in_size[0] * s.in_size[1],
            s.out_channels * s.out_size[0] * s.out_size[1],
        )
        for s in shapes
    )


def cache_penalty(config: ModelConfig, rows: int, cols: int | None = None) -> float:
    """Relative time per multiply-add of a tile on a CPU (1.0 while its feature maps are small)."""
    ratio = largest_feature_bytes(config, rows, cols) / CACHE_FRIENDLY_BYTES
    return 1.0 + CACHE_PENALTY_PER_DOUBLING * max(0.0, math.log2(ratio))


def band_bytes(tile_px: int, width_px: int, equirect: bool = False) -> int:
    """A band of full-width float32 RGB rows (and the copies finishing it takes)."""
    return tile_px * width_px * 12 * (3 if equirect else 1)


@dataclass(frozen=True)
class TilePlan:
    """Tiles of ``tile_rows`` x ``tile_cols`` latent cells, ``batch`` per forward pass."""

    tile_rows: int
    tile_cols: int
    batch: int
    budget_bytes: int
    estimate_bytes: int
    halo_overhead: float
    """Multiply-adds computed for the canvas / those of an ideal single pass."""


def budget_bytes(budget_mib: float | None, device_type: str) -> int:
    """The memory budget in bytes: the one given, or the device type's default."""
    if budget_mib is None:
        budget_mib = DEFAULT_BUDGET_MIB.get(device_type, DEFAULT_BUDGET_MIB["cpu"])
    return int(budget_mib * MIB)


def tiles_in_flight(
    config: ModelConfig,
    rows: int,
    cols: int,
    batch: int,
    width_px: int,
    budget_mib: float | None,
    device_type: str,
) -> int:
    """How many batches of tiles can be computed at once within the memory budget, next to three
    output bands (two being filled, one with the caller); at least one: the plan already made one
    fit, or the caller chose the tile."""
    free = budget_bytes(budget_mib, device_type) - 3 * band_bytes(
        rows * config.pixels_per_cell, width_px
    )
    return max(1, free // tile_bytes(config, rows, cols, batch))


def balanced_cells(start_px: int, size_px: int, ppc: int, max_cells: int) -> tuple[int, int]:
    """(tile side, tile count) along one axis: the fewest tiles of at most ``max_cells`` that
    cover pixels [start, start + size), made equal so that no tile is mostly waste."""
    cells = -(-(start_px + size_px) // ppc) - start_px // ppc
    count = -(-cells // max(1, max_cells))
    return -(-cells // count), count


def plan_tiles(
    config: ModelConfig,
    width_px: int,
    height_px: int,
    *,
    left_px: int = 0,
    top_px: int = 0,
    budget_mib: float | None = None,
    device_type: str = "cpu",
    equirect: bool = False,
) -> TilePlan:
    """The tiling of least estimated time whose working memory (one tile plus one output band of
    ``width_px``) fits the budget. Tiles are square unless the band cap makes them flatter.

    Bigger tiles recompute less halo; on a CPU, past a few MiB per feature map they also fall
    out of cache, which the estimate charges for (``cache_penalty``), and every forward pass has
    a fixed cost. Tiles are at least MIN_TILE_CELLS (or the canvas) on each side: smaller
    feature maps make oneDNN pick other kernels, whose rounding differs (~1e-6), and a canvas
    then differs in the last bit from its extension. Deterministic: it depends only on the
    model, the canvas, the budget and the device type.
    """
    budget = budget_bytes(budget_mib, device_type)
    ppc = config.pixels_per_cell
    cells_rows = balanced_cells(top_px, height_px, ppc, 1 << 30)[0]
    cells_cols = balanced_cells(left_px, width_px, ppc, 1 << 30)[0]
    largest = max(1, min(MAX_TILE_CELLS, max(cells_rows, cells_cols)))
    smallest = min(largest, MIN_TILE_CELLS)
    # Rows of a band beyond the cap: a very wide canvas gets flatter tiles, not taller bands.
    row_cap = max(smallest, min(BAND_BYTES_CAP, budget) // band_bytes(ppc, width_px, equirect))
    best: tuple[float, int, int] | None = None
    for side in range(smallest, largest + 1):
        tile = max(
            smallest,
            balanced_cells(top_px, height_px, ppc, side)[0],
            balanced_cells(left_px, width_px, ppc, side)[0],
        )
        rows = tile
        if tile > row_cap:
            rows = max(smallest, balanced_cells(top_px, height_px, ppc, row_cap)[0])
        if (
            side > smallest
            and tile_bytes(config, rows, tile)
            + band_bytes(min(rows, cells_rows) * ppc, width_px, equirect)
            > budget
        ):
            continue
        count = -(-cells_rows // rows) * -(-cells_cols // tile)
        cost = tile_macs(config, rows, tile)
        if device_type == "cpu":
            cost *= cache_penalty(config, rows, tile)
        cost = count * (cost + FORWARD_OVERHEAD_MACS)
        if best is None or cost < best[0] * (1 - 1e-9):
            best = (cost, rows, tile)
    assert best is not None
    _, rows, cols = best
    count = -(-cells_rows // rows) * -(-cells_cols // cols)
    ideal = macs_per_pixel(config) * width_px * height_px
    band = band_bytes(min(rows, cells_rows) * ppc, width_px, equirect)
    return TilePlan(
        rows,
        cols,
        1,
        budget,
        tile_bytes(config, rows, cols) + band,
        count * tile_macs(config, rows, cols) / ideal,
    )
