"""Reading a user's photo for outpainting: any common format to float32 linear RGB.

EXR, TIFF and PNG files we can stream are read by ``imagefile``; everything else (JPEG, WebP,
8/16-bit PNG and TIFF from cameras and editors) by Pillow, upright per its EXIF orientation. Every
failure is one ``BackdropError`` line naming the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from generator.errors import BackdropError
from generator.imagefile import read_image, srgb_to_linear

LINEAR_SUFFIXES = (".exr",)


def read_photo(path: str | os.PathLike[str]) -> np.ndarray:
    """The photo as float32 linear light (h, w, 3)."""
    path = Path(path)
    if not path.is_file():
        raise BackdropError(f"photo not found: {path}")
    if path.suffix.lower() in LINEAR_SUFFIXES:
        return read_image(path)
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                image = ImageOps.exif_transpose(image)
                pixels = _to_rgb(image)
    except Image.DecompressionBombError:
        raise BackdropError(
            f"cannot read photo {path}: too many pixels for a safe decode; downscale it first"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        reason = "not an image" if isinstance(err, UnidentifiedImageError) else str(err)
        raise BackdropError(f"cannot read photo {path}: {reason}") from None
    return srgb_to_linear(pixels)


def _to_rgb(image) -> np.ndarray:
    """sRGB-encoded values in [0, 1], (h, w, 3), from 8- or 16-bit, grey, palette or CMYK."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
