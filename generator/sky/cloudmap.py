"""What a cloud model draws: a map of cloud density on a horizontal layer, not a picture of clouds.

A photo of clouds shows them lit by that day's sun; our clouds are lit by the sky being rendered.
So a cloud model learns only where the clouds are and how thick: density 0 (clear) to 1 (opaque),
stored as a grey image whose sRGB value is the density. Training data is made by
``density_from_photo`` from real skies; the renderer reads a model's output back with
``density_from_linear``. Both live here so the two ends of that contract cannot drift apart.
"""

from __future__ import annotations

import numpy as np

from generator.files.imagefile import linear_to_srgb

CLEAR_RATIO = 0.30
"""Red/blue ratio (linear) at or below which a sky pixel is clear. Clouds scatter all
wavelengths alike, so they are grey; clear sky is blue. Whole-sky imagers put the threshold near
0.6-0.8 in their raw camera colours, but in sRGB photos and sky boxes, white-balanced and tone
mapped, clear sky above 25° elevation measured 0.03-0.25 and white cumulus with a blue cast
0.4-1.0 (``data/README.md``, the cloud layer): at 0.6 such clouds read as clear."""
OPAQUE_RATIO = 0.80
"""Red/blue ratio at or above which a pixel is fully cloud: sun-lit tops measured 0.8-1.0 and
grey overcast with a blue cast 0.88."""


def density_from_photo(linear: np.ndarray) -> np.ndarray:
    """(…, 3) linear RGB of sky seen from below → (…) cloud density in [0, 1].

    The red/blue ratio (Long et al. 2006, the usual whole-sky-imager cloud test) separates grey
    cloud from blue sky, whatever the exposure; a sun-lit thin edge and a dark thick base both
    read as cloud.
    """
    linear = np.asarray(linear, dtype=np.float32)
    ratio = linear[..., 0] / np.maximum(linear[..., 2], 1e-6)
    density = (ratio - CLEAR_RATIO) / (OPAQUE_RATIO - CLEAR_RATIO)
    return np.clip(density, 0.0, 1.0).astype(np.float32)


def density_to_image(density: np.ndarray) -> np.ndarray:
    """(…) density → (…, 3) sRGB-encoded grey in [0, 1], the form a training image takes."""
    grey = np.clip(np.asarray(density, dtype=np.float32), 0.0, 1.0)
    return np.repeat(grey[..., None], 3, axis=-1)


def density_from_linear(linear: np.ndarray) -> np.ndarray:
    """(…, 3) linear output of a cloud model → (…) density: the inverse of the encoding above."""
    grey = np.asarray(linear, dtype=np.float32).mean(axis=-1)
    return np.clip(linear_to_srgb(np.clip(grey, 0.0, 1.0)), 0.0, 1.0).astype(np.float32)
