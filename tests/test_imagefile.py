"""Streaming image writers: correct pixels and metadata, atomic output, clear errors."""

from __future__ import annotations

import errno
import json
import math
import os
import struct
import zlib

import numpy as np
import OpenEXR
import pytest
import tifffile
from PIL import Image

from generator.errors import BackdropError, OutputError
from generator.files import imagefile
from generator.files.atomicfile import PartialFile
from generator.files.imagefile import (
    SUPPORTED_FORMATS,
    linear_to_srgb,
    open_image_writer,
    read_image,
    read_metadata,
    srgb_to_linear,
)

WIDTH, HEIGHT = 37, 23
BANDS = (1, 7, 2, 13)  # uneven band heights adding up to HEIGHT
CASES = [
    ("png", 8),
    ("png", 16),
    ("exr", 16),
    ("exr", 32),
    ("tif", 8),
    ("tif", 16),
    ("tiff", 32),
]
METADATA = {
    "Software": "Endless Backdrops",
    "endless-backdrops:recipe": json.dumps({"style": "Aurore boréale 🌌", "seed": 7}),
    "Comment": "日本語のテキスト\nsecond line",
}


def make_image(width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> np.ndarray:
    """Linear RGB with smooth areas, noise, and values outside [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    smooth = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 3 + y / 5)], axis=-1)
    image = smooth * 1.3 - 0.1 + rng.normal(0, 0.05, smooth.shape)
    image[0, 0] = (0.0031308, 0.0, 1.0)  # the sRGB breakpoint and both ends
    return image.astype(np.float32)


def write(path, image: np.ndarray, bands=BANDS, **options) -> None:
    height, width, _ = image.shape
    with open_image_writer(path, width, height, **options) as writer:
        start = 0
        for band in bands:
            writer.write_rows(image[start : start + band])
            start += band
        writer.commit()


def srgb_codes(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """Integer codes computed independently from the sRGB definition, in float64."""
    x = np.clip(image.astype(np.float64), 0.0, 1.0)
    encoded = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.rint(encoded * (2**bit_depth - 1)).astype(np.int64)


def folder_entries(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_srgb_transfer_functions_match_the_standard():
    linear = np.array([0.0, 0.0031308, 0.18, 0.5, 1.0], dtype=np.float32)
    encoded = linear_to_srgb(linear)
    assert encoded.dtype == np.float32
    np.testing.assert_allclose(encoded, [0.0, 0.040449936, 0.46135613, 0.7353570, 1.0], atol=1e-6)
    ramp = np.linspace(0, 1, 1001, dtype=np.float32)
    assert srgb_to_linear(ramp).dtype == np.float32
    np.testing.assert_allclose(srgb_to_linear(linear_to_srgb(ramp)), ramp, atol=2e-6)


def test_every_8_bit_code_decodes_to_the_correctly_rounded_linear_value():
    """The same PNG decodes to the same linear values on every processor: the assembled
    training data is checked against pixel hashes (numpy's float32 power differs by a unit in
    the last place on AVX-512 machines)."""
    codes = np.arange(256, dtype=np.float32) / np.float32(255)
    base = (np.maximum(codes, 0.04045) + 0.055) / 1.055  # float32, as the decoder forms it
    exact = np.where(
        codes <= 0.04045,
        codes / 12.92,
        np.array([math.pow(float(b), float(np.float32(2.4))) for b in base]).astype(np.float32),
    )
    np.testing.assert_array_equal(srgb_to_linear(codes), exact)


@pytest.mark.parametrize(("extension", "bit_depth"), CASES)
def test_round_trip_in_uneven_bands(tmp_path, extension, bit_depth):
    image = make_image()
    path = tmp_path / f"out.{extension}"
    write(path, image, bit_depth=bit_depth, metadata=METADATA)

    back = read_image(path)
    assert back.shape == image.shape and back.dtype == np.float32
    if extension in ("png", "tif") and bit_depth < 32:
        codes = srgb_codes(image, bit_depth)
        expected = srgb_to_linear(codes.astype(np.float32) / np.float32(2**bit_depth - 1))
        np.testing.assert_array_equal(back, expected)
    elif bit_depth == 16:
        np.testing.assert_array_equal(back, image.astype(np.float16).astype(np.float32))
    else:
        np.testing.assert_array_equal(back, image)
    assert read_metadata(path) == METADATA
    assert folder_entries(tmp_path) == [path.name]


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_png_is_valid_for_pillow(tmp_path, bit_depth):
    image = make_image()
    path = tmp_path / "out.png"
    write(path, image, bit_depth=bit_depth, metadata=METADATA)

    with Image.open(path) as png:
        png.verify()  # checks chunk CRCs
    with Image.open(path) as png:
        assert png.size == (WIDTH, HEIGHT)
        assert png.text == METADATA
        pixels = np.asarray(png.convert("RGB")).astype(np.int64)
    codes = srgb_codes(image, bit_depth)
    # Pillow keeps only the high byte of 16-bit samples.
    np.testing.assert_array_equal(pixels, codes if bit_depth == 8 else codes >> 8)


@pytest.mark.parametrize(("width", "height"), [(WIDTH, HEIGHT), (1, 1), (5, 33), (19, 16)])
@pytest.mark.parametrize("bit_depth", [16, 32])
def test_exr_matches_the_openexr_library(tmp_path, width, height, bit_depth):
    image = make_image(width, height) * 100
    image[: height // 2] = 0.25  # compressible blocks as well as noisy ones that stay raw
    image[-1, -1] = 1e6  # beyond the half range: clipped to the largest half, not inf
    path = tmp_path / "out.exr"
    write(path, image, bands=(height,), bit_depth=bit_depth, metadata=METADATA)

    with OpenEXR.File(str(path)) as exr:  # the header is only valid while the file is open
        header = exr.header()
        assert header["compression"] == OpenEXR.ZIP_COMPRESSION
        assert [c.name for c in header["channels"]] == ["B", "G", "R"]
        assert {key: header[key] for key in METADATA} == METADATA
        pixels = exr.channels()["RGB"].pixels
    assert pixels.dtype == (np.float16 if bit_depth == 16 else np.float32)
    if bit_depth == 16:
        expected = np.clip(image, -65504, 65504).astype(np.float16)
        assert np.isfinite(pixels).all()
    else:
        expected = image
    np.testing.assert_array_equal(pixels, expected)


@pytest.mark.parametrize("bit_depth", [8, 16, 32])
def test_tiff_layout_for_other_readers(tmp_path, bit_depth, monkeypatch):
    monkeypatch.setattr(imagefile, "_TIFF_STRIP_BYTES", 1000)  # several strips, last one short
    image = make_image()
    path = tmp_path / "out.tif"
    write(path, image, bit_depth=bit_depth, metadata=METADATA)

    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages.first
        assert not tiff.is_bigtiff
        assert page.photometric == tifffile.PHOTOMETRIC.RGB
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert page.predictor == (1 if bit_depth == 32 else 2)
        assert HEIGHT % page.rowsperstrip != 0
        assert json.loads(page.description) == METADATA
        pixels = page.asarray()
    if bit_depth == 32:
        np.testing.assert_array_equal(pixels, image)
    else:
        np.testing.assert_array_equal(pixels, srgb_codes(image, bit_depth))
    if bit_depth == 8:  # Pillow decodes through libtiff, an independent implementation
        with Image.open(path) as tiff:
            np.testing.assert_array_equal(np.asarray(tiff), srgb_codes(image, 8))


def test_tiff_switches_to_bigtiff_for_huge_images(tmp_path, monkeypatch):
    monkeypatch.setattr(imagefile, "_BIGTIFF_BYTES", 100)
    image = make_image()
    path = tmp_path / "out.tif"
    write(path, image)
    with tifffile.TiffFile(path) as tiff:
        assert tiff.is_bigtiff
    assert read_image(path).shape == image.shape


@pytest.mark.parametrize(("extension", "bit_depth"), CASES)
def test_band_sizes_do_not_change_the_file(tmp_path, monkeypatch, extension, bit_depth):
    # Small internal pieces, strips and IDAT chunks so that every buffering path is crossed.
    monkeypatch.setattr(imagefile, "_PIECE_BYTES", 1000)
    monkeypatch.setattr(imagefile, "_TIFF_STRIP_BYTES", 2000)
    monkeypatch.setattr(imagefile, "_PNG_IDAT_BYTES", 300)
    image = make_image(WIDTH, 70)
    whole, banded = tmp_path / f"whole.{extension}", tmp_path / f"banded.{extension}"
    write(whole, image, bands=(70,), bit_depth=bit_depth)
    write(banded, image, bands=(1, 16, 15, 3, 17, 18), bit_depth=bit_depth)
    assert whole.read_bytes() == banded.read_bytes()
    np.testing.assert_array_equal(read_image(whole), read_image(banded))
    if extension == "png":
        with Image.open(banded) as png:
            png.verify()


def _filter_row(kind: int, row: bytes, previous: bytes, bpp: int) -> bytes:
    """Reference PNG filters, byte by byte, straight from the specification."""
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = previous[i]
        c = previous[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        paeth = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out.append((x - (0, a, b, (a + b) // 2, paeth)[kind]) & 0xFF)
    return bytes(out)


def test_16_bit_png_from_other_tools_with_every_filter_type(tmp_path):
    codes = np.random.default_rng(3).integers(0, 65536, (11, 9, 3)).astype(">u2")
    rows = [bytes(r) for r in codes.reshape(11, -1).view(np.uint8)]
    previous = bytes(len(rows[0]))
    scanlines = b""
    for y, row in enumerate(rows):
        scanlines += bytes([y % 5]) + _filter_row(y % 5, row, previous, 6)
        previous = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    path = tmp_path / "other.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 9, 11, 16, 2, 0, 0, 0))
        + chunk(b"tEXt", b"Title\0plain")
        + chunk(b"IDAT", zlib.compress(scanlines)[:20])
        + chunk(b"IDAT", zlib.compress(scanlines)[20:])
        + chunk(b"IEND", b"")
    )
    expected = srgb_to_linear(codes.astype(np.float32) / np.float32(65535))
    np.testing.assert_array_equal(read_image(path), expected)
    assert read_metadata(path) == {"Title": "plain"}


@pytest.mark.parametrize("extension", ["png", "exr", "tif"])
@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_existing_target_untouched(tmp_path, extension, interruption):
    path = tmp_path / f"out.{extension}"
    path.write_bytes(b"previous render")
    with (
        pytest.raises(interruption),
        open_image_writer(path, WIDTH, HEIGHT, metadata=METADATA) as writer,
    ):
        writer.write_rows(make_image()[:10])
        assert len(folder_entries(tmp_path)) == 2  # the target and the hidden partial file
        raise interruption
    assert folder_entries(tmp_path) == [path.name]
    assert path.read_bytes() == b"previous render"


def test_partial_file_is_hidden_next_to_the_target(tmp_path):
    path = tmp_path / "out.png"
    with open_image_writer(path, WIDTH, HEIGHT) as writer:
        (partial,) = folder_entries(tmp_path)
        assert partial.startswith(".out.png.") and partial.endswith(".partial")
        writer.write_rows(make_image())
    assert folder_entries(tmp_path) == ["out.png"]
    normal = tmp_path / "normal"
    normal.touch()
    assert path.stat().st_mode == normal.stat().st_mode  # permissions follow the umask


@pytest.mark.parametrize("extension", ["png", "exr", "tif"])
def test_too_few_rows_saves_nothing(tmp_path, extension):
    path = tmp_path / f"out.{extension}"
    with (
        pytest.raises(OutputError, match="incomplete"),
        open_image_writer(path, WIDTH, HEIGHT) as writer,
    ):
        writer.write_rows(make_image()[:-1])
    assert folder_entries(tmp_path) == []


@pytest.mark.parametrize("extension", ["png", "exr", "tif"])
def test_too_many_rows_is_refused(tmp_path, extension):
    path = tmp_path / f"out.{extension}"
    with (
        pytest.raises(ValueError, match="too many rows"),
        open_image_writer(path, WIDTH, HEIGHT) as writer,
    ):
        writer.write_rows(make_image())
        writer.write_rows(make_image()[:1])
    assert folder_entries(tmp_path) == []


def test_rows_of_the_wrong_width_are_refused(tmp_path):
    with open_image_writer(tmp_path / "out.png", WIDTH, HEIGHT) as writer:
        with pytest.raises(ValueError, match="shape"):
            writer.write_rows(np.zeros((2, WIDTH + 1, 3), np.float32))
        writer.abort()
    assert folder_entries(tmp_path) == []


def test_a_committed_writer_cannot_be_reused(tmp_path):
    path = tmp_path / "out.exr"
    with open_image_writer(path, WIDTH, HEIGHT) as writer:
        writer.write_rows(make_image())
        writer.commit()
        with pytest.raises(ValueError, match="committed"):
            writer.write_rows(make_image()[:1])
        writer.abort()  # no effect once committed
    assert path.exists()


@pytest.mark.parametrize(
    ("name", "bit_depth", "message"),
    [
        ("out.jpg", None, "unsupported image format '.jpg'"),
        ("out", None, "unsupported image format"),
        ("out.png", 32, "PNG cannot store 32-bit"),
        ("out.exr", 8, "OpenEXR cannot store 8-bit"),
        ("out.TIFF", 12, "TIFF cannot store 12-bit"),
    ],
)
def test_unsupported_format_or_bit_depth_fails_at_open(tmp_path, name, bit_depth, message):
    with pytest.raises(OutputError, match=message) as caught:
        open_image_writer(tmp_path / name, WIDTH, HEIGHT, bit_depth=bit_depth)
    assert "\n" not in str(caught.value)
    assert folder_entries(tmp_path) == []
    if "format" in message:
        assert SUPPORTED_FORMATS in str(caught.value)


def test_extension_case_does_not_matter(tmp_path):
    write(tmp_path / "OUT.PNG", make_image(), bit_depth=16)
    assert read_image(tmp_path / "OUT.PNG").shape == (HEIGHT, WIDTH, 3)


def test_supported_formats_text_lists_every_option():
    for text in (".png", ".exr", ".tif", ".tiff", "half", "float", "default 8", "default 16"):
        assert text in SUPPORTED_FORMATS


def test_missing_folder_fails_at_open(tmp_path):
    with pytest.raises(OutputError, match="folder does not exist"):
        open_image_writer(tmp_path / "missing" / "out.png", WIDTH, HEIGHT)


def test_path_that_is_a_folder_fails_at_open(tmp_path):
    (tmp_path / "out.png").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        open_image_writer(tmp_path / "out.png", WIDTH, HEIGHT)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions")
def test_unwritable_folder_fails_at_open(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            open_image_writer(folder / "out.tif", WIDTH, HEIGHT)
    finally:
        folder.chmod(0o700)


def test_permission_denied_fails_at_open(tmp_path, monkeypatch):
    """Same as above, but also where the tests run as root (which ignores permissions)."""
    real_open = os.open

    def refusing_open(path, flags, *args):
        if str(path).startswith(str(tmp_path)) and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(OutputError, match=f"output folder is not writable: {tmp_path}"):
        open_image_writer(tmp_path / "out.exr", WIDTH, HEIGHT)


@pytest.mark.parametrize("extension", ["png", "exr", "tif"])
@pytest.mark.parametrize("fail_after", [0, 2000])  # while writing rows, or at the very end
@pytest.mark.parametrize(
    ("code", "message"),
    [
        (errno.ENOSPC, "disk full"),
        pytest.param(
            getattr(errno, "EDQUOT", 0),
            "quota",
            marks=pytest.mark.skipif(not hasattr(errno, "EDQUOT"), reason="no disk quotas"),
        ),
    ],
)
def test_disk_full_leaves_nothing_behind(
    tmp_path, monkeypatch, extension, fail_after, code, message
):
    path = tmp_path / f"out.{extension}"
    path.write_bytes(b"previous render")
    writer = open_image_writer(path, WIDTH, HEIGHT, bit_depth=32 if extension != "png" else 16)
    real_write = PartialFile.write
    written = 0

    def filling_write(self, data):
        nonlocal written
        written += len(data)
        if written > fail_after:
            raise OSError(code, os.strerror(code))
        return real_write(self, data)

    monkeypatch.setattr(PartialFile, "write", filling_write)
    with pytest.raises(OutputError, match=f"{message}.*{path.name}"), writer:
        writer.write_rows(make_image())
        writer.commit()
    assert folder_entries(tmp_path) == [path.name]
    assert path.read_bytes() == b"previous render"


@pytest.mark.parametrize("extension", ["png", "exr", "tif"])
def test_failing_fsync_at_commit_leaves_nothing_behind(tmp_path, monkeypatch, extension):
    path = tmp_path / f"out.{extension}"
    path.write_bytes(b"previous render")

    def failing_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OutputError, match="disk full while writing"):
        write(path, make_image())
    assert folder_entries(tmp_path) == [path.name]
    assert path.read_bytes() == b"previous render"


def test_metadata_keys_must_suit_every_format(tmp_path):
    for key in ("", " padded", "x" * 32, "clé", "compression"):
        with pytest.raises(ValueError, match="metadata key"):
            open_image_writer(tmp_path / "out.png", WIDTH, HEIGHT, metadata={key: "v"})
    assert folder_entries(tmp_path) == []


@pytest.mark.parametrize("extension", ["png", "exr", "tif"])
def test_unreadable_files_raise_backdrop_error(tmp_path, extension):
    missing = tmp_path / f"missing.{extension}"
    for reader in (read_image, read_metadata):
        with pytest.raises(BackdropError, match="not found") as caught:
            reader(missing)
        assert not isinstance(caught.value, OutputError)
    damaged = tmp_path / f"damaged.{extension}"
    write(damaged, make_image())
    damaged.write_bytes(damaged.read_bytes()[:40])
    with pytest.raises(BackdropError) as caught:
        read_image(damaged)
    assert not isinstance(caught.value, OutputError)
    garbage = tmp_path / f"garbage.{extension}"
    garbage.write_bytes(b"this is not an image at all")
    for reader in (read_image, read_metadata):
        with pytest.raises(BackdropError):
            reader(garbage)


def test_reading_an_unknown_format_raises_backdrop_error(tmp_path):
    with pytest.raises(BackdropError, match="unsupported image format"):
        read_metadata(tmp_path / "picture.bmp")


def test_read_image_keeps_16_bit_gray_and_alpha_pngs(tmp_path):
    from PIL import Image

    codes = np.array([[1000, 30000], [65535, 0]], dtype=np.uint16)
    Image.fromarray(codes).save(tmp_path / "gray16.png")
    pixels = read_image(tmp_path / "gray16.png")
    expected = srgb_to_linear(codes.astype(np.float32) / 65535)
    assert pixels.shape == (2, 2, 3)
    for channel in range(3):
        np.testing.assert_allclose(pixels[..., channel], expected, rtol=1e-6)
