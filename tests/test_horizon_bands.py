"""Horizon bands: the horizon finder, the band's geometry and Stellarium's panorama layout."""

from __future__ import annotations

import numpy as np
from conftest import load_tool
from PIL import Image

bands = load_tool("horizon_bands")


def _landscape(height: int, width: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Blue sky over textured green land whose skyline wobbles around `horizon` (its median)."""
    rng = np.random.default_rng(0)
    skyline = horizon + np.arange(width) % 13 - 6  # -6..6 equally often when 13 divides width
    land = np.arange(height)[:, None] >= skyline[None, :]
    rgb = np.where(land[..., None], [60, 120, 40], [110, 160, 230]).astype(np.uint8)
    rgb[land] = np.clip(rgb[land] + rng.integers(-20, 20, (int(land.sum()), 3)), 0, 255)
    return rgb, land


def test_horizon_is_the_median_skyline():
    _, land = _landscape(200, 260, horizon=83)
    assert bands.horizon_row(land) == 83
    assert bands.horizon_row(np.zeros((40, 10), bool)) == 40  # no land: below the image


def test_band_has_the_height_and_the_horizon_at_its_middle_row():
    rgb, land = _landscape(300, 390, horizon=120)
    band = bands.cut_band(rgb, land, rows_per_half=40.0, width=256)
    assert band.shape == (bands.BAND_HEIGHT, 256, 4)
    middle = bands.BAND_HEIGHT // 2
    assert bands.horizon_row(band[..., 3] >= 128) == middle
    flat = np.ones_like(land)
    flat[:120] = False  # a straight horizon: every column turns to land at the middle row
    band = bands.cut_band(rgb, flat, rows_per_half=40.0, width=256)
    assert (band[: middle - 1, :, 3] == 0).all() and (band[middle + 1 :, :, 3] == 255).all()


def test_band_above_the_image_is_transparent_sky():
    rgb, land = _landscape(100, 208, horizon=10)
    band = bands.panorama_band(rgb, land, rows_per_degree=5.0)  # 40 rows wanted above, 10 exist
    assert band.shape == (bands.BAND_HEIGHT, round(360 * bands.PIXELS_PER_DEGREE), 4)
    assert (band[:20] == 0).all()


def test_stellarium_old_style_panels_join_in_order(tmp_path):
    for index, grey in enumerate((10, 20, 30)):
        pixels = np.full((16, 8, 4), grey, np.uint8)
        pixels[..., 3] = 255
        Image.fromarray(pixels, "RGBA").save(tmp_path / f"p{index}.png")
    (tmp_path / "landscape.ini").write_text(
        "[landscape]\ntype = old_style\nnbside = 3\ntex0 = p0.png\ntex1 = p1.png\n"
        "tex2 = p2.png\nside0 = tex2:0:0:1:1\nside1 = tex0:0:0:1:1\nside2 = tex1:0:0:1:1\n"
        "decor_alt_angle = 40\ndecor_angle_shift = -30 ; comment\n",
        encoding="utf-8",
    )
    pixels, rows_per_degree, files = bands.stellarium_panorama(tmp_path)
    assert pixels.shape == (16, 24, 4)
    assert [int(pixels[0, x, 0]) for x in (0, 8, 16)] == [30, 10, 20]
    assert rows_per_degree == 16 / 40
    assert files == "{p2.png,p0.png,p1.png}"
