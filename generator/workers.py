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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")

_lock = threading.Lock()
_active = 0
_saved_threads = 1


@contextlib.contextmanager
def single_threaded_kernels() -> Iterator[None]:
    """PyTorch's intra-op threads set to one while any caller is inside (then restored).

    The setting is process-wide, so nested or concurrent users count in and out and the last one
    out restores what the first one found.
    """
    global _active, _saved_threads
    with _lock:
        if _active == 0:
            _saved_threads = torch.get_num_threads()
            torch.set_num_threads(1)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                torch.set_num_threads(_saved_threads)


def cpu_workers(device: torch.device, jobs: int, memory_slots: int) -> int:
    """How many tiles to compute at once: one per intra-op thread PyTorch would use, on a CPU
    only (a GPU queues its kernels asynchronously), at most ``jobs`` and ``memory_slots``."""
    if device.type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), jobs, memory_slots))


def run_all(work: Callable[[T], None], items: Sequence[T], workers: int) -> None:
    """``work(item)`` for every item, on ``workers`` threads with one-threaded kernels.

    The first exception (a cancellation, say) is raised here after the running items finish;
    items not yet started are dropped.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            work(item)
        return
    with single_threaded_kernels(), ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            for future in futures:
                future.result()
        finally:
            for future in futures:
                future.cancel()
