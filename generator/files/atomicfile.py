"""Files that appear under their name only when complete: every image and model we write.

A hidden partial file is created beside the target (0666 less the umask, like any file: outputs
are for sharing), filled, flushed to disk and renamed over the target, so a crash or a kill at
any moment leaves the previous complete file (or none), never half of one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import BinaryIO


class PartialFile:
    """Hidden file next to the target that becomes the target only on ``commit``."""

    def __init__(self, target: str, path: str, fd: int) -> None:
        self.target = target
        self.path = path
        self._file: BinaryIO = os.fdopen(fd, "wb")

    @classmethod
    def create(cls, target: str | os.PathLike[str]) -> PartialFile:
        """Create the file now, so that a bad output path fails before the work starts
        (OSError as the file system gives it: callers word it for their users)."""
        target = os.fspath(target)
        folder, name = os.path.split(target)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        while True:
            path = os.path.join(folder, f".{name}.{os.urandom(4).hex()}.partial")
            try:
                return cls(target, path, os.open(path, flags, 0o666))
            except FileExistsError:
                continue

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self._file.write(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def flush(self) -> None:
        self._file.flush()

    def commit(self) -> None:
        """Make the data durable, then atomically replace the target with it."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.path, self.target)
        _sync_folder(os.path.dirname(self.target) or os.curdir)

    def discard(self) -> None:
        """Close and delete the file, ignoring errors: it is being thrown away."""
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            os.remove(self.path)


@contextlib.contextmanager
def atomic_writer(target: str | os.PathLike[str]) -> Iterator[PartialFile]:
    """A file to fill in the block: it becomes ``target`` when the block ends and is removed if
    the block raises (OSError as the file system gives it)."""
    partial = PartialFile.create(target)
    try:
        yield partial
        partial.commit()
    except BaseException:
        partial.discard()
        raise


def write_atomically(target: str | os.PathLike[str], data: bytes) -> None:
    """``data`` as the whole of ``target``, all or nothing (OSError on failure)."""
    with atomic_writer(target) as partial:
        partial.write(data)


def _sync_folder(folder: str) -> None:
    """Persist the rename where the platform allows fsync on a folder (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
