"""One trainer per run folder: two writing one checkpoint and one log would corrupt both.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on a small file in
the run folder, so it is released by the kernel when its process ends however it ends: a run
killed with SIGKILL never blocks the next one. The file holds the owner's process id, only to
name it in the refusal.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

from generator import BackdropError

LOCK_NAME = ".trainer.lock"


class RunInUseError(BackdropError):
    """Another live trainer holds the run folder."""


class RunLock:
    """Held from ``acquire`` until ``release`` (or the process's end)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held while training)
        if not _try_lock(handle):
            owner = "unknown"
            with contextlib.suppress(OSError):  # Windows refuses reads of a locked range
                handle.seek(0)
                owner = handle.read().strip() or owner
            handle.close()
            raise RunInUseError(
                f"{self.path.parent} is in use by another trainer (process {owner}); "
                "wait for it to finish or stop it first"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.truncate(0)
            self._file.close()  # closing the descriptor drops the lock
            self._file = None


def _try_lock(handle: IO[str]) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
