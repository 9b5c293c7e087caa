"""Hidden partial files that a killed Blender left in the output folder, removed by a later render.

The generator writes each image to a hidden ``.NAME.XXXXXXXX.partial`` beside it and renames it
once complete (``generator.files.atomicfile``), so a Blender killed mid-render (SIGKILL, SIGTERM, a
crash) leaves that file behind, and nothing else ever removes it. Every render holds a shared lock
on its output folder while it writes; a render that can first take the lock exclusively knows
that no other render (of any Blender) is writing there, so every partial of our naming is a dead
writer's and is removed. The operating system drops a dead process's locks. Without such locks
(Windows) removal is simply tried: Windows refuses to delete a file that a live writer holds open.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

PARTIAL_NAME = re.compile(r"\..+\.(exr|png)\.[0-9a-f]{8}\.partial")
"""``generator.files.atomicfile``'s hidden name for an image the add-on writes (EXR or PNG)."""
SUBFOLDERS = ("", "previews")
"""Where in the output folder renders write (``backend.output_path``)."""


@contextlib.contextmanager
def writing_in(folder: Path) -> Iterator[None]:
    """Hold ``folder`` (which exists) while a render writes into it, having first removed the
    partials that dead writers left there, if no one else is writing there."""
    fd = _claim(folder)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _claim(folder: Path) -> int | None:
    """An open handle holding a shared lock on ``folder`` (None where locks are unavailable)."""
    if fcntl is None:
        remove_stale(folder)
        return None
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass  # another render is writing here (or this drive has no locks): its files stay
    else:
        remove_stale(folder)
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def remove_stale(folder: Path) -> None:
    """Remove every partial of our naming in ``folder`` (the caller knows their writers died)."""
    for sub in SUBFOLDERS:
        with contextlib.suppress(OSError), os.scandir(folder / sub) as entries:
            for entry in entries:
                if PARTIAL_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.remove(entry.path)
