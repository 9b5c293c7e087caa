"""The cloud-density contract between training data and the renderer."""

from __future__ import annotations

import numpy as np

from generator.files.imagefile import srgb_to_linear
from generator.sky.cloudmap import density_from_linear, density_from_photo, density_to_image


def test_blue_sky_is_clear_and_grey_cloud_is_opaque_at_any_exposure():
    blue = np.array([0.10, 0.25, 0.60], np.float32)
    grey = np.array([0.50, 0.52, 0.55], np.float32)
    for exposure in (0.01, 1.0, 50.0):
        assert density_from_photo(blue * exposure) == 0.0
        assert density_from_photo(grey * exposure) == 1.0
    thin = np.array([0.40, 0.45, 0.55], np.float32)
    assert 0.0 < density_from_photo(thin) < 1.0


def test_a_density_map_survives_the_trip_through_an_image_and_a_models_linear_output():
    density = np.linspace(0.0, 1.0, 101, dtype=np.float32).reshape(1, 101)
    image = density_to_image(density)
    assert image.shape == (1, 101, 3)
    np.testing.assert_allclose(density_from_linear(srgb_to_linear(image)), density, atol=1e-5)
