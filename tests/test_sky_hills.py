"""A range of hills drawn at the horizon (``generator.sky.hills``): a band like a photographed
one, from a seed, exact across windows and the wrap, standing on the ground plane."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from generator.errors import RequestError
from generator.files.recipe import Window
from generator.sky import REC709_LUMINANCE, SkySettings
from generator.sky.compose import SkyComposition
from generator.sky.hills import (
    FEET_DEGREES,
    FIELDS,
    HALF_HEIGHT_DEGREES,
    HILLS,
    PIXELS_PER_DEGREE,
    WOODS,
    hills_band,
    ridge_degrees,
)
from generator.sky.horizon import HorizonSettings
from generator.sky.layers import GroundSettings
from generator.sky.skyfile import (
    PreparedLayers,
    SkyRecipe,
    forget_layers,
    read_sky_recipe,
    render_sky_array,
)

SKY = SkySettings(sun_elevation=25.0, sun_azimuth=40.0, sun_disc=False)


def composition(*bands: HorizonSettings) -> SkyComposition:
    return SkyComposition(sky=SKY, ground=GroundSettings("#6b5a44"), horizon=bands)


def test_a_range_is_land_on_the_horizon_down_to_its_feet():
    band = hills_band(3, 4000.0)
    height, width, _ = band.shape
    assert (height, width) == (2 * HALF_HEIGHT_DEGREES * PIXELS_PER_DEGREE, 360 * PIXELS_PER_DEGREE)
    alpha = band[..., 3]
    feet = height // 2 + round(FEET_DEGREES * PIXELS_PER_DEGREE)
    assert alpha[feet:].max() == 0.0  # below its feet the ground plane goes on
    assert (alpha[height // 2] > 0.5).mean() > 0.8  # its lower slopes below the horizon
    assert alpha[0].max() == 0.0  # the highest ridge stays within the band
    land = alpha[height // 2 - 1]  # the row just above the horizon
    assert (land > 0.5).mean() > 0.8  # hills stand along most of the skyline
    skyline = alpha[: height // 2].sum(axis=0) / PIXELS_PER_DEGREE
    assert 0.8 < skyline.mean() < 2.5 and skyline.max() > 2.0 * skyline.mean()
    colour = band[..., :3][alpha > 0.99]
    assert 0.01 < colour.mean() < 0.15  # reflectances of woods and fields
    assert colour[:, 1].mean() > colour[:, 2].mean()  # green before blue


def test_a_range_stands_on_the_ground_with_no_haze_at_its_feet():
    """Between the horizon and a range's feet, asin(eye height / distance) below it, the eye
    sees the range's lower slopes, not the plane beyond it, whose haze drew a light line along
    the hills' feet in a narrow view; below them, the ground in front, as without the range."""
    near = HorizonSettings(HILLS, distance_m=4000.0, seed=3)
    hills = PreparedLayers(SkyRecipe(composition(near), width=720)).sky()
    flat = PreparedLayers(SkyRecipe(composition(), width=720)).sky()
    skyline = ridge_degrees(3, 4000.0)[0]
    columns = np.nonzero(skyline > 1.0)[0][::40]  # where the range stands a degree high
    azimuth = np.radians((columns + 0.5) / PIXELS_PER_DEGREE - 180.0)
    feet = np.degrees(np.arcsin(1.7 / 4000.0))  # 0.024 degrees

    def radiance(sky, elevation: float) -> np.ndarray:
        e = np.radians(elevation)
        d = np.stack([np.sin(azimuth) * np.cos(e), np.full_like(azimuth, np.sin(e)),
                      np.cos(azimuth) * np.cos(e)], -1)  # fmt: skip
        return sky.radiance(d, 1e-5) @ REC709_LUMINANCE  # a narrow view's pixels

    slopes = radiance(hills, 0.01)
    between = radiance(hills, -0.5 * feet)
    assert np.abs(between / slopes - 1.0).max() < 0.1, "the range's land down to its feet"
    assert np.median(radiance(flat, -0.5 * feet) / slopes) > 1.3, "the plane beyond is lighter"
    np.testing.assert_array_equal(radiance(hills, -3 * feet), radiance(flat, -3 * feet))


def test_hills_take_no_scale_of_their_own():
    with pytest.raises(RequestError, match="all the way round"):
        HorizonSettings(HILLS, degrees_per_pixel=0.1)


def test_a_seed_and_a_distance_choose_the_range():
    a = hills_band(0, 4000.0)
    np.testing.assert_array_equal(a, hills_band(0, 4000.0))
    for other in (hills_band(1, 4000.0), hills_band(0, 25000.0)):
        assert np.abs(other[..., 3] - a[..., 3]).mean() > 0.02


def test_hills_are_exact_across_windows_and_the_wrap():
    near = HorizonSettings(HILLS, distance_m=3000.0, seed=2)
    far = HorizonSettings(HILLS, distance_m=20000.0, seed=2, heading=70.0)
    recipe = SkyRecipe(composition(far, near), width=720)
    whole = render_sky_array(recipe)
    flat = render_sky_array(SkyRecipe(composition(), width=720))
    horizon = 180  # the top edge of the equirect's row 180
    assert np.abs(whole[horizon - 12 : horizon] - flat[horizon - 12 : horizon]).max() > 0.5
    np.testing.assert_array_equal(whole[:100], flat[:100])  # far above the ridges
    np.testing.assert_array_equal(whole[horizon + 2 :], flat[horizon + 2 :])  # the ground
    for x, y, w, h in ((700, 160, 40, 30), (0, 170, 13, 9)):
        part = render_sky_array(recipe.replace(window=Window(x, y, w, h)))
        columns = np.arange(x, x + w) % 720
        np.testing.assert_array_equal(part, whole[y : y + h][:, columns])


def test_far_hills_lie_nearer_the_sky_than_near_ones():
    """The same kind of range 3 km and 30 km away: where land stands (0.5-2.5 degrees up, a
    degree under its skyline), the far one's colours lie nearer the clear sky's (the air in
    front of it)."""
    flat = render_sky_array(SkyRecipe(composition(), width=720))
    elevation = 90.0 - (np.arange(174, 179) + 0.5) / 2.0  # rows 174-178 of 360
    azimuth = (np.arange(720) + 0.5) / 2.0  # degrees from the left edge (the band's too)
    gaps = []
    for distance in (3000.0, 30000.0):
        image = render_sky_array(
            SkyRecipe(composition(HorizonSettings(HILLS, distance_m=distance, seed=1)), width=720)
        )
        skyline = ridge_degrees(1, distance)[0][(azimuth * PIXELS_PER_DEGREE).astype(int)]
        land = skyline[None, :] > elevation[:, None] + 1.0
        assert land.mean() > 0.1
        gaps.append(np.abs(image[174:179] - flat[174:179])[land].mean())
    assert gaps[1] < 0.5 * gaps[0]


def test_the_command_line_draws_hills_that_follow_the_seed(tmp_path):
    from generator.cli import main

    out = tmp_path / "hills.exr"
    args = ["sky", "--width", "128", "--ground", "#556644", "--cover", "0", "--quiet"]
    bands = ["--horizon-band", "hills", "hills", "--band-distance", "20000", "3000"]
    assert main([*args, *bands, "--band-seed", "4", "--out", str(out)]) == 0
    recipe = read_sky_recipe(out)
    assert [(b.source, b.kind, b.distance_m, b.seed) for b in recipe.composition.horizon] == [
        (HILLS, "hills", 20000.0, 4),
        (HILLS, "hills", 3000.0, 4),
    ]
    assert SkyRecipe.from_json(recipe.to_json()) == recipe
    again = tmp_path / "again.exr"
    assert main(["sky", "--recipe", str(out), "--seed", "9", "--quiet", "--out", str(again)]) == 0
    assert {b.seed for b in read_sky_recipe(again).composition.horizon} == {9}


def test_hills_take_the_grounds_hue_and_keep_their_lightness():
    """Over a reddish and a bluish plain ground the same hills turn red and blue, about as
    light as each other."""
    band = HorizonSettings(HILLS, distance_m=1000.0, seed=1)
    colours = []
    for ground in ("#8a5a3a", "#3a5a8a"):
        comp = SkyComposition(sky=SKY, ground=GroundSettings(ground), horizon=(band,))
        image = render_sky_array(SkyRecipe(comp, width=720))
        bare = replace(comp, horizon=())
        flat = render_sky_array(SkyRecipe(bare, width=720))
        land = np.abs(image[176:180] - flat[176:180]).sum(axis=-1) > 0.5
        colours.append(image[176:180][land].mean(axis=0))
    (red, blue) = colours
    assert red[0] / red[2] > 1.3 * (blue[0] / blue[2])
    luminance = np.array([0.2126, 0.7152, 0.0722])
    assert 0.7 < (red @ luminance) / (blue @ luminance) < 1.4


def test_a_flank_facing_a_low_sun_is_lighter_than_one_facing_away(monkeypatch):
    """The sun low on the right of the view: near the skyline, land whose slope faces right
    (the ridge falling toward increasing azimuth) is lit more than land facing left, against
    the same range drawn without its slopes (so its woods and fields cancel)."""
    import generator.sky.hills as hills

    band = HorizonSettings(HILLS, distance_m=3000.0, seed=5)
    sky = SkySettings(sun_elevation=8.0, sun_azimuth=90.0, sun_disc=False)
    comp = SkyComposition(sky=sky, ground=GroundSettings("#6b5a44"), horizon=(band,))
    image = render_sky_array(SkyRecipe(comp, width=1440))  # 4 px a degree
    skyline, woods, lean = ridge_degrees(5, 3000.0)
    forget_layers()  # the range is drawn again, without its slopes
    level = (skyline, woods, np.zeros_like(lean))
    monkeypatch.setattr(hills, "ridge_degrees", lambda seed, distance_m: level)
    try:
        even = render_sky_array(SkyRecipe(comp, width=1440))
    finally:
        forget_layers()
    columns = np.arange(540, 900)  # 45 degrees either side of the view straight ahead
    azimuth = (columns + 0.5) / 4.0  # degrees from the left edge, as the band's columns
    at = (azimuth * PIXELS_PER_DEGREE).astype(int)
    row = 360 - np.ceil(4 * skyline[at]).astype(int) + 1  # just under the skyline
    keep = skyline[at] > 1.0
    luminance = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    lit = (image[row, columns] @ luminance) / (even[row, columns] @ luminance)
    right, left = keep & (lean[at] > 0.05), keep & (lean[at] < -0.05)
    assert right.sum() > 10 and left.sum() > 10
    assert lit[right].mean() > 1.1 * lit[left].mean()


def test_a_ranges_slopes_hold_woods_and_fields_in_patches():
    """Under its skyline a range is woods and fields in patches: nearly every ten degrees of it
    hold some of each (its patches' noise once piled its power into whole columns, and the
    near range of the bundled sky was woods from end to end, one flat colour)."""
    luminance = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    middle = float(WOODS @ luminance + FIELDS @ luminance) / 2.0
    band = hills_band(0, 4000.0)
    land = band[..., 3] > 0.99
    light = band[..., :3] @ luminance
    window = 10 * PIXELS_PER_DEGREE
    shares = []  # of fields, in each ten degrees with land enough
    for start in range(0, band.shape[1], window):
        seen = light[:, start : start + window][land[:, start : start + window]]
        if seen.size > 200:
            shares.append(float((seen > middle).mean()))
    shares = np.array(shares)
    assert len(shares) > 20
    assert 0.3 < float(np.median(shares)) < 0.7, "about as much field as wood"
    assert float(((shares > 0.15) & (shares < 0.85)).mean()) > 0.9, "both, nearly everywhere"
