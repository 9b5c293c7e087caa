"""The heap setting of a render: glibc keeps freed feature maps only while renders run."""

from __future__ import annotations

import threading

import pytest

from generator.rendering import heap


class _RecordingLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append(("mallopt", option, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def libc(monkeypatch):
    fake = _RecordingLibc()
    monkeypatch.setattr(heap, "_LIBC", fake)
    return fake


def test_nested_and_concurrent_renders_keep_the_heap_until_the_last_one_ends(libc):
    kept = [
        ("mallopt", heap._M_MMAP_THRESHOLD, heap._KEPT_BLOCK),
        ("mallopt", heap._M_TRIM_THRESHOLD, heap._KEPT_TOP),
    ]
    inside, release = threading.Event(), threading.Event()

    def other_render() -> None:
        with heap.kept_heap():
            inside.set()
            release.wait(10)

    with heap.kept_heap():
        assert libc.calls == kept
        thread = threading.Thread(target=other_render)
        thread.start()
        inside.wait(10)
        with heap.kept_heap():
            pass
    assert libc.calls == kept  # the other render still runs: nothing handed back yet
    release.set()
    thread.join()
    assert libc.calls[2:] == [
        ("mallopt", heap._M_TRIM_THRESHOLD, 2 * heap._GLIBC_SETTLED),
        ("mallopt", heap._M_MMAP_THRESHOLD, heap._GLIBC_SETTLED),
        ("malloc_trim", 0),
    ]


def test_a_failing_render_still_hands_the_memory_back(libc):
    with pytest.raises(RuntimeError), heap.kept_heap():
        raise RuntimeError("tile failed")
    assert libc.calls[-1] == ("malloc_trim", 0)
    assert heap._kept.users == 0


def test_glibc_accepts_the_settings():
    """mallopt answers 0 for a setting it refuses (older glibc refused large block limits)."""
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert heap._LIBC is not None
    with heap.kept_heap():
        assert heap._LIBC.mallopt(heap._M_MMAP_THRESHOLD, heap._KEPT_BLOCK) == 1
        assert heap._LIBC.mallopt(heap._M_TRIM_THRESHOLD, heap._KEPT_TOP) == 1
