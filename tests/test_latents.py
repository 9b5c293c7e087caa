"""Randomness is a function of (seed, stream, position), never of the request."""

from __future__ import annotations

import numpy as np

from generator.latents import BLOCK, NormalField, global_latent


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
