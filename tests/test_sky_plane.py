"""The plane textures the composed sky lays its layers on: exact, seamless reads."""

import numpy as np
import pytest

from generator.sky.plane import PlaneTexture


def reference_bilinear(tile: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``tile`` (N, N, C) at texel coordinates, wrapping, the plain
    way: four reads per sample, indices taken modulo the tile."""
    n = tile.shape[0]
    u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
    wu, wv = (u - u0)[..., None], (v - v0)[..., None]

    def at(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return tile[i % n, j % n].astype(np.float64)

    top = at(v0, u0) * (1 - wu) + at(v0, u0 + 1) * wu
    bottom = at(v0 + 1, u0) * (1 - wu) + at(v0 + 1, u0 + 1) * wu
    return top * (1 - wv) + bottom * wv


@pytest.mark.parametrize("channels", [1, 3])
def test_a_plane_texture_reads_its_tile_bilinearly_and_repeats_it_seamlessly(channels):
    size, period = 32, 64.0  # 2 m texels
    rng = np.random.default_rng(channels)
    tile = rng.uniform(0.0, 1.0, (size, size, channels)).astype(np.float32)
    texture = PlaneTexture(tile, period)
    x = rng.uniform(-3 * period, 3 * period, (4, 300)).astype(np.float32)
    z = rng.uniform(-3 * period, 3 * period, (4, 300)).astype(np.float32)
    x[0, :64] = np.linspace(period - 3.0, period + 3.0, 64)  # across the tile's edges
    z[1, :64] = np.linspace(-3.0, 3.0, 64)
    fine = np.full((4, 1), 0.5)  # a footprint under a texel reads the tile itself
    got = texture.sample(x, z, fine)
    texel = period / size
    want = reference_bilinear(tile, x / texel - 0.5, z / texel - 0.5)
    np.testing.assert_allclose(got, want, atol=1e-5)
    again = texture.sample(x + np.float32(period), z - np.float32(2 * period), fine)
    np.testing.assert_allclose(again, got, atol=1e-5, err_msg="one period on: the same")
    far = texture.sample(x, z, np.full((4, 1), 1e6))  # a footprint over many tiles: the mean
    np.testing.assert_allclose(far, np.broadcast_to(tile.mean((0, 1)), far.shape), atol=1e-5)
