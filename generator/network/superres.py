"""The super-resolution stage: x2 detail on a canvas, padding-free and position-keyed, so it tiles.

A model draws a canvas at its native scale; this stage doubles it (stack it for x4, x8) and adds
the detail a bigger request should have instead of blur. It is a small convolutional network
whose output is Keys' cubic x2 upsampling of its input plus a learned residual; its per-pixel
noise input comes from position-keyed fields (as the generator's), and every convolution is
valid. So an output pixel is a pure function of the canvas around it and its global position:
bands, tiles and windows stitch exactly, and a wrapped axis stays wrapped.

Geometry: output pixels 2i and 2i + 1 belong to input pixel i; computing them needs input
pixels [i - margin, i + margin]. ``upscale`` feeds bands of rows with that margin, taken
periodically across a wrapped seam and by edge replication elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generator.errors import Cancelled, ModelError
from generator.network.latents import periodic_range, position_normals

SUPERRES_STREAM_BASE = 64
"""Stage s of a canvas draws its noise from stream SUPERRES_STREAM_BASE + s."""
BAND_PIXELS = 1 << 19
"""Input pixels per band of ``upscale``: working memory stays a few tens of MiB."""


@dataclass(frozen=True)
class SuperResConfig:
    channels: int = 32
    layers: int = 4
    """3x3 valid convolutions between the input and output convolutions."""
    noise_channels: int = 1

    def __post_init__(self) -> None:
        if self.channels < 1 or self.layers < 0 or self.noise_channels < 0:
            raise ModelError("invalid super-resolution config")

    @property
    def margin(self) -> int:
        """Input pixels of context each output pixel needs on every side."""
        return max(self.layers + 2, CUBIC_MARGIN)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SuperResConfig:
        try:
            return cls(**json.loads(text))
        except (TypeError, ValueError) as err:
            raise ModelError(f"invalid super-resolution config ({err})") from None


CUBIC_MARGIN = 2


def _cubic_x2_kernel() -> Tensor:
    """(4, 1, 5, 5): Keys' cubic (a = -0.5) weights of the four output phases (dy, dx) of an
    input pixel, over its 5 x 5 neighbourhood (pixel centres aligned, as image resizers do)."""

    def taps(offset: float) -> np.ndarray:
        t = np.abs(np.arange(-2, 3) - offset)
        near = (1.5 * t - 2.5) * t * t + 1.0
        far = ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0
        return np.where(t <= 1.0, near, np.where(t < 2.0, far, 0.0))

    phases = [taps(-0.25), taps(0.25)]
    kernels = [np.outer(phases[dy], phases[dx]) for dy in (0, 1) for dx in (0, 1)]
    return torch.from_numpy(np.stack(kernels)[:, None].astype(np.float32))


class SuperResolution(nn.Module):
    """(B, 3 + noise, h, w) -> (B, 3, 2 (h - 2 margin), 2 (w - 2 margin)), model space."""

    def __init__(self, config: SuperResConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.head = nn.Conv2d(3 + config.noise_channels, c, 3)
        self.body = nn.ModuleList(nn.Conv2d(c, c, 3) for _ in range(config.layers))
        self.tail = nn.Conv2d(c, 12, 3)
        nn.init.zeros_(self.tail.weight)  # starts as plain cubic upsampling
        nn.init.zeros_(self.tail.bias)
        self.register_buffer("cubic", _cubic_x2_kernel(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        m, cfg = self.config.margin, self.config
        features = F.leaky_relu(self.head(x), 0.2)
        for conv in self.body:
            features = features[:, :, 1:-1, 1:-1] + F.leaky_relu(conv(features), 0.2)
        residual = F.pixel_shuffle(self.tail(features), 2)
        extra = m - (cfg.layers + 2)
        if extra:
            residual = residual[:, :, 2 * extra : -2 * extra, 2 * extra : -2 * extra]
        rgb = x[:, :3, m - CUBIC_MARGIN : x.shape[2] - m + CUBIC_MARGIN,
                m - CUBIC_MARGIN : x.shape[3] - m + CUBIC_MARGIN]  # fmt: skip
        b, _, h, w = rgb.shape
        phases = F.conv2d(rgb.reshape(b * 3, 1, h, w), self.cubic.to(rgb.dtype))
        phases = phases.reshape(b, 12, h - 4, w - 4)  # channel c * 4 + dy * 2 + dx
        return F.pixel_shuffle(phases, 2) + residual


def upscale(
    net: SuperResolution,
    canvas: np.ndarray,
    *,
    seed: int,
    stage: int,
    wrap: tuple[bool, bool] = (False, False),
    cancel: Callable[[], bool] | None = None,
    band_done: Callable[[], None] | None = None,
) -> np.ndarray:
    """The (h, w, 3) model-space canvas at twice the size, (2h, 2w, 3); ``wrap`` = (rows, cols)
    periodic. Runs in ``band_count(h, w)`` bands of rows (``band_done`` after each); the result
    does not depend on the band size."""
    height, width = canvas.shape[:2]
    m = net.config.margin
    cols = np.arange(-m, width + m)
    cols = np.mod(cols, width) if wrap[1] else np.clip(cols, 0, width - 1)
    period = (height if wrap[0] else None, width if wrap[1] else None)
    out = np.empty((2 * height, 2 * width, 3), dtype=np.float32)
    step = _band_rows(net, width)
    for top in range(0, height, step):
        if cancel is not None and cancel():
            raise Cancelled("render cancelled")
        bottom = min(height, top + step)
        rows = np.arange(top - m, bottom + m)
        rows = np.mod(rows, height) if wrap[0] else np.clip(rows, 0, height - 1)
        padded = canvas[rows[:, None], cols[None, :]]  # margins: periodic or edge-replicated
        out[2 * top : 2 * bottom] = upscale_region(
            net, padded, top - m, -m, seed=seed, stage=stage, period=period
        )
        if band_done is not None:
            band_done()
    return out


def upscale_region(
    net: SuperResolution,
    pixels: np.ndarray,
    top: int,
    left: int,
    *,
    seed: int,
    stage: int,
    period: tuple[int | None, int | None] = (None, None),
) -> np.ndarray:
    """One pass on a region whose borders are real canvas (no padding): ``pixels`` (h, w, 3)
    are rows [top, top + h) and columns [left, left + w) of the stage's canvas (``period``: its
    size along wrapped axes); returns rows [2 (top + m), 2 (top + h - m)) and the matching
    columns of the next stage, m = ``net.config.margin``."""
    device = next(net.parameters()).device
    image = np.ascontiguousarray(pixels.transpose(2, 0, 1), np.float32)
    inputs = [torch.from_numpy(image)[None].to(device)]
    channels = net.config.noise_channels
    if channels:
        rows = periodic_range(top, pixels.shape[0], period[0])[None].to(device)
        cols = periodic_range(left, pixels.shape[1], period[1])[None].to(device)
        inputs.append(position_normals(seed, SUPERRES_STREAM_BASE + stage, rows, cols, channels))
    with torch.inference_mode():
        out = net(torch.cat(inputs, dim=1))[0]
    return out.permute(1, 2, 0).float().cpu().numpy()


def cubic_stage() -> SuperResolution:
    """A stage that is exactly Keys' cubic x2 (no learned part, no noise): plain upsampling."""
    return SuperResolution(SuperResConfig(channels=1, layers=0, noise_channels=0)).eval()


def _band_rows(net: SuperResolution, width: int) -> int:
    return max(1, BAND_PIXELS // (width + 2 * net.config.margin))


def band_count(net: SuperResolution, height: int, width: int) -> int:
    """How many bands ``upscale`` cuts an (height, width) canvas into (progress units)."""
    return -(-height // _band_rows(net, width))
