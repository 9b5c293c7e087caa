"""Horizon bands: the horizon finder, the band's geometry and Stellarium's panorama layout."""

from __future__ import annotations

import numpy as np
import pytest
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


def _photo(height: int, width: int, skyline: np.ndarray) -> np.ndarray:
    """A vertical sky gradient over textured land whose first row per column is `skyline`."""
    rng = np.random.default_rng(1)
    rows = np.arange(height)[:, None]
    sky = np.stack([90 + rows * 0.3, 140 + rows * 0.2, 230 - rows * 0.1], axis=-1)
    rgb = np.broadcast_to(sky, (height, width, 3)).copy()
    land = rows >= skyline[None, :]
    rgb[land] = [70, 90, 50]
    rgb[land] += rng.integers(-25, 25, (int(land.sum()), 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_skyline_search_follows_a_hilly_skyline():
    width = 300
    x = np.arange(width)
    truth = np.round(100 + 18 * np.sin(x / 23.0) + 6 * np.sin(x / 7.0)).astype(int)
    rgb = _photo(240, width, truth)
    found = bands.find_skyline(rgb, top=60, bottom=160)
    assert found.shape == (width,)
    assert np.abs(found - truth).max() <= 1
    with pytest.raises(ValueError):
        bands.find_skyline(rgb, top=5, bottom=160)  # no sky rows above the window


def test_photo_band_puts_the_skyline_at_the_middle_row():
    width, fov = 600, 60.0
    truth = np.full(width, 150)
    truth[200:260] = 130  # a hill on a straight horizon
    band = bands.photo_band(_photo(400, width, truth), (0.2, 0.6), fov)
    assert band.shape == (bands.BAND_HEIGHT, round(fov * bands.PIXELS_PER_DEGREE), 4)
    skyline = bands.skyline_rows(band[..., 3] >= 128)
    assert np.median(skyline) == bands.BAND_HEIGHT // 2
    # The hill rises 20 source rows: 20 / (600 / 60) degrees, at 8 px per degree: 16 band rows.
    hill = slice(round(210 * 480 / 600), round(250 * 480 / 600))
    assert np.abs(skyline[hill] - (bands.BAND_HEIGHT // 2 - 16)).max() <= 1


def test_torcs_refuses_an_unreviewed_track(tmp_path):
    for name in [*bands.TORCS_BACKGROUNDS, *bands.TORCS_EXCLUDED, "road/new-track"]:
        folder = tmp_path / bands.TORCS / name
        folder.mkdir(parents=True)
        (folder / "background.png").write_bytes(b"")
    with pytest.raises(ValueError, match="road/new-track"):
        next(bands.torcs_bands(lambda package: tmp_path, lambda *row: None))


def test_a_wallpaper_band_takes_the_photo_split(tmp_path):
    width = 600
    Image.fromarray(_photo(400, width, np.full(width, 150))).save(tmp_path / "p.png")
    dropped = []
    key = min(bands.WALLPAPER_BANDS)  # the bands come sorted by (package, name)

    def photo(package: str, name: str):
        return tmp_path / "p.png", f"in/{name}", "validation", "CC0-1.0", "someone"

    made = list(bands.wallpaper_bands(photo, lambda *row: dropped.append(row)))
    assert len(made) == len(bands.WALLPAPER_BANDS)
    assert made[0].split == "validation" and made[0].path.startswith("validation/horizon/")
    assert made[0].package == key[0] and made[0].source_path == f"in/{key[1]}"
    assert len(dropped) == len(bands.WALLPAPER_EXCLUDED)
