"""Cloud-layer tiles: where a direction of the sky lands on the layer, and the density it gets."""

from __future__ import annotations

import math

import numpy as np
from conftest import load_tool
from PIL import Image

from generator.files.imagefile import srgb_to_linear
from trainer.config import PRESETS

tiles = load_tool("cloud_tiles")
assemble = load_tool("assemble_data")

BLUE = np.array([0.05, 0.15, 0.60], np.float32)  # clear: red/blue 0.08
GREY = np.array([0.60, 0.62, 0.65], np.float32)  # cloud: red/blue 0.92


def _sky_with_cloud_at(azimuth: float, elevation: float, width: int = 720) -> np.ndarray:
    """A 2:1 equirect of clear sky with one small grey cloud (3° across) in a known direction."""
    height = width // 2
    az = np.radians((np.arange(width) + 0.5) / width * 360.0)
    el = np.radians(90.0 - (np.arange(height) + 0.5) / height * 180.0)
    a, e = np.meshgrid(az, el)
    d = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=-1)
    a0, e0 = math.radians(azimuth), math.radians(elevation)
    target = np.array([math.cos(e0) * math.cos(a0), math.cos(e0) * math.sin(a0), math.sin(e0)])
    cloud = d @ target > math.cos(math.radians(1.5))
    return np.where(cloud[..., None], GREY, BLUE).astype(np.float32)


def _centroid(tile: np.ndarray) -> tuple[float, float]:
    density = tile[..., 0].astype(np.float64)
    rows, cols = np.indices(density.shape)
    return (rows * density).sum() / density.sum(), (cols * density).sum() / density.sum()


def test_the_window_is_centred_on_the_zenith_with_its_corners_at_the_minimum_elevation():
    d = tiles.layer_directions(64, 25.0)
    assert d.shape == (64, 64, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(d[31:33, 31:33, :2].mean(axis=(0, 1)), 0.0, atol=1e-12)
    corner = tiles.layer_directions(1000, 25.0)[0, 0]  # row 0 is towards +x, column 0 towards +y
    assert corner[0] > 0 and corner[1] > 0
    assert 25.0 < math.degrees(math.asin(corner[2])) < 25.1


def test_a_cloud_in_a_known_direction_lands_at_its_place_on_the_layer():
    size = 128
    half = 1 / math.tan(math.radians(tiles.MIN_ELEVATION)) / math.sqrt(2)
    reach = 1 / math.tan(math.radians(60.0))  # distance on a layer at height 1
    offset = reach / (2 * half) * size  # px from the centre
    centre = size / 2 - 0.5  # pixel-centre coordinate of the tile's middle
    ahead = tiles.layer_tile(tiles.equirect_lookup(_sky_with_cloud_at(0.0, 60.0)), size)
    np.testing.assert_allclose(_centroid(ahead), (centre - offset, centre), atol=0.5)
    left = tiles.layer_tile(tiles.equirect_lookup(_sky_with_cloud_at(90.0, 60.0)), size)
    np.testing.assert_allclose(_centroid(left), (centre, centre - offset), atol=0.5)
    assert ahead.max() == 255 and np.percentile(ahead, 90) == 0  # cloud is cloud, sky is clear


def test_the_upper_hemisphere_equirect_reads_as_the_whole_sphere_does():
    sphere = _sky_with_cloud_at(45.0, 50.0)
    upper = sphere[: sphere.shape[0] // 2]
    whole = tiles.layer_tile(tiles.equirect_lookup(sphere), 64)
    np.testing.assert_array_equal(tiles.layer_tile(tiles.equirect_lookup(upper), 64), whole)
    np.testing.assert_array_equal(tiles.photo_tile(upper, 64), whole)


def test_a_photo_looking_up_is_centre_cropped_into_a_grey_density_tile():
    photo = np.tile(BLUE, (90, 160, 1))
    photo[:, 35:125] = GREY  # the centred square is all cloud
    tile = tiles.photo_tile(photo, 32)
    assert tile.shape == (32, 32, 3)
    assert (tile == 255).all()


def test_a_folder_of_photos_becomes_tiles_and_unreadable_files_are_named(tmp_path, capsys):
    photos = tmp_path / "photos"
    (photos / "day").mkdir(parents=True)
    srgb = np.round(255 * np.clip(BLUE, 0, 1) ** (1 / 2.2)).astype(np.uint8)
    Image.fromarray(np.tile(srgb, (40, 60, 1))).save(photos / "day" / "clear.jpg")
    (photos / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "tiles"
    assert tiles.main([str(photos), "--out", str(out), "--size", "16"]) == 0
    with Image.open(out / "day" / "clear.png") as image:
        pixels = np.asarray(image)
    assert pixels.shape == (16, 16, 3) and pixels.max() == 0
    assert not (out / "broken.png").exists()
    assert "broken.png" in capsys.readouterr().err


def test_the_density_survives_the_8_bit_tile():
    grey = srgb_to_linear(np.array([0.5, 0.5, 0.5], np.float32))  # any grey is opaque cloud
    assert (tiles.layer_tile(lambda x, y, z: np.tile(grey, (x.size, 1)), 8) == 255).all()


def test_every_zero_ad_sky_box_is_reviewed_for_clouds_once():
    kept, dropped = set(assemble.CLOUD_SKIES), set(assemble.CLOUD_EXCLUDED)
    assert not kept & dropped
    assert kept >= assemble.CLOUD_VALIDATION


def test_a_reserved_tile_becomes_five_windows_at_its_centre_and_corners():
    tile = np.arange(512 * 512 * 3, dtype=np.int64).reshape(512, 512, 3)
    windows = assemble.cloud_windows(tile)
    assert sorted(windows) == ["_centre", "_ne", "_nw", "_se", "_sw"]
    w = assemble.CLOUD_WINDOW
    assert all(window.shape == (w, w, 3) for window in windows.values())
    np.testing.assert_array_equal(windows["_nw"], tile[:w, :w])
    np.testing.assert_array_equal(windows["_se"], tile[-w:, -w:])
    np.testing.assert_array_equal(windows["_centre"], tile[64 : 64 + w, 64 : 64 + w])


def test_the_clouds_preset_draws_a_texture_on_a_torus_without_coordinates():
    preset = PRESETS["clouds"]
    assert not preset.model.vertical_conditioning
    assert not preset.model.horizontal_conditioning
    assert preset.model.extra == {"preset": "clouds"}
    assert preset.discriminator == "projected"
