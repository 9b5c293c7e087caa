"""DiffAugment: differentiable, shape-keeping, and doing what each transform says."""

from __future__ import annotations

import pytest
import torch

from trainer.augment import POLICIES, augment, cutout, translation
from trainer.config import PRESETS, ConfigError


def test_every_policy_keeps_shape_and_lets_gradients_through():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 12, 10, requires_grad=True)
    out = augment(x, POLICIES)
    assert out.shape == x.shape
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert augment(x, ()) is x


def test_translation_is_a_zero_filled_shift_within_range():
    torch.manual_seed(1)
    x = torch.rand(6, 2, 16, 16) + 1.0  # strictly positive, so zeros mark the fill
    out = translation(x)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(out[i], padded[i, :, 2 + dy : 18 + dy, 2 + dx : 18 + dx])
        ]
        assert matches, i


def test_cutout_zeroes_one_square_and_keeps_the_rest():
    torch.manual_seed(2)
    x = torch.rand(8, 3, 16, 16) + 1.0
    out = cutout(x)
    for i in range(len(x)):
        zero = out[i, 0] == 0
        assert 0 < zero.sum() <= 8 * 8
        rows, cols = zero.any(1).nonzero(), zero.any(0).nonzero()
        assert zero.sum() == len(rows) * len(cols)  # one axis-aligned rectangle
        assert torch.equal(out[i][:, ~zero], x[i][:, ~zero])


def test_an_rgba_patch_is_filled_with_empty_sky():
    """Translation and cutout fill an alpha model's patch with alpha -1 (no land), not 0 (half
    coverage); its colour is filled with zeros as an RGB patch's."""
    torch.manual_seed(3)
    x = torch.rand(8, 4, 16, 16) + 1.0
    for transform in (translation, cutout):
        out = transform(x)
        filled = out[:, 0] == 0
        assert filled.any(), transform.__name__
        assert (out[:, 3][filled] == -1.0).all() and (out[:, 3][~filled] >= 1.0).all()


def test_unknown_policies_are_refused():
    with pytest.raises(ConfigError, match="unknown augmentation"):
        PRESETS["tiny"].with_overrides({"augment": ["colour"]})
