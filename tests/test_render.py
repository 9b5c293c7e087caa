"""Seamless, exact tiling: the properties every backdrop relies on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generator import (
    Cancelled,
    CanvasRenderer,
    RequestError,
    Style,
    Window,
    extended,
    new_recipe,
    render_array,
)

TOL = 1e-5


def render(model, recipe, tile=1 << 16, batch=4):
    return render_array(model, recipe, tile=tile, batch=batch)


@pytest.fixture(scope="module")
def plain(tiny_model):
    recipe = new_recipe(tiny_model.config, tiny_model.hash, 90, 46, seed=5)
    return recipe, render(tiny_model, recipe)


def test_one_pass_equals_every_tiling(tiny_model, plain):
    recipe, full = plain
    assert CanvasRenderer(tiny_model, recipe, tile=1 << 16).total_tiles == 1
    for tile, batch in ((4, 1), (12, 3), (16, 4), (36, 2)):
        tiled = render(tiny_model, recipe, tile=tile, batch=batch)
        assert np.abs(tiled - full).max() <= TOL, (tile, batch)


def test_any_window_equals_the_crop(tiny_model, plain):
    recipe, full = plain
    for x, y, w, h in ((0, 0, 5, 7), (33, 11, 29, 17), (61, 40, 29, 6), (1, 45, 89, 1)):
        window = render(tiny_model, recipe.replace(window=Window(x, y, w, h)), tile=20)
        assert np.abs(window - full[y : y + h, x : x + w]).max() <= TOL


def test_window_outside_an_unwrapped_canvas_extends_it(tiny_model, plain):
    recipe, full = plain
    window = render(tiny_model, recipe.replace(window=Window(-30, -10, 60, 30)), tile=16)
    assert np.abs(window[10:, 30:] - full[:20, :30]).max() <= TOL
    assert np.isfinite(window).all()


def test_deterministic_and_seeds_differ(tiny_model, plain):
    recipe, full = plain
    again = render(tiny_model, recipe, tile=24)
    other = render(tiny_model, recipe.replace(seed=6), tile=24)
    assert np.abs(again - full).max() <= TOL
    assert np.abs(other - full).mean() > 1e-3


def test_independent_of_thread_count(tiny_model, plain):
    recipe, full = plain
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = render(tiny_model, recipe, tile=32)
    finally:
        torch.set_num_threads(threads)
    assert np.abs(single - full).max() <= TOL


def test_wrap_x_seam_is_exact(tiny_model):
    recipe = new_recipe(tiny_model.config, tiny_model.hash, 96, 40, seed=2, wrap="x")
    full = render(tiny_model, recipe)
    straddle = render(tiny_model, recipe.replace(window=Window(80, 3, 32, 30)), tile=12)
    expected = np.concatenate([full[3:33, 80:], full[3:33, :16]], axis=1)
    assert np.abs(straddle - expected).max() <= TOL
    # The whole canvas is one period: shifting the window by the width changes nothing.
    shifted = render(tiny_model, recipe.replace(window=Window(96 + 7, 0, 40, 40)), tile=16)
    assert np.abs(shifted - full[:, 7:47]).max() <= TOL


def test_wrap_xy_tiles_both_ways(flat_model):
    recipe = new_recipe(flat_model.config, flat_model.hash, 64, 48, seed=3, wrap="xy")
    full = render(flat_model, recipe)
    corner = render(flat_model, recipe.replace(window=Window(56, 40, 16, 16)), tile=20)
    top = np.concatenate([full[40:, 56:], full[40:, :8]], axis=1)
    bottom = np.concatenate([full[:8, 56:], full[:8, :8]], axis=1)
    expected = np.concatenate([top, bottom], axis=0)
    assert np.abs(corner - expected).max() <= TOL


def test_wrap_needs_whole_latent_cells_and_torus_needs_unconditioned_model(tiny_model, flat_model):
    with pytest.raises(RequestError, match="multiple of 4 pixels"):
        CanvasRenderer(tiny_model, new_recipe(tiny_model.config, tiny_model.hash, 98, 40, wrap="x"))
    with pytest.raises(RequestError, match="vertical"):
        CanvasRenderer(
            tiny_model, new_recipe(tiny_model.config, tiny_model.hash, 64, 64, wrap="xy")
        )


def test_outpainting_keeps_generated_pixels(tiny_model, plain):
    recipe, full = plain
    bigger = extended(recipe, left=24, top=8, right=10, bottom=12)
    grown = render(tiny_model, bigger, tile=28)
    assert grown.shape == (46 + 20, 90 + 34, 3)
    assert np.abs(grown[8 : 8 + 46, 24 : 24 + 90] - full).max() <= TOL


def test_style_fusion_blends_and_matches_single_styles_far_from_borders(tiny_model):
    config, digest = tiny_model.config, tiny_model.hash
    seeds = (11, 22, 33)
    fused = new_recipe(config, digest, 384, 32, seed=4, style_seeds=seeds, blend=4)
    image = render(tiny_model, fused, tile=40)
    singles = [render(tiny_model, fused.replace(styles=(Style(seed),)), tile=40) for seed in seeds]
    # Bands are 128 px (32 cells) wide with 4-cell transitions at x = 128 and 256 px; the
    # receptive field reaches 6 cells, so the middle 8 cells of each band see one style only.
    for index, single in enumerate(singles):
        inner = slice(128 * index + 48, 128 * index + 80)
        assert np.abs(image[:, inner] - single[:, inner]).max() <= TOL
    border = slice(124, 132)
    assert np.abs(image[:, border] - singles[0][:, border]).max() > 1e-3
    assert np.abs(image[:, border] - singles[1][:, border]).max() > 1e-3
    # Tiled rendering of a fused canvas is exact too.
    assert np.abs(render(tiny_model, fused, tile=12, batch=3) - image).max() <= TOL


def test_equirect_poles_are_constant_rows_and_smooth(tiny_model):
    recipe = new_recipe(
        tiny_model.config, tiny_model.hash, 128, 64, seed=1, wrap="x", projection="equirect"
    )
    sky = render(tiny_model, recipe, tile=24)
    assert np.ptp(sky[0], axis=0).max() <= 1e-5 and np.ptp(sky[-1], axis=0).max() <= 1e-5
    assert sky.min() >= 0.0  # the blur cannot ring into negative radiance
    row_variation = np.ptp(sky, axis=1).max(axis=1)
    assert row_variation[32] > 1e-3  # the horizon keeps its detail
    assert np.all(np.diff(row_variation[:8]) >= -1e-6)  # detail fades in monotonically
    # Wrap stays exact with the pole filter, and windows still equal crops.
    window = render(tiny_model, recipe.replace(window=Window(120, 0, 16, 10)), tile=24)
    expected = np.concatenate([sky[:10, 120:], sky[:10, :8]], axis=1)
    assert np.abs(window - expected).max() <= TOL


def test_progress_reports_every_tile_and_cancel_stops(tiny_model, plain):
    recipe, _ = plain
    calls = []
    render_array(tiny_model, recipe, tile=16, batch=2, progress=lambda d, t: calls.append((d, t)))
    total = CanvasRenderer(tiny_model, recipe, tile=16, batch=2).total_tiles
    assert total > 4 and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    # One big tile still moves: its finished layers count (in 1/64ths), and it ends exactly.
    calls.clear()
    render_array(tiny_model, recipe, tile=1 << 16, progress=lambda d, t: calls.append((d, t)))
    partial = [d for d, _ in calls[:-1]]
    assert len(partial) >= 3 and partial[0] > 0 and partial[-1] < 1 and calls[-1] == (1, 1)
    assert partial == sorted(partial) and all((d * 64).is_integer() for d in partial)
    with pytest.raises(Cancelled):
        render_array(tiny_model, recipe, tile=16, cancel=lambda: True)
    # Cancellation is honoured between layers too, not only between tiles.
    asked = []
    with pytest.raises(Cancelled):
        render_array(
            tiny_model, recipe, tile=1 << 16, cancel=lambda: asked.append(1) or len(asked) > 3
        )
    assert len(asked) == 4


def test_api_takes_numpy_integers_and_refuses_bad_values_with_one_clear_error(tiny_model):
    """Scripts pass numpy integers (loop counters, arrays); a fractional seed, a string size or
    a misplaced tuple is a mistake to name, not to truncate or to crash on."""
    config, model_hash = tiny_model.config, tiny_model.hash
    recipe = new_recipe(
        config, model_hash, np.int64(64), 32, seed=np.int32(7), style_seeds=[np.int64(3)]
    )
    assert (recipe.seed, recipe.width, recipe.styles[0].seed) == (7, 64, 3)
    assert (
        type(recipe.seed) is int
        and recipe.to_json()
        == new_recipe(config, model_hash, 64, 32, seed=7, style_seeds=[3]).to_json()
    )
    assert recipe.replace(window=(0, 0, 8, 8)).window == Window(0, 0, 8, 8)
    bad = [
        ({"width": "4096"}, "width must be a whole number"),
        ({"scale": 0}, "scale must be one of"),
        ({"seed": 7.9}, "seed must be a whole number"),
        ({"style_seeds": [1.5]}, "style's seed"),
        ({"style_seeds": [1, 2], "blend": "wide"}, "blend must be a number"),
        ({"style_seeds": [1], "anchors": [(0.5, 0.5)]}, "two or more styles"),
        ({"window": (0, 0, 8.5, 8)}, "window width"),
        ({"window": "all"}, "window must be a Window"),
    ]
    for changes, message in bad:
        args = {"width": 64, "height": 32, **changes}
        with pytest.raises(RequestError, match=message):
            new_recipe(config, model_hash, args.pop("width"), args.pop("height"), **args)
