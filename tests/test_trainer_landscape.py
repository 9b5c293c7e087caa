"""Training a landscape model with alpha on horizon bands: the bands keep their alpha and rows, a
360-degree band wraps, the discriminators judge the alpha sensibly, and tiny runs with either
discriminator resume bit for bit and export a model that renders RGBA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import trainer.train as train_module
from generator import load_model, new_recipe, render_array
from generator.files import load_linear, output_to_model
from generator.network.config import BAND_DEGREES
from trainer.augment import POLICIES, color
from trainer.checkpoint import CHECKPOINT_NAME, load_checkpoint
from trainer.cli import main as trainer_main
from trainer.config import PRESETS
from trainer.data import PatchDataset, find_images
from trainer.discriminator import Discriminator, premultiplied
from trainer.projected import ProjectedDiscriminator, over_backdrop, sky_backdrop
from trainer.train import train

HEIGHT = 32  # the tiny preset's frame: 8 cells of 4 px
ROUND = round(HEIGHT * 22.5)  # 360 degrees at the bands' 16 degrees per height


def band_png(path: Path, width: int, seed: int) -> None:
    """An RGBA band: noisy green land below a wavy skyline near the middle row, a pale
    (masked-out) sky above it, alpha 255 on land and 0 on sky, a soft pixel between."""
    rng = np.random.default_rng(seed)
    columns = np.arange(width)
    skyline = HEIGHT // 2 - 3 + 3 * np.sin(6 * np.pi * columns / width)
    rows = np.arange(HEIGHT)[:, None] + 0.5
    alpha = np.clip(rows - skyline[None], 0.0, 1.0)
    land = np.stack([60 + 40 * alpha, 90 + 30 * alpha, 40 + 0 * alpha], axis=-1)
    rgb = land + rng.normal(0.0, 12.0, (HEIGHT, width, 3))
    rgb[alpha == 0] = (200, 220, 255)
    rgba = np.concatenate([np.clip(rgb, 0, 255), 255 * alpha[..., None]], axis=-1)
    Image.fromarray(rgba.round().astype(np.uint8), "RGBA").save(path)


@pytest.fixture(scope="module")
def bands(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bands")
    band_png(folder / "photo.png", 120, seed=1)  # 60 degrees: does not wrap
    band_png(folder / "round.png", ROUND, seed=0)  # 360 degrees: wraps
    return folder


def tiny_landscape(**overrides):
    settings = {"steps": 4, "workers": 0, "sample_every": 1000, "log_every": 1}
    settings.update(checkpoint_minutes=1000.0, bands=True, **overrides)
    settings["model.alpha"] = True
    return PRESETS["tiny"].with_overrides(settings)


def test_the_landscape_preset_fits_horizon_bands():
    settings = PRESETS["landscape"]
    model = settings.model
    assert model.alpha and settings.bands and settings.patch == 64
    assert model.vertical_conditioning and not model.horizontal_conditioning
    # one scale, ModelConfig's: the native frame's height spans a band's height
    assert "degrees_per_pixel" not in model.extra
    assert model.degrees_per_pixel * model.native_frame[0] == BAND_DEGREES


def test_bands_keep_their_alpha_and_rows_and_a_round_band_wraps(bands):
    """Every patch is the band's own pixels at its own rows (``top`` is the elevation), with
    its alpha as the fourth channel; the 360-degree band's patches cross its seam, the photo's
    never do."""
    config = tiny_landscape().model
    files = find_images(bands)
    dataset = PatchDataset(files, config, 16, bands=True, hflip=False, seed=0)
    crossed = {name: False for name in ("photo.png", "round.png")}
    coverage = []
    wholes = [
        output_to_model(load_linear(path, alpha=True), config).transpose(2, 0, 1) for path in files
    ]
    for key in range(400):  # 3 of the round band's 180 cells start a patch across its seam
        item = dataset[key]
        path, whole = files[key % len(files)], wholes[key % len(files)]
        width = whole.shape[2]
        wraps = path.name == "round.png"
        extended = np.concatenate([whole, whole[:, :, :16]], axis=2) if wraps else whole
        rows = extended[:, 4 * int(item["top"]) : 4 * int(item["top"]) + 16]
        patch = item["patch"].numpy()
        assert patch.shape == (4, 16, 16)
        found = [
            x
            for x in range(0, extended.shape[2] - 15, 4)
            if np.allclose(rows[:, :, x : x + 16], patch, atol=1e-6)
        ]
        assert found, f"patch {key} is not the band's own pixels at its rows"
        crossed[path.name] |= any(x + 16 > width for x in found)
        coverage.append(patch[3])
    assert crossed == {"photo.png": False, "round.png": True}
    coverage = np.stack(coverage)
    assert coverage.min() == -1.0 and coverage.max() == 1.0  # sky and land: 2 * alpha - 1


def test_the_discriminators_judge_alpha_sensibly():
    torch.manual_seed(0)
    rgba = torch.rand(4, 4, 16, 16) * 2 - 1
    # the colour transform leaves the coverage alone
    augmented = color(rgba)
    assert torch.equal(augmented[:, 3], rgba[:, 3]) and not torch.equal(augmented, rgba)
    # the colour under transparency shows to no judge; the land's colour does
    transparent = rgba.clone()
    transparent[:, 3] = -1.0
    repainted = transparent.clone()
    repainted[:, :3] = torch.rand(4, 3, 16, 16)
    d = Discriminator(16, 8, 16, channels=4)
    torch.testing.assert_close(d(transparent)[0], d(repainted)[0])
    opaque, opaque_repainted = transparent.clone(), repainted.clone()
    opaque[:, 3] = opaque_repainted[:, 3] = 1.0
    assert not torch.allclose(d(opaque)[0], d(opaque_repainted)[0])
    # nor after the colour transform: its contrast pivots on the land's colour alone
    half, half_repainted = transparent.clone(), repainted.clone()
    half[:, 3, :8] = half_repainted[:, 3, :8] = 1.0
    half_repainted[:, :3, :8] = half[:, :3, :8]
    torch.manual_seed(1)
    seen = color(half)
    torch.manual_seed(1)
    seen_repainted = color(half_repainted)
    torch.testing.assert_close(seen[:, :, :8], seen_repainted[:, :, :8])
    torch.testing.assert_close(d(seen)[0], d(seen_repainted)[0])
    assert torch.equal(premultiplied(rgba[:, :3]), rgba[:, :3])  # RGB as it is
    # the projected D's backbone sees the land over a sky, gradients reach the alpha beyond range
    backdrop = sky_backdrop(4, 16, torch.device("cpu"))
    assert backdrop.shape == (4, 3, 16, 16) and backdrop.abs().max() <= 1.0
    assert (backdrop[:, 2] > backdrop[:, 0]).float().mean() > 0.5  # mostly bluish
    torch.testing.assert_close(over_backdrop(opaque, backdrop), opaque[:, :3])
    torch.testing.assert_close(over_backdrop(transparent, backdrop), backdrop)
    beyond = (transparent - 0.5).requires_grad_(True)
    over_backdrop(beyond, backdrop).sum().backward()
    premultiplied(beyond).sum().backward()
    assert beyond.grad[:, 3].abs().sum() > 0
    judge = ProjectedDiscriminator(tiny_landscape().model, 32, 8, 16, seed=0, color_judge=True)
    assert judge.color.from_rgb.weight.shape[1] == 4


LAND = (60, 90, 40)


def tall_band_png(path: Path) -> np.ndarray:
    """A band twice the frame's height: one flat land colour below a hard wavy skyline, white
    under alpha 0 above it. Returns the land's linear RGBA."""
    columns = np.arange(4 * HEIGHT)
    skyline = HEIGHT - 5 + 5 * np.sin(4 * np.pi * columns / columns.size)
    alpha = (np.arange(2 * HEIGHT)[:, None] >= skyline[None]).astype(np.float64)
    rgb = np.where(alpha[..., None] > 0, np.array(LAND), 255.0)
    rgba = np.concatenate([rgb, 255 * alpha[..., None]], axis=-1).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(path)
    return load_linear(path, alpha=True)[-1, 0]


def test_shrunk_bands_and_photos_keep_their_land_colour(tmp_path):
    """Shrinking a band (the dataset's bands mode) or a photo (``load_linear``'s ``cover``)
    filters the colour premultiplied: the white under alpha 0 tints no land pixel."""
    land = tall_band_png(tmp_path / "tall.png")
    shrunk = load_linear(tmp_path / "tall.png", cover=(HEIGHT, 2 * HEIGHT), alpha=True)
    assert shrunk.shape == (HEIGHT, 2 * HEIGHT, 4)
    edge = (shrunk[..., 3] > 0) & (shrunk[..., 3] < 1)
    assert edge.sum() > 10  # the skyline's pixels mix land and sky
    assert np.abs(shrunk[shrunk[..., 3] > 0][:, :3] - land[:3]).max() < 1e-5
    config = tiny_landscape().model
    dataset = PatchDataset([tmp_path / "tall.png"], config, 16, bands=True, hflip=False, seed=0)
    expected = output_to_model(land, config)[:3]
    partial = 0
    for key in range(40):
        patch = dataset[key]["patch"].numpy()
        covered = patch[3] > -1.0
        partial += int(((patch[3] > -1.0) & (patch[3] < 1.0)).sum())
        assert np.abs(patch[:3, covered].T - expected).max() < 1e-4
    assert partial > 0


def test_fakes_seen_from_afar_average_colour_by_coverage(monkeypatch):
    """The zoomed-out fakes (and so the contrast loss) average an RGBA render's colour weighted
    by its coverage: bright colour under empty sky does not tint the land beside it."""
    config = tiny_landscape(zoom=2)
    wide = torch.full((1, 4, 8, 8), -1.0)
    wide[:, 1] = 0.25  # land colour
    wide[:, 3, :, ::2] = 1.0  # land in every other column, empty sky between
    wide[:, :3, :, 1::2] = 1.0  # bright colour where nothing is drawn
    monkeypatch.setattr(train_module, "generate_patches", lambda *args, **kw: (wide, None))
    afar = train_module._render_from_afar(None, config, 1, 4, torch.device("cpu"), train_g=False)
    torch.testing.assert_close(
        afar[:, :3], torch.tensor([-1.0, 0.25, -1.0])[None, :, None, None].expand(1, 3, 4, 4)
    )
    torch.testing.assert_close(afar[:, 3], torch.zeros(1, 4, 4))  # half coverage


@pytest.mark.parametrize("discriminator", ["patch", "projected"])
def test_a_tiny_alpha_run_resumes_bit_for_bit_and_exports_an_rgba_model(
    bands, tmp_path, discriminator
):
    """The projected run with every optional loss too: the colour and contrast losses count
    premultiplied colour, the fakes seen from afar get their own skies behind them (drawn from
    the saved random state)."""
    settings = {"discriminator": discriminator, "augment": list(POLICIES), "r1_every": 2}
    if discriminator == "projected":
        settings.update(projected_side=32, color_weight=1.0, zoom_weight=1.0, zoom=2)
        settings.update(contrast_weight=1.0)
    train(tiny_landscape(**settings), bands, tmp_path / "straight", show_progress=False)
    train(tiny_landscape(steps=2, **settings), bands, tmp_path / "stopped", show_progress=False)
    train(tiny_landscape(**settings), bands, tmp_path / "stopped", resume=True, show_progress=False)
    straight, _ = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME)
    stopped, _ = load_checkpoint(tmp_path / "stopped" / CHECKPOINT_NAME)
    assert straight.keys() == stopped.keys()
    for key in straight:
        assert torch.equal(straight[key], stopped[key]), key
    for sample in (tmp_path / "straight" / "samples").iterdir():
        with Image.open(sample) as image:
            assert image.mode == "RGBA"
    out = tmp_path / "land.safetensors"
    assert trainer_main(["export", str(tmp_path / "straight"), "--out", str(out)]) == 0
    model = load_model(out)
    assert model.config.alpha
    image = render_array(model, new_recipe(model.config, model.hash, 64, 32, seed=1, wrap="x"))
    assert image.shape == (32, 64, 4) and 0.0 <= image[..., 3].min() <= image[..., 3].max() <= 1.0
