"""The add-on's bpy-free half: render requests, error lines and the worker thread with cancel."""

from __future__ import annotations

import errno
import threading
import time

import pytest

from addon.backend import (
    JobCancelled,
    JobFailed,
    RenderRequest,
    describe_error,
    enlarged,
    preview_size,
    run_request,
)
from addon.jobs import JobState, RenderJob
from generator import ModelError, OutputError, Style, new_recipe, read_recipe


def sky_request(model_path, out_dir, width=128, **changes):
    return RenderRequest(
        kind="sky", model_paths=(str(model_path),), out_dir=str(out_dir), width=width, **changes
    )


def test_job_renders_in_a_thread_with_progress(tiny_model_path, tmp_path):
    request = sky_request(tiny_model_path, tmp_path)
    job = RenderJob(lambda progress, cancel: run_request(request, progress, cancel))
    job.start()
    assert job.wait(60)
    assert job.state is JobState.DONE and job.fraction == 1.0
    assert job.result.parent == tmp_path and read_recipe(job.result).width == 128


def test_cancel_from_another_thread_stops_the_worker_and_leaves_no_file(tiny_model_path, tmp_path):
    started = threading.Event()
    request = sky_request(tiny_model_path, tmp_path, width=2048)  # 8 tiles of 512 px

    def work(progress, cancel):
        def report(done, total):
            progress(done, total)
            started.set()

        return run_request(request, report, cancel)

    job = RenderJob(work)
    job.start()
    assert started.wait(60)
    cancelled_at = time.monotonic()
    job.cancel()
    assert job.wait(5), "the worker did not stop"
    # The worker checks between tiles; one tiny-model tile takes well under a second here.
    assert time.monotonic() - cancelled_at < 2.0
    assert job.state is JobState.CANCELLED and job.result is None
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_failures_become_one_line_job_errors(tmp_path):
    corrupt = tmp_path / "bad.safetensors"
    corrupt.write_bytes(b"garbage")
    job = RenderJob(lambda p, c: run_request(sky_request(corrupt, tmp_path), p, c))
    job.run()
    assert job.state is JobState.FAILED
    assert "not a readable model file" in job.error and "\n" not in job.error
    with pytest.raises(JobFailed, match="no model chosen"):
        run_request(RenderRequest(kind="sky", model_paths=(), out_dir=str(tmp_path)))


@pytest.mark.parametrize("kind", ["terrain", "sky"])
def test_a_model_that_cannot_make_the_kind_is_refused_in_the_panels_words(
    tiny_model_path, flat_model, tmp_path, kind
):
    """A terrain tile needs a model without an up; a sky needs one with it (the menus offer
    only those; a file replaced since, or a script's request, still gets the panel's words)."""
    model = tiny_model_path if kind == "terrain" else flat_model.path
    request = RenderRequest(
        kind=kind, model_paths=(str(model),), out_dir=str(tmp_path), width=64, height=64
    )
    with pytest.raises(JobFailed) as raised:
        run_request(request)
    message = str(raised.value)
    assert f"choose a {kind.title()} model" in message
    assert "wrap" not in message and "--" not in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_keyboard_interrupt_in_blocking_mode_is_a_cancel(tiny_model_path, tmp_path):
    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(JobCancelled):
        run_request(sky_request(tiny_model_path, tmp_path), cancel=interrupt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ModuleNotFoundError("No module named 'torch'", name="torch"), "PyTorch (torch) is not"),
        (ModelError("model file not found: m.safetensors"), "model file not found"),
        (OutputError("no space left on the disk"), "no space left"),
        (MemoryError(), "out of memory"),
        (type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory.\nTried"), "out of"),
        (OSError(errno.EACCES, "Permission denied", "/x"), "Permission denied (/x)"),
        (ValueError("first\nsecond"), "unexpected ValueError: first second"),
    ],
)
def test_error_messages_are_single_readable_lines(error, expected):
    message = describe_error(error)
    assert expected in message and "\n" not in message


@pytest.mark.parametrize(
    ("kind", "size", "ppc", "expected"),
    [
        ("sky", (16384, 8192), 16, (512, 256)),
        ("sky", (4096, 2048), 4, (512, 256)),
        ("sky", (256, 128), 16, (256, 128)),
        ("terrain", (300, 300), 16, (288, 288)),
        ("sky", (300, 150), 16, (288, 144)),
        ("matte", (16384, 2048), 16, (512, 64)),
    ],
)
def test_preview_sizes_keep_shape_and_whole_cells(kind, size, ppc, expected):
    assert preview_size(kind, *size, ppc) == expected


def test_enlarged_wrapped_recipe_scales_canvas_and_style_anchors(tiny_model):
    config, ppc = tiny_model.config, tiny_model.config.pixels_per_cell
    sky = new_recipe(
        config, tiny_model.hash, 128, 64, wrap="x", projection="equirect", style_seeds=[1, 2]
    )
    bigger = enlarged(sky, 2, tiny_model)
    assert (bigger.width, bigger.height) == (256, 128)
    assert bigger.top == (config.native_height * ppc - 128) // 2
    assert [s.x for s in bigger.styles] == [2 * s.x for s in sky.styles]
    assert bigger.blend == 2 * sky.blend
    tile = new_recipe(config, tiny_model.hash, 64, 64, wrap="xy")
    tile = tile.replace(styles=(Style(1, 2.0, tile.top / ppc + 4.0), Style(2, 10.0, 12.0)))
    big_tile = enlarged(tile, 2, tiny_model)
    assert big_tile.top == tile.top
    assert big_tile.styles[0].y == pytest.approx(tile.top / ppc + 8.0)
    assert enlarged(sky, 1, tiny_model) == sky


def test_disabling_the_add_on_frees_the_skys_kept_layers(monkeypatch):
    """``backend.forget`` (the add-on's unregister) drops the tiles and textures a composed
    sky keeps for the next one."""
    import generator.sky.skyfile as skyfile
    from addon.backend import forget
    from generator.sky.recent import Recent

    monkeypatch.setattr(skyfile, "_tiles", Recent(skyfile.TILE_CACHE_SIZE))
    skyfile._tiles.get("a tile", lambda: "kept")
    forget()
    assert "a tile" not in skyfile._tiles
