"""Time-remaining estimates for renders.

Tiles cost the same (each computes the same extent, edge tiles included), so the remaining time is
the remaining tiles over the measured rate. The first batch carries one-off costs (kernel set-up,
caches), so the rate is measured from the end of the first update on; until a second update
arrives there is no estimate.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ProgressEstimate:
    """A progress callback ``(done, total)`` that keeps an estimate of the time remaining.

    Pass it as ``progress=`` (optionally wrapping another callback), then read ``remaining_s``::

        eta = ProgressEstimate()
        render_to_file(model, recipe, "sky.exr", progress=eta)  # eta.remaining_s during the render
    """

    def __init__(
        self,
        callback: Callable[[int, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._clock = clock
        self.started = clock()
        self.done = 0
        self.total = 0
        self._first: tuple[float, int] | None = None
        self._last: tuple[float, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        self.done, self.total = done, total
        if self._first is None:
            self._first = (now, done)
        self._last = (now, done)
        if self._callback is not None:
            self._callback(done, total)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def elapsed_s(self) -> float:
        return self._clock() - self.started

    @property
    def remaining_s(self) -> float | None:
        """Seconds left at the rate measured since the first update; None before two updates."""
        if self._first is None or self._last is None:
            return None
        (t0, d0), (t1, d1) = self._first, self._last
        if d1 <= d0 or t1 <= t0:
            return 0.0 if self.total and self.done >= self.total else None
        rate = (d1 - d0) / (t1 - t0)
        return max(0.0, (self.total - d1) / rate - (self._clock() - t1))


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
