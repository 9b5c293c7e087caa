"""Each training loss on hand-made inputs."""

from __future__ import annotations

import math

import torch

from trainer import losses


def test_logistic_losses_match_their_closed_forms():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    expected_d = (softplus(0.5) + softplus(-3.0)) / 2 + (softplus(-2.0) + softplus(1.0)) / 2
    assert math.isclose(losses.d_logistic_loss(real, fake).item(), expected_d, rel_tol=1e-6)
    expected_g = (softplus(-0.5) + softplus(3.0)) / 2
    assert math.isclose(losses.g_nonsaturating_loss(fake).item(), expected_g, rel_tol=1e-6)
    # A confident, correct discriminator has almost no loss; the generator then has a large one.
    assert losses.d_logistic_loss(torch.full((4,), 20.0), torch.full((4,), -20.0)) < 1e-6
    assert losses.g_nonsaturating_loss(torch.full((4,), -20.0)) > 19.0


def test_r1_of_a_known_function():
    # D(x) = sum(a * x) has gradient a everywhere: R1 = |a|^2 for every sample.
    a = torch.tensor([[[[1.0, -2.0], [0.5, 3.0]]]])
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    logits = (x * a).flatten(1).sum(1)
    assert math.isclose(losses.r1_penalty(logits, x).item(), 1 + 4 + 0.25 + 9, rel_tol=1e-6)
    # D(x) = sum(x^2): gradient 2x, R1 = mean over samples of 4 |x|^2.
    logits = x.square().flatten(1).sum(1)
    expected = (4 * x.detach().square().flatten(1).sum(1)).mean().item()
    assert math.isclose(losses.r1_penalty(logits, x).item(), expected, rel_tol=1e-5)


def test_path_length_tracks_the_generator_jacobian_scale():
    torch.manual_seed(0)
    w = torch.randn(4096, 1, 16, requires_grad=True)
    for scale in (0.5, 3.0):
        # images = scale * w laid out as 4x4 pixels: |J^T y| has expectation ~ scale.
        images = scale * w.reshape(4096, 1, 4, 4)
        penalty, mean = losses.path_length_penalty(images, w, torch.zeros(()), decay=1.0)
        assert math.isclose(mean.item(), scale, rel_tol=0.05)
        assert not mean.requires_grad
        assert 0 < penalty.item() < (0.5 * scale) ** 2  # spread only from the random projection
    # The running mean moves by `decay` towards the batch mean.
    _, mean = losses.path_length_penalty(images, w, torch.tensor(1.0), decay=0.1)
    assert math.isclose(mean.item(), 1.0 + 0.1 * (3.0 - 1.0), rel_tol=0.05)


def test_diversity_loss_is_finite_when_outputs_coincide_and_rewards_difference():
    zl_a = torch.randn(2, 4, 3, 3, requires_grad=True)
    zl_b = torch.randn(2, 4, 3, 3)
    same = torch.ones(2, 3, 8, 8, requires_grad=True)
    loss = losses.diversity_loss(same, same.clone(), zl_a, zl_b)
    loss.backward()
    assert (
        torch.isfinite(loss) and torch.isfinite(same.grad).all() and torch.isfinite(zl_a.grad).all()
    )
    different = losses.diversity_loss(same, same + 1.0, zl_a, zl_b)
    assert different < loss
    # Identical latents too (distance 0/0): still finite.
    assert torch.isfinite(losses.diversity_loss(same, same, zl_b, zl_b))


def test_coordinate_loss_is_zero_for_perfect_predictions():
    target = torch.tensor([-0.5, 0.0, 0.75])
    assert losses.coordinate_loss(target.clone(), target).item() == 0.0
    assert math.isclose(losses.coordinate_loss(target + 0.5, target).item(), 0.25, rel_tol=1e-6)


def test_color_coverage_loss_is_zero_for_the_real_distribution_and_restores_a_dropped_mode():
    """Real patches are half snow (white), half grass (green); a batch of grass only has lost
    a mode. The loss is 0 for a batch split as the photos are, and descending it moves half
    of a collapsed batch to snow."""
    snow, grass = torch.tensor([0.9, 0.9, 0.9]), torch.tensor([0.2, 0.6, 0.1])
    real = torch.stack([snow, grass]).repeat(64, 1)

    balanced = torch.stack([snow, grass, grass, snow])
    assert losses.color_coverage_loss(balanced, real).item() < 1e-10
    jitter = torch.tensor([1.0, 1.02, 1.04, 1.06]).view(4, 1)
    colors = (grass.repeat(4, 1) * jitter).requires_grad_(True)
    first = losses.color_coverage_loss(colors, real).item()
    optimiser = torch.optim.Adam([colors], lr=0.01)
    for _ in range(300):
        optimiser.zero_grad()
        losses.color_coverage_loss(colors, real).backward()
        optimiser.step()
    assert losses.color_coverage_loss(colors, real).item() < 0.01 * first
    means = colors.detach()
    nearer_snow = (means - snow).norm(dim=1) < (means - grass).norm(dim=1)
    assert nearer_snow.sum() == 2


def test_band_contrast_tells_scales_apart_and_scales_with_contrast():
    """A one-pixel checkerboard is all finest band; a wave 32 px long is hardly any of it."""
    checker = (torch.arange(32).view(1, 32) + torch.arange(32).view(32, 1)) % 2
    checker = checker.float().expand(1, 3, 32, 32)
    wave = torch.sin(torch.arange(32) * 2 * math.pi / 32).view(1, 1, 1, 32).expand(1, 3, 32, 32)
    fine, coarse = losses.band_contrast(checker, 2)[0], losses.band_contrast(wave, 2)[0]
    assert fine[0].min() > 0.4 and fine[1].max() < 1e-6
    assert coarse[0].max() < 0.05 * wave.std()
    noise = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(losses.band_contrast(3 * noise, 2), 3 * losses.band_contrast(noise, 2))


def test_contrast_loss_is_zero_for_real_detail_and_restores_blurred_detail():
    """Renders whose detail was turned down to 30% get it back by descending the loss, and only
    the amount is asked for: the texture itself stays the one they had."""
    texture = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    smooth = torch.nn.functional.avg_pool2d(texture, 4)
    smooth = torch.nn.functional.interpolate(smooth, scale_factor=4, mode="bilinear")
    detail = texture - smooth
    real = losses.band_contrast(texture, 2).mean(dim=0)
    assert losses.contrast_loss(texture, real).item() < 1e-10

    gain = torch.tensor(0.3, requires_grad=True)
    first = losses.contrast_loss(smooth + gain * detail, real).item()
    optimiser = torch.optim.Adam([gain], lr=0.02)
    for _ in range(200):
        optimiser.zero_grad()
        losses.contrast_loss(smooth + gain * detail, real).backward()
        optimiser.step()
    assert losses.contrast_loss(smooth + gain * detail, real).item() < 0.01 * first
    assert abs(gain.item() - 1.0) < 0.1


def test_detail_distribution_loss_calms_the_grainy_few_and_leaves_the_rest():
    """Photos whose detail ranges from calm to busy; fakes with the same mean detail, half
    almost flat and half twice as grainy as the mean. The mean-matching ``contrast_loss`` is
    blind to that; the distribution loss is not, and descending it spreads the fakes' detail
    as the photos' is spread."""
    generator = torch.Generator().manual_seed(0)
    real_gains = torch.linspace(0.5, 1.5, 256).view(256, 1, 1, 1)
    real = losses.band_contrast(real_gains * torch.rand(256, 3, 32, 32, generator=generator), 2)
    noise = torch.rand(8, 3, 32, 32, generator=generator)
    at_ranks = 0.5 + (torch.arange(8.0) + 0.5).view(8, 1, 1, 1) / 8
    assert losses.detail_distribution_loss(at_ranks * noise, real).item() < 3e-3

    split = torch.tensor([0.05] * 4 + [1.95] * 4).view(8, 1, 1, 1)
    assert losses.contrast_loss(split * noise, real.mean(dim=0)).item() < 0.01
    gains = split.clone().requires_grad_(True)
    first = losses.detail_distribution_loss(gains * noise, real).item()
    assert first > 1.0
    optimiser = torch.optim.Adam([gains], lr=0.02)
    for _ in range(600):
        optimiser.zero_grad()
        losses.detail_distribution_loss(gains * noise, real).backward()
        optimiser.step()
    assert losses.detail_distribution_loss(gains * noise, real).item() < 1e-3 * first
    assert torch.allclose(gains.detach().view(-1).sort().values, at_ranks.view(-1), atol=0.05)
