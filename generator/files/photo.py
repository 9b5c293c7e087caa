"""Decoding photos: any common format to float32 linear-light RGB, upright, never unsafe.

Users hand us what their cameras and editors write: JPEG, WebP, 8/16-bit PNG and TIFF (palette,
grey, CMYK, alpha), float TIFF and EXR. Every file is EXIF-oriented, sRGB-decoded to linear light
at its full precision (Pillow alone would reduce 16-bit RGB to 8 bits) and made finite; every
failure, including Pillow's decompression-bomb guard, is one short reason instead of a traceback.
The trainer reads its folders with this (keeping the alpha channel for models with alpha:
horizon bands), and ``outpaint`` its photo.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import numpy as np
import tifffile
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from generator.errors import BackdropError
from generator.files.imagefile import read_image, srgb_to_linear, straight_rgba

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".exr"})
HALF_MAX = 65504.0
"""Infinite EXR values become this (the largest half float): bright, but finite."""

_EXR_MAGIC = b"\x76\x2f\x31\x01"
_TIFF_MAGICS = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ORIENTATION_TAG = 0x0112


class ImageReadError(BackdropError):
    """One image cannot be used; `reason` is a few words for the skipped-files report."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def read_photo(path: str | os.PathLike[str]) -> np.ndarray:
    """A user's photo as float32 linear light (h, w, 3); one ``BackdropError`` line if it
    cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise BackdropError(f"photo not found: {path}")
    try:
        return load_linear(path)
    except ImageReadError as err:
        raise BackdropError(f"cannot read photo {path}: {err.reason}") from None


def decoded_size(path: Path) -> tuple[int, int]:
    """(height, width) after a complete decode (a truncated file fails here), oriented."""
    with _explained(path):
        return _decode(path, None).shape[:2]


def load_linear(
    path: str | os.PathLike[str], *, cover: tuple[int, int] | None = None, alpha: bool = False
) -> np.ndarray:
    """The image as float32 linear-light RGB of shape (height, width, 3), EXIF-oriented; with
    ``alpha`` (height, width, 4), straight colour and alpha in [0, 1] (1 where the file has
    none).

    8- and 16-bit files are sRGB-decoded; EXR and float TIFF are linear already (NaN, infinity
    and negative values are made safe). With ``cover=(height, width)`` the image comes back
    downscaled (never upscaled), aspect kept, to the smallest size that still covers that box;
    JPEGs are then decoded at a reduced scale, which is several times faster for big photos.
    Every failure is an ImageReadError.
    """
    source = Path(path)
    with _explained(source):
        decoded = _decode(source, cover, alpha)
        pixels = _to_linear(decoded[..., :3] if decoded.ndim == 3 else decoded)
        if alpha:
            pixels = np.concatenate([pixels, _alpha(decoded)], axis=-1)
    if cover is not None:
        pixels = _shrink_to_cover(pixels, cover)
    return pixels


def _alpha(decoded: np.ndarray) -> np.ndarray:
    """(h, w, 1) float32 alpha in [0, 1] of decoded samples: their fourth channel, else 1."""
    if decoded.ndim < 3 or decoded.shape[2] < 4:
        return np.ones((*decoded.shape[:2], 1), dtype=np.float32)
    alpha = decoded[..., 3:].astype(np.float32)
    if decoded.dtype.kind in "ui":
        alpha /= np.iinfo(decoded.dtype).max
    return np.clip(np.nan_to_num(alpha, nan=1.0), 0.0, 1.0)


@contextlib.contextmanager
def _explained(path: Path) -> Iterator[None]:
    """Turn any decoder failure into an ImageReadError with a short reason."""
    try:
        with warnings.catch_warnings():  # a per-file warning (bad EXIF, big image) is noise here
            warnings.simplefilter("ignore")
            yield
    except ImageReadError:
        raise
    except Exception as error:  # decoders raise anything on damaged files; one bad file is no bug
        raise ImageReadError(path, _reason(error, path)) from error


def _decode(path: Path, cover: tuple[int, int] | None, alpha: bool = False) -> np.ndarray:
    """Oriented (height, width[, channels]) samples: uint8/uint16 sRGB, or float32 linear; with
    ``alpha`` a file keeps its alpha as a fourth channel, straight (plain 16-bit RGB PNGs have
    none)."""
    with open(path, "rb") as stream:
        head = stream.read(32)
    if not head:
        raise ImageReadError(path, "empty file")
    if head.startswith(_EXR_MAGIC):
        return _read_exr(path, alpha)
    if head[:4] in _TIFF_MAGICS:
        pixels = _read_tiff(path, alpha)
        if pixels is not None:
            return pixels
    with Image.open(path) as image:
        orientation = _orientation(image)
        if _is_plain_16bit_rgb_png(head) and path.suffix.lower() == ".png":
            return _orient(read_image(path), orientation)  # Pillow would reduce it to 8 bits
        if cover is not None:
            size = (image.width, image.height)
            oriented = size[::-1] if orientation >= 5 else size
            scale = max(cover[1] / oriented[0], cover[0] / oriented[1])
            if scale < 1:
                image.draft(None, (math.ceil(size[0] * scale), math.ceil(size[1] * scale)))
        image.load()  # the full decode: truncated files fail here
        if image.mode.startswith("I;16") or image.mode == "I":
            pixels = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
        elif image.mode == "F":
            pixels = np.asarray(image, dtype=np.float32)
        else:
            pixels = np.asarray(image.convert("RGBA" if alpha else "RGB"))
    return _orient(pixels, orientation)


def _is_plain_16bit_rgb_png(head: bytes) -> bool:
    """16-bit RGB without interlacing: the PNG kind `read_image` decodes at full precision."""
    return head.startswith(_PNG_SIGNATURE) and head[24:26] == b"\x10\x02" and head[28] == 0


def _orientation(image: Image.Image) -> int:
    try:
        value = int(image.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # damaged EXIF only loses the orientation, not the image
        return 1
    return value if 1 <= value <= 8 else 1


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) as numpy views, for every decoder alike."""
    if orientation in (5, 6, 7, 8):
        pixels = np.swapaxes(pixels, 0, 1)
    if orientation in (3, 4, 7, 8):
        pixels = pixels[::-1]
    if orientation in (2, 3, 6, 7):
        pixels = pixels[:, ::-1]
    return pixels


def _read_exr(path: Path, alpha: bool = False) -> np.ndarray:
    """RGB or Y planes; with ``alpha`` and an A channel, straight RGBA as ``read_image`` gives (EXR
    colour is premultiplied: kept as it is, a band's sky would be black land)."""
    try:
        import OpenEXR
    except ImportError:
        raise ImageReadError(path, "reading EXR needs the OpenEXR package") from None

    with OpenEXR.File(str(path), separate_channels=True) as exr:
        channels = exr.channels()
        if {"R", "G", "B"} <= channels.keys():
            planes = [channels[name].pixels for name in "RGB"]
        elif "Y" in channels:
            planes = [channels["Y"].pixels] * 3
        else:
            raise ImageReadError(path, "EXR without RGB or Y channels")
        rgb = np.stack(planes, axis=-1).astype(np.float32)
        if alpha and "A" in channels:
            return straight_rgba(rgb, channels["A"].pixels)
        return rgb


def _read_tiff(path: Path, alpha: bool = False) -> np.ndarray | None:
    """16-bit and float TIFFs at full precision, with ``alpha`` their extra sample as a fourth
    channel; None leaves the file to Pillow.

    Pillow reads 8-bit TIFFs of every kind (palette, CMYK, JPEG, LZW) but reduces 16-bit RGB to
    8 bits; tifffile keeps the precision but, without imagecodecs, knows fewer compressions.
    """
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages.first
        photometric = page.photometric
        usable = (
            page.dtype is not None
            and page.dtype.kind in "uf"
            and page.dtype != np.uint8
            and photometric in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB)
            and page.compression in tifffile.TIFF.DECOMPRESSORS
            and page.predictor in tifffile.TIFF.PREDICTORS
            and page.axes in ("YX", "YXS", "SYX")
        )
        if not usable:
            return None
        pixels = page.asarray()
        if page.axes == "SYX":
            pixels = np.moveaxis(pixels, 0, -1)
        orientation = int(page.tags.valueof(_ORIENTATION_TAG, 1))
        extras = page.extrasamples
    if pixels.ndim == 3:
        colours = 3 if photometric == tifffile.PHOTOMETRIC.RGB else 1
        if alpha and pixels.shape[2] > colours:
            if extras and extras[0] == tifffile.EXTRASAMPLE.ASSOCALPHA:
                raise ImageReadError(path, "premultiplied alpha (save it unassociated)")
            colour = np.broadcast_to(pixels[..., :colours], (*pixels.shape[:2], 3))
            pixels = np.concatenate([colour, pixels[..., colours : colours + 1]], axis=-1)
        else:
            pixels = pixels[..., :3] if colours == 3 else pixels[..., 0]
    return _orient(pixels, orientation if 1 <= orientation <= 8 else 1)


@cache
def _srgb_table(bits: int) -> np.ndarray:
    codes = np.arange(1 << bits, dtype=np.float64) / ((1 << bits) - 1)
    return srgb_to_linear(codes).astype(np.float32)


def _to_linear(pixels: np.ndarray) -> np.ndarray:
    """Decoded samples to float32 linear RGB (a lookup table for the integer formats)."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 1:
        pixels = np.broadcast_to(pixels, (*pixels.shape[:2], 3))
    if pixels.dtype.kind == "f":
        linear = np.nan_to_num(pixels.astype(np.float32), nan=0.0, posinf=HALF_MAX, neginf=0.0)
        return np.maximum(linear, 0.0, out=linear)
    if pixels.dtype == np.uint8:
        return _srgb_table(8)[pixels]
    if pixels.dtype == np.uint16:
        return _srgb_table(16)[pixels]
    top = np.iinfo(pixels.dtype).max
    return srgb_to_linear(np.clip(pixels, 0, top).astype(np.float64) / top).astype(np.float32)


def _shrink_to_cover(pixels: np.ndarray, cover: tuple[int, int]) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = max(cover[0] / height, cover[1] / width)
    if scale >= 1:
        return pixels
    size = (max(cover[0], round(height * scale)), max(cover[1], round(width * scale)))
    tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    return resize_linear(tensor, size).permute(1, 2, 0).contiguous().numpy()


def resize_linear(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, h, w) to (C, *size); antialiased bilinear has no negative lobes, so no HDR ringing.
    With alpha (C = 4, straight colour) the colour is filtered premultiplied
    (``filter_premultiplied``): a transparent texel's colour, often junk, does not bleed."""
    if tuple(pixels.shape[1:]) == size:
        return pixels

    def resize(values: torch.Tensor) -> torch.Tensor:
        return F.interpolate(values[None], size=size, mode="bilinear", antialias=True)[0]

    if pixels.shape[0] != 4:
        return resize(pixels)
    colour, coverage = filter_premultiplied(pixels[:3], pixels[3:], resize)
    return torch.cat([colour, coverage])


def filter_premultiplied(
    colour: torch.Tensor, coverage: torch.Tensor, linear: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear filter (resize, pooling) of straight ``colour`` (..., 3, h, w) under
    ``coverage`` in [0, 1] (..., 1, h, w): the colour weighted by coverage, then divided by the
    filtered coverage (0 where none is left), as compositing sees it. Returns (straight colour,
    coverage), both filtered."""
    filtered = linear(torch.cat([colour * coverage, coverage], dim=-3))
    covered = filtered[..., 3:, :, :].clamp(0.0, 1.0)
    straight = filtered[..., :3, :, :] / covered.clamp_min(1e-6)
    return torch.where(covered > 0, straight, 0.0), covered


def _reason(error: Exception, path: Path) -> str:
    """A few words for the report: the kind of problem, not a traceback."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image"
    if isinstance(error, Image.DecompressionBombError):
        return "too many pixels for a safe decode (downscale it first)"
    if isinstance(error, MemoryError):
        return "too large to decode"
    text = str(error).replace(str(path), path.name).strip()
    lowered = text.lower()
    if any(word in lowered for word in ("truncat", "broken data stream", "premature end")):
        return "truncated"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    line = text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= 80 else line[:77] + "..."
