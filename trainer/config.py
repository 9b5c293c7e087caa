"""Training configuration: one plain dataclass; presets from a CPU smoke test to the paper."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from generator import BackdropError
from generator.network import PRESETS as MODEL_PRESETS
from generator.network import ModelConfig
from trainer.augment import POLICIES

DISCRIMINATORS = ("projected", "patch")


class ConfigError(BackdropError):
    """A bad preset name or override."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs besides the data folder; stored in every checkpoint."""

    model: ModelConfig = field(default_factory=lambda: MODEL_PRESETS["tiny"])
    patch: int = 16
    """Patch side in pixels; patches start on latent-cell boundaries of the frame."""
    batch: int = 8
    """Images per optimisation step (across all processes and accumulation rounds)."""
    accumulate: int = 1
    """Gradient accumulation rounds per step (the batch is split between them)."""
    steps: int = 200
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 1.0
    r1_every: int = 16
    """Lazy R1 on the ``patch`` discriminator and on the ``projected`` one's colour judge; the
    projected judges go without (``trainer.projected``)."""
    pl_weight: float = 2.0
    pl_every: int = 4
    diversity_weight: float = 0.1
    coord_weight: float = 1.0
    layout_weight: float = 0.0
    """Fine-tunes (``--start-from``): weight of a loss that keeps the starting model's layout, the
    mean squared difference between each latent cell's mean colour and the starting model's for
    the same latents and noise. Detail within cells (grain, sharpness) is then free to change
    while what lies where, and so the look from afar, stays. 0 = off."""
    color_weight: float = 0.0
    """Weight of ``losses.color_coverage_loss``: the generated images' mean colours should be
    distributed as the photos' (what share grass, sand, snow or rock have), which D, seeing
    small patches through colour augmentation, enforces weakly. 0 = off; 30 brought the
    bundled terrain's rare materials back in 500 steps (``training/README.md``, "where the 1x
    gap comes from")."""
    zoom_weight: float = 0.0
    """Weight of D's and G's losses on zoomed-out fakes: patches rendered ``zoom`` x wider and
    taller (one global latent each) and averaged down to the patch size, judged against the
    same real patches. D sees only a few latent cells of a normal fake, so nothing else asks
    what G lays out over tens of cells to look, from afar, like a photo up close, which is what
    InfinityGAN's ScaleInv FID and ``trainer evaluate``'s wide ratio measure. 0 = off."""
    contrast_weight: float = 0.0
    """Weight of ``losses.contrast_loss`` on a few renders seen ``zoom`` x further away
    (rendered wider, averaged down): their finest scales should carry the detail training
    patches carry at theirs. Seen from afar, one pixel spans a latent cell or more, where a
    texture trained on patches has smooth blobs; the wide ratio of ``trainer evaluate`` (and
    InfinityGAN's ScaleInv FID) sees exactly that. 0 = off; 10 at ``zoom`` 8 met the terrain's
    8x target in 100 steps but amplified its grainiest images at 1x (``training/README.md``,
    "the amount of detail seen from afar")."""
    detail_weight: float = 0.0
    """Weight of ``losses.detail_distribution_loss``: each generated patch's detail at its
    finest scales (1, 2 and 4 px) should be distributed as the training patches' are, so no
    image is grainier (or blurrier) than photos come. The projected discriminator judges
    features of patches resized for an ImageNet network and lets a fine grain through, which
    the finest level of ``trainer evaluate``'s SWD sees. 20 took the bundled terrain's SWD ratio
    at 1x from 2.05 to 0.99 in 600 steps; on the clouds, a third of whose tiles are flat, it
    flattened the model (``training/README.md``, "each patch's detail as photos have it").
    0 = off."""
    zoom: int = 4
    """Field-of-view factor of the zoomed-out fakes (``zoom_weight``) and of the renders from
    afar (``contrast_weight``)."""
    freeze: tuple[str, ...] = ()
    """Generator parts kept as they are: names or name prefixes of its parameters (``mapping``,
    ``structure``, ``texture.layers.0``, ...). Fine-tuning a trained model with the parts that lay
    out large-scale structure frozen keeps that structure while the rest learns finer texture
    (as FreezeD, Mo et al. 2020, does for D); frozen parts also cost no backward pass."""
    ema_kimg: float = 2.0
    """Half-life of the exported moving average of G, in thousands of images."""
    ema_rampup: float = 0.05
    """While a run is young the half-life is at most this fraction of the images it has seen
    (StyleGAN2-ADA's ramp-up): the average then forgets a fresh run's random start, and a short
    fine-tune's snapshots show the fine-tune rather than mostly the model it started from
    (5 kimg is 625 steps of 8 images). 0 = the fixed half-life from the first step."""
    hflip: bool = True
    augment: tuple[str, ...] = ()
    """DiffAugment transforms applied to every image D sees: any of color, translation, cutout."""
    equirect: bool = False
    """Photos are 360-degree panoramas: no crop, circular horizontal shifts instead."""
    bands: bool = False
    """Photos are horizon bands (``tools/horizon_bands.py``: RGBA, horizon at the middle row, 8
    px per degree): no crop, each taken at its own scale so its rows are the frame's rows;
    360-degree ones shifted circularly (``trainer.data.PatchDataset``)."""
    panorama_top: float = 90.0
    """Elevation (degrees) of the top row of panoramas that are wider than 2:1, i.e. that do not
    cover the whole sphere. 90 fits upper-hemisphere sky boxes, which start at the zenith."""
    discriminator: str = "projected"
    """``projected``: judges patches through a frozen ImageNet network's features
    (``trainer.projected``; the default for new runs, after Projected GANs' faster convergence;
    on the terrain's first 800 steps it drew plant-like detail sooner than ``patch`` but in
    oversaturated colours, ``training/README.md``);
    ``patch``: StyleGAN2's residual discriminator, learning its own features (runs recorded
    before the choice existed, and ``tiny``, which keeps tests fast)."""
    color_judge_weight: float = 4.0
    """With the ``projected`` discriminator: weight of a small pixel-space judge beside its
    judges (``trainer.projected.ColorJudge``), which sees patches without DiffAugment's colour
    transform and so teaches colour, which the frozen ImageNet features behind that transform do
    not (``training/README.md``, "teaching the projected discriminator colour": on the terrain,
    4 beat 1 at steps 300 and 500 on KID, SWD and saturation); it has lazy R1 (``r1_gamma``,
    ``r1_every``). 0 = off, as in projected runs recorded before it existed.
    Ignored by the ``patch`` discriminator, which learns its own features from the pixels."""
    projected_side: int = 128
    """Side in px the projected discriminator resizes patches to before the pretrained network
    (its features are then 1/4 to 1/32 of that): 128 costs about what the patch discriminator
    does on 64-px patches; ImageNet's 224 costs 4x."""
    d_base_width: int = 32
    d_max_width: int = 256
    mixed_precision: bool = True
    """bf16 autocast on CUDA (ignored on CPU, where results stay bit-reproducible)."""
    cpu_bf16: bool = False
    """bf16 autocast on the CPU too: x1.28 images/s measured on an AVX512-BF16 CPU (``cpu``-sized
    model); off by default because fp32 CPU runs are bit-reproducible."""
    workers: int = 2
    seed: int = 0
    checkpoint_minutes: float = 10.0
    sample_every: int = 500
    snapshot_every: int = 0
    """Every this many steps also write the averaged generator as a model file
    (``snapshots/step-NNNNNNN.safetensors``, ~3 MB for ``cpu``-sized models); 0 = never. A GAN's
    quality is not monotone in its steps and the checkpoint is overwritten in place, so
    snapshots are what lets the best point of a run be measured and picked afterwards."""
    log_every: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        object.__setattr__(self, "augment", tuple(self.augment))
        object.__setattr__(self, "freeze", tuple(self.freeze))
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig(**self.model))
        problems = []
        frame = min(self.model.native_height, self.model.native_width) * self.model.pixels_per_cell
        if not self.model.pixels_per_cell <= self.patch <= frame:
            problems.append(f"patch must be between {self.model.pixels_per_cell} and {frame} px")
        if self.batch < 2 or self.batch % 2:
            problems.append("batch must be an even number >= 2 (the diversity loss pairs images)")
        if self.accumulate < 1 or self.batch % (2 * self.accumulate):
            problems.append("batch must split into accumulate rounds of an even size")
        if not self.layout_weight >= 0:
            problems.append("layout_weight must be >= 0")
        if not self.color_weight >= 0:
            problems.append("color_weight must be >= 0")
        if not self.zoom_weight >= 0:
            problems.append("zoom_weight must be >= 0")
        if not self.contrast_weight >= 0:
            problems.append("contrast_weight must be >= 0")
        if not self.detail_weight >= 0:
            problems.append("detail_weight must be >= 0")
        if self.zoom < 2:
            problems.append("zoom must be >= 2 (a zoomed-out fake covers zoom x a patch)")
        if not self.ema_rampup >= 0:
            problems.append("ema_rampup must be >= 0")
        if self.snapshot_every < 0:
            problems.append("snapshot_every must be >= 0")
        if self.steps < 1:
            problems.append("steps must be >= 1")
        if self.bands and self.equirect:
            problems.append("bands and equirect exclude each other")
        if self.discriminator not in DISCRIMINATORS:
            problems.append(f"discriminator must be one of {', '.join(DISCRIMINATORS)}")
        if not self.color_judge_weight >= 0:
            problems.append("color_judge_weight must be >= 0")
        if self.projected_side < 32:
            problems.append("projected_side must be >= 32 (the network's coarsest scale is 1/32)")
        unknown = sorted(set(self.augment) - set(POLICIES))
        if unknown:
            problems.append(f"unknown augmentation {unknown}: choose from {', '.join(POLICIES)}")
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))

    @property
    def lazy_r1(self) -> bool:
        """Whether D's updates include lazy R1 (see ``r1_every``): on the whole ``patch``
        discriminator, on the ``projected`` one's colour judge only."""
        return self.discriminator == "patch" or self.color_judge

    @property
    def color_judge(self) -> bool:
        """Whether the projected discriminator has its pixel-space colour judge."""
        return self.discriminator == "projected" and self.color_judge_weight > 0

    def to_json(self) -> str:
        """The settings as JSON, the model's as ``ModelConfig.to_json`` writes them (one form
        of a model's config everywhere: alpha is left out when off)."""
        data = dataclasses.asdict(self)
        data["model"] = json.loads(self.model.to_json())
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        values = json.loads(text)
        values.setdefault("ema_rampup", 0.0)  # runs recorded before the ramp-up averaged without
        values.setdefault("discriminator", "patch")  # and before the projected D, with this one
        values.setdefault("color_judge_weight", 0.0)  # and before its colour judge, without
        return cls(**values)

    def with_overrides(self, overrides: dict[str, Any]) -> TrainConfig:
        """Apply ``name=value`` overrides; ``model.name`` reaches into the model config."""
        top, model = {}, {}
        known = {f.name for f in dataclasses.fields(self)} - {"model"}
        model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
        for key, value in overrides.items():
            if key.startswith("model."):
                name = key.removeprefix("model.")
                if name not in model_fields:
                    names = ", ".join(sorted(model_fields))
                    raise ConfigError(f"unknown model setting {name!r}: choose from {names}")
                model[name] = value
            elif key in known:
                top[key] = value
            else:
                names = ", ".join(sorted(known))
                raise ConfigError(f"unknown setting {key!r}: choose from {names}, or model.NAME")
        try:
            if model:
                top["model"] = dataclasses.replace(self.model, **model)
            return dataclasses.replace(self, **top)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid setting value ({err})") from None


# A generator a CPU can train in hours: 8 px per latent cell, 256x128-px frames, ~0.7 M parameters.
CPU_MODEL = ModelConfig(
    zg_dim=128,
    zl_dim=32,
    w_dim=128,
    mapping_layers=4,
    gs_width=64,
    gs_layers=3,
    gt_channels=(128, 96, 64, 32),
    period=32.0,
    native_height=16,
    native_width=32,
    extra={"preset": "cpu"},
)

PRESETS: dict[str, TrainConfig] = {
    # Tests and CPU smoke runs: seconds per hundred steps.
    "tiny": TrainConfig(discriminator="patch"),
    # A CPU-trainable model: 8 px per latent cell, 64-px patches from 128x256 frames.
    "cpu": TrainConfig(
        model=CPU_MODEL,
        patch=64,
        batch=8,
        steps=20000,
        augment=POLICIES,
        d_base_width=32,
        d_max_width=256,
        ema_kimg=5.0,
        sample_every=1000,
    ),
    # Tileable ground textures (wrap xy): no coordinates at all (a texture seen from above has
    # no up and no longitude), 256x256-px frames, and a discriminator small enough that a
    # resumable checkpoint stays under 25 MB.
    "terrain": TrainConfig(
        model=dataclasses.replace(
            CPU_MODEL,
            native_height=32,
            vertical_conditioning=False,
            horizontal_conditioning=False,
            extra={"preset": "terrain"},
        ),
        patch=64,
        batch=8,
        steps=100000,
        augment=POLICIES,
        d_base_width=32,
        d_max_width=96,
        ema_kimg=5.0,
        sample_every=2000,
    ),
    # 360-degree HDR skies: log2 radiance (up to 16 stops above 1.0 without clipping), the whole
    # sphere as a 512x256-px frame (1.4 px per degree), 64-px patches (45 degrees), period = the
    # frame's width so the sin/cos code is the azimuth. Upper-hemisphere sky boxes (4:1) fill the
    # top half of the frame.
    "sky": TrainConfig(
        model=dataclasses.replace(
            CPU_MODEL,
            native_height=32,
            native_width=64,
            period=64.0,
            sphere=True,
            color_space="log",
            log_stops=8.0,
            extra={"preset": "sky"},
        ),
        patch=64,
        batch=8,
        steps=100000,
        augment=POLICIES,
        equirect=True,
        d_base_width=32,
        d_max_width=96,
        ema_kimg=5.0,
        sample_every=2000,
    ),
    # The paper on a GPU: its widths, 101-px patches from ~197-px (12-cell) frames, batch 16.
    "paper": TrainConfig(
        model=dataclasses.replace(
            MODEL_PRESETS["paper"], native_height=12, native_width=12, period=48.0
        ),
        patch=101,
        batch=16,
        steps=200000,
        augment=POLICIES,
        d_base_width=64,
        d_max_width=512,
        r1_gamma=10.0,
        ema_kimg=10.0,
        workers=8,
        sample_every=2000,
        checkpoint_minutes=20.0,
    ),
}

# Landscape bands at the horizon for matte strips (``generator.sky.horizon``; data from
# ``tools/horizon_bands.py``): RGBA (alpha = land, the sky left to the physical sky), 128-px
# frames that are the bands' 16 degrees (8 px per degree, horizon at row 64) so the vertical
# coordinate is the elevation, 64-px patches (8 degrees), no horizontal coordinate (a band has
# no longitude; 360-degree ones wrap). 512 px (64 degrees) is a sample frame's width.
PRESETS["landscape"] = dataclasses.replace(
    PRESETS["terrain"],
    model=dataclasses.replace(
        CPU_MODEL,
        native_height=16,
        native_width=64,
        vertical_conditioning=True,
        horizontal_conditioning=False,
        alpha=True,
        extra={"preset": "landscape"},
    ),
    bands=True,
)

# Cloud density on a horizontal layer (``generator.sky.cloudmap``; data from
# ``tools/cloud_tiles.py``): a texture seen from below, so the terrain preset's torus model,
# judged the same way.
PRESETS["clouds"] = dataclasses.replace(
    PRESETS["terrain"],
    model=dataclasses.replace(PRESETS["terrain"].model, extra={"preset": "clouds"}),
)
