"""Time-remaining estimates for renders.

Tiles cost the same (each computes the same extent, edge tiles included), so the remaining time is
the remaining tiles over the measured rate. The rate is the least-squares slope of tiles done
against time over all updates: the first batch's one-off costs (kernel set-up, caches) delay every
later update equally, which leaves the slope alone, and tiles computed side by side finish in
bursts (two at once, then a pause), which a fit across bursts averages out where the rate between
two updates would not. Until updates at two different times arrive there is no estimate.
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
        self._sums = [0.0] * 5  # n, sum t, sum d, sum t*t, sum t*d (t from the start)

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        self.done, self.total = done, total
        t = now - self.started
        for i, value in enumerate((1.0, t, done, t * t, t * done)):
            self._sums[i] += value
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
        """Seconds until the fitted line reaches the total (not from the last update alone: right
        after the first tile of a burst, its partners are nearly done); None until it can fit."""
        if self.total and self.done >= self.total:
            return 0.0
        n, st, sd, stt, std = self._sums
        spread = n * stt - st * st
        if n < 2 or spread <= 1e-12 * max(1.0, stt * n):
            return None
        rate = (n * std - st * sd) / spread
        if rate <= 0:
            return None
        intercept = (sd - rate * st) / n
        finish = (self.total - intercept) / rate  # where the fitted line reaches the total
        return max(0.0, finish - (self._clock() - self.started))


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def increments(tick: Callable[[float], None] | None) -> Callable[[float, int], None]:
    """A ``progress(done, total)`` callback for one renderer that passes ``tick`` what each call
    adds: how a caller running several renderers under one bar counts their tiles."""
    seen = 0.0

    def report(count: float, _total: int) -> None:
        nonlocal seen
        if tick is not None:
            tick(count - seen)
        seen = count

    return report
