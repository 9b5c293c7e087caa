"""Tiles of a band computed side by side on CPU cores, one single-threaded worker per core.

PyTorch parallelises each operation over its OpenMP threads, and a tile is hundreds of operations,
many on small feature maps: every one of them wakes the threads and waits for the slowest. That
cost dominated a render's overhead (waiting passively, as ``python -m generator`` does; see
``generator.device``), and when another program holds a core every operation waits for the thread
that lost it. Independent tiles are the natural unit instead: ``cores`` Python threads each run
whole tiles with one-threaded kernels (PyTorch releases the GIL inside operations), so a worker
that loses its core delays only its own tile. Measured in ``benchmarks/levers.py``.

The pixels do not depend on this: a tile's value is a function of its position only, and the
kernels compute the same sums in one thread or two (tests compare with the serial render).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

from generator.rendering.shared_setting import SharedSetting

T = TypeVar("T")

_lock = threading.Lock()
_saved_threads = 1
_threads: ThreadPoolExecutor | None = None
_thread_count = 0


def _pool(workers: int) -> ThreadPoolExecutor:
    """One pool for the process, kept between bands and renders: a fresh thread's first
    convolutions are slow (oneDNN sets up per-thread state), which a new pool per band paid."""
    global _threads, _thread_count
    with _lock:
        if _threads is None or _thread_count < workers:
            if _threads is not None:
                _threads.shutdown(wait=False)
            _threads, _thread_count = ThreadPoolExecutor(workers, "tile-worker"), workers
        return _threads


def _one_thread() -> None:
    global _saved_threads
    _saved_threads = torch.get_num_threads()
    torch.set_num_threads(1)


_single_threaded = SharedSetting(_one_thread, lambda: torch.set_num_threads(_saved_threads))


def single_threaded_kernels() -> contextlib.AbstractContextManager:
    """PyTorch's intra-op threads set to one while any caller is inside; the last one out
    restores what the first one found (the setting is process-wide)."""
    return _single_threaded.held()


def cpu_workers(device: torch.device, jobs: int, memory_slots: int) -> int:
    """How many tiles to compute at once: one per intra-op thread PyTorch would use, on a CPU
    only (a GPU queues its kernels asynchronously), at most ``jobs`` and ``memory_slots``."""
    if device.type != "cpu":
        return 1
    # While another render holds the kernels at one thread, count the threads it found.
    threads = _saved_threads if _single_threaded.users else torch.get_num_threads()
    return max(1, min(threads, jobs, memory_slots))


class TilePool:
    """Submits work to the process's worker threads, at most ``workers`` items of it at a time,
    with one-threaded kernels while open (a context manager)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._slots = threading.Semaphore(workers)
        self._kernels = single_threaded_kernels()

    def __enter__(self) -> TilePool:
        self._kernels.__enter__()
        self._pool = _pool(self.workers)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._kernels.__exit__(*exc_info)

    def submit(self, work: Callable[..., None], *args: object) -> Future:
        def limited() -> None:
            with self._slots:
                work(*args)

        return self._pool.submit(limited)


def wait_all(futures: Sequence[Future]) -> None:
    """Wait for every future; on the first exception (a cancellation, say) abandon the rest and
    raise it."""
    try:
        for future in futures:
            future.result()
    except BaseException:
        abandon(futures)
        raise


def abandon(futures: Sequence[Future]) -> None:
    """Drop the futures not yet started and wait for the running ones, whatever their outcome
    (nothing may still write into a buffer its owner is about to drop)."""
    for future in futures:
        future.cancel()
    for future in futures:
        if not future.cancelled():
            with contextlib.suppress(BaseException):
                future.result()


def run_all(work: Callable[[T], None], items: Sequence[T], workers: int) -> None:
    """``work(item)`` for every item, on ``workers`` threads with one-threaded kernels."""
    if workers <= 1 or len(items) <= 1:
        for item in items:
            work(item)
        return
    with TilePool(workers) as pool:
        wait_all([pool.submit(work, item) for item in items])
