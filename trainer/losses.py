"""The InfinityGAN objective as small pure functions (StyleGAN2 losses plus InfinityGAN's own).

Each takes tensors and returns a scalar loss (or a tuple with state), so each can be unit-tested on
hand-made inputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

DIVERSITY_EPS = 1e-5


def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator's non-saturating logistic loss: softplus(D(fake)) + softplus(-D(real))."""
    return d_fake_loss(fake_logits) + F.softplus(-real_logits).mean()


def d_fake_loss(fake_logits: Tensor) -> Tensor:
    """The fake half of ``d_logistic_loss``, for extra fakes weighted on their own."""
    return F.softplus(fake_logits).mean()


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """Generator's non-saturating loss: softplus(-D(G(z)))."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    """R1: mean over samples of |d D(x) / d x|^2 on real images (``real_images`` needs grad)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def path_length_penalty(
    images: Tensor, styles: Tensor, mean_length: Tensor, decay: float = 0.01
) -> tuple[Tensor, Tensor]:
    """Path-length regularisation: Jacobian norms of image w.r.t. w should be constant.

    ``styles`` (the w that produced ``images``, with grad) is (B, w_dim) or (B, n, w_dim).
    Returns the penalty and the updated running mean of path lengths (detached).
    """
    noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * noise).sum(), styles, create_graph=True)
    lengths = grad.square().reshape(len(grad), -1, grad.shape[-1]).sum(-1).mean(1).sqrt()
    new_mean = mean_length + decay * (lengths.mean().detach() - mean_length)
    return (lengths - new_mean).square().mean(), new_mean


def diversity_loss(images_a: Tensor, images_b: Tensor, zl_a: Tensor, zl_b: Tensor) -> Tensor:
    """Mode-seeking loss on zl: two local latents for the same zg should give different images.

    Minimises 1 / (image distance / latent distance + eps). Both distances are means of absolute
    differences, so identical outputs give a large but finite loss and finite gradients (no
    division by zero, no square root at zero).
    """
    image_distance = (images_a - images_b).abs().flatten(1).mean(1)
    latent_distance = (zl_a - zl_b).abs().flatten(1).mean(1)
    ratio = image_distance / (latent_distance + DIVERSITY_EPS)
    return (1.0 / (ratio + DIVERSITY_EPS)).mean()


def coordinate_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """Auxiliary vertical-position loss: squared error of the predicted patch position."""
    return (predicted.reshape(-1) - target.reshape(-1)).square().mean()


def layout_loss(fake: Tensor, reference: Tensor, cell: int) -> Tensor:
    """Mean squared difference of ``cell`` x ``cell`` block means (one per latent cell: patches
    start on cell boundaries) between generated patches and a reference model's."""
    return F.mse_loss(F.avg_pool2d(fake, cell), F.avg_pool2d(reference, cell))


def _directions(count: int) -> Tensor:
    """Fixed unit directions in colour space (seeded: the loss draws nothing from the global RNG,
    so a run's other random numbers stay the same with and without it)."""
    generator = torch.Generator().manual_seed(0)
    return F.normalize(torch.randn(3, count, generator=generator), dim=0)


def color_coverage_loss(colors: Tensor, real_colors: Tensor, projections: int = 32) -> Tensor:
    """Sliced Wasserstein-2 distance between generated mean colours (B, 3) and real ones (K, 3):
    for each direction, the sorted projections of the batch against the real distribution's
    quantiles at the same ranks.

    A discriminator that sees small patches through colour augmentation learns texture well
    but each material's share poorly: a GAN trained on few photos drops rare materials
    (snow, bare rock). Matching this one low-dimensional distribution, feature matching in the
    sense of Salimans et al. 2016, brings their share back without touching the texture."""
    directions = _directions(projections).to(colors.device, colors.dtype)
    return _quantile_matching(colors @ directions, real_colors.to(colors.dtype) @ directions)


def _quantile_matching(values: Tensor, real_values: Tensor) -> Tensor:
    """Mean squared difference between each column of ``values`` (B, D) sorted and the real
    columns' (K, D) quantiles at the same ranks: 1-D Wasserstein-2 per column."""
    count = len(values)
    ranks = (torch.arange(count, device=values.device, dtype=values.dtype) + 0.5) / count
    targets = torch.quantile(real_values, ranks, dim=0)
    return F.mse_loss(values.sort(dim=0).values, targets)


def laplacian_levels(images: Tensor, levels: int) -> list[Tensor]:
    """(N, C, h, w) images to ``levels - 1`` band-pass levels, finest first, then the low-pass
    rest: each halving by 2x2 averages, each band what bilinear upsampling does not restore."""
    pyramid = []
    for _ in range(levels - 1):
        small = F.avg_pool2d(images, 2)
        up = F.interpolate(small, size=images.shape[-2:], mode="bilinear", align_corners=False)
        pyramid.append(images - up)
        images = small
    pyramid.append(images)
    return pyramid


def band_contrast(images: Tensor, bands: int) -> Tensor:
    """Standard deviation of each of the ``bands`` finest band-pass levels within each image,
    (N, bands, C): how much detail each scale carries."""
    levels = laplacian_levels(images, bands + 1)[:bands]
    return torch.stack([level.std(dim=(2, 3)) for level in levels], dim=1)


def contrast_loss(images: Tensor, real_contrast: Tensor) -> Tensor:
    """Mean squared log ratio between the images' mean ``band_contrast`` and a real one
    (bands, C).

    Applied to renders seen from afar (rendered wide, averaged down), it asks the texture G lays
    out over several latent cells to carry, from there, the detail photos carry at their own
    finest scales. Only the amount is matched, not the look, which D judges at the patch
    scale: the amount is most of what the wide ratio of ``trainer evaluate`` found missing
    (``training/README.md``, "the amount of detail seen from afar")."""
    mean = band_contrast(images, real_contrast.shape[0]).mean(dim=0)
    return (mean.clamp_min(1e-8).log() - real_contrast.clamp_min(1e-8).log()).pow(2).mean()


def detail_distribution_loss(images: Tensor, real_detail: Tensor) -> Tensor:
    """1-D Wasserstein-2 between the images' log ``band_contrast`` and real patches'
    (K, bands, C), per band and channel.

    Each image is judged on its own detail, not the batch's mean as ``contrast_loss`` is: a
    generator that draws mostly calm textures and a few grainier than any photo can match the
    mean but not the spread, and those few decide the finest level of SWD (``training/
    README.md``, "each patch's detail as photos have it"). Sorting compares the grainiest fakes
    with the grainiest photos, so they are pulled down without flattening the rest."""
    detail = band_contrast(images, real_detail.shape[1])
    return _quantile_matching(
        detail.clamp_min(1e-8).log().flatten(1), real_detail.clamp_min(1e-8).log().flatten(1)
    )
