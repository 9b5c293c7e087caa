"""Horizon bands for the landscape model: a real panorama's strip around its horizon, sky masked.

A landscape model with vertical conditioning draws the land at the horizon and leaves the sky to
the physical sky above it, so each band is an RGBA PNG ``BAND_HEIGHT`` px high whose alpha is
the land (255) and the sky (0), with the horizon at row ``BAND_HEIGHT // 2``. The sources are
Stellarium's photographed landscapes, whose sky is already cut out (masks for free); what their
files hold under the transparent sky (black, grey or white) is kept as it is, so a trainer must
read the alpha.

The horizon is the median over columns of the skyline, the first land row from the top. Each
360-degree panorama is cut ``HALF_DEGREES`` above and below it and resampled to
``PIXELS_PER_DEGREE`` both ways. The tables name every Stellarium landscape and why it was kept
or dropped; `horizon_bands` yields the bands for an assembler to write and record.
"""

from __future__ import annotations

import configparser
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

BAND_HEIGHT = 128
HALF_DEGREES = 8.0
"""Degrees above and below the horizon in a panorama's band: hills and tree lines fit, the
foreground below them mostly does not."""
PIXELS_PER_DEGREE = BAND_HEIGHT / (2 * HALF_DEGREES)

HORIZON_PACKAGES = {"stellarium-data": "0.22.2-1"}
"""Debian bookworm version the bands were made from; another version means new hashes."""

# --- Stellarium (stellarium-data, GPL-2.0-or-later: Debian's copyright file gives GPL-2+ for all
# graphics other than the planet maps and deep-sky images it lists; no landscape is listed) -----
STELLARIUM = "usr/share/stellarium/landscapes"
STELLARIUM_LANDSCAPES = {
    # landscape folder: (split, attribution from its landscape.ini)
    "garching": ("train", "Fabien Chéreau, Stellarium landscape 'Garching'"),
    "grossmugl": ("train", "Guenther Wuchterl, Kuffner-Sternwarte.at, Stellarium 'Grossmugl'"),
    "guereins": ("validation", "Fabien Chéreau, Stellarium landscape 'Guéreins'"),
    "hurricane": ("train", "Johan Meuris and Robert Spearman, Stellarium landscape 'Hurricane'"),
}
STELLARIUM_EXCLUDED = {
    "geneva": "polygonal horizon line, no image",
    "zero": "polygonal horizon line, no image",
    "ocean": "rendered (Terragen)",
    "trees": "fisheye looking up into tree crowns: no horizon",
    "mars": "Mars (rover deck in the foreground), not an Earth landscape",
    "moon": "the Moon (Apollo 17), not an Earth landscape",
    "jupiter": "planet map",
    "neptune": "planet map",
    "saturn": "planet map",
    "uranus": "planet map",
    "sun": "planet map",
}


@dataclass(frozen=True)
class Band:
    """One horizon band and where it came from: a manifest row without the hashes."""

    path: str
    split: str
    pixels: np.ndarray
    package: str
    source_path: str
    licence: str
    attribution: str


def skyline_rows(land: np.ndarray) -> np.ndarray:
    """Per column, the first row from the top that is land (the height if none is)."""
    return np.where(land.any(axis=0), land.argmax(axis=0), land.shape[0]).astype(np.float64)


def horizon_row(land: np.ndarray) -> int:
    """The horizon: the median over columns of the first land row from the top."""
    return round(float(np.median(skyline_rows(land))))


def cut_band(rgb: np.ndarray, land: np.ndarray, rows_per_half: float, width: int) -> np.ndarray:
    """The RGBA band around the horizon of `land`, `BAND_HEIGHT` x `width` px.

    Source rows ``horizon - rows_per_half`` to ``horizon + rows_per_half`` become the band, so the
    horizon lands on row ``BAND_HEIGHT // 2``. Above the image is transparent black sky (a
    Stellarium panel may end a few degrees above the horizon); below it the last row repeats.
    """
    horizon = horizon_row(land)
    pad = math.ceil(rows_per_half) + 1
    colours = np.pad(rgb, ((pad, pad), (0, 0), (0, 0)), mode="edge")
    colours[:pad] = 0
    alpha = np.pad(land.astype(np.float32), ((pad, pad), (0, 0)), mode="constant")
    alpha[-pad:] = 1.0
    box = (0.0, horizon + pad - rows_per_half, float(rgb.shape[1]), horizon + pad + rows_per_half)
    size = (width, BAND_HEIGHT)
    band_rgb = Image.fromarray(colours).resize(size, Image.LANCZOS, box=box)
    band_alpha = Image.fromarray(alpha * 255.0).resize(size, Image.BILINEAR, box=box)
    a = np.clip(np.round(np.asarray(band_alpha)), 0, 255).astype(np.uint8)
    return np.dstack([np.asarray(band_rgb), a])


def panorama_band(rgb: np.ndarray, land: np.ndarray, rows_per_degree: float) -> np.ndarray:
    """A band of a 360-degree panorama: HALF_DEGREES each way, PIXELS_PER_DEGREE both ways."""
    return cut_band(rgb, land, HALF_DEGREES * rows_per_degree, round(360 * PIXELS_PER_DEGREE))


def _rgba(path: Path) -> np.ndarray:
    """A file's pixels as RGBA uint8, whatever mode it was saved in."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def stellarium_panorama(folder: Path) -> tuple[np.ndarray, float, str]:
    """A Stellarium landscape as (360-degree RGBA, rows per degree at the horizon, its files).

    'old_style' landscapes are side textures in order around the horizon spanning
    ``decor_alt_angle`` degrees (rows linear in altitude, or in its tangent with ``tan_mode``);
    'spherical' ones one equirect from ``maptex_top`` down to -90 degrees. The sub-percent
    texture trims of the 'sideN' entries are ignored.
    """
    ini = configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    ini.read(folder / "landscape.ini", encoding="utf-8")
    spec = ini["landscape"]
    if spec["type"] == "spherical":
        files = [spec["maptex"]]
        pixels = _rgba(folder / files[0])
        rows_per_degree = pixels.shape[0] / (float(spec["maptex_top"]) + 90.0)
    else:
        files = [
            spec[f"tex{spec[f'side{i}'].split(':')[0].removeprefix('tex')}"]
            for i in range(int(spec["nbside"]))
        ]
        pixels = np.concatenate([_rgba(folder / name) for name in files], axis=1)
        bottom = float(spec["decor_angle_shift"])
        top = bottom + float(spec["decor_alt_angle"])
        if spec.getboolean("tan_mode", fallback=False):
            span = math.tan(math.radians(top)) - math.tan(math.radians(bottom))
            rows_per_degree = pixels.shape[0] / span * math.pi / 180.0
        else:
            rows_per_degree = pixels.shape[0] / (top - bottom)
    return pixels, rows_per_degree, "{" + ",".join(files) + "}"


def stellarium_bands(
    unpack: Callable[[str], Path], drop: Callable[[str, str, str], None]
) -> Iterator[Band]:
    """Bands of Stellarium's photographed landscapes, masked by their own alpha."""
    root = unpack("stellarium-data") / STELLARIUM
    found = {p.name for p in root.iterdir() if p.is_dir()}
    reviewed = STELLARIUM_LANDSCAPES.keys() | STELLARIUM_EXCLUDED.keys()
    if found != reviewed:
        raise ValueError(f"stellarium-data: unreviewed or gone: {sorted(found ^ reviewed)}")
    for name, reason in sorted(STELLARIUM_EXCLUDED.items()):
        drop("stellarium-data horizon", name, reason)
    for name, (split, attribution) in sorted(STELLARIUM_LANDSCAPES.items()):
        pixels, rows_per_degree, files = stellarium_panorama(root / name)
        yield Band(
            path=f"{split}/horizon/stellarium_{name}.png",
            split=split,
            pixels=panorama_band(pixels[..., :3], pixels[..., 3] >= 128, rows_per_degree),
            package="stellarium-data",
            source_path=f"{STELLARIUM}/{name}/{files}",
            licence="GPL-2.0-or-later",
            attribution=attribution,
        )


def horizon_bands(
    unpack: Callable[..., Path], drop: Callable[[str, str, str], None]
) -> Iterator[Band]:
    """Every horizon band. `unpack(package, members)` gives a package's unpacked files;
    `drop(source, name, reason)` records an excluded landscape."""
    yield from stellarium_bands(lambda package: unpack(package, (STELLARIUM,)), drop)
