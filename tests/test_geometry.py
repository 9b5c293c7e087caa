"""Size arithmetic between latent cells and pixels, checked against the real network."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from generator import PRESETS, Generator
from generator.network.geometry import Rect, output_span, required_latent_span


class _Fields:
    """Position fields that ignore position: enough to measure shapes."""

    def __init__(self, config, batch=1):
        self.config, self.batch = config, batch

    def coordinates(self, rect):
        return torch.zeros(self.batch, self.config.coord_channels, rect.height, rect.width)

    def noise(self, layer, level, rect):
        return torch.zeros(self.batch, 1, rect.height, rect.width)

    def style_weights(self, level, rect):
        return None


CONFIGS = [
    PRESETS["tiny"],
    dataclasses.replace(PRESETS["tiny"], gs_kernel=5, gs_layers=3, gt_channels=(8, 8, 8, 8)),
    dataclasses.replace(PRESETS["tiny"], gs_kernel=1, gt_channels=(8,)),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_network_output_matches_the_arithmetic(config):
    torch.manual_seed(0)
    generator = Generator(config).eval()
    for size in (required_latent_span(config, 0, 1)[1], 23):  # the smallest useful input, and more
        zl = torch.randn(1, config.zl_dim, size, size + 3)
        zg = torch.randn(1, 1, config.zg_dim)
        with torch.no_grad():
            rgb, rect = generator(zl, zg, _Fields(config), Rect(0, 0, size, size + 3))
        start, length = output_span(config, 0, size)
        assert rect == Rect(start, output_span(config, 0, size + 3)[0], length, rect.width)
        assert rgb.shape[-2:] == (rect.height, rect.width)
        assert rect.width == output_span(config, 0, size + 3)[1]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("pixel_start", [-37, -1, 0, 5, 64, 1001])
@pytest.mark.parametrize("pixel_size", [1, 7, 64, 333])
def test_required_span_is_the_smallest_that_covers(config, pixel_start, pixel_size):
    start, size = required_latent_span(config, pixel_start, pixel_size)
    out_start, out_size = output_span(config, start, size)
    assert out_start <= pixel_start and out_start + out_size >= pixel_start + pixel_size
    for smaller in ((start + 1, size - 1), (start, size - 1)):
        s, n = output_span(config, *smaller)
        assert not (s <= pixel_start and s + n >= pixel_start + pixel_size)


def test_upsampling_maps_n_to_2n_minus_constant():
    for n in (3, 10, 31):
        up = Rect(5, 7, n, n).upsampled()
        assert (up.height, up.top) == (2 * n - 2, 11)
        assert up.shrink(1).height == 2 * n - 4


def test_paper_config_scales_by_config_alone():
    config = PRESETS["paper"]
    assert (config.gs_width, config.zl_dim, config.zg_dim) == (256, 256, 512)
    assert config.gt_channels[0] == 512 and config.gt_channels[-1] == 64
    assert config.pixels_per_cell == 16
    generator = Generator(config)
    assert generator.texture.to_rgb[-1].conv.in_ch == 64
    assert sum(p.numel() for p in generator.parameters()) > 10_000_000
