"""The committed training-data manifest, and the assembly script without network or data."""

from __future__ import annotations

import gzip
import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import load_tool
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
assemble = load_tool("assemble_data")

LICENCES = {
    "CC0-1.0",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "GPL-2.0-or-later",
    "LAL-1.3",
    "LGPL-3.0-only",
    "MIT",
}
KINDS = {"sky-hdri", "sky-cubemap", "clouds", "terrain", "landscape", "horizon"}
HEX64 = re.compile(r"[0-9a-f]{64}")
REQUIRED_HOLDOUTS = {
    "validation/sky/hdri/courtyard.exr",
    "validation/landscape/kde_DarkestHour.jpg",
    "validation/landscape/kde_summer_1am.jpg",
    "validation/landscape/mate_Storm.jpg",
    "validation/landscape/lomiri_sunset_by_Aitzol_Berasategi.jpg",
    "validation/landscape/lxqt_Valendas.png",
    "validation/landscape/lxqt_beam.png",
    "validation/landscape/lxqt_fog.jpg",
    "validation/sky/hdri/open3d_brightday.exr",
    "validation/sky/hdri/open3d_konzerthaus.exr",
    "validation/sky/cubemap/stratus_2.png",
    "validation/sky/cubemap/sunset_2.png",
    "validation/clouds/stratus_2_centre.png",
    "validation/clouds/stormy_centre.png",
    "validation/horizon/stellarium_guereins.png",
    "validation/horizon/torcs_wheel-2.png",
}


@pytest.fixture(scope="module")
def rows():
    return assemble.read_manifest(assemble.MANIFEST)


def test_manifest_has_rows_with_unique_paths(rows):
    paths = [row.path for row in rows]
    assert len(paths) > 500
    assert len(set(paths)) == len(paths)
    assert paths == sorted(paths)


def test_every_row_is_well_formed(rows):
    for row in rows:
        assert row.split in assemble.SPLITS, row
        assert row.path.startswith(f"{row.split}/"), row
        assert row.kind in KINDS, row
        assert row.licence in LICENCES, row
        assert HEX64.fullmatch(row.sha256), row
        assert row.source_package and row.source_version and row.source_path and row.attribution
        if row.path.endswith(".png") or row.source_package == "open3d-gui-data":
            assert HEX64.fullmatch(row.pixels_sha256), row  # decoded here: pixel hash too
        else:  # copied byte for byte
            assert row.pixels_sha256 == "", row


def test_required_holdouts_are_in_validation(rows):
    validation = {row.path for row in rows if row.split == "validation"}
    assert validation >= REQUIRED_HOLDOUTS


def test_terrain_validation_share_and_rule(rows):
    terrain = [row for row in rows if row.kind == "terrain"]
    held = [row for row in terrain if row.split == "validation"]
    assert len(held) / len(terrain) >= 0.15
    prefix = f"{assemble.ZERO_AD_ZIP}:{assemble.TERRAIN}"
    names = [row.source_path.removeprefix(prefix).removesuffix(assemble.CACHED) for row in terrain]
    expected = assemble.terrain_validation(names)
    assert {
        n for n, row in zip(names, terrain, strict=True) if row.split == "validation"
    } == expected


def test_share_alike_sources_are_credited(rows):
    for row in rows:
        if row.source_package == "0ad-data":
            assert row.licence == "CC-BY-SA-3.0"
            assert "Wildfire Games" in row.attribution


def test_horizon_bands_sources_splits_and_licences(rows):
    horizon = [row for row in rows if row.kind == "horizon"]
    by_package: dict[str, int] = {}
    for row in horizon:
        by_package[row.source_package] = by_package.get(row.source_package, 0) + 1
        assert row.path.startswith(f"{row.split}/horizon/") and row.path.endswith(".png"), row
    # 4 Stellarium panoramas, 3 TORCS track backgrounds, 4 wallpapers (see data/README.md).
    assert by_package == {
        "stellarium-data": 4,
        "torcs-data": 3,
        "plasma-workspace-wallpapers": 1,
        "lomiri-wallpapers-16.04": 1,
        "lxqt-themes": 2,
    }
    assert sum(row.split == "validation" for row in horizon) == 2
    for row in horizon:
        if row.source_package == "stellarium-data":
            assert row.licence == "GPL-2.0-or-later" and "Stellarium" in row.attribution
        if row.source_package == "torcs-data":
            assert row.licence in {"GPL-2.0-or-later", "LAL-1.3"} and "TORCS" in row.attribution
        assert row.source_version == assemble.PACKAGES[row.source_package], row


def test_a_wallpaper_band_shares_its_photo_split_licence_and_credit(rows):
    photos = {(r.source_package, r.source_path): r for r in rows if r.kind == "landscape"}
    bands = [r for r in rows if r.kind == "horizon" and r.source_package in assemble.LANDSCAPES]
    assert bands
    for band in bands:
        photo = photos[(band.source_package, band.source_path)]
        assert (band.split, band.licence, band.attribution) == (
            photo.split,
            photo.licence,
            photo.attribution,
        )


def test_horizon_tables_name_only_reviewed_wallpapers():
    bands = load_tool("horizon_bands")
    reviewed = bands.WALLPAPER_BANDS.keys() | bands.WALLPAPER_EXCLUDED.keys()
    assert not bands.WALLPAPER_BANDS.keys() & bands.WALLPAPER_EXCLUDED.keys()
    kept_photos = {
        (package, name) for package, table in assemble.LANDSCAPES.items() for name in table
    }
    assert reviewed == kept_photos  # every kept landscape photo was looked at for a band
    assert not bands.TORCS_BACKGROUNDS.keys() & bands.TORCS_EXCLUDED.keys()
    assert set(bands.HDRI_EXCLUDED) == assemble.HDRIS.keys() | assemble.HDRI_EXCLUDED.keys()
    assert assemble.PACKAGES.items() >= bands.HORIZON_PACKAGES.items()


def test_cloud_tiles_sources_and_splits(rows):
    clouds = [row for row in rows if row.kind == "clouds"]
    by_package: dict[str, int] = {}
    for row in clouds:
        by_package[row.source_package] = by_package.get(row.source_package, 0) + 1
        assert row.path.startswith(f"{row.split}/clouds/") and row.path.endswith(".png"), row
        assert row.source_version == assemble.PACKAGES[row.source_package], row
    # 14 0 A.D. sky boxes (2 reserved, as 5 windows each), 2 crops of Kite, 6 crops of two
    # Trigger Rally sky photos, 2 crops of OpenClonk's Clouds2 (see data/README.md).
    assert by_package == {
        "0ad-data": 22,
        "plasma-workspace-wallpapers": 2,
        "trigger-rally-data": 6,
        "openclonk-data": 2,
    }
    assert {row.path for row in clouds if row.split == "validation"} == {
        f"validation/clouds/{sky}{suffix}.png"
        for sky in ("stormy", "stratus_2")
        for suffix in ("_centre", "_nw", "_ne", "_sw", "_se")
    }
    photo_crops = sum(len(crops) for _, crops, _, _ in assemble.CLOUD_PHOTOS.values())
    assert photo_crops == sum(row.source_package != "0ad-data" for row in clouds)
    for row in clouds:
        if row.source_package == "trigger-rally-data":
            assert row.licence == "GPL-2.0-or-later" and "Trigger Rally" in row.attribution
        if row.source_package == "openclonk-data":
            assert row.licence == "CC-BY-3.0" and "OpenClonk" in row.attribution


def test_cloud_photo_crops_are_distinct_squares():
    for (package, name), (_, crops, _, _) in assemble.CLOUD_PHOTOS.items():
        assert package in assemble.CLOUD_PHOTO_PREFIX
        boxes = list(crops.values())
        for left, top, right, bottom in boxes:
            assert right - left == bottom - top >= 400, (name, crops)
        for i, a in enumerate(boxes):  # crops of one photo do not overlap: different clouds
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (name, a, b)


def _c4group(files: dict[str, bytes | dict]) -> bytes:
    """An unpacked Clonk group holding `files` (a dict value is a child group)."""
    bodies = [_c4group(v) if isinstance(v, dict) else v for v in files.values()]
    head = assemble.C4GROUP_ID.ljust(28, b"\0") + struct.pack("<iii", 1, 2, len(files))
    head = assemble.c4group_scramble(head.ljust(assemble.C4GROUP_HEADER, b"\0"))
    entries, offset = b"", 0
    for (name, value), body in zip(files.items(), bodies, strict=True):
        child = isinstance(value, dict)
        entry = name.encode().ljust(260, b"\0") + struct.pack(
            "<iiiii", 0, child, len(body), 0, offset
        )
        entries += entry.ljust(assemble.C4GROUP_ENTRY, b"\0")
        offset += len(body)
    return head + entries + b"".join(bodies)


def test_read_c4group_flattens_child_groups():
    raw = _c4group({"Sky.jpg": b"jpeg", "Scen.ocs": {"Title.txt": b"US:Sky", "Sky.png": b"png"}})
    expected = {"Sky.jpg": b"jpeg", "Scen.ocs/Title.txt": b"US:Sky", "Scen.ocs/Sky.png": b"png"}
    assert assemble.read_c4group(raw) == expected
    packed = gzip.compress(raw)
    assert assemble.read_c4group(b"\x1e\x8c" + packed[2:]) == expected  # Clonk's gzip magic
    # The scrambling is its own inverse on whole triples.
    assert assemble.c4group_scramble(assemble.c4group_scramble(b"abcdef")) == b"abcdef"


def test_terrain_rules():
    drop = assemble.terrain_drop_reason
    assert drop("temperate/grass_01_norm.png") == "normal or specular map"
    assert drop("alpine_arctic/paving_stones_01.png") == "tiles or paving"
    assert drop("road_roman.png") == "road"
    assert drop("water/coastalWave.png") == "water, sea floor or surf"
    assert drop("LavaTest01.dds") == "painted lava"
    assert drop("temperate/grass_01.png") is None
    assert drop("desert_wave.dds") is None  # sand ripples, not surf
    family = assemble.terrain_family
    assert family("savanna_dirt_a_red.png") == family("savanna_dirt_a.png") == "savanna_dirt_a"
    assert family("temperate/autumn_forestfloor_003.png") == "temperate/forestfloor_003"
    assert family("temp_grass_wet.png") == family("temp_grass_aut.png") == "temp_grass"


def _direction(azimuth_deg: float, elevation_deg: float) -> tuple[float, float, float]:
    """x towards 'front', y towards 'left' (90° to the right of front), z up."""
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    return math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)


def _smooth_faces(n: int) -> dict[str, np.ndarray]:
    """Faces whose colour is a function of the viewing direction, laid out as 0 A.D. lays them."""
    t = (np.arange(n) + 0.5) / n * 2 - 1
    u, v = np.meshgrid(t, -t)  # u to the image's right, v to its top
    one = np.ones_like(u)
    directions = {
        "front": (one, u, v),
        "left": (-u, one, v),
        "back": (-one, -u, v),
        "right": (u, -one, v),
        "top": (-v, u, one),
    }
    faces = {}
    for name, (x, y, z) in directions.items():
        d = np.stack([x, y, z], axis=-1)
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        faces[name] = np.round(127.5 + 120 * d).astype(np.uint8)
    return faces


def test_each_direction_maps_to_its_face():
    colours = {"front": 10, "left": 60, "back": 110, "right": 160, "top": 210}
    faces = {name: np.full((8, 8, 3), c, np.uint8) for name, c in colours.items()}
    width = 256
    equirect = assemble.cube_to_upper_equirect(faces, width)
    assert equirect.shape == (width // 4, width, 3)
    height = width // 4

    def at(azimuth: float, elevation: float) -> int:
        col = int(azimuth / 360 * width) % width
        row = min(int((90 - elevation) / 90 * height), height - 1)
        return int(equirect[row, col, 0])

    assert at(0, 10) == colours["front"]
    assert at(90, 10) == colours["left"]
    assert at(180, 10) == colours["back"]
    assert at(270, 10) == colours["right"]
    assert at(30, 80) == at(200, 60) == colours["top"]


def test_equirect_follows_the_viewing_direction():
    faces = _smooth_faces(64)
    assert assemble.face_edge_mismatch(faces) < 10
    width = 512
    equirect = assemble.cube_to_upper_equirect(faces, width).astype(float)
    height = width // 4
    for azimuth in range(0, 360, 15):
        for elevation in (2, 20, 40, 44, 50, 70, 88):
            col = int((azimuth + 0.1) / 360 * width)
            row = int((90 - elevation) / 90 * height)
            a = (col + 0.5) / width * 360
            e = 90 * (1 - (row + 0.5) / height)
            expected = 127.5 + 120 * np.array(_direction(a, e))
            assert np.abs(equirect[row, col] - expected).max() < 4, (azimuth, elevation)


def _gl_direction(face: int, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The unit direction through (s, t) of an OpenGL cube map's face (+X, -X, +Y, -Y, +Z, -Z)."""
    a, b, one = 2 * s - 1, 2 * t - 1, np.ones_like(s)
    x, y, z = {
        0: (one, -b, -a),
        1: (-one, -b, a),
        2: (a, one, b),
        3: (a, -one, -b),
        4: (a, -b, one),
        5: (-a, -b, -one),
    }[face]
    d = np.stack([x, y, z], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def test_an_opengl_cube_map_becomes_the_equirect_of_its_directions():
    n = 32
    s, t = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n)
    faces = [_gl_direction(face, s, t) for face in range(6)]  # each texel holds its direction
    width = 256
    equirect = assemble.gl_cube_to_equirect(faces, width)
    assert equirect.shape == (width // 2, width, 3) and equirect.dtype == np.float32
    rows, cols = np.meshgrid(np.arange(width // 2), np.arange(width), indexing="ij")
    elevation = np.pi * (0.5 - (rows + 0.5) / (width // 2))
    azimuth = 2 * np.pi * (cols + 0.5) / width
    expected = np.stack(
        [
            np.cos(elevation) * np.sin(azimuth),  # a quarter turn right looks toward +X
            np.sin(elevation),  # +Y up
            -np.cos(elevation) * np.cos(azimuth),  # column 0 looks toward -Z
        ],
        axis=-1,
    )
    assert np.abs(equirect - expected).max() < 0.06


def test_a_source_differing_from_its_reviewed_tables_stops_the_assembly():
    kept, excluded = {"brightday": "validation"}, {"hall": "indoor"}
    report = assemble.Report()
    assemble.check_reviewed("pkg", {"brightday", "hall"}, kept, excluded, report)
    assert report.excluded == [("pkg", "hall", "indoor")]
    with pytest.raises(assemble.AssemblyError, match=r"unreviewed \['new'\], gone \[\]"):
        assemble.check_reviewed("pkg", {"brightday", "hall", "new"}, kept, excluded, report)
    with pytest.raises(assemble.AssemblyError, match=r"unreviewed \[\], gone \['brightday'\]"):
        assemble.check_reviewed("pkg", {"hall"}, kept, excluded, report)


def _ktx(faces: np.ndarray, internal_format: int = 0x8C3A) -> bytes:
    """A KTX 1 cube map of packed uint32 texels (6, n, n)."""
    n = faces.shape[1]
    header = struct.pack("<12I", 0x8C3A, 1, 0x8C3A, internal_format, 0x1907, n, n, 0, 0, 6, 1, 0)
    return (
        b"\xabKTX 11\xbb\r\n\x1a\n\x01\x02\x03\x04"
        + header
        + struct.pack("<I", n * n * 4)
        + faces.astype("<u4").tobytes()
    )


def test_ktx_packed_floats_decode_to_their_values():
    # R = 1 + i/64 (exponent 15, mantissa i), G = 0.5, B = 3 (exponent 16, mantissa 16 of 32)
    red = (15 << 6) + np.arange(6)[:, None, None] + np.zeros((6, 2, 2), int)
    packed = red | (14 << 6) << 11 | ((16 << 5) + 16) << 22
    faces = assemble.decode_ktx_cube(_ktx(packed))
    assert len(faces) == 6
    for i, face in enumerate(faces):
        assert face.shape == (2, 2, 3) and face.dtype == np.float32
        np.testing.assert_array_equal(face[..., 0], 1 + i / 64)
        np.testing.assert_array_equal(face[..., 1:], np.broadcast_to([0.5, 3.0], (2, 2, 2)))
    with pytest.raises(assemble.AssemblyError, match="format"):
        assemble.decode_ktx_cube(_ktx(packed, internal_format=0x8058))


def test_a_rotated_face_does_not_join():
    faces = _smooth_faces(64)
    assert assemble.face_edge_mismatch(faces) < 10
    faces["top"] = np.rot90(faces["top"]).copy()
    assert assemble.face_edge_mismatch(faces) > 20
    faces = _smooth_faces(64)
    faces["left"], faces["right"] = faces["right"], faces["left"]
    assert assemble.face_edge_mismatch(faces) > 20


def test_png_output_is_reproducible(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    first = assemble.write_png(pixels, tmp_path / "a.png")
    second = assemble.write_png(pixels, tmp_path / "b.png")
    assert first == second
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    with Image.open(tmp_path / "a.png") as image:
        assert assemble.sha256_pixels(np.asarray(image)) == first[1]


def test_rgba_png_output_and_check(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (8, 12, 4), dtype=np.uint8)
    out = tmp_path / "data"
    sha, pixel_sha = assemble.write_png(pixels, out / "train/horizon/a.png")
    with Image.open(out / "train/horizon/a.png") as image:
        assert image.mode == "RGBA"
        assert assemble.sha256_pixels(np.asarray(image)) == pixel_sha
    row = assemble.Row(
        "train/horizon/a.png", "train", "horizon", sha, pixel_sha, "p", "1", "a", "CC0-1.0", "x"
    )
    manifest = tmp_path / "manifest.csv"
    assemble.write_manifest([row], manifest)
    Image.fromarray(pixels, "RGBA").save(out / "train/horizon/a.png", compress_level=0)
    assert assemble.check(out, manifest) == []  # same RGBA pixels, other bytes
    changed = pixels.copy()
    changed[..., 3] ^= 1  # the alpha alone differs
    Image.fromarray(changed, "RGBA").save(out / "train/horizon/a.png")
    assert assemble.check(out, manifest) == ["differs: train/horizon/a.png"]


def test_check_finds_missing_changed_and_extra_files(tmp_path):
    out = tmp_path / "data"
    pixels = np.zeros((4, 4, 3), np.uint8)
    sha, pixel_sha = assemble.write_png(pixels, out / "train/terrain/a.png")
    row = assemble.Row(
        "train/terrain/a.png", "train", "terrain", sha, pixel_sha, "p", "1", "a", "CC0-1.0", "x"
    )
    manifest = tmp_path / "manifest.csv"
    assemble.write_manifest([row], manifest)
    assert assemble.read_manifest(manifest) == [row]
    assert assemble.check(out, manifest) == []
    # Same pixels, other PNG bytes (another zlib): still fine.
    Image.fromarray(pixels).save(out / "train/terrain/a.png", compress_level=0)
    assert assemble.check(out, manifest) == []
    Image.fromarray(pixels + 1).save(out / "train/terrain/a.png")
    (out / "train/terrain/b.png").write_bytes(b"")
    assert assemble.check(out, manifest) == [
        "differs: train/terrain/a.png",
        "not in manifest: train/terrain/b.png",
    ]
    (out / "train/terrain/a.png").unlink()
    assert assemble.check(out, manifest)[0] == "missing: train/terrain/a.png"
