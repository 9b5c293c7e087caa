"""Freed feature maps kept in the process's heap while a render runs (glibc's malloc only).

A tile allocates and frees the same large feature maps (megabytes each) over and over. glibc
hands big freed blocks straight back to the system (munmap, or trimming the top of the heap), so
the next tile's allocations fault their pages in again, zero-filled by the kernel: a quarter of
the time of some convolutions. While any render runs, blocks up to 40 MiB (a tile's feature
maps) come from the heap and the heap is not trimmed; when the last render ends, the kept memory
is handed back (``malloc_trim``) and the thresholds are left where glibc's own adjustment takes
them in a program that frees large arrays (``_GLIBC_SETTLED``). Larger blocks, such as
output bands of up to 48 MiB, still go back at once: keeping those too raised the peak memory of
a 16384x8192 render from 367 to 470 MiB. Elsewhere (macOS, Windows, musl, or a program that
brings its own allocator) this does nothing. Measured in ``benchmarks/levers.py``.
"""

from __future__ import annotations

import contextlib
import ctypes
import platform

from generator.rendering.shared_setting import SharedSetting

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_GLIBC_SETTLED = 32 * 1024 * 1024
"""The largest block glibc serves from the heap once it has adjusted its threshold (its
``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit systems), trimming the heap's top past twice that. A
threshold once set stays as set: restoring the initial 128 KiB instead sent every later array
over 128 KiB back to the system, so after a first render the sky's next set-up faulted in
zero-filled pages for each of the air tables' temporaries, and moving the sun took 11-13 s to
preview at 1024 x 512 instead of 4-5 s."""
_KEPT_BLOCK = 40 * 1024 * 1024
_KEPT_TOP = 1 << 30


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def _keep() -> None:
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, _KEPT_BLOCK)
        _LIBC.mallopt(_M_TRIM_THRESHOLD, _KEPT_TOP)


def _hand_back() -> None:
    if _LIBC is not None:
        _LIBC.mallopt(_M_TRIM_THRESHOLD, 2 * _GLIBC_SETTLED)
        _LIBC.mallopt(_M_MMAP_THRESHOLD, _GLIBC_SETTLED)
        _LIBC.malloc_trim(0)


_kept = SharedSetting(_keep, _hand_back)


def kept_heap() -> contextlib.AbstractContextManager:
    """Keep freed blocks for reuse while inside; nested and concurrent renders count in and out."""
    return _kept.held()
