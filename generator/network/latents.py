"""Position-keyed randomness: zl, zn and zg as pure functions of (seed, stream, global position).

zl (``NormalField``): the plane of latent cells is cut into fixed BLOCK x BLOCK blocks and every
block has its own counter-based RNG stream keyed by (seed, stream, block row, block column). A tile
fetches only the blocks it touches, so memory is bounded by the tile, any window is reproducible on
its own, and the result is independent of tile size, order, batch and thread count. Wrapping is a
periodic lookup: positions are reduced modulo the period before the block is chosen, so the period
need not be a multiple of the block size.

zn and the super-resolution noise (``position_normals``): one value per pixel of every layer, far
more values than zl, for which setting up a block's RNG cost more than drawing it. Each value is
instead a hash of (seed, stream, channel, row, column) turned into a normal sample, computed for a
whole window at once by tensor operations on the render's own device: the same independence of
tiling, no cache, ~10 ns a value on two CPU cores (``benchmarks/levers.py``).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np
import torch
from torch import Tensor

BLOCK = 64
LOCAL_LATENT_STREAM = 0
GLOBAL_LATENT_STREAM = 1
NOISE_STREAM_BASE = 16
"""Gt layer i draws its noise from stream NOISE_STREAM_BASE + i."""


def _unsigned(value: int) -> int:
    """Zig-zag map of a signed integer to a unique non-negative one (SeedSequence needs those)."""
    return 2 * value if value >= 0 else -2 * value - 1


def _rng(seed: int, *key: int) -> np.random.Generator:
    entropy = [_unsigned(int(seed))] + [_unsigned(int(k)) for k in key]
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(entropy)))


def global_latent(seed: int, dim: int) -> np.ndarray:
    """zg for a seed: one standard-normal vector, (dim,) float32."""
    return _rng(seed, GLOBAL_LATENT_STREAM).standard_normal(dim, dtype=np.float32)


class NormalField:
    """An unbounded (or periodic) plane of i.i.d. standard-normal values with ``channels`` channels.

    ``period`` is (rows, columns) with None for an axis that does not wrap.
    """

    def __init__(
        self,
        seed: int,
        stream: int,
        channels: int,
        period: tuple[int | None, int | None] = (None, None),
        cache_bytes: int = 4 << 20,
    ) -> None:
        self.seed, self.stream, self.channels, self.period = seed, stream, channels, period
        self._cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # tiles of a band are looked up from several threads
        self._cache_blocks = max(4, cache_bytes // (channels * BLOCK * BLOCK * 4))

    def window(self, top: int, left: int, height: int, width: int) -> np.ndarray:
        """Values at global rows [top, top+height) and columns [left, left+width): (C, h, w)."""
        out = np.empty((self.channels, height, width), dtype=np.float32)
        self.window_into(out, top, left)
        return out

    def window_into(self, out: np.ndarray, top: int, left: int) -> None:
        """Fill ``out`` (C, h, w) with the window whose corner is (top, left): block slices only."""
        row_runs = _runs(top, out.shape[1], self.period[0])
        col_runs = _runs(left, out.shape[2], self.period[1])
        # Keep at least four windows' worth of blocks, so a tile's neighbours (also those being
        # computed at the same time) find the shared ones.
        self._cache_blocks = max(self._cache_blocks, 4 * len(row_runs) * len(col_runs))
        for by, src_y, dst_y, h in row_runs:
            for bx, src_x, dst_x, w in col_runs:
                block = self._block(by, bx)
                out[:, dst_y : dst_y + h, dst_x : dst_x + w] = block[
                    :, src_y : src_y + h, src_x : src_x + w
                ]

    def _block(self, by: int, bx: int) -> np.ndarray:
        key = (by, bx)
        with self._lock:
            block = self._cache.get(key)
            if block is None:
                rng = _rng(self.seed, self.stream, by, bx)
                block = rng.standard_normal((self.channels, BLOCK, BLOCK), dtype=np.float32)
                self._cache[key] = block
                if len(self._cache) > self._cache_blocks:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            return block


class PatchedField:
    """A ``NormalField`` with explicit values over a rectangle of cells (``LatentPatch``), found
    by the same periodic lookup, so a patch across a wrapped seam works like any other cells."""

    def __init__(self, base: NormalField, top: int, left: int, values: np.ndarray) -> None:
        self.base, self.top, self.left, self.values = base, top, left, values

    def window_into(self, out: np.ndarray, top: int, left: int) -> None:
        self.base.window_into(out, top, left)
        rows = self._inside(top, out.shape[1], self.top, self.values.shape[1], 0)
        cols = self._inside(left, out.shape[2], self.left, self.values.shape[2], 1)
        if rows[0].size and cols[0].size:
            out[:, rows[0][:, None], cols[0][None, :]] = self.values[
                :, rows[1][:, None], cols[1][None, :]
            ]

    def _inside(
        self, start: int, count: int, first: int, size: int, axis: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(window offsets, patch offsets) of the window's positions that fall in the patch."""
        positions = np.arange(start, start + count) - first
        period = self.base.period[axis]
        if period:
            positions = np.mod(positions, period)
        keep = np.nonzero((positions >= 0) & (positions < size))[0]
        return keep, positions[keep]


def _runs(start: int, count: int, period: int | None) -> list[tuple[int, int, int, int]]:
    """Split positions [start, start + count) (reduced modulo ``period``) into contiguous runs
    inside one block: (block index, offset in the block, offset in the output, length)."""
    runs = []
    done = 0
    while done < count:
        position = start + done
        limit = count - done
        if period:
            position %= period
            limit = min(limit, period - position)  # the run stops where the period wraps
        block, offset = divmod(position, BLOCK)
        length = min(limit, BLOCK - offset)
        runs.append((block, offset, done, length))
        done += length
    return runs


_MASK32 = 0xFFFFFFFF
_MIX = (0x21F0AAAD, 0x735A2D97)
"""Multipliers of a two-round xorshift-multiply 32-bit hash (shifts 16, 15, 15), a bijection with
near-ideal avalanche, from the published search of C. Wellons' hash-prospector."""
_SECOND_UNIFORM = 0x5BD1E995


def _shift(h: Tensor, bits: int) -> Tensor:
    """Logical right shift of int32 lanes holding unsigned 32-bit values (>> is arithmetic)."""
    return (h >> bits) & ((1 << (32 - bits)) - 1)


def _mix_(h: Tensor) -> Tensor:
    """The 32-bit hash, in place on int32 lanes (multiplication wraps modulo 2**32)."""
    h.bitwise_xor_(_shift(h, 16)).mul_(_signed(_MIX[0]))
    h.bitwise_xor_(_shift(h, 15)).mul_(_signed(_MIX[1]))
    return h.bitwise_xor_(_shift(h, 15))


def _mix_int(value: int) -> int:
    """The same hash on a Python integer (for the few keys that are scalars)."""
    h = value & _MASK32
    h = ((h ^ (h >> 16)) * _MIX[0]) & _MASK32
    h = ((h ^ (h >> 15)) * _MIX[1]) & _MASK32
    return h ^ (h >> 15)


def _signed(value: int) -> int:
    """A 32-bit pattern as the int32 that holds it."""
    value &= _MASK32
    return value - (1 << 32) if value >= 1 << 31 else value


def _key(seed: int, *words: int) -> int:
    """Hash chain over the seed (any size, in 32-bit words) and further small keys."""
    h = 0
    seed = _unsigned(int(seed))
    while True:
        h = _mix_int(h ^ (seed & _MASK32))
        seed >>= 32
        if not seed:
            break
    for word in words:
        h = _mix_int(h ^ (_unsigned(int(word)) & _MASK32))
    return h


def position_normals(
    seed: int, stream: int, rows: Tensor, cols: Tensor, channels: int = 1
) -> Tensor:
    """Standard-normal values at global positions: (B, channels, h, w) float32 for integer
    ``rows`` (B, h) and ``cols`` (B, w), on their device.

    Already reduced modulo a period where a canvas wraps (the caller's lookup). A value depends
    only on (seed, stream, channel, row, column): hash to two 24-bit uniforms, then Box-Muller.
    """
    device = rows.device
    keys = torch.tensor(
        [_signed(_key(seed, stream, c)) for c in range(channels)], dtype=torch.int32, device=device
    )
    row_keys = _mix_(keys[None, :, None] ^ rows.to(torch.int32)[:, None, :])  # (B, C, h)
    first = _mix_(row_keys[..., None] ^ cols.to(torch.int32)[:, None, None, :])  # (B, C, h, w)
    second = _mix_(first ^ _signed(_SECOND_UNIFORM))
    radius = _shift(first, 8).add_(1).float().mul_(2.0**-24).log_().mul_(-2.0).sqrt_()
    angle = _shift(second, 8).float().mul_(2.0 * math.pi * 2.0**-24).cos_()
    return angle.mul_(radius)


def periodic_range(start: int, count: int, period: int | None) -> Tensor:
    """Positions [start, start + count) reduced modulo ``period`` (None: no wrap), int64."""
    positions = torch.arange(start, start + count)
    return positions.remainder(period) if period else positions
