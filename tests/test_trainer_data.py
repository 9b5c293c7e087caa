"""Training data: folder scanning, decoding to linear light, patch sampling and loaders."""

from __future__ import annotations

import dataclasses
import itertools
import logging

import numpy as np
import OpenEXR
import pytest
import tifffile
import torch
from PIL import Image, ImageOps

from generator.files.colorspace import linear_to_model
from generator.files.imagefile import open_image_writer, srgb_to_linear
from generator.files.photo import ImageReadError, load_linear
from generator.network.config import PRESETS
from trainer.data import (
    DataError,
    PatchDataset,
    SampleStream,
    find_images,
    make_loader,
    scan_folder,
)

TINY = PRESETS["tiny"]  # 4 px per latent cell, frame 8 x 16 cells = 32 x 64 px
PPC = TINY.pixels_per_cell
FRAME_H, FRAME_W = TINY.native_height * PPC, TINY.native_width * PPC
GOOD = [
    "alpha.webp",
    "cmyk.jpg",
    "deep.png",
    "gray.png",
    "gray16.png",
    "hdr.exr",
    "rgb.jpg",
    "scan16.tif",
    "sub/deeper/NESTED.JPG",
]
BAD = {
    "empty.png": "empty file",
    "text.jpg": "not an image",
    "tiny.png": "too small 8x8",
    "truncated.jpg": "truncated",
}


def noise(height: int, width: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def write_exr(path, planes: dict[str, np.ndarray]) -> None:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, planes) as exr:
        exr.write(str(path))


def linear_gradient(height: int, width: int) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, height * width * 3, dtype=np.float32)
    return ramp.reshape(height, width, 3)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Every kind of good file the trainer accepts, bad ones, and files it must not see."""
    root = tmp_path_factory.mktemp("photos")
    Image.fromarray(noise(40, 48)).save(root / "rgb.jpg", quality=95)
    with open_image_writer(root / "deep.png", 40, 24, bit_depth=16) as writer:
        writer.write_rows(linear_gradient(24, 40))
    Image.fromarray(noise(32, 32, channels=1)).save(root / "gray.png")
    gray16 = np.linspace(0, 65535, 400).astype(np.uint16).reshape(20, 20)
    Image.fromarray(gray16).save(root / "gray16.png")
    Image.new("CMYK", (32, 24), (255, 0, 0, 0)).save(root / "cmyk.jpg", quality=95)
    Image.new("RGBA", (30, 20), (200, 100, 50, 128)).save(root / "alpha.webp", lossless=True)
    hdr = np.full((20, 40, 3), (0.5, 2.0, 100.0), dtype=np.float32)
    write_exr(root / "hdr.exr", {"RGB": hdr})
    tifffile.imwrite(root / "scan16.tif", noise(20, 24).astype(np.uint16) * 257, photometric="rgb")
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.fromarray(noise(28, 36, seed=1)).save(root / "sub" / "deeper" / "NESTED.JPG")

    buffer = root / "whole.jpg"
    Image.fromarray(noise(64, 64, seed=2)).save(buffer, quality=95)
    data = buffer.read_bytes()
    buffer.unlink()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "text.jpg").write_text("not a photo\n")
    Image.fromarray(noise(8, 8)).save(root / "tiny.png")
    (root / "empty.png").write_bytes(b"")

    Image.fromarray(noise(32, 32)).save(root / ".hidden.jpg")
    (root / ".cache").mkdir()
    Image.fromarray(noise(32, 32)).save(root / ".cache" / "inside.jpg")
    (root / "notes.txt").write_text("a text file")
    return root


def names(paths, root) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths]


def test_find_images_is_recursive_sorted_and_skips_hidden(photos):
    expected = sorted([*GOOD, *BAD], key=lambda name: tuple(name.split("/")))
    assert names(find_images(photos), photos) == expected


def test_find_images_errors_are_one_line(tmp_path):
    (tmp_path / "file.jpg").write_bytes(b"x")
    for path, words in ((tmp_path / "missing", "not found"), (tmp_path / "file.jpg", "not a")):
        with pytest.raises(DataError, match=words) as caught:
            find_images(path)
        assert "\n" not in str(caught.value)


def test_scan_keeps_good_files_and_reports_bad_ones_once(photos, caplog):
    caplog.set_level(logging.INFO, logger="trainer.data")
    result = scan_folder(photos, min_side=16, workers=0)
    assert names([info.path for info in result.good], photos) == GOOD
    assert {bad.path.relative_to(photos).as_posix(): bad.reason for bad in result.bad} == BAD
    sizes = {info.path.name: (info.width, info.height) for info in result.good}
    assert sizes["rgb.jpg"] == (48, 40)
    assert sizes["hdr.exr"] == (40, 20)
    records = [r for r in caplog.records if r.name == "trainer.data"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "skipped 4 of 13 images" in message
    for name, reason in BAD.items():
        assert f"{name} ({reason})" in message
    assert result.summary() == {"folder": str(photos), "images": len(GOOD), "skipped": 4}


def test_empty_or_unusable_folder_is_one_clear_error(tmp_path, photos):
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in BAD:
        (broken / name).write_bytes((photos / name).read_bytes())
    for folder, words in ((empty, "no images in"), (broken, "no usable images in")):
        with pytest.raises(DataError, match=words) as caught:
            scan_folder(folder, min_side=16, workers=0)
        assert "\n" not in str(caught.value)
    assert "truncated.jpg (truncated)" in str(caught.value)


def test_many_bad_files_are_counted_after_ten_names(tmp_path, photos, caplog):
    for index in range(13):
        (tmp_path / f"bad{index:02}.jpg").write_text("text")
    (tmp_path / "good.jpg").write_bytes((photos / "rgb.jpg").read_bytes())
    caplog.set_level(logging.WARNING, logger="trainer.data")
    scan_folder(tmp_path, min_side=16, workers=0)
    (message,) = [r.getMessage() for r in caplog.records if r.name == "trainer.data"]
    assert "skipped 13 of 14 images" in message
    assert message.endswith("bad09.jpg (not an image), and 3 more")


def test_load_linear_decodes_srgb_to_linear_light(tmp_path, photos):
    Image.new("RGB", (4, 3), (188, 188, 188)).save(tmp_path / "mid.png")
    mid = load_linear(tmp_path / "mid.png")
    assert mid.shape == (3, 4, 3) and mid.dtype == np.float32
    np.testing.assert_allclose(mid, 0.5029, atol=1e-3)  # sRGB 188/255 is half the light

    gray = load_linear(photos / "gray.png")
    assert np.array_equal(gray[..., 0], gray[..., 2])
    cyan = load_linear(photos / "cmyk.jpg")
    assert cyan[..., 0].max() < 0.02 and cyan[..., 1:].min() > 0.95
    alpha = load_linear(photos / "alpha.webp")  # alpha is dropped, colour kept
    np.testing.assert_allclose(alpha[0, 0], srgb_to_linear(np.array([200, 100, 50]) / 255.0))
    assert np.ptp(alpha, axis=(0, 1)).max() == 0


def test_16_bit_files_keep_their_precision(photos):
    deep = load_linear(photos / "deep.png")
    np.testing.assert_allclose(deep, linear_gradient(24, 40), atol=4e-5)
    assert len(np.unique(deep)) > 1000

    gray16 = load_linear(photos / "gray16.png")
    codes = np.linspace(0, 65535, 400).astype(np.uint16).reshape(20, 20)
    expected = srgb_to_linear(codes / 65535.0)
    for channel in range(3):
        np.testing.assert_allclose(gray16[..., channel], expected, atol=1e-6)

    scan = load_linear(photos / "scan16.tif")
    np.testing.assert_allclose(scan, srgb_to_linear(noise(20, 24) / 255.0), atol=1e-6)


def test_exr_stays_linear_and_is_made_safe(tmp_path, photos):
    hdr = load_linear(photos / "hdr.exr")
    np.testing.assert_allclose(hdr[0, 0], (0.5, 2.0, 100.0))
    odd = np.array([[np.nan, np.inf, -np.inf, -3.0, 7.5]], dtype=np.float32)
    write_exr(tmp_path / "odd.exr", {"Y": odd.astype(np.float16)})
    safe = load_linear(tmp_path / "odd.exr")
    np.testing.assert_array_equal(safe[..., 1], [[0.0, 65504.0, 0.0, 0.0, 7.5]])
    assert safe.shape == (1, 5, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    path = tmp_path / "turned.png"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(noise(3, 5)).save(path, exif=exif)
    with Image.open(path) as image:
        upright = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(load_linear(path), srgb_to_linear(upright / 255.0))


def test_cover_downscales_but_never_upscales(tmp_path):
    path = tmp_path / "big.jpg"
    y, x = np.mgrid[0:300, 0:400]
    smooth = np.stack([x * 0.6, y * 0.8, (x + y) * 0.3], axis=-1).astype(np.uint8)
    Image.fromarray(smooth).save(path, quality=95)
    full = load_linear(path)
    small = load_linear(path, cover=(30, 50))
    assert small.shape == (38, 50, 3)
    np.testing.assert_allclose(small.mean(axis=(0, 1)), full.mean(axis=(0, 1)), atol=0.01)
    assert load_linear(path, cover=(600, 100)).shape == full.shape


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_raise_one_error_type(photos, name):
    if name == "tiny.png":
        assert load_linear(photos / name).shape == (8, 8, 3)  # small is the scan's rule
        return
    with pytest.raises(ImageReadError) as caught:
        load_linear(photos / name)
    assert caught.value.reason == BAD[name]


def frame_folder(tmp_path, count: int = 3):
    """PNGs of exactly the frame's size, so the frame is the image itself (no resampling)."""
    paths = []
    for index in range(count):
        paths.append(tmp_path / f"frame{index}.png")
        Image.fromarray(noise(FRAME_H, FRAME_W, seed=10 + index)).save(paths[-1])
    return paths


def model_space(path) -> torch.Tensor:
    return torch.from_numpy(linear_to_model(load_linear(path), TINY)).permute(2, 0, 1)


def cut(frame: torch.Tensor, top: int, left: int, patch: int) -> torch.Tensor:
    return frame[:, top * PPC : top * PPC + patch, left * PPC : left * PPC + patch]


def test_patches_have_the_right_shape_range_and_aligned_positions(photos):
    files = scan_folder(photos, min_side=16, workers=0).good
    dataset = PatchDataset(files, TINY, 16, hflip=True, seed=1)
    assert len(dataset) == len(GOOD)
    for key in range(40):
        item = dataset[key]
        assert item["patch"].shape == (3, 16, 16) and item["patch"].dtype == torch.float32
        assert item["patch"].min() >= -1 and item["patch"].max() <= 1
        assert item["top"].dtype == torch.int64 and item["left"].dtype == torch.int64
        assert 0 <= item["top"] <= TINY.native_height - 4
        assert 0 <= item["left"] <= TINY.native_width - 4
    log_config = dataclasses.replace(TINY, color_space="log")
    hdr = PatchDataset([photos / "hdr.exr"], log_config, 8, equirect=True)
    assert torch.isfinite(hdr[0]["patch"]).all() and hdr[0]["patch"].max() > 0


def test_patch_is_the_frame_region_at_its_cell_position(tmp_path):
    paths = frame_folder(tmp_path)
    dataset = PatchDataset(paths, TINY, 12, crop_scale=(1.0, 1.0))
    frames = [model_space(path) for path in paths]
    positions = set()
    for key in range(30):
        item = dataset[key]
        top, left = int(item["top"]), int(item["left"])
        positions.add((top, left))
        torch.testing.assert_close(item["patch"], cut(frames[key % 3], top, left, 12))
    assert len(positions) > 10


def test_hflip_flips_the_frame_about_half_the_time(tmp_path):
    (path,) = frame_folder(tmp_path, 1)
    frame = model_space(path)
    dataset = PatchDataset([path], TINY, 16, hflip=True, crop_scale=(1.0, 1.0))
    flips = []
    for key in range(40):
        item = dataset[key]
        top, left = int(item["top"]), int(item["left"])
        plain = torch.equal(item["patch"], cut(frame, top, left, 16))
        flipped = torch.equal(item["patch"], cut(frame.flip(2), top, left, 16))
        assert plain != flipped
        flips.append(flipped)
    assert 10 < sum(flips) < 30


def test_equirect_shifts_are_circular_by_whole_cells(tmp_path):
    (path,) = frame_folder(tmp_path, 1)
    frame = model_space(path)
    dataset = PatchDataset([path], TINY, 32, equirect=True)
    wrapped = 0
    for key in range(30):
        item = dataset[key]
        top, left = int(item["top"]), int(item["left"])
        shifts = [
            cells
            for cells in range(TINY.native_width)
            if torch.equal(item["patch"], cut(frame.roll(cells * PPC, dims=2), top, left, 32))
        ]
        assert len(shifts) == 1
        start = (left - shifts[0]) % TINY.native_width  # the patch's first column in the image
        wrapped += start + 32 // PPC > TINY.native_width
    assert wrapped > 0  # some patches join the image's right edge to its left edge


@pytest.mark.parametrize(("top_elevation", "first_row"), [(90.0, 0), (45.0, 2)])
def test_upper_hemisphere_panoramas_fill_only_their_rows_of_the_frame(
    tmp_path, top_elevation, first_row
):
    """A 4:1 sky box covers 90 degrees from ``panorama_top`` down: half of the frame's rows."""
    path = tmp_path / "upper.png"
    Image.fromarray(noise(FRAME_H // 2, FRAME_W, seed=3)).save(path)
    image = model_space(path)
    dataset = PatchDataset([path], TINY, 8, equirect=True, panorama_top=top_elevation)
    tops = set()
    for key in range(60):
        item = dataset[key]
        top, left = int(item["top"]), int(item["left"])
        tops.add(top)
        image_row = top - first_row
        found = any(
            torch.equal(item["patch"], cut(image.roll(c * PPC, dims=2), image_row, left, 8))
            for c in range(TINY.native_width)
        )
        assert found, (top, left)
    rows = TINY.native_height // 2 - 8 // PPC  # last cell row a patch may start on
    assert tops == set(range(first_row, first_row + rows + 1))


def test_items_depend_only_on_seed_and_key(photos):
    files = scan_folder(photos, min_side=16, workers=0).good
    first = PatchDataset(files, TINY, 16, hflip=True, seed=5)
    again = PatchDataset(files, TINY, 16, hflip=True, seed=5, cache_mb=0)
    other = PatchDataset(files, TINY, 16, hflip=True, seed=6)
    for key in (3, 6, 3, 17):  # noise images: any other crop differs
        a, b, c = first[key], again[key], other[key]
        assert all(torch.equal(a[name], b[name]) for name in a)
        assert not torch.equal(a["patch"], c["patch"])


def test_a_file_that_breaks_later_is_skipped_and_logged_once(tmp_path, caplog):
    good, doomed = frame_folder(tmp_path, 2)
    dataset = PatchDataset([good, doomed], TINY, 16, crop_scale=(1.0, 1.0))
    doomed.unlink()
    frame = model_space(good)
    caplog.set_level(logging.WARNING, logger="trainer.data")
    for key in (1, 3, 5):
        item = dataset[key]
        torch.testing.assert_close(item["patch"], cut(frame, item["top"], item["left"], 16))
    assert len([r for r in caplog.records if "frame1.png" in r.getMessage()]) == 1
    good.unlink()
    dataset._cache.clear()
    with pytest.raises(DataError, match="none of the 2"):
        dataset[0]


def test_bad_dataset_options_are_rejected(tmp_path):
    paths = frame_folder(tmp_path, 1)
    for options in ({"patch": 10}, {"patch": 36}, {"patch": 8, "crop_scale": (0.0, 1.0)}):
        with pytest.raises(ValueError):
            PatchDataset(paths, TINY, **options)


def test_sample_stream_splits_samples_between_processes():
    single = list(itertools.islice(SampleStream(7, seed=2), 70))
    assert all(sorted(k % 7 for k in single[i : i + 7]) == list(range(7)) for i in range(0, 70, 7))
    assert len(set(single)) == 70
    ranks = [list(itertools.islice(SampleStream(7, 2, rank=r, world=2), 35)) for r in (0, 1)]
    assert not set(ranks[0]) & set(ranks[1])
    assert sorted(ranks[0] + ranks[1]) == sorted(single)
    resumed = list(itertools.islice(SampleStream(7, 2, start=20, rank=1, world=2), 5))
    assert resumed == ranks[1][10:15]


def batches(loader, count: int) -> list[dict[str, torch.Tensor]]:
    stream = iter(loader)
    return [next(stream) for _ in range(count)]


def same(a: list[dict], b: list[dict]) -> bool:
    return all(torch.equal(x[name], y[name]) for x, y in zip(a, b, strict=True) for name in x)


def test_loaders_with_workers_ranks_and_resume_agree(photos):
    scanned = scan_folder(photos, min_side=16, workers=2)
    assert scanned == scan_folder(photos, min_side=16, workers=0)
    dataset = PatchDataset(scanned.good, TINY, 16, hflip=True, seed=3)
    single = batches(make_loader(dataset, 4, 0, seed=3), 3)
    assert single[0]["patch"].shape == (4, 3, 16, 16) and single[0]["top"].shape == (4,)
    assert same(batches(make_loader(dataset, 4, 2, seed=3), 3), single)
    assert same(batches(make_loader(dataset, 4, 0, seed=3, start=8), 1), single[2:])
    assert not same(batches(make_loader(dataset, 4, 0, seed=4), 1), single[:1])
    ranks = [make_loader(dataset, 2, 0, seed=3, rank=r, world=2) for r in (0, 1)]
    keys = [set(itertools.islice(iter(loader.sampler), 40)) for loader in ranks]
    assert not keys[0] & keys[1]
    pair = [batches(loader, 1)[0] for loader in ranks]
    merged = torch.stack([pair[0]["patch"], pair[1]["patch"]], dim=1).reshape(4, 3, 16, 16)
    assert torch.equal(merged, single[0]["patch"])  # together the ranks see the same samples
