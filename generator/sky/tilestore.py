"""Model tiles kept on disk between processes. A layer's tile (its clouds, its ground, a
landscape band) is the learned, slow part of a sky: 2048 px of the bundled clouds or terrain
take 3-4 CPU s each to draw, and each command-line render, and the first preview after Blender
starts, would draw them again. Yet a tile depends only on its model, seed, styles and size,
and on the device and torch that drew it.

Tiles are stored as NumPy arrays (``.npy``, read without pickle), named by a digest of all of
that and of this package's code, written whole or not at all, the least recently used
dropped past ``STORE_BYTES``. ``ENDLESS_BACKDROPS_CACHE`` names the folder (empty: keep nothing
on disk); by default the platform's cache folder, so a tile one program drew serves all. A file
that cannot be read as the expected tile is drawn again; a folder that cannot be written to
only costs the time to draw."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import time
from collections.abc import Hashable
from pathlib import Path

import numpy as np
import torch

from generator.files.atomicfile import atomic_writer

VARIABLE = "ENDLESS_BACKDROPS_CACHE"
STORE_BYTES = 512 << 20
"""Most bytes of tiles kept: ten 2048-px tiles (48 MiB each), the bundled sky's two and others."""
STALE_PART_SECONDS = 24 * 3600.0
"""A partial file this old was left by a process that died while writing it."""


def store_folder() -> Path | None:
    """Where tiles are kept: ``ENDLESS_BACKDROPS_CACHE`` (empty: nowhere), else the platform's
    cache folder, which the command line, scripts and Blender share; None: nowhere."""
    named = os.environ.get(VARIABLE)
    if named is not None:
        return Path(named) if named.strip() else None
    try:
        home = Path.home()
    except RuntimeError:  # no home folder (a service's account): nowhere
        return None
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "endless-backdrops" / "cache" / "tiles"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "endless-backdrops" / "tiles"
    base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "endless-backdrops" / "tiles"


@functools.cache
def _code_digest() -> str:
    """A digest of this package's code: a tile drawn by other code (an upgrade, an edit) is
    not taken for this code's."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _path(key: Hashable) -> Path | None:
    folder = store_folder()
    if folder is None:
        return None
    made_by = (key, torch.__version__, np.__version__, _code_digest())
    return folder / f"tile-{hashlib.sha256(repr(made_by).encode()).hexdigest()[:40]}.npy"


def holds(key: Hashable) -> bool:
    """Whether a tile for ``key`` is on disk (it may still prove unreadable)."""
    return _stored(_path(key))


def _stored(path: Path | None) -> bool:
    try:
        return path is not None and path.is_file()
    except OSError:  # a folder that may not be looked into
        return False


def load(key: Hashable, shape: tuple[int, int]) -> np.ndarray | None:
    """The (height, width, C) float32 tile stored for ``key``, read-only; None if none is, or
    it is not such a tile (it is then removed, to be drawn again)."""
    path = _path(key)
    if not _stored(path):
        return None
    try:
        tile = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # unreadable, not an array, empty
        tile = None
    if tile is None or tile.dtype != np.float32 or tile.ndim != 3 or tile.shape[:2] != shape:
        with contextlib.suppress(OSError):  # a folder one may read but not write: left
            path.unlink(missing_ok=True)
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept longest
    tile.setflags(write=False)
    return tile


def save(key: Hashable, tile: np.ndarray) -> None:
    """Stores ``tile`` for ``key`` (atomically: another process reads all of it or nothing),
    then drops the least recently used tiles past ``STORE_BYTES``. Does nothing where the
    folder cannot be written to: the tile is drawn again next time."""
    path = _path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as part:
            np.save(part, np.ascontiguousarray(tile, dtype=np.float32), allow_pickle=False)
        _prune(path.parent, keep=path)
    except OSError:
        pass


def _prune(folder: Path, keep: Path) -> None:
    """Removes the least recently used tiles until the rest fit ``STORE_BYTES`` (``keep``
    stays), and partial files a dead process left. Only files named as this module names
    them: the folder may hold others (a user's own arrays), which are left alone."""
    tiles = []
    now = time.time()
    for entry in os.scandir(folder):
        if entry.name.startswith(".tile-") and entry.name.endswith(".partial"):
            if now - entry.stat().st_mtime > STALE_PART_SECONDS:
                os.unlink(entry.path)
        elif entry.name.startswith("tile-") and entry.name.endswith(".npy"):
            stat = entry.stat()
            tiles.append((stat.st_mtime, stat.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in tiles)
    for _, size, path in sorted(tiles):
        if total <= STORE_BYTES:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size
