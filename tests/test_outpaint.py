"""Outpainting a photo: inversion finds latents that redraw it, the canvas around it renders from
them exactly, the photo's own pixels are kept, and bad requests get one clear line."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model_file
from PIL import Image

from generator import load_model, new_recipe, read_recipe, render_array
from generator.cli import main as generator_main
from generator.files.colorspace import linear_to_model
from generator.files.imagefile import linear_to_srgb, read_image
from generator.files.photo import read_photo
from generator.files.recipe import Style
from generator.network.geometry import required_latent_span
from generator.rendering.inversion import InversionSettings, invert
from generator.rendering.outpaint import OUTPAINT_KEY, outpaint_to_file, photo_mask, place_photo

TOL = 1e-5
PHOTO = (12, 32, 24, 32)  # top, left, height, width in the 96 x 48 canvas


@pytest.fixture(scope="module")
def tame(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tame.safetensors"
    return load_model(make_model_file(path, seed=4, rgb_scale=0.15))


@pytest.fixture(scope="module")
def scene(tame, tmp_path_factory):
    """A generated canvas (seed 5) and an 8-bit PNG 'photo' cut from it."""
    recipe = new_recipe(tame.config, tame.hash, 96, 48, seed=5)
    full = render_array(tame, recipe)
    top, left, h, w = PHOTO
    path = tmp_path_factory.mktemp("photos") / "photo.png"
    srgb = linear_to_srgb(np.clip(full[top : top + h, left : left + w], 0.0, 1.0))
    Image.fromarray((srgb * 255.0 + 0.5).astype(np.uint8)).save(path)
    return recipe, full, path


def psnr(a, b) -> float:
    return float(10.0 * np.log10(4.0 / np.mean((a - b) ** 2)))


def outpaint(args, tmp_path, name="out.exr") -> int:
    out = ["--out", str(tmp_path / name), "--bit-depth", "32", "--quiet"]  # float: exact pixels
    return generator_main(["outpaint", *map(str, args), *out])


def test_inverting_a_generated_image_recovers_it_and_its_surroundings(tame, scene):
    """From the wrong style (another seed's zg) the inversion redraws the photo at >= 30 dB."""
    recipe, full, _ = scene
    top, left, h, w = PHOTO
    target = linear_to_model(full[top : top + h, left : left + w], tame.config)
    start = recipe.replace(styles=(Style(6),))
    found = invert(tame, start, target, top, left, InversionSettings(steps=300))
    assert found.psnr_db >= 30.0
    redrawn = linear_to_model(render_array(tame, found.recipe), tame.config)
    original = linear_to_model(full, tame.config)
    assert psnr(redrawn[top : top + h, left : left + w], target) >= 30.0
    # Outside the photo the surroundings come back too (same local seed, style recovered).
    outside = np.ones(full.shape[:2], bool)
    outside[top : top + h, left : left + w] = False
    assert psnr(redrawn[outside], original[outside]) >= 25.0


@pytest.mark.parametrize(("top", "left", "h", "w"), [(52, 112, 24, 32), (13, 30, 3, 2)])
def test_only_the_cells_under_the_photo_are_inverted(tame, top, left, h, w):
    """Cells that merely reach into the photo keep the seed's latents: fitted to what they do
    inside the photo only, they would draw a ring of unconstrained texture around it."""
    recipe = new_recipe(tame.config, tame.hash, 256, 128, seed=5)
    photo = np.zeros((h, w, 3), np.float32)
    found = invert(tame, recipe, photo, top, left, InversionSettings(steps=2))
    ppc = tame.config.pixels_per_cell
    patch = found.recipe.local_latents
    rows = np.arange(patch.top, patch.top + patch.height)
    cols = np.arange(patch.left, patch.left + patch.width)
    centres_y, centres_x = (rows + 0.5) * ppc - recipe.top, (cols + 0.5) * ppc - recipe.left
    if h >= ppc and w >= ppc:  # every cell whose centre is under the photo, and no other
        assert ((centres_y >= top) & (centres_y < top + h)).all()
        assert ((centres_x >= left) & (centres_x < left + w)).all()
        # ... and all of them: the next cells' centres lie outside it
        assert centres_y[0] - ppc < top and centres_y[-1] + ppc >= top + h
        assert centres_x[0] - ppc < left and centres_x[-1] + ppc >= left + w
    else:  # a photo smaller than a cell still gets the cell under its middle
        assert (patch.height, patch.width) == (1, 1)
        assert rows[0] * ppc <= recipe.top + top + h / 2 < (rows[0] + 1) * ppc


def test_with_the_true_latents_the_extension_is_the_original_canvas(tame, tmp_path):
    """The exactness of the mechanism: placement, coordinates, noise and stored latents."""
    recipe = new_recipe(tame.config, tame.hash, 256, 128, seed=5)
    full = render_array(tame, recipe)
    top, left, h, w = 52, 112, 24, 32
    photo = tmp_path / "photo.png"
    srgb = linear_to_srgb(np.clip(full[top : top + h, left : left + w], 0.0, 1.0))
    Image.fromarray((srgb * 255.0 + 0.5).astype(np.uint8)).save(photo)
    placement = place_photo(tame, recipe, (h, w), x=left, y=top)
    still = InversionSettings(steps=1, lr=1e-9)  # start from the true latents and stay there
    path = tmp_path / "out.exr"
    found = outpaint_to_file(
        tame, read_photo(photo), recipe, placement, path, photo_path=photo, settings=still,
        bit_depth=32,
    )  # fmt: skip
    out = read_image(path)
    record = read_recipe(path).extra[OUTPAINT_KEY]
    assert record["psnr_db"] > 40.0 and record["photo"] == "photo.png"
    assert (record["x"], record["y"], record["width"], record["height"]) == (left, top, w, h)
    # The photo's own pixels inside.
    f = record["feather"]
    inner = out[top + f : top + h - f, left + f : left + w - f]
    assert np.array_equal(inner, read_photo(photo)[f:-f, f:-f])
    # Every pixel whose latents lie outside the inverted cells is the original canvas's.
    ppc = tame.config.pixels_per_cell
    reach = required_latent_span(tame.config, 0, 1)[1] * ppc
    (row0, col0), (rows, cols) = found.first_cell, found.cells
    y0, x0 = row0 * ppc - recipe.top - reach, col0 * ppc - recipe.left - reach
    away = np.ones(full.shape[:2], bool)
    away[max(y0, 0) : y0 + rows * ppc + 2 * reach, max(x0, 0) : x0 + cols * ppc + 2 * reach] = False
    assert away.sum() > 0.3 * away.size
    assert np.abs(out[away] - full[away]).max() <= TOL


def test_the_result_re_renders_and_extends_from_its_recipe(tame, scene, tmp_path):
    _, _, photo = scene
    args = [photo, "--model", tame.path, "--width", 96, "--height", 48, "--seed", 9]
    assert outpaint([*args, "--steps", 30], tmp_path) == 0
    out = read_image(tmp_path / "out.exr")
    recipe = read_recipe(tmp_path / "out.exr")
    assert recipe.local_latents is not None and recipe.styles[0].zg is not None
    again = render_array(tame, recipe, tile=12)  # other tiles, same latents
    p = place_photo(tame, recipe, (24, 32))
    outside = np.ones(out.shape[:2], bool)
    outside[p.y : p.y + p.height, p.x : p.x + p.width] = False
    assert np.abs(again[outside] - out[outside]).max() <= TOL
    wider = generator_main(
        ["extend", str(tmp_path / "out.exr"), "--model", str(tame.path), "--left", "16",
         "--right", "8", "--out", str(tmp_path / "wider.exr"), "--bit-depth", "32", "--quiet"]
    )  # fmt: skip
    assert wider == 0
    grown = read_image(tmp_path / "wider.exr")
    assert np.abs(grown[:, 16:-8] - again).max() <= TOL


def test_a_flat_canvas_defaults_to_twice_the_photo_width_at_its_height(tame, scene, tmp_path):
    """As the add-on's Extend Image: a photo of any size fits, centred, kept exactly inside."""
    _, _, photo = scene
    assert outpaint([photo, "--model", tame.path, "--steps", 2], tmp_path) == 0
    out = read_image(tmp_path / "out.exr")
    assert out.shape == (24, 64, 3)  # the 24 x 32 photo, twice as wide
    f = place_photo(tame, read_recipe(tmp_path / "out.exr"), (24, 32)).feather
    assert np.array_equal(out[f:-f, 16 + f : 48 - f], read_photo(photo)[f:-f, f:-f])


def test_a_sky_is_outpainted_at_its_native_scale(sphere_model, tmp_path):
    photo = tmp_path / "sky-photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(60, 200, (40, 64, 3), dtype=np.uint8)).save(photo)
    assert (
        outpaint([photo, "--model", sphere_model.path, "--width", 256, "--steps", 5], tmp_path) == 0
    )
    out = read_image(tmp_path / "out.exr")
    assert out.shape == (128, 256, 3)
    record = read_recipe(tmp_path / "out.exr").extra[OUTPAINT_KEY]
    assert (record["x"], record["y"]) == (96, 44)  # centred, its middle row on the horizon
    f = record["feather"]
    inner = out[44 + f : 84 - f, 96 + f : 160 - f]
    assert np.array_equal(inner, read_photo(photo)[f:-f, f:-f])
    assert np.ptp(out[0], axis=0).max() <= TOL  # the poles stay soft


def test_the_mask_keeps_the_photo_and_eases_only_towards_generated_canvas(tame):
    recipe = new_recipe(tame.config, tame.hash, 96, 48)
    placement = place_photo(tame, recipe, (20, 30), x=0, y=10, feather=4)
    mask = photo_mask(placement, (48, 96), wrap_x=False)
    assert mask[4:-4, 0].min() == 1.0, "the canvas edge is not faded"
    assert mask[0, 15] < 0.1 and mask[-1, 15] < 0.1 and mask[10, -1] < 0.1
    assert mask[4:-4, :-4].min() == 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--width", 16, "--height", 16], "larger than the canvas"),
        (["--width", 96, "--height", 48, "--x", 80], "does not fit"),
        (["--width", 34, "--height", 48, "--wrap", "x"], "multiple of 4"),
        (["--width", 36, "--height", 48, "--wrap", "x"], "too large for a canvas that wraps"),
    ],
)
def test_bad_requests_are_one_line_and_leave_no_file(tame, scene, tmp_path, capsys, extra, message):
    _, _, photo = scene
    assert outpaint([photo, "--model", tame.path, *extra, "--steps", 2], tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.exr"))


def test_a_bad_output_path_fails_before_the_inversion(tame, scene, tmp_path, capsys, monkeypatch):
    """The inversion takes minutes: a typo in --out must not cost them."""
    _, _, photo = scene

    def never(*args, **kwargs):
        raise AssertionError("inverted before checking the output path")

    monkeypatch.setattr("generator.rendering.outpaint.invert_photo", never)
    args = [photo, "--model", tame.path, "--width", 96, "--height", 48]
    for name, message in (("missing/out.exr", "does not exist"), ("out.bmp", ".png")):
        assert outpaint(args, tmp_path, name) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_photo_is_one_line(tame, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert outpaint([bad, "--model", tame.path, "--width", 96, "--height", 48], tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot read photo" in err and "\n" not in err
    assert outpaint([tmp_path / "missing.png", "--model", tame.path], tmp_path) == 2
    assert "photo not found" in capsys.readouterr().err


def test_a_photo_too_large_to_decode_safely_is_one_line(tame, tmp_path, capsys, monkeypatch):
    huge = tmp_path / "huge.png"
    Image.new("RGB", (64, 32)).save(huge)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # Pillow refuses > 2x this: a "bomb"
    assert outpaint([huge, "--model", tame.path, "--width", 96, "--height", 48], tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert "too many pixels" in err and "\n" not in err


def test_the_multi_band_blend_keeps_texture_across_the_edge(tame):
    """Edge = generated, interior = photo, and between them the detail of neither is averaged
    away (a cross-fade of two unrelated textures halves their variance mid-ramp)."""
    from generator.rendering.outpaint import blend_photo

    rng = np.random.default_rng(2)
    photo = rng.random((64, 64, 3)).astype(np.float32)
    generated = rng.random((64, 64, 3)).astype(np.float32)
    recipe = new_recipe(tame.config, tame.hash, 128, 128)
    placement = place_photo(tame, recipe, (64, 64), x=32, y=32, feather=16)
    out = blend_photo(photo, generated, placement, (128, 128), wrap_x=False)
    assert np.array_equal(out[0], generated[0]) and np.array_equal(out[:, -1], generated[:, -1])
    assert np.array_equal(out[16:-16, 16:-16], photo[16:-16, 16:-16])
    ramp = out[24:40, 6:10]  # mid-way through the left edge's 16-pixel transition
    detail = np.abs(np.diff(ramp, axis=0)).mean()
    reference = np.abs(np.diff(photo, axis=0)).mean()
    assert detail > 0.85 * reference
