"""An equirect's rows near the poles are computed at anchor columns of the whole image, no
farther apart than the rows, and spread between (the sun's disc at every pixel): windows and
the wrap seam stay exact, and the sky looks as it does computed at every pixel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_model_file

from generator.files.recipe import Window
from generator.sky import SkySettings
from generator.sky.cirrus import CirrusSettings
from generator.sky.compose import SkyComposition
from generator.sky.layers import CloudSettings, GroundSettings
from generator.sky.polar import MAX_STRIDE, anchors_and_spread, column_strides
from generator.sky.skyfile import (
    PreparedLayers,
    SkyRecipe,
    equirect_pixel_directions,
    render_sky_array,
)

WIDTH = 256


@pytest.mark.parametrize("width", [4096, 96])
def test_anchors_lie_no_farther_apart_than_the_rows(width):
    rows = np.arange(width // 2)
    strides = column_strides(width, rows)
    elevation = np.radians(90.0 - (rows + 0.5) * 180.0 / (width // 2))
    assert (width % strides == 0).all() and ((strides & (strides - 1)) == 0).all()
    assert (strides * np.cos(elevation) <= 1.0 + 1e-12).all()
    assert (strides[np.abs(elevation) < math.radians(60.0)] == 1).all()  # all pixels there
    assert (strides == strides[::-1]).all()  # the nadir as the zenith
    assert (strides[1:] <= strides[:-1])[: width // 4].all()  # fewer anchors toward the zenith
    if width == 4096:
        assert strides[0] == MAX_STRIDE and strides[width // 12 - 2] == 2


def test_values_spread_between_anchors_are_those_of_the_whole_row_across_the_seam():
    width, stride = 64, 8
    whole_columns = np.arange(width)
    anchors, spread = anchors_and_spread(whole_columns, stride, width)
    assert (anchors == np.arange(0, width, stride)).all()
    values = np.random.default_rng(0).random((2, len(anchors), 3)).astype(np.float32)
    whole = spread(values)
    np.testing.assert_array_equal(whole[:, ::stride], values)  # at an anchor: its value
    halfway = whole[:, stride // 2 :: stride]
    np.testing.assert_allclose(halfway, 0.5 * (values + np.roll(values, -1, axis=1)), rtol=1e-6)
    window = np.mod(np.arange(width - 13, width + 9), width)  # across the seam
    some, spread_some = anchors_and_spread(window, stride, width)
    np.testing.assert_array_equal(
        spread_some(values[:, np.searchsorted(anchors, some)]), whole[:, window]
    )


@pytest.fixture(scope="module")
def composition(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layers")
    flat = {"vertical": False, "horizontal_conditioning": False, "rgb_scale": 0.5}
    clouds = str(make_model_file(folder / "clouds.safetensors", seed=5, **flat))
    return SkyComposition(
        sky=SkySettings(sun_elevation=75.0, sun_azimuth=30.0),  # the disc near the zenith
        clouds=CloudSettings(clouds, cover=0.4, tile=64, period_m=3000.0),
        cirrus=CirrusSettings(amount=0.6, tile=64, period_m=20000.0),
        ground=GroundSettings("#6b5a44"),
    )


def test_rows_near_the_poles_are_exact_in_windows_and_look_as_computed_per_pixel(composition):
    whole = render_sky_array(SkyRecipe(composition, width=WIDTH))
    window = Window(WIDTH - 30, 0, 70, 50)  # the zenith's rows, across the wrap seam
    part = render_sky_array(SkyRecipe(composition, width=WIDTH, window=window))
    columns = np.mod(np.arange(window.x, window.x + window.width), WIDTH)
    np.testing.assert_array_equal(part, whole[:50][:, columns])
    window = Window(WIDTH - 30, WIDTH // 2 - 50, 70, 50)  # and the nadir's
    part = render_sky_array(SkyRecipe(composition, width=WIDTH, window=window))
    np.testing.assert_array_equal(part, whole[-50:][:, columns])

    sky = PreparedLayers(SkyRecipe(composition, width=WIDTH)).sky()
    rows = np.arange(WIDTH // 2)
    each = sky.radiance(equirect_pixel_directions(WIDTH, rows, np.arange(WIDTH)), math.pi / 128)
    polar = column_strides(WIDTH, rows) > 1
    np.testing.assert_array_equal(whole[~polar], each[~polar])  # elsewhere every pixel alone
    difference = np.abs(whole[polar] - each[polar]).mean() / each[polar].mean()
    assert difference < 0.01
    disc = np.unravel_index(each[polar].sum(-1).argmax(), each[polar].shape[:2])
    np.testing.assert_allclose(whole[polar][disc], each[polar][disc], rtol=1e-3)  # as sharp
