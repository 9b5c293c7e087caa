"""One render at a time, in a worker thread that never touches bpy.

The main thread starts a ``RenderJob``, polls ``fraction``/``finished`` from a modal timer and calls
``cancel()`` on Esc or the Cancel button; the worker reads the cancel flag between tile batches.
In background mode the same job runs blocking through ``run()``.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Callable
from pathlib import Path

from .backend import CancelFn, JobCancelled, JobFailed, ProgressFn, describe_error

Work = Callable[[ProgressFn, CancelFn], Path]


class JobState(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RenderJob:
    """``work(progress, cancel)`` run once; its result, error line or cancellation kept here."""

    def __init__(self, work: Work) -> None:
        self._work = work
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = JobState.PENDING
        self.done = 0.0
        """Units done, with the finished part of those in progress (so the bar moves smoothly)."""
        self.total_tiles = 0
        self.result: Path | None = None
        self.error = ""
        self._offered: Path | None = None
        self._offer_lock = threading.Lock()

    @property
    def fraction(self) -> float:
        return self.done / self.total_tiles if self.total_tiles else 0.0

    @property
    def done_tiles(self) -> int:
        """Whole units done, for the status line."""
        return math.floor(self.done)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> None:
        """Run in a daemon thread, so a render never keeps Blender from quitting."""
        self._thread = threading.Thread(
            target=self.run, name="Endless Backdrops render", daemon=True
        )
        self._thread.start()

    def run(self) -> None:
        self.state = JobState.RUNNING
        try:
            self.result = self._work(self._progress, self._cancel.is_set)
            self.state = JobState.DONE
        except JobCancelled:
            self.state = JobState.CANCELLED
        except JobFailed as err:
            self.error, self.state = str(err), JobState.FAILED
        except Exception as err:
            self.error, self.state = describe_error(err), JobState.FAILED
        finally:
            self._finished.set()

    def cancel(self) -> None:
        self._cancel.set()

    def offer(self, path: Path) -> None:
        """From the worker: a quick result the main thread may show while the work goes on."""
        with self._offer_lock:
            self._offered = path

    def take_offered(self) -> Path | None:
        """The quick result offered since the last call, if any (main thread)."""
        with self._offer_lock:
            path, self._offered = self._offered, None
        return path

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the job finished within ``timeout`` seconds."""
        return self._finished.wait(timeout)

    def _progress(self, done: float, total: int) -> None:
        self.done, self.total_tiles = done, total


_active: RenderJob | None = None


def active_job() -> RenderJob | None:
    """The job still running, if any: only one render runs at a time."""
    return _active if _active is not None and not _active.finished else None


def set_active(job: RenderJob | None) -> None:
    global _active
    _active = job


def cancel_active() -> None:
    if (job := active_job()) is not None:
        job.cancel()
