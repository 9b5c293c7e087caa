"""A projected discriminator (Sauer et al., NeurIPS 2021, "Projected GANs converge faster").

D judges patches through a frozen ImageNet network (EfficientNet-Lite0) rather than learning
its features from a few hundred photos: the network's features at four scales pass through
fixed random 1x1 projections (cross-channel mixing) and are fused coarse-to-fine by further
fixed random 1x1 projections (cross-scale mixing), and a small discriminator on each scale
gives a map of logits. Only those small discriminators (and InfinityGAN's vertical-position
head) learn: the paper reaches a GAN's FID many times sooner this way, from few images, since D
need not learn its features from the photos first.

The random projections are drawn from the run's seed and stored in the checkpoint (persistent
buffers), so a resume continues with the very same ones; the pretrained weights come from their
pip package (``trainer.pretrained``) and are not stored. Patches are tone-mapped to the
network's sRGB range (log-HDR ones with the Reinhard curve ``trainer.evaluate`` uses) and
resized to ``side`` px. R1 is not applied (Projected GAN drops it: the frozen features and
spectrally normalised heads keep D smooth, and R1 would need a double backward through the
pretrained network).

ImageNet features do not teach colour, though: behind DiffAugment's colour transform (which
scales saturation by 0-2 and shifts brightness for real and fake alike) the projected judges
let terrain samples drift to saturated yellow, red and magenta no photo has
(``training/README.md``). A small pixel-space judge (``ColorJudge``, ``TrainConfig.
color_judge_weight``) therefore sits beside them: it sees the patches as G drew them, without
the colour transform (translation and cutout still), learns its own features, and has lazy R1
as the patch discriminator does.

A model with alpha (a landscape band, ``ModelConfig.alpha``) draws land and leaves the sky to
the physical sky, and both its judges must see the alpha sensibly. The pretrained network sees
RGB only and knows photos, not cut-outs: it sees the land composited over a sky-like backdrop
(``sky_backdrop``: a random vertical gradient of clear, hazy, overcast or evening sky colours,
``over_backdrop``), the same backdrops for a step's real and fake patches, so the backdrop
tells D nothing, while land that is too transparent, ragged or haloed shows against it as it
would over the composed sky. The colour judge sees all four channels (the colour premultiplied,
``trainer.discriminator.premultiplied``), so the coverage itself (how land fades, what share
of a patch is land at each height) is judged in pixel space too, not only through a composite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from generator.files import model_range
from generator.network import ModelConfig, leaky_relu_gain
from trainer.discriminator import DownConv, EqualConv2d, premultiplied
from trainer.efficientnet import FEATURE_CHANNELS, EfficientNetLiteFeatures
from trainer.pretrained import efficientnet_lite0_state

PROJECTION_STREAM = 0x50524F4A
"""Mixed into the run's seed for the random projections, so they are not the same numbers as
anything else the seed draws."""
LOGIT_SIDE = 4
"""Each scale's discriminator halves its map until it is at most this many pixels across."""


def srgb_encode(linear: Tensor) -> Tensor:
    """The sRGB transfer function, differentiable everywhere (finite slope at 0)."""
    curve = 1.055 * linear.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055
    return torch.where(linear <= 0.0031308, 12.92 * linear, curve)


def backbone_input(images: Tensor, model: ModelConfig) -> Tensor:
    """Model-space patches to EfficientNet-Lite's input, (v - 127) / 128 for sRGB v in 0-255.

    Values are clipped to what a render shows (``generator.files.colorspace.model_range``), with the
    gradient passed straight through: unclipped, G drifted to values of -6 to 5 within 500
    terrain steps, which the frozen network's ReLU6 saturates on and so stops judging (and
    which render as flat yellow). sRGB models already work in sRGB ([-1, 1]); log-HDR ones are
    tone-mapped (Reinhard on linear light, then sRGB), as ``trainer.evaluate.display`` does."""
    low, high = model_range(model)
    images = images + (images.clamp(low, high) - images).detach()
    if model.color_space == "log":
        linear = torch.exp2(images * model.log_stops)
        display = srgb_encode(linear / (1.0 + linear))
    else:
        display = (images + 1.0) * 0.5
    return (display * 255.0 - 127.0) / 128.0


def _random_projection(inputs: int, outputs: int, generator: torch.Generator) -> Tensor:
    """A fixed random 1x1 convolution's weight that keeps the features' scale."""
    return torch.randn(outputs, inputs, 1, 1, generator=generator) / inputs**0.5


def sky_backdrop(count: int, side: int, device: torch.device) -> Tensor:
    """(count, 3, side, side) sRGB model-space skies to show land against: per image a vertical
    gradient from a zenith colour (between deep blue and overcast grey) at the top to a paler
    horizon (toward haze, or toward an evening orange) at the bottom, at a random brightness."""
    draws = torch.rand(count, 4, 1, 1, 1, device=device)
    blue = torch.tensor([0.22, 0.42, 0.75], device=device)[:, None, None]
    grey = torch.tensor([0.56, 0.58, 0.62], device=device)[:, None, None]
    haze = torch.tensor([0.82, 0.86, 0.92], device=device)[:, None, None]
    evening = torch.tensor([0.95, 0.72, 0.48], device=device)[:, None, None]
    zenith = torch.lerp(blue, grey, draws[:, 0])
    horizon = torch.lerp(torch.lerp(zenith, haze, 0.6), evening, draws[:, 1] * draws[:, 2])
    rows = ((torch.arange(side, device=device) + 0.5) / side)[None, None, :, None]
    sky = torch.lerp(zenith, horizon, rows.sqrt()) * (0.6 + 0.5 * draws[:, 3])
    return sky.clamp(0.0, 1.0).expand(-1, -1, -1, side) * 2.0 - 1.0


def over_backdrop(images: Tensor, backdrop: Tensor) -> Tensor:
    """RGBA model-space patches composited over ``backdrop`` (RGB): what the pretrained network
    judges. The coverage is clipped to [0, 1] with the gradient passed straight through, as
    ``backbone_input`` clips colour (unclipped, G's alpha would drift beyond what renders).
    It mixes sRGB-encoded model values, not linear light as the composed sky does: edges come
    out a little darker, the same for real and fake patches."""
    coverage = (images[:, 3:] + 1.0) * 0.5
    coverage = coverage + (coverage.clamp(0.0, 1.0) - coverage).detach()
    return torch.lerp(backdrop, images[:, :3], coverage)


class ScaleDiscriminator(nn.Module):
    """One scale's judge: strided 4x4 convolutions down to LOGIT_SIDE, then a logit map."""

    def __init__(self, channels: int, side: int, max_width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        while side > LOGIT_SIDE:
            width = min(2 * channels, max_width)
            layers += [spectral_norm(nn.Conv2d(channels, width, 4, 2, 1)), nn.LeakyReLU(0.2)]
            channels, side = width, -(-side // 2)
        layers += [spectral_norm(nn.Conv2d(channels, channels, 3, 1, 1)), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.logits = spectral_norm(nn.Conv2d(channels, 1, 1))
        self.width = channels

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(logit map flattened (N, k), pooled features (N, width) for the position head)."""
        hidden = self.body(x)
        return self.logits(hidden).flatten(1), hidden.mean(dim=(2, 3))


class ColorJudge(nn.Module):
    """A pixel-space judge of colour and fine grain: per-pixel colour features (1x1), a 3x3
    layer, two blurred stride-2 layers, a map of logits (a 64-px patch gives 16 x 16, each
    seeing ~20 px). It sees raw model values (not clipped as the projected path's are), so
    values beyond what a render shows are also told apart from the photos'."""

    def __init__(self, width: int, channels: int = 3) -> None:
        super().__init__()
        self.from_rgb = EqualConv2d(channels, width, 1)
        self.conv = EqualConv2d(width, width, 3)
        self.down = nn.ModuleList(
            [DownConv(width, 2 * width, 3), DownConv(2 * width, 2 * width, 3)]
        )
        self.logits = EqualConv2d(2 * width, 1, 1)

    def forward(self, images: Tensor) -> Tensor:
        """(N, C, h, w) model-space patches -> logits (N, k); RGBA ones premultiplied."""
        x = leaky_relu_gain(self.conv(leaky_relu_gain(self.from_rgb(premultiplied(images)))))
        for layer in self.down:
            x = leaky_relu_gain(layer(x))
        return self.logits(x).flatten(1)


class ProjectedDiscriminator(nn.Module):
    """Patch -> (realness logits (N, k) over scales and places, predicted vertical position)."""

    def __init__(
        self,
        model: ModelConfig,
        side: int,
        base_width: int,
        max_width: int,
        seed: int,
        color_judge: bool = False,
    ) -> None:
        super().__init__()
        self.model, self.side = model, side
        self.backbone = EfficientNetLiteFeatures(efficientnet_lite0_state())
        widths = [min(base_width * 2**k, max_width) for k in range(len(FEATURE_CHANNELS))]
        generator = torch.Generator().manual_seed(seed ^ PROJECTION_STREAM)
        for k, (channels, width) in enumerate(zip(FEATURE_CHANNELS, widths, strict=True)):
            mixing = _random_projection(channels, width, generator)
            self.register_buffer(f"mix_channels_{k}", mixing)
        for k in range(len(widths) - 1):
            coarser = _random_projection(widths[k + 1], widths[k], generator)
            self.register_buffer(f"mix_scales_{k}", coarser)
        sides = [-(-side // 2**k) for k in range(2, 2 + len(widths))]  # 1/4 .. 1/32
        self.judges = nn.ModuleList(
            ScaleDiscriminator(w, s, max_width) for w, s in zip(widths, sides, strict=True)
        )
        self.position = nn.Linear(sum(judge.width for judge in self.judges), 1)
        # Last, so the projected judges start as they did before the colour judge existed.
        self.color = ColorJudge(base_width, model.channels) if color_judge else None

    def project(self, images: Tensor) -> list[Tensor]:
        """The fixed part: tone map, resize, pretrained features, random cross-channel and
        cross-scale mixing; finest scale first."""
        x = backbone_input(images, self.model)
        if x.shape[-1] != self.side or x.shape[-2] != self.side:
            shrink = x.shape[-1] > self.side
            x = F.interpolate(
                x, size=(self.side, self.side), mode="bilinear", align_corners=False,
                antialias=shrink,
            )  # fmt: skip
        features = self.backbone(x)
        mixed = [F.conv2d(f, getattr(self, f"mix_channels_{k}")) for k, f in enumerate(features)]
        for k in reversed(range(len(mixed) - 1)):
            coarser = F.interpolate(
                mixed[k + 1], size=mixed[k].shape[-2:], mode="bilinear", align_corners=False
            )
            mixed[k] = mixed[k] + F.conv2d(coarser, getattr(self, f"mix_scales_{k}"))
        return mixed

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        logits, pooled = zip(
            *(judge(x) for judge, x in zip(self.judges, self.project(images), strict=True)),
            strict=True,
        )
        return torch.cat(logits, dim=1), self.position(torch.cat(pooled, dim=1)).squeeze(1)
