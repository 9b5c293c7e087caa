"""Horizon bands for the landscape model: a real panorama's strip around its horizon, sky masked.

A landscape model with vertical conditioning draws the land at the horizon and leaves the sky to
the physical sky above it, so each band is an RGBA PNG ``BAND_HEIGHT`` px high whose alpha is
the land (255) and the sky (0), with the horizon at row ``BAND_HEIGHT // 2``. What a file holds
under the transparent sky (black, grey, white or the photo's own sky) is kept as it is, so a
trainer must read the alpha.

Two kinds of mask:

- Stellarium's photographed landscapes have their sky already cut out (masks for free).
- TORCS track backgrounds and landscape wallpapers have their sky in the photo. `find_skyline`
  finds one skyline row per column inside a window of rows set per image after looking at it:
  each row is scored by how well the pixels above it match the sky just above the window and
  those below it the land just below the window, plus the colour edge at the row, and a dynamic
  programme over the columns picks the best path that moves at most ``MAX_STEP`` rows per
  column. Everything below the path is land. A rule like this is only as good as what it is
  checked on, so an image is kept only if its band, composited over a flat colour, showed the
  skyline on the land's edge everywhere; the others are excluded with the reason.

The horizon is the median over columns of the skyline, the first land row from the top. Each
band is cut ``HALF_DEGREES`` above and below it and resampled to ``PIXELS_PER_DEGREE`` both ways:
a 360-degree panorama's width spans 360 degrees (square pixels assumed), a photo's width the
assumed ``PHOTO_FOV`` degrees (the wallpapers carry no EXIF). The tables name every source and
why it was kept or dropped; `horizon_bands` yields the bands for an assembler to write and
record.
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

PHOTO_FOV = 60.0
"""Horizontal field of view assumed for a photo that is not a panorama (a 31 mm lens on a
full-frame camera): it sets the photo's degrees per pixel, so a wrong guess scales the band's
land."""
SKYLINE_PX_PER_DEGREE = 16.0
"""A photo larger than this is downscaled to it before its skyline is searched (twice the
band's sampling: the search is quicker, the mask no coarser than the band)."""
MAX_STEP = 3
"""Rows the skyline may move from one column to the next."""
STEP_COST = 0.05
EDGE_WEIGHT = 12.0
SKY_MARGIN = 16
"""Rows above and below the search window whose per-column median is the sky and land colour."""
MODEL_RADIUS = 24
"""The sky and land colours are averaged over this many columns each way."""

HORIZON_PACKAGES = {"stellarium-data": "0.22.2-1", "torcs-data": "1.3.7+dfsg-5"}
"""Debian bookworm versions the bands were made from (besides the wallpaper packages the
assembler pins already); another version means new hashes."""

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


# --- TORCS track backgrounds (torcs-data) --------------------------------------------------------
# Debian's copyright file lists most track folders under the Free Art License (its text is 1.3's);
# 'corkscrew' is not listed, so it falls under 'Files: *' (GPL-2+, Eric Espié and contributors).
TORCS = "usr/share/games/torcs/tracks"
TORCS_FAL = "the Debian copyright file gives the Free Art License for this track"
TORCS_BACKGROUNDS = {
    # track folder: (split, skyline window as fractions of the height, field of view, licence,
    #                attribution)
    "road/corkscrew": (
        "train",
        (0.39, 0.59),
        360.0,
        "GPL-2.0-or-later",
        "TORCS track 'corkscrew' background (kilo, andrew), © Eric Espié and TORCS contributors",
    ),
    "road/wheel-2": (
        "validation",
        (0.45, 0.72),
        PHOTO_FOV,
        "LAL-1.3",
        f"TORCS track 'wheel-2' background (A. Sumner); {TORCS_FAL}",
    ),
    "dirt/dirt-3": (
        "train",
        (0.50, 0.72),
        PHOTO_FOV,
        "LAL-1.3",
        f"TORCS track 'dirt-3' background (A. Sumner); {TORCS_FAL}",
    ),
}
_TERRAGEN = "rendered terrain and clouds (Terragen-like)"
_RENDERED = "rendered heightfield under a flat or painted sky"
_AERIAL = "aerial photo under a painted gradient: the far hills fade into the haze, no skyline"
TORCS_EXCLUDED = {
    "dirt/dirt-1": _TERRAGEN,
    "dirt/dirt-2": _AERIAL,
    "dirt/dirt-4": _RENDERED,
    "dirt/dirt-5": _RENDERED + " (same image as dirt-4)",
    "dirt/dirt-6": _RENDERED,
    "dirt/mixed-1": _TERRAGEN + ", at night",
    "dirt/mixed-2": _RENDERED,
    "oval/a-speedway": _RENDERED,
    "oval/b-speedway": _TERRAGEN,
    "oval/c-speedway": _TERRAGEN + " (same image as b-speedway)",
    "oval/d-speedway": _TERRAGEN + " (same image as b-speedway)",
    "oval/e-speedway": _TERRAGEN + " (same image as b-speedway)",
    "oval/f-speedway": _TERRAGEN + " (same image as b-speedway)",
    "oval/g-speedway": _TERRAGEN + " (same image as b-speedway)",
    "oval/e-track-5": _RENDERED + ", two copies stacked",
    "oval/michigan": _AERIAL,
    "road/aalborg": _TERRAGEN + " (same image as b-speedway)",
    "road/alpine-1": "far hills fade into the haze: the skyline search cut through the land",
    "road/alpine-2": "rendered snow in haze",
    "road/brondehach": "aerial photo under pasted clouds: the far hills fade into the haze",
    "road/e-track-1": _TERRAGEN + " (same image as b-speedway)",
    "road/e-track-2": _AERIAL + " (same image as dirt-2)",
    "road/e-track-3": _AERIAL + " (same image as dirt-2)",
    "road/e-track-4": _AERIAL + " (same image as michigan)",
    "road/e-track-6": "photographed hills under pasted clouds whose white bases meet the hills: "
    "the skyline search cut boxes out of the land",
    "road/eroad": _TERRAGEN + " (same image as b-speedway)",
    "road/forza": "sky only",
    "road/g-track-1": _AERIAL + " (same image as michigan)",
    "road/g-track-2": _AERIAL + " (same image as michigan)",
    "road/g-track-3": _AERIAL + " (same image as dirt-2)",
    "road/ole-road-1": _AERIAL + " (same image as michigan)",
    "road/ruudskogen": "sky only",
    "road/spring": "aerial photo under pasted clouds (same image as brondehach)",
    "road/street-1": _AERIAL,
    "road/wheel-1": _AERIAL + " (same image as dirt-2)",
}

# --- Landscape wallpapers (the assembler's kept landscape photos) ---------------------------------
WALLPAPER_BANDS = {
    # (package, the assembler's table name): skyline window as fractions of the height
    ("plasma-workspace-wallpapers", "EveningGlow"): (0.20, 0.36),
    ("lomiri-wallpapers-16.04", "aitzgorri_by_Aitzol_Berasategi.jpg"): (0.08, 0.62),
    ("lxqt-themes", "after-the-rain.jpg"): (0.66, 0.84),
    ("lxqt-themes", "this-is-not-windows.jpg"): (0.50, 0.70),
}
"""The split, licence and attribution are the assembler's for the same photo, so a reserved
photo's band is reserved too."""
WALLPAPER_EXCLUDED = {
    ("plasma-workspace-wallpapers", "ColdRipple"): "a pier into fog: no skyline",
    ("plasma-workspace-wallpapers", "DarkestHour"): "tree islands fading into mist: no skyline",
    ("plasma-workspace-wallpapers", "Path"): "inside a forest: no sky at the horizon",
    ("plasma-workspace-wallpapers", "summer_1am"): "the sky meets its reflection at a thin "
    "shoreline: almost no land",
    ("mate-backgrounds", "nature/Dune.jpg"): "grass stalks in front of the horizon cross the sky",
    ("mate-backgrounds", "nature/Storm.jpg"): "motion-blurred road under a flat field",
    ("lomiri-wallpapers-16.04", "life_by_Aitzol_Berasategi.jpg"): "stream in a forest: no sky",
    ("lomiri-wallpapers-16.04", "picosdeeuropa_by_Aitzol_Berasategi.jpg"): "a cloud touches the "
    "rock and snow lies on the ridge: the skyline search cut through the rock",
    ("lomiri-wallpapers-16.04", "sunset_by_Aitzol_Berasategi.jpg"): "the sun sits on the "
    "skyline: the skyline search dipped under its glare",
    ("lxqt-themes", "Valendas.png"): "ridges fading into haze: the search took the far peaks on "
    "the right and cut the pale ridges in the middle away",
    ("lxqt-themes", "beam.png"): "mist lies on the hills: the search cut boxes through the mist",
    ("lxqt-themes", "fog.jpg"): "a fog bank hides the hillside: no skyline",
}

# --- Reviewed panoramas without a band ------------------------------------------------------------
_HDRI_COARSE = "1024x512: 2.8 px per degree, a band would be upsampled 2.8x"
HDRI_EXCLUDED = {
    "city": f"office buildings all round; {_HDRI_COARSE}",
    "courtyard": f"house walls and a roof; {_HDRI_COARSE}",
    "forest": f"garden trees up close, no far horizon; {_HDRI_COARSE}",
    "interior": "indoor (hotel room)",
    "night": f"tree line at night with lamps glaring; {_HDRI_COARSE}",
    "studio": "indoor (photo studio)",
    "sunrise": f"power pylons and wires across the sky, the sun in fog on the skyline; "
    f"{_HDRI_COARSE}",
    "sunset": f"Venice waterfront: buildings and people; {_HDRI_COARSE}",
}
ZERO_AD_SKY_REASON = "sky box: no land, the lowest 5-10 degrees are stretched haze"


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


def _column_mean(values: np.ndarray, radius: int, wrap: bool) -> np.ndarray:
    """Mean over +-radius columns of per-column values (columns on axis 0)."""
    if wrap:
        padded = np.concatenate([values[-radius:], values, values[:radius]])
    else:
        padded = np.pad(values, ((radius, radius), (0, 0)), mode="edge")
    sums = np.cumsum(np.concatenate([np.zeros_like(values[:1]), padded]), axis=0)
    return (sums[2 * radius + 1 :] - sums[: values.shape[0]]) / (2 * radius + 1)


def find_skyline(rgb: np.ndarray, top: int, bottom: int, *, wrap: bool = False) -> np.ndarray:
    """Per column, the first land row, searched between rows `top` and `bottom`.

    The sky colour of a column is the median of the ``SKY_MARGIN`` rows above `top`, the land
    colour that of the rows below `bottom`, both averaged over ``MODEL_RADIUS`` columns each way
    (round the seam if `wrap`). A skyline at row r costs the mean distance of the window's rows
    above r to the sky colour and of those from r down to the land colour, less the colour edge
    between rows r-1 and r (weighted by ``EDGE_WEIGHT``); the path through the columns of least
    total cost, moving at most ``MAX_STEP`` rows per column at ``STEP_COST`` a row, is the
    skyline.
    """
    x = rgb[..., :3].astype(np.float64) / 255.0
    height, width, _ = x.shape
    if not SKY_MARGIN <= top < bottom <= height - SKY_MARGIN:
        raise ValueError(f"search window {top}-{bottom} too near the edge of {height} rows")
    sky = _column_mean(np.median(x[top - SKY_MARGIN : top], axis=0), MODEL_RADIUS, wrap)
    land = _column_mean(np.median(x[bottom : bottom + SKY_MARGIN], axis=0), MODEL_RADIUS, wrap)
    window = x[top:bottom]
    rows = bottom - top
    zero = np.zeros((1, width))
    above = np.concatenate([zero, np.cumsum(np.linalg.norm(window - sky, axis=2), axis=0)])
    below = np.concatenate([zero, np.cumsum(np.linalg.norm(window - land, axis=2), axis=0)])
    cost = (above + below[-1:] - below) / rows  # cost[r]: rows < r are sky, rows >= r land
    edge = np.zeros((rows + 1, width))
    edge[:rows] = np.linalg.norm(window - x[top - 1 : bottom - 1], axis=2)
    cost -= EDGE_WEIGHT * 8.0 * edge / rows
    index = np.arange(rows + 1)
    steps = range(-MAX_STEP, MAX_STEP + 1)
    best = cost[:, 0].copy()
    back = np.zeros((width, rows + 1), np.intp)
    for column in range(1, width):
        options = np.full((len(steps), rows + 1), np.inf)
        for k, step in enumerate(steps):
            source = index + step
            ok = (source >= 0) & (source <= rows)
            options[k, ok] = best[source[ok]] + STEP_COST * abs(step)
        choice = options.argmin(axis=0)
        back[column] = index + choice - MAX_STEP
        best = options[choice, index] + cost[:, column]
    path = np.empty(width, np.intp)
    path[-1] = int(best.argmin())
    for column in range(width - 1, 0, -1):
        path[column - 1] = back[column, path[column]]
    return path + top


def photo_band(rgb: np.ndarray, window: tuple[float, float], fov: float) -> np.ndarray:
    """The band of a photo or panorama whose sky is in the picture.

    `window` is the skyline's search window as fractions of the height; `fov` the degrees the
    width spans (360 for a panorama, whose seam the search then wraps round). A photo sampled
    above ``SKYLINE_PX_PER_DEGREE`` is first downscaled to it.
    """
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
    if image.width > fov * SKYLINE_PX_PER_DEGREE:
        scale = fov * SKYLINE_PX_PER_DEGREE / image.width
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.LANCZOS)
    pixels = np.asarray(image)
    height = pixels.shape[0]
    top, bottom = round(window[0] * height), round(window[1] * height)
    skyline = find_skyline(pixels, top, bottom, wrap=fov >= 360.0)
    land = np.arange(height)[:, None] >= skyline[None, :]
    rows_per_degree = pixels.shape[1] / fov
    width = round(fov * PIXELS_PER_DEGREE)
    return cut_band(pixels, land, HALF_DEGREES * rows_per_degree, width)


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


def torcs_bands(
    unpack: Callable[[str], Path], drop: Callable[[str, str, str], None]
) -> Iterator[Band]:
    """Bands of the TORCS track backgrounds that are photos with a skyline the search finds."""
    base = unpack("torcs-data")
    root = base / TORCS
    found = {p.parent.relative_to(root).as_posix() for p in root.glob("*/*/background.png")}
    reviewed = TORCS_BACKGROUNDS.keys() | TORCS_EXCLUDED.keys()
    if found != reviewed:
        raise ValueError(f"torcs-data: unreviewed or gone: {sorted(found ^ reviewed)}")
    for name, reason in sorted(TORCS_EXCLUDED.items()):
        drop("torcs-data horizon", name, reason)
    for name, (split, window, fov, licence, attribution) in sorted(TORCS_BACKGROUNDS.items()):
        source = f"{TORCS}/{name}/background.png"
        yield Band(
            path=f"{split}/horizon/torcs_{name.split('/')[-1]}.png",
            split=split,
            pixels=photo_band(_rgba(base / source), window, fov),
            package="torcs-data",
            source_path=source,
            licence=licence,
            attribution=attribution,
        )


def wallpaper_bands(
    photo: Callable[[str, str], tuple[Path, str, str, str, str]],
    drop: Callable[[str, str, str], None],
) -> Iterator[Band]:
    """Bands of the landscape wallpapers with a skyline the search finds.

    `photo(package, name)` gives (file, path in the package, split, licence, attribution) of a
    wallpaper the assembler keeps as a landscape.
    """
    for (package, name), reason in sorted(WALLPAPER_EXCLUDED.items()):
        drop(f"{package} horizon", name, reason)
    prefix = {
        "plasma-workspace-wallpapers": "kde",
        "mate-backgrounds": "mate",
        "lxqt-themes": "lxqt",
    }
    for (package, name), window in sorted(WALLPAPER_BANDS.items()):
        file, source, split, licence, attribution = photo(package, name)
        stem = Path(name).stem.replace("/", "__").replace(" ", "_")
        yield Band(
            path=f"{split}/horizon/{prefix.get(package, 'lomiri')}_{stem}.png",
            split=split,
            pixels=photo_band(_rgba(file), window, PHOTO_FOV),
            package=package,
            source_path=source,
            licence=licence,
            attribution=attribution,
        )


def horizon_bands(
    unpack: Callable[..., Path],
    drop: Callable[[str, str, str], None],
    photo: Callable[[str, str], tuple[Path, str, str, str, str]],
) -> Iterator[Band]:
    """Every horizon band. `unpack(package, members)` gives a package's unpacked files;
    `drop(source, name, reason)` records an excluded source; `photo` as `wallpaper_bands`."""
    yield from stellarium_bands(lambda package: unpack(package, (STELLARIUM,)), drop)
    yield from torcs_bands(lambda package: unpack(package, (TORCS,)), drop)
    yield from wallpaper_bands(photo, drop)
