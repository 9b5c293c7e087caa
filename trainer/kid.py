"""KID and FID: distances between sets of images in the standard FID Inception-v3's features.

KID (Bińkowski et al. 2018) is the unbiased estimate of the squared maximum mean discrepancy with
the cubic polynomial kernel k(x, y) = (x . y / d + 1) ** 3, averaged over random subsets; unlike
FID it is unbiased, so it means the same for a few dozen frames as for thousands (only noisier),
which is what a model measured against a few dozen reserved photos needs. FID (Heusel et al.
2017) is biased upwards for small sets and is given only from FID_MIN_SAMPLES frames per side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from trainer.pretrained import inception

INCEPTION_SIDE = 299
BATCH = 16
SUBSETS = 100
MAX_SUBSET = 1000
FID_MIN_SAMPLES = 2000


@dataclass(frozen=True)
class Kid:
    value: float
    """Mean of the subsets' unbiased MMD^2 (0 = the same distribution; can be slightly < 0)."""
    error: float
    """Its standard error: how much it moves with another draw of frames (``kid``)."""
    subset: int
    """Frames per side in each subset."""


@torch.no_grad()
def inception_features(images: np.ndarray) -> np.ndarray:
    """(N, h, w, 3) display-space images in [0, 1] -> (N, 2048) pool features (float64),
    resized to 299 x 299 as FID's Inception expects."""
    net = inception()
    features = []
    for start in range(0, len(images), BATCH):
        chunk = np.ascontiguousarray(images[start : start + BATCH].transpose(0, 3, 1, 2))
        x = torch.from_numpy(chunk).float()
        shrink = max(x.shape[-2:]) > INCEPTION_SIDE
        x = F.interpolate(
            x, size=(INCEPTION_SIDE, INCEPTION_SIDE), mode="bilinear", align_corners=False,
            antialias=shrink,
        )  # fmt: skip
        features.append(net(x.clamp(0.0, 1.0) * 2.0 - 1.0).double().numpy())
    return np.concatenate(features)


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's cubic polynomial kernel between every row of ``a`` and every row of ``b``."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _polynomial_mmd(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 between equally many feature vectors with the cubic polynomial kernel."""
    m = len(a)
    k_aa, k_bb, k_ab = _kernel(a, a), _kernel(b, b), _kernel(a, b)
    within = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return float(within - 2.0 * k_ab.mean())


def kid(a: np.ndarray, b: np.ndarray, subsets: int = SUBSETS, seed: int = 0) -> Kid:
    """KID between two sets of Inception features: the mean over ``subsets`` random subsets
    of half the smaller set's frames from each side (at most MAX_SUBSET, drawn without
    replacement), with its standard error.

    Standard implementations take subsets of 1,000 frames from sets of 10,000 or more; with the
    few dozen reserved photos we have, subsets as large as the sets would all be the same frames
    and their spread zero. Half-size subsets vary on both sides; an estimate's variance falls
    as 1 / frames, so the spread of half-size estimates over sqrt(2) estimates the standard
    error of the whole sets' figure (slightly over when the distributions are equal, where it
    falls faster)."""
    size = min(min(len(a), len(b)) // 2, MAX_SUBSET)
    if size < 2:
        return Kid(math.nan, math.nan, size)
    rng = np.random.default_rng(seed)
    values = [
        _polynomial_mmd(
            a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        )
        for _ in range(subsets)
    ]
    return Kid(float(np.mean(values)), float(np.std(values) / math.sqrt(2.0)), size)


def witness(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a),) how far each of ``a``'s frames lies toward ``a``'s side of KID: the MMD's
    witness function (the kernel's mean to ``a``'s other frames less its mean to ``b``'s) at
    it. KID says how far two sets are; the witness says which frames make that distance: the
    highest are the ones least like any of ``b``'s."""
    k_aa = _kernel(a, a)
    own = (k_aa.sum(axis=1) - np.diag(k_aa)) / max(len(a) - 1, 1)
    return own - _kernel(a, b).mean(axis=1)


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features; NaN below
    FID_MIN_SAMPLES per side, where its bias swamps differences between models."""
    if min(len(a), len(b)) < FID_MIN_SAMPLES:
        return math.nan
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr sqrt(cov_a cov_b) is the sum of the square roots of the product's eigenvalues, which
    # are real and >= 0 for two covariance matrices (up to rounding).
    roots = np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0.0, None)).sum()
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * roots)
