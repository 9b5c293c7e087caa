"""Randomness is a function of (seed, stream, position), never of the request."""

from __future__ import annotations

import math

import numpy as np
import torch

from generator.network.latents import (
    _SECOND_UNIFORM,
    BLOCK,
    NormalField,
    _key,
    _mix_int,
    global_latent,
    periodic_range,
    position_normals,
)


def test_overlapping_windows_agree_across_blocks_and_negative_positions():
    field = NormalField(seed=9, stream=3, channels=2)
    big = field.window(-70, -5, 150, 140)
    small = NormalField(seed=9, stream=3, channels=2).window(-3, 60, 40, 20)
    assert np.array_equal(small, big[:, 67:107, 65:85])


def test_periodic_lookup_wraps_any_period():
    period = BLOCK + 13  # not a multiple of the block size
    field = NormalField(seed=1, stream=0, channels=1, period=(None, period))
    row = field.window(0, 0, 2, 3 * period)
    assert np.array_equal(row[:, :, :period], row[:, :, period : 2 * period])
    assert np.array_equal(field.window(0, -5, 2, 5), row[:, :, period - 5 : period])


def test_streams_and_seeds_are_independent_and_normal():
    a = NormalField(1, 0, 1).window(0, 0, 128, 128)
    b = NormalField(1, 1, 1).window(0, 0, 128, 128)
    c = NormalField(2, 0, 1).window(0, 0, 128, 128)
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.05
    assert abs(np.corrcoef(a.ravel(), c.ravel())[0, 1]) < 0.05
    assert abs(a.mean()) < 0.05 and abs(a.std() - 1.0) < 0.05


def test_global_latent_is_deterministic_per_seed():
    assert np.array_equal(global_latent(4, 16), global_latent(4, 16))
    assert not np.allclose(global_latent(4, 16), global_latent(5, 16))


def _reference_normal(seed: int, stream: int, channel: int, row: int, col: int) -> float:
    """position_normals for one position, in Python integers and float64 (no wrap-around
    arithmetic to trust): what the int32 tensor lanes must reproduce on every device."""
    first = _mix_int(
        _mix_int(_key(seed, stream, channel) ^ (row & 0xFFFFFFFF)) ^ (col & 0xFFFFFFFF)
    )
    second = _mix_int(first ^ _SECOND_UNIFORM)
    radius = math.sqrt(-2.0 * math.log(((first >> 8) + 1) * 2.0**-24))
    return radius * math.cos(2.0 * math.pi * (second >> 8) * 2.0**-24)


def test_position_normals_equal_their_integer_definition():
    rows = torch.tensor([[-(2**31), -70, -1, 0, 5, 2**31 - 1]])
    cols = torch.tensor([[-3, 0, 1, 4097, 2**30]])
    for seed in (0, -7, 2**40 + 3):
        values = position_normals(seed, 17, rows, cols, channels=2)
        assert values.shape == (1, 2, 6, 5) and values.dtype == torch.float32
        for c in range(2):
            for i, row in enumerate(rows[0].tolist()):
                for j, col in enumerate(cols[0].tolist()):
                    expected = _reference_normal(seed, 17, c, row, col)
                    assert abs(values[0, c, i, j].item() - expected) < 1e-5


def test_position_normals_depend_only_on_position():
    big = position_normals(3, 16, torch.arange(-40, 60)[None], torch.arange(100, 300)[None])
    rows = torch.stack([torch.arange(-40, -10), torch.arange(20, 50)])
    cols = torch.stack([torch.arange(150, 170), torch.arange(100, 120)])
    batch = position_normals(3, 16, rows, cols)
    assert torch.equal(batch[0, 0], big[0, 0, 0:30, 50:70])
    assert torch.equal(batch[1, 0], big[0, 0, 60:90, 0:20])


def test_position_normals_are_independent_standard_normals():
    rows, cols = torch.arange(512)[None], torch.arange(512)[None]
    a = position_normals(1, 16, rows, cols, channels=2)[0].double()
    b = position_normals(1, 17, rows, cols)[0, 0].double()
    c = position_normals(2, 16, rows, cols)[0, 0].double()
    z = a[0]
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert abs((z**4).mean() - 3.0) < 0.05  # normal tails, not uniform-ish
    for other in (a[1], b, c, z[1:], z[:, 1:]):  # channels, streams, seeds, neighbours
        same = z[: other.shape[0], : other.shape[1]]
        assert abs(torch.corrcoef(torch.stack([same.ravel(), other.ravel()]))[0, 1]) < 0.01


def test_periodic_range_wraps():
    assert periodic_range(-2, 5, 3).tolist() == [1, 2, 0, 1, 2]
    assert periodic_range(-2, 3, None).tolist() == [-2, -1, 0]
