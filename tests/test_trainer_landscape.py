"""Training a landscape model with alpha on horizon bands: the bands keep their alpha and rows, a
360-degree band wraps, the discriminators judge the alpha sensibly, and tiny runs with either
discriminator resume bit for bit and export a model that renders RGBA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from generator import load_model, new_recipe, render_array
from generator.files import load_linear, output_to_model
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
    assert model.native_frame[0] == 128 and model.pixels_per_cell == 8  # 16 degrees at 8 px
    assert model.vertical_conditioning and not model.horizontal_conditioning
    assert model.extra["degrees_per_pixel"] == 0.125


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
