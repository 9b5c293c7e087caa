"""Exact size arithmetic between the latent grid and output pixels.

Positions are integers at a *level*: level 0 is the latent grid, level l has 2**l samples per latent
cell, and child ``2a`` and ``2a + 1`` at level l + 1 subdivide sample ``a`` at level l. A ``Rect``
is where a feature map sits at its level. The network's forward pass moves its rects with the same
two operations used here, so the arithmetic below cannot drift from the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.network.config import ModelConfig


@dataclass(frozen=True)
class Rect:
    """A feature map's extent at its level: rows [top, top+height), columns [left, left+width)."""

    top: int
    left: int
    height: int
    width: int

    def shrink(self, margin: int) -> Rect:
        """After a valid (k = 2 * margin + 1) convolution."""
        return Rect(
            self.top + margin, self.left + margin, self.height - 2 * margin, self.width - 2 * margin
        )

    def upsampled(self) -> Rect:
        """After valid 2x upsampling with the [1,3,3,1] filter: n samples become 2n - 2."""
        return Rect(2 * self.top + 1, 2 * self.left + 1, 2 * self.height - 2, 2 * self.width - 2)

    def offset_in(self, outer: Rect) -> tuple[int, int]:
        """(row, column) of this rect's corner inside ``outer`` (same level)."""
        return self.top - outer.top, self.left - outer.left


@dataclass(frozen=True)
class SpanMap:
    """A 1-D affine map of spans through the network: start -> a*start + b, end -> a*end - c."""

    scale: int
    start_shift: int
    end_shift: int


def network_span_map(config: ModelConfig) -> SpanMap:
    """How a latent span [s, e) maps to the output-pixel span the network can compute from it."""
    cells = 1 << 10  # any span larger than the receptive field: the map is affine
    rect = Rect(0, 0, cells, cells)
    for rect_op in _rect_ops(config):
        rect = rect_op(rect)
    scale = config.pixels_per_cell
    return SpanMap(scale, start_shift=rect.left, end_shift=scale * cells - rect.left - rect.width)


def _rect_ops(config: ModelConfig):
    """The rect changes of the forward pass: Gs layers, Gt level 0, then the upsampling stages."""
    gs_margin = (config.gs_kernel - 1) // 2
    ops = [lambda r: r.shrink(gs_margin)] * config.gs_layers
    ops.append(lambda r: r.shrink(1))
    for _ in range(config.upsampling_stages):
        ops.append(lambda r: r.upsampled().shrink(1))
        ops.append(lambda r: r.shrink(1))
    return ops


def output_span(config: ModelConfig, start: int, size: int) -> tuple[int, int]:
    """Pixel span (start, size) computed from the latent span (start, size). Size may be <= 0."""
    m = network_span_map(config)
    out_start = m.scale * start + m.start_shift
    out_end = m.scale * (start + size) - m.end_shift
    return out_start, out_end - out_start


def required_latent_span(config: ModelConfig, pixel_start: int, pixel_size: int) -> tuple[int, int]:
    """The smallest latent span (start, size) whose output covers pixels [start, start + size)."""
    if pixel_size < 1:
        raise ValueError("pixel_size must be >= 1")
    m = network_span_map(config)
    start = (pixel_start - m.start_shift) // m.scale
    end = -((-(pixel_start + pixel_size + m.end_shift)) // m.scale)
    return start, end - start
