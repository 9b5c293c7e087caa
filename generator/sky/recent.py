"""The last few values a process made at some cost, by key: a sky rendered again in the same
process (the add-on's next preview, a script's time-lapse, a strip after its equirect) reuses its
layers' tiles and textures instead of making them again."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Recent(Generic[V]):
    """The last ``size`` values ``get`` made, by key, for the whole process. Thread-safe; a
    value is made outside the lock, so two threads asking for the same one at once may both
    make it (the same value: either is kept)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: collections.OrderedDict[Hashable, V] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value kept for ``key``, or ``make()``'s, kept in place of the least recent."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = make()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forgets every value kept (their memory is freed once no one else holds them)."""
        with self._lock:
            self._values.clear()
