"""Training a model's super-resolution stage (``python -m trainer train-sr``), read top to bottom.

The stage learns to turn the model's native scale into twice that: pairs are cut from real
images at 2x the native scale (panoramas: their width is 2x the native sphere's; photos: the
whole photo is 2x the native frame), the input being the 2x2 average of the target. The loss is
L1 in the model's space (log radiance for HDR) plus a non-saturating adversarial term from a
patch discriminator with lazy R1, so it learns texture rather than the blur L1 alone gives.
``export-sr`` writes the base model with the trained stage inside as a new model file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from generator import BackdropError
from generator.files import (
    LoadedModel,
    linear_to_model,
    load_linear,
    load_model,
    resize_linear,
    save_model,
)
from generator.network import SuperResConfig, SuperResolution
from trainer import losses
from trainer.augment import augment
from trainer.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    load_module,
    load_optimizer,
    make_run_dir,
    optimizer_tensors,
    save_checkpoint,
)
from trainer.data import scan_folder
from trainer.discriminator import Discriminator
from trainer.runlock import RunLock
from trainer.train import StopFlag

log = logging.getLogger("trainer.superres")


@dataclass(frozen=True)
class SRTrainConfig:
    """Everything a super-resolution run needs besides the base model and the data."""

    stage: SuperResConfig = field(default_factory=SuperResConfig)
    patch: int = 64
    """Target patches, in output pixels (even)."""
    batch: int = 8
    steps: int = 5000
    lr: float = 0.001
    l1_weight: float = 1.0
    adversarial_weight: float = 0.05
    r1_gamma: float = 1.0
    r1_every: int = 16
    augment: tuple[str, ...] = ("translation", "cutout")
    seed: int = 0
    checkpoint_minutes: float = 10.0
    log_every: int = 50

    def __post_init__(self) -> None:
        if isinstance(self.stage, dict):
            object.__setattr__(self, "stage", SuperResConfig(**self.stage))
        object.__setattr__(self, "augment", tuple(self.augment))
        if self.patch < 8 or self.patch % 2 or self.batch < 1 or self.steps < 1:
            raise BackdropError("train-sr needs an even --set patch >= 8, batch and steps >= 1")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SRTrainConfig:
        return cls(**json.loads(text))


class PairSource:
    """Real images at 2x the model's native scale, in its space, kept in memory as float16."""

    def __init__(self, model: LoadedModel, folder: Path, seed: int) -> None:
        cfg = model.config
        width = 2 * cfg.native_frame[1]
        self.wrap = cfg.sphere
        self.images = []
        for info in scan_folder(folder, min_side=16, workers=0).good:
            pixels = load_linear(info.path, cover=(1, width))
            tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
            height = max(16, round(tensor.shape[1] * width / tensor.shape[2]))
            resized = resize_linear(tensor, (height, width)).permute(1, 2, 0).numpy()
            self.images.append(torch.from_numpy(linear_to_model(resized, cfg)).half())
        if not self.images:
            raise BackdropError(f"no usable images in {folder}")
        self.rng = np.random.default_rng(seed)

    def batch(self, count: int, size: int) -> torch.Tensor:
        """(count, 3, size, size) random crops (circular across a panorama's seam)."""
        crops = []
        for _ in range(count):
            image = self.images[int(self.rng.integers(len(self.images)))]
            h, w = image.shape[:2]
            y = int(self.rng.integers(max(1, h - size + 1)))
            x = int(self.rng.integers(w if self.wrap else max(1, w - size + 1)))
            rows = np.clip(np.arange(y, y + size), 0, h - 1)
            cols = np.arange(x, x + size)
            cols = np.mod(cols, w) if self.wrap else np.clip(cols, 0, w - 1)
            crop = image[rows[:, None], cols[None, :]].float().permute(2, 0, 1)
            crops.append(crop.flip(2) if self.rng.random() < 0.5 else crop)
        return torch.stack(crops)


def train_superres(
    config: SRTrainConfig, model_path: Path, data: Path, run_dir: Path, *, resume: bool = False
) -> int:
    """Train until ``config.steps`` or a stop signal (checkpointing first); returns the step."""
    make_run_dir(run_dir)
    with RunLock(run_dir):  # one trainer per run folder
        return _train_superres(config, model_path, data, run_dir, resume)


def _train_superres(
    config: SRTrainConfig, model_path: Path, data: Path, run_dir: Path, resume: bool
) -> int:
    checkpoint = run_dir / CHECKPOINT_NAME
    torch.manual_seed(config.seed)
    model = load_model(model_path)
    source = PairSource(model, data, config.seed)
    margin = config.stage.margin
    parts = _Parts.new(config)
    net, disc, opt_g, opt_d = parts.net, parts.disc, parts.opt_g, parts.opt_d
    step = 0
    if resume:
        step = parts.load(checkpoint, source)

    def save() -> None:
        parts.save(
            checkpoint, step, source, config=config.to_json(), model=str(model_path.resolve())
        )

    crop = config.patch + 4 * margin  # target pixels plus the input's context, at 2x
    stop, last_save, started = StopFlag(), time.monotonic(), time.monotonic()
    try:
        while step < config.steps and not stop.requested:
            hr = source.batch(config.batch, crop)
            lr_image = F.avg_pool2d(hr, 2)
            noise = torch.randn(config.batch, config.stage.noise_channels, *lr_image.shape[2:])
            inner = slice(2 * margin, 2 * margin + config.patch)
            target = hr[:, :, inner, inner]
            # Discriminator: real targets against the stage's output, lazy R1.
            fake = net(torch.cat([lr_image, noise], 1))
            real_logits, _ = disc(augment(target, config.augment))
            fake_logits, _ = disc(augment(fake.detach(), config.augment))
            d_loss = losses.d_logistic_loss(real_logits, fake_logits)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            if step % config.r1_every == 0:
                real = target.detach().requires_grad_(True)
                r1 = losses.r1_penalty(disc(augment(real, config.augment))[0], real)
                opt_d.zero_grad(set_to_none=True)
                (config.r1_gamma / 2 * r1 * config.r1_every).backward()
                opt_d.step()
            # Stage: L1 to the real target plus the adversarial term.
            l1 = (fake - target).abs().mean()
            adversarial = losses.g_nonsaturating_loss(disc(augment(fake, config.augment))[0])
            g_loss = config.l1_weight * l1 + config.adversarial_weight * adversarial
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            step += 1
            if step % config.log_every == 0:
                rate = step * config.batch / max(time.monotonic() - started, 1e-9)
                log.info("step %d: l1 %.4f, adversarial %.3f, d %.3f (%.1f pairs/s)",
                         step, l1.item(), adversarial.item(), d_loss.item(), rate)  # fmt: skip
            if time.monotonic() - last_save > 60 * config.checkpoint_minutes:
                save()
                last_save = time.monotonic()
    finally:
        stop.restore()
    save()
    return step


@dataclass
class _Parts:
    """What a run trains: the stage, its critic and their optimisers (a checkpoint's tensors)."""

    net: SuperResolution
    disc: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer

    @classmethod
    def new(cls, config: SRTrainConfig) -> _Parts:
        net = SuperResolution(config.stage)
        disc = Discriminator(config.patch, 32, 128)
        betas = (0.5, 0.99)
        return cls(
            net,
            disc,
            torch.optim.Adam(net.parameters(), lr=config.lr, betas=betas),
            torch.optim.Adam(disc.parameters(), lr=config.lr, betas=betas),
        )

    def save(self, path: Path, step: int, source: PairSource, **meta: str) -> None:
        g_tensors, g_groups = optimizer_tensors("opt_g", self.opt_g)
        d_tensors, d_groups = optimizer_tensors("opt_d", self.opt_d)
        tensors = {
            **{f"sr.{k}": v for k, v in self.net.state_dict().items()},
            **{f"d.{k}": v for k, v in self.disc.state_dict().items()},
            **g_tensors,
            **d_tensors,
            "rng": torch.get_rng_state(),
        }
        data_rng = int(source.rng.integers(2**62))
        source.rng = np.random.default_rng(data_rng)  # what a resumed run continues with
        extra = {"step": step, "opt_g": g_groups, "opt_d": d_groups, "data_rng": data_rng}
        save_checkpoint(path, tensors, {**meta, **extra})

    def load(self, path: Path, source: PairSource) -> int:
        """Restore a checkpoint; returns its step."""
        tensors, meta = load_checkpoint(path)
        load_module("sr", self.net, tensors)
        load_module("d", self.disc, tensors)
        load_optimizer("opt_g", self.opt_g, tensors, meta["opt_g"])
        load_optimizer("opt_d", self.opt_d, tensors, meta["opt_d"])
        torch.set_rng_state(tensors["rng"])
        source.rng = np.random.default_rng(meta["data_rng"])
        return int(meta["step"])


def export_superres(run: Path, out: Path, model_path: Path | None = None) -> str:
    """The base model with the run's super-resolution stage inside, as a new model file."""
    tensors, meta = load_checkpoint(run / CHECKPOINT_NAME)
    config = SRTrainConfig.from_json(meta["config"])
    base = load_model(model_path or meta["model"])
    net = SuperResolution(config.stage)
    load_module("sr", net, tensors)
    metadata = dict(base.metadata)
    metadata["superres_training"] = json.dumps(
        {"steps": meta["step"], "train_config": json.loads(config.to_json())}, sort_keys=True
    )
    return save_model(base.generator, out, metadata, superres=net)
