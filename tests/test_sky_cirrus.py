"""The cirrus veil: a seamless, seeded tile of fibres running one way in patches; none at amount
0; it whitens the blue, dims the Sun lamp and shades the ground in patches; recipes keep it
and the command line sets it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from generator.errors import RequestError
from generator.sky import SkySettings
from generator.sky.cirrus import (
    CIRRUS_TAU,
    PATCH_SHARE,
    CirrusSettings,
    cirrus_thickness,
    wind_heading,
)
from generator.sky.compose import ComposedSky, SkyComposition
from generator.sky.layers import GroundSettings
from generator.sky.skyfile import SKY_VERSION, SkyRecipe, read_sky_recipe

SMALL = {"tile": 256, "period_m": 60000.0}


def test_the_veil_is_seamless_seeded_and_fibrous():
    veil = cirrus_thickness(CirrusSettings(amount=0.5, seed=0, **SMALL))
    assert wind_heading(0) == 0.0, "seed 0's fibres run along z"
    assert np.quantile(veil, 0.999) == pytest.approx(0.5 * CIRRUS_TAU, rel=1e-5)
    assert abs(float((veil > 0).mean()) - PATCH_SHARE) < 0.02, "patches cover their share"
    across = np.abs(np.diff(veil, axis=1)).mean()  # x: across the fibres
    along = np.abs(np.diff(veil, axis=0)).mean()  # z: along them
    assert across > 1.5 * along, "the fibres run along z"
    turned = cirrus_thickness(CirrusSettings(amount=0.5, seed=3, **SMALL))
    heading = wind_heading(3)  # from z toward x
    assert 0.3 < heading < math.pi - 0.3, "another seed's fibres run another way"
    gz, gx = np.gradient(turned)
    along = np.abs(gz * math.cos(heading) + gx * math.sin(heading)).mean()
    across = np.abs(gx * math.cos(heading) - gz * math.sin(heading)).mean()
    assert across > 1.5 * along, "and along the seed's heading"
    veil = turned
    seam_x = np.abs(veil[:, 0] - veil[:, -1]).mean()
    seam_z = np.abs(veil[0] - veil[-1]).mean()
    step_x = np.abs(np.diff(veil, axis=1)).mean()
    step_z = np.abs(np.diff(veil, axis=0)).mean()
    assert seam_x < 2 * step_x and seam_z < 2 * step_z, "the tile wraps"
    same = cirrus_thickness(CirrusSettings(amount=0.5, seed=3, **SMALL))
    np.testing.assert_array_equal(veil, same)
    other = cirrus_thickness(CirrusSettings(amount=0.5, seed=4, **SMALL))
    assert np.abs(other - veil).mean() > 0.2 * veil.mean(), "another seed, another veil"
    with pytest.raises(RequestError, match="cirrus amount"):
        CirrusSettings(amount=1.5)


def test_the_veils_ice_lies_mostly_in_a_few_strong_streaks():
    """Real cirrus shows a few bright streaks over a faint veil, not an even hatch of lines."""
    for seed in range(3):
        veil = cirrus_thickness(CirrusSettings(amount=0.5, seed=seed, **SMALL))
        ice = np.sort(veil[veil > 0])[::-1]
        assert ice[: len(ice) // 10].sum() > 0.5 * ice.sum(), "a tenth of the veil holds most"


def _sky(amount: float | None, elevation: float = 40.0) -> ComposedSky:
    cirrus = None if amount is None else CirrusSettings(amount=amount, **SMALL)
    composition = SkyComposition(
        sky=SkySettings(sun_elevation=elevation, sun_azimuth=0.0, sun_disc=False),
        cirrus=cirrus,
        ground=GroundSettings("#6b5a44"),
    )
    return ComposedSky(composition)


def _directions(count: int = 4096) -> np.ndarray:
    rng = np.random.default_rng(0)
    d = rng.standard_normal((count, 3))
    d[:, 1] = np.abs(d[:, 1]) + 0.05  # above the horizon
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def test_amount_zero_is_the_sky_without_a_veil():
    d = _directions()
    np.testing.assert_array_equal(_sky(0.0).radiance(d, 0.01), _sky(None).radiance(d, 0.01))
    assert _sky(0.0).sun_lamp() == _sky(None).sun_lamp()


def test_the_veil_whitens_the_blue_dims_the_lamp_and_shades_the_ground():
    clear, veiled = _sky(None), _sky(1.0)
    d = _directions()
    a, b = clear.radiance(d, 0.01), veiled.radiance(d, 0.01)
    changed = np.abs(b - a).max(axis=-1) > 1e-6
    assert 0.2 < changed.mean() < 0.9, "the patches cover part of the sky"
    blue = lambda x: x[..., 2] / x[..., 0]  # noqa: E731
    assert (blue(b[changed]) < blue(a[changed])).mean() > 0.9, "ice whitens the blue"
    assert (b - a)[changed].sum(axis=-1).max() > 0.0, "sunlit ice is brighter than the blue"
    lamp, dimmed = clear.sun_lamp(), veiled.sun_lamp()
    assert 0.0 < dimmed.strength <= lamp.strength, "the veil in front of the sun dims the lamp"
    rng = np.random.default_rng(1)
    heading = rng.uniform(0, 2 * np.pi, 2048)
    drop = 1.7 / rng.uniform(500.0, 30000.0, heading.shape)  # ground 0.5-30 km away
    down = np.stack([np.sin(heading), -drop, np.cos(heading)], -1)
    down /= np.linalg.norm(down, axis=1, keepdims=True)
    ground = (veiled.radiance(down, 1e-4) - clear.radiance(down, 1e-4)).sum(axis=-1)
    assert 0.05 < (ground < 0).mean() < 0.95, "the veil's shadows fall on the ground in patches"


def test_recipes_keep_the_veil_and_older_ones_have_none(tmp_path, capsys):
    from generator.cli import main

    recipe = SkyRecipe(SkyComposition(cirrus=CirrusSettings(amount=0.4, seed=2)))
    assert SkyRecipe.from_json(recipe.to_json()) == recipe
    assert SKY_VERSION >= 6
    old = json.loads(SkyRecipe(SkyComposition()).to_json())
    del old["composition"]["cirrus"]
    old["version"] = 5
    assert SkyRecipe.from_json(json.dumps(old)).composition.cirrus is None
    out = tmp_path / "veil.exr"
    args = ["sky", "--ground", "#6b5a44", "--width", "64", "--quiet"]
    assert main([*args, "--cirrus", "0.4", "--seed", "2", "--out", str(out)]) == 0
    cirrus = read_sky_recipe(out).composition.cirrus
    assert cirrus is not None and (cirrus.amount, cirrus.seed) == (0.4, 2)
    assert main([*args, "--cirrus-altitude", "9000", "--out", str(tmp_path / "no.exr")]) == 2
    assert main([*args, "--cirrus", "2", "--out", str(tmp_path / "no.exr")]) == 2
    assert capsys.readouterr().err.count("error:") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["veil.exr"]


def test_a_render_cancelled_before_the_veil_stops_there():
    from generator.errors import Cancelled
    from generator.sky.skyfile import PreparedLayers

    veil = CirrusSettings(amount=0.4, **SMALL)
    recipe = SkyRecipe(SkyComposition(cirrus=veil, ground=GroundSettings("#6b5a44")), width=64)
    with pytest.raises(Cancelled):
        PreparedLayers(recipe).sky(cancel=lambda: True)
    assert PreparedLayers(recipe).sky(cancel=lambda: False).cirrus_texture is not None
