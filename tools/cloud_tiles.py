"""Cloud-layer training tiles: real skies seen from below, mapped onto a horizontal layer.

    python tools/cloud_tiles.py my_sky_photos/ --out my_clouds/
    python -m trainer train --data my_clouds/ --out runs/my-clouds --preset clouds

A cloud model draws cloud density on a horizontal layer (``generator.sky.cloudmap``). Each tile
is a top-down square window of a layer at height 1 above the camera: a sky's direction
(x, y, z) meets it at (x/z, y/z). The window's corners are at ``min_elevation``, because lower
down one pixel of the sky is stretched over many of the layer and the layer's texture would be
smeared. Panoramas (2:1 whole-sphere or 4:1 upper-hemisphere equirects, EXR or 8-bit) are
reprojected; any other photo is taken as a view straight up at the clouds and only
centre-cropped. The colours become density with ``density_from_photo``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from generator.files import IMAGE_EXTENSIONS, ImageReadError, load_linear, resize_linear
from generator.sky import density_from_photo, density_to_image

TILE = 512
"""Side of a tile in px: the zenith then has 0.34° per px, the sampling of a 256-px cube face."""
MIN_ELEVATION = 25.0
"""Elevation (degrees) of the tile's corners; the middles of its edges are at 33°. At 25° the
layer is stretched 5.6x along the line of sight relative to the zenith."""
SUPERSAMPLE = 4
"""Samples per tile pixel along each axis, so that 1024-px cube faces do not alias."""

Lookup = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""Linear colours (n, 3) seen along unit directions x, y, z (x to azimuth 0, y to 90°, z up)."""


def layer_directions(size: int, min_elevation: float, supersample: int = 1) -> np.ndarray:
    """Unit directions (size*s, size*s, 3) through a top-down window of the layer at height 1.

    Row 0 is the far side towards +x (azimuth 0), columns grow towards -y (a map seen from
    above with x north and y west); the centre is the zenith and the corners are at
    `min_elevation`. Each tile pixel is covered by `supersample` x `supersample` samples.
    """
    half = 1.0 / math.tan(math.radians(min_elevation)) / math.sqrt(2.0)
    n = size * supersample
    across = half - (np.arange(n) + 0.5) * (2.0 * half / n)  # +half at row/column 0
    x, y = np.meshgrid(across, across, indexing="ij")
    directions = np.stack([x, y, np.ones_like(x)], axis=-1)
    return directions / np.linalg.norm(directions, axis=-1, keepdims=True)


def layer_tile(
    lookup: Lookup, size: int = TILE, min_elevation: float = MIN_ELEVATION
) -> np.ndarray:
    """The layer's window as uint8 grey RGB (size, size, 3): density of the supersampled sky."""
    d = layer_directions(size, min_elevation, SUPERSAMPLE).reshape(-1, 3)
    n = size * SUPERSAMPLE
    colours = np.asarray(lookup(d[:, 0], d[:, 1], d[:, 2]), np.float64).reshape(n, n, 3)
    colours = colours.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 3).mean(axis=(1, 3))
    return to_uint8(density_to_image(density_from_photo(colours)))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] sRGB values as uint8, rounded half up."""
    return np.clip(np.floor(np.asarray(image, np.float64) * 255.0 + 0.5), 0, 255).astype(np.uint8)


def equirect_lookup(panorama: np.ndarray) -> Lookup:
    """Bilinear look-up in an equirect whose row 0 is the zenith and column 0 azimuth 0.

    Its width spans 360°; its height may cover the whole sphere (2:1) or less (4:1 is the
    upper hemisphere). Azimuth grows with the column (towards +y), as in ``assemble_data``.
    """
    image = np.asarray(panorama, np.float64)
    height, width = image.shape[:2]
    per_degree = width / 360.0

    def lookup(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        azimuth = np.degrees(np.arctan2(y, x)) % 360.0
        elevation = np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))
        col = azimuth * per_degree - 0.5
        row = np.clip((90.0 - elevation) * per_degree - 0.5, 0.0, height - 1.0)
        c0, r0 = np.floor(col).astype(np.intp), np.floor(row).astype(np.intp)
        fc, fr = (col - c0)[:, None], (row - r0)[:, None]
        c0, c1 = c0 % width, (c0 + 1) % width
        r1 = np.minimum(r0 + 1, height - 1)
        top = image[r0, c0] * (1.0 - fc) + image[r0, c1] * fc
        bottom = image[r1, c0] * (1.0 - fc) + image[r1, c1] * fc
        return top * (1.0 - fr) + bottom * fr

    return lookup


def photo_tile(linear: np.ndarray, size: int = TILE) -> np.ndarray:
    """A tile from any sky image: panoramas reprojected, other photos centre-cropped."""
    height, width = linear.shape[:2]
    if width in (2 * height, 4 * height):
        return layer_tile(equirect_lookup(linear), size)
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = torch.from_numpy(np.ascontiguousarray(linear[top : top + side, left : left + side]))
    small = resize_linear(square.permute(2, 0, 1), (size, size)).permute(1, 2, 0).numpy()
    return to_uint8(density_to_image(density_from_photo(small)))


def convert_folder(photos: Path, out: Path, size: int = TILE) -> tuple[int, list[str]]:
    """Every image under `photos` as a tile in `out` (same relative name, .png); returns the
    number written and one line per image that could not be read."""
    written, problems = 0, []
    for path in sorted(p for p in photos.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        try:
            tile = photo_tile(load_linear(path), size)
        except ImageReadError as error:
            problems.append(f"{path}: {error.reason}")
            continue
        target = (out / path.relative_to(photos)).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(tile, "RGB").save(target)
        written += 1
    return written, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path, help="folder of sky photos or panoramas")
    parser.add_argument("--out", type=Path, required=True, help="folder for the density tiles")
    parser.add_argument("--size", type=int, default=TILE, help="tile side in px")
    args = parser.parse_args(argv)
    if not args.photos.is_dir():
        print(f"error: not a folder: {args.photos}", file=sys.stderr)
        return 1
    written, problems = convert_folder(args.photos, args.out, args.size)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(f"{written} tile(s) in {args.out}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
