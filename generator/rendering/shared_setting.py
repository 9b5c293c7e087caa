"""Process-wide settings held while any render needs them, restored when the last one ends."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


class SharedSetting:
    """A setting of the whole process (PyTorch's thread count, the allocator's thresholds) that
    renders switch on while they run. Renders nest and run concurrently, so they count in and
    out: the first one in applies it, the last one out restores it."""

    def __init__(self, apply: Callable[[], None], restore: Callable[[], None]) -> None:
        self._apply, self._restore = apply, restore
        self._lock = threading.Lock()
        self.users = 0

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self.users == 0:
                self._apply()
            self.users += 1
        try:
            yield
        finally:
            with self._lock:
                self.users -= 1
                if self.users == 0:
                    self._restore()
