"""Layer tiles kept on disk: a later process takes the tile an earlier one drew (the same pixels,
no drawing, no progress units) unless its code differs, a damaged file is drawn again, an
unwritable or empty folder setting only costs the drawing, and the store keeps within its size,
dropping the least recently used."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import make_model_file

import generator.sky.skyfile as skyfile
from generator.sky import tilestore
from generator.sky.atmosphere import SkySettings
from generator.sky.compose import SkyComposition
from generator.sky.layers import GroundSettings
from generator.sky.recent import Recent
from generator.sky.skyfile import PreparedLayers, SkyRecipe, render_sky_array


@pytest.fixture
def recipe(tmp_path) -> SkyRecipe:
    flat = {"vertical": False, "horizontal_conditioning": False, "rgb_scale": 0.5}
    model = str(make_model_file(tmp_path / "ground.safetensors", seed=4, **flat))
    ground = GroundSettings(model, tile=64, period_m=20.0)
    return SkyRecipe(SkyComposition(SkySettings(sun_elevation=30.0), ground=ground), width=64)


@pytest.fixture
def drawn(monkeypatch) -> list[tuple]:
    """The tiles drawn by a model, in a process whose memory holds none."""
    calls: list[tuple] = []
    real = skyfile.model_tile

    def counting(*args, **kwargs):
        calls.append(args[1:4])
        return real(*args, **kwargs)

    monkeypatch.setattr(skyfile, "model_tile", counting)
    new_process(monkeypatch)
    return calls


def new_process(monkeypatch) -> None:
    """As a new process starts: nothing kept in memory."""
    monkeypatch.setattr(skyfile, "_tiles", Recent(skyfile.TILE_CACHE_SIZE))
    monkeypatch.setattr(skyfile, "_textures", Recent(skyfile.TEXTURE_CACHE_SIZE))


def test_a_tile_one_process_drew_serves_the_next(recipe, drawn, tmp_path, monkeypatch):
    monkeypatch.setenv(tilestore.VARIABLE, str(tmp_path / "tiles"))
    first = render_sky_array(recipe)
    assert len(drawn) == 1 and len(list((tmp_path / "tiles").glob("tile-*.npy"))) == 1
    new_process(monkeypatch)
    assert PreparedLayers(recipe).tiles == 0  # nothing to draw: no progress units
    np.testing.assert_array_equal(render_sky_array(recipe), first)
    assert len(drawn) == 1
    new_process(monkeypatch)  # after an upgrade, or an edit of the code
    monkeypatch.setattr(tilestore, "_code_digest", lambda: "other code")
    assert PreparedLayers(recipe).tiles > 0
    render_sky_array(recipe)
    assert len(drawn) == 2


@pytest.mark.parametrize("damage", ["cut short", "empty", "not an array"])
def test_a_damaged_tile_file_is_drawn_again(recipe, drawn, tmp_path, monkeypatch, damage):
    monkeypatch.setenv(tilestore.VARIABLE, str(tmp_path / "tiles"))
    first = render_sky_array(recipe)
    (stored,) = (tmp_path / "tiles").glob("tile-*.npy")
    damaged = {"cut short": stored.read_bytes()[:1000], "empty": b"", "not an array": b"tile" * 9}
    stored.write_bytes(damaged[damage])
    new_process(monkeypatch)
    np.testing.assert_array_equal(render_sky_array(recipe), first)
    assert len(drawn) == 2
    new_process(monkeypatch)  # and stored whole again
    np.testing.assert_array_equal(render_sky_array(recipe), first)
    assert len(drawn) == 2


@pytest.mark.parametrize("setting", ["", "a file"])
def test_no_store_or_an_unwritable_one_only_costs_the_drawing(
    recipe, drawn, tmp_path, monkeypatch, setting
):
    """Empty: nothing on disk, even in the default folder; a folder that cannot be made (a
    file is in its way): the sky is rendered all the same."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    blocked = tmp_path / "a file"
    blocked.write_text("")
    monkeypatch.setenv(tilestore.VARIABLE, "" if not setting else str(blocked / "tiles"))
    first = render_sky_array(recipe)
    new_process(monkeypatch)
    np.testing.assert_array_equal(render_sky_array(recipe), first)
    assert len(drawn) == 2
    assert not home.exists() and blocked.read_text() == ""


def test_the_store_keeps_the_most_recently_used_tiles_within_its_size(tmp_path, monkeypatch):
    """And leaves alone what else the folder holds."""
    monkeypatch.setenv(tilestore.VARIABLE, str(tmp_path))
    tile = np.ones((16, 16, 3), dtype=np.float32)
    monkeypatch.setattr(tilestore, "STORE_BYTES", 2 * tile.nbytes + 1000)  # two and headers
    np.save(tmp_path / "mine.npy", np.zeros((64, 64, 3)))  # not a tile: left alone
    os.utime(tmp_path / "mine.npy", (0, 0))
    tilestore.save("sky", tile)
    tilestore.save("ground", 2 * tile)
    for path in tmp_path.glob("tile-*.npy"):  # both long unused
        os.utime(path, (1000, 1000))
    assert tilestore.load("sky", (16, 16)) is not None  # used: now the most recent
    tilestore.save("clouds", 3 * tile)
    assert tilestore.holds("sky") and tilestore.holds("clouds") and not tilestore.holds("ground")
    assert (tmp_path / "mine.npy").is_file()
    assert tilestore.load("clouds", (16, 16)).max() == 3.0
    assert tilestore.load("clouds", (32, 16)) is None  # not the tile asked for: gone
    assert not tilestore.holds("clouds")


def test_a_tile_is_stored_whole_and_a_dead_process_partial_file_is_cleared(tmp_path, monkeypatch):
    monkeypatch.setenv(tilestore.VARIABLE, str(tmp_path))
    dead = tmp_path / ".tile-0123.npy.89abcdef.partial"  # as a process killed mid-write left it
    fresh = tmp_path / ".tile-4567.npy.01234567.partial"  # another process writing now
    for path in (dead, fresh):
        path.write_bytes(b"half a tile")
    os.utime(dead, (0, 0))
    tilestore.save("sky", np.ones((16, 16, 3), dtype=np.float32))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("tile-")) == [
        tilestore._path("sky").name
    ]
    assert not dead.exists() and fresh.exists()
    assert tilestore.load("sky", (16, 16)).min() == 1.0


def test_a_store_one_may_read_but_not_write_still_serves_its_tiles(tmp_path, monkeypatch):
    """A shared, read-only folder of tiles (a studio's): read, never a crash."""
    monkeypatch.setenv(tilestore.VARIABLE, str(tmp_path))
    tilestore.save("sky", np.ones((8, 8, 3), dtype=np.float32))
    monkeypatch.setattr(os, "utime", refuse)
    monkeypatch.setattr(Path, "unlink", refuse)
    assert tilestore.load("sky", (8, 8)).shape == (8, 8, 3)
    assert tilestore.load("sky", (16, 8)) is None  # not the tile asked for, and not removed
    assert tilestore.holds("sky")


def refuse(*args, **kwargs):
    raise PermissionError("read-only")


def test_without_a_home_folder_nothing_is_kept(recipe, drawn, monkeypatch):
    monkeypatch.delenv(tilestore.VARIABLE)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", classmethod(no_home))
    first = render_sky_array(recipe)
    new_process(monkeypatch)
    np.testing.assert_array_equal(render_sky_array(recipe), first)
    assert len(drawn) == 2


def no_home(cls):
    raise RuntimeError("Could not determine home directory.")
