"""The training loop, readable top to bottom.

One step: a discriminator update (logistic loss + vertical-position loss on real and fake patches,
lazy R1), then a generator update (non-saturating loss + position loss + mode-seeking diversity on
zl, lazy path-length regularisation), then the moving average of G. Everything a step needs comes
from the step number and the saved state, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from generator.files import filter_premultiplied, load_model
from generator.network import Generator
from trainer import losses
from trainer.augment import augment
from trainer.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    load_module,
    load_optimizer,
    make_run_dir,
    module_tensors,
    optimizer_tensors,
    save_checkpoint,
)
from trainer.config import ConfigError, TrainConfig
from trainer.data import PatchDataset, make_loader, scan_folder, stop_workers
from trainer.discriminator import Discriminator, premultiplied
from trainer.distributed import Distributed
from trainer.export import export_run
from trainer.projected import ProjectedDiscriminator, over_backdrop, sky_backdrop
from trainer.runlock import RunLock
from trainer.samples import write_samples
from trainer.synthesis import generate_patches, patch_position

log = logging.getLogger("trainer")
LOSS_NAMES = (
    "d_loss", "g_loss", "r1", "pl", "diversity", "coord_real", "coord_fake", "layout", "color",
    "zoom", "contrast", "color_judge", "detail",
)  # fmt: skip
COLOR_PAIRS = 1024
"""Pairs of real patches whose mean colours ``color_weight`` compares with (drawn at the start)."""
COLOR_IMAGES = 32
"""Global latents per step the colour loss renders a pair of small patches for: with the
batch's 4 images a step its gradient was mostly sampling noise."""
COLOR_CELLS = 2
"""Side of those patches in latent cells (the real ones are cropped to match)."""
CONTRAST_IMAGES = 4
"""Images per accumulation round that ``contrast_weight`` renders from afar."""
CONTRAST_SIDE = 32
"""Side in px of those renders once averaged down (at most a patch), and of the real crops."""
CONTRAST_BANDS = 3
"""Band-pass levels ``contrast_weight`` compares: at ``zoom`` 8, one, two and four latent cells."""
CONTRAST_PATCHES = 512
"""Training patches the real contrast is averaged over (drawn at the start)."""
DETAIL_PATCHES = 1024
"""Training patches whose detail ``detail_weight`` compares with (drawn at the start)."""
RESUME_CHANGEABLE = frozenset(
    {"steps", "workers", "checkpoint_minutes", "sample_every", "snapshot_every", "log_every"}
)
STEP_LOSSES = tuple(name for name in LOSS_NAMES if name not in ("r1", "pl"))


@dataclass
class Models:
    generator: Generator
    discriminator: Discriminator | ProjectedDiscriminator
    ema: Generator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    pl_mean: torch.Tensor = field(default_factory=lambda: torch.zeros(()))
    source: Generator | None = None
    """The starting model's moving average, fixed: what ``layout_weight`` keeps close."""


@dataclass(frozen=True)
class StartingPoint:
    """The networks a new run begins from (``--start-from``), read once: another run's (G, its
    moving average and D) or a model file's (G's moving average only, for G and the average)."""

    settings: TrainConfig
    """What the source was trained with: the base of the new run's settings."""
    tensors: dict[str, torch.Tensor]
    """In checkpoint naming (``g.``, ``ema.``, and ``d.`` with ``pl_mean`` from a run)."""
    origin: dict
    """Provenance, recorded in the new run's checkpoint and exported model."""

    @property
    def has_discriminator(self) -> bool:
        return "pl_mean" in self.tensors


def starting_point(source: Path, preset: TrainConfig) -> StartingPoint:
    """Read ``source``: a run folder, or a model file (a bundled model's name too). A model file
    without recorded training settings takes ``preset``'s with its own model shape."""
    if (source / CHECKPOINT_NAME).is_file():
        tensors, meta = load_checkpoint(source / CHECKPOINT_NAME)
        origin = {"run": str(source), "step": meta["step"], "images": meta["images"]}
        if "started_from" in meta:
            origin["started_from"] = meta["started_from"]
        return StartingPoint(_unconstrained(TrainConfig.from_json(meta["config"])), tensors, origin)
    model = load_model(source)
    training = json.loads(model.metadata.get("training", "{}"))
    if "train_config" in training:
        settings = _unconstrained(TrainConfig.from_json(json.dumps(training["train_config"])))
    else:
        settings = dataclasses.replace(preset, model=model.config)
    # A model file holds no D: the new run's starts afresh, so it may as well be today's default.
    settings = dataclasses.replace(
        settings,
        discriminator=TrainConfig.discriminator,
        color_judge_weight=TrainConfig.color_judge_weight,
    )
    weights = model.generator.state_dict()
    tensors = {f"{net}.{key}": value for net in ("g", "ema") for key, value in weights.items()}
    origin = {"model": str(model.path), "hash": model.hash}
    origin.update({k: training[k] for k in ("steps", "images", "started_from") if k in training})
    return StartingPoint(settings, tensors, origin)


def _unconstrained(settings: TrainConfig) -> TrainConfig:
    """The source's settings without ``freeze`` and ``layout_weight``: how a fine-tune was held
    to *its* start is no rule for the next one (give them again to keep them). A new run also
    ramps its own average up (``ema_rampup``'s default) even where the source predates that."""
    return dataclasses.replace(
        settings, freeze=(), layout_weight=0.0, ema_rampup=TrainConfig.ema_rampup
    )


@dataclass
class TrainResult:
    step: int
    config: TrainConfig
    models: Models


def build_models(config: TrainConfig, device: torch.device) -> Models:
    """Fresh models (identical on every process: seeded by config.seed) and Adam optimisers.

    Learning rate and betas are adjusted for lazy regularisation as in StyleGAN2.
    """
    torch.manual_seed(config.seed)
    generator = Generator(config.model).to(device)
    discriminator = _discriminator(config).to(device)
    ema = Generator(config.model).to(device).eval().requires_grad_(False)
    ema.load_state_dict(generator.state_dict())

    def adam(parameters: list[torch.nn.Parameter], every: int | None) -> torch.optim.Optimizer:
        """``every``: steps between lazy regularisation passes (None: none)."""
        ratio = every / (every + 1) if every else 1.0
        betas = (config.betas[0] ** ratio, config.betas[1] ** ratio)
        return torch.optim.Adam(parameters, lr=config.lr * ratio, betas=betas)

    if config.color_judge:  # lazy R1 on the colour judge only: its own rate and betas
        judge = discriminator.color.parameters()
        projected = [
            p for name, p in discriminator.named_parameters() if not name.startswith("color.")
        ]
        opt_d = adam(projected, None)
        opt_d.add_param_group(adam(list(judge), config.r1_every).param_groups[0])
    else:
        opt_d = adam(list(discriminator.parameters()), config.r1_every if config.lazy_r1 else None)
    return Models(
        generator,
        discriminator,
        ema,
        adam(trainable_parameters(generator, config.freeze), config.pl_every),
        opt_d,
    )


def _discriminator(config: TrainConfig) -> Discriminator | ProjectedDiscriminator:
    """The run's D (``TrainConfig.discriminator``); the projected one's fixed random
    projections are drawn from the run's seed."""
    if config.discriminator == "projected":
        return ProjectedDiscriminator(
            config.model, config.projected_side, config.d_base_width, config.d_max_width,
            config.seed, color_judge=config.color_judge,
        )  # fmt: skip
    return Discriminator(
        config.patch, config.d_base_width, config.d_max_width, config.model.channels
    )


def trainable_parameters(generator: Generator, freeze: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """The generator's parameters outside the ``freeze`` prefixes (see ``TrainConfig.freeze``)."""
    names = [name for name, _ in generator.named_parameters()]
    unknown = [p for p in freeze if not any(_within(name, p) for name in names)]
    if unknown:
        parts = ", ".join(sorted({_part(name) for name in names}))
        raise ConfigError(f"freeze: no generator part {', '.join(unknown)}; parts are {parts}")
    trainable = [
        param for name, param in generator.named_parameters() if not _is_frozen(name, freeze)
    ]
    if not trainable:
        raise ConfigError("freeze: nothing of the generator would be left to train")
    return trainable


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _is_frozen(name: str, freeze: tuple[str, ...]) -> bool:
    return any(_within(name, prefix) for prefix in freeze)


def _part(name: str) -> str:
    """``texture.layers.3.conv.weight`` -> ``texture.layers.3``; ``mapping.net.0.weight`` ->
    ``mapping``: the units worth freezing."""
    pieces = name.split(".")
    return ".".join(pieces[:3] if pieces[0] == "texture" else pieces[:1])


def train(
    config: TrainConfig,
    data_dir: Path,
    run_dir: Path,
    *,
    resume: bool = False,
    start_from: StartingPoint | None = None,
    device: torch.device | None = None,
    show_progress: bool = True,
    hours: float | None = None,
) -> TrainResult:
    """Train until ``config.steps``, a stop signal or, with ``hours``, the end of that time
    budget, whichever comes first (each checkpoints first; a budget also writes samples at
    every checkpoint and shows the time left).

    ``start_from`` (``starting_point``) begins a new run from those networks with fresh
    optimisers: fine-tuning with other settings (a lower learning rate, a user's own photos),
    where ``resume`` must keep every setting. From a model file, D starts afresh.
    """
    dist = Distributed.from_environment()
    with contextlib.ExitStack() as cleanup:  # whatever fails, workers and locks are let go
        cleanup.push(lambda failure, *_: dist.close(finished=failure is None))
        return _train(config, data_dir, run_dir, dist, cleanup, resume, start_from, device,
                      show_progress, hours)  # fmt: skip


def _train(
    config: TrainConfig,
    data_dir: Path,
    run_dir: Path,
    dist: Distributed,
    cleanup: contextlib.ExitStack,
    resume: bool,
    start_from: StartingPoint | None,
    device: torch.device | None,
    show_progress: bool,
    hours: float | None,
) -> TrainResult:
    device = device or _default_device(dist)
    checkpoint = run_dir / CHECKPOINT_NAME
    state_tensors, meta = load_checkpoint(checkpoint) if resume else ({}, {})
    if resume:
        _check_resumable(TrainConfig.from_json(meta["config"]), config)
        origin = meta.get("started_from")
    elif start_from is not None:
        _check_shapes(start_from, config)
        origin = start_from.origin
    else:
        origin = None
    if config.layout_weight > 0 and start_from is None and not resume:
        raise ConfigError("layout_weight keeps the layout of the model a fine-tune starts from: "
                          "use it with --start-from")  # fmt: skip
    make_run_dir(run_dir)
    if dist.is_main:  # before touching its files: another trainer may be writing them
        cleanup.enter_context(RunLock(run_dir))
    if dist.is_main:  # a run killed while writing leaves its temporary file behind
        for stale in run_dir.glob(f".{CHECKPOINT_NAME}.*.partial"):
            stale.unlink()
    if config.batch % (dist.world * config.accumulate * 2):
        raise ConfigError(f"batch {config.batch} does not split into {dist.world} processes")
    rounds = config.accumulate
    micro = config.batch // dist.world // rounds

    scan = scan_folder(data_dir, min_side=config.patch, workers=config.workers)
    dataset = PatchDataset(
        scan.good, config.model, config.patch, equirect=config.equirect, bands=config.bands,
        panorama_top=config.panorama_top, hflip=config.hflip, seed=config.seed,
    )  # fmt: skip
    models = build_models(config, device)
    real_colors = _real_colors(dataset, device) if config.color_weight > 0 else None
    real_contrast = (
        _real_contrast(dataset, _contrast_side(config), device)
        if config.contrast_weight > 0
        else None
    )
    real_detail = _real_detail(dataset, config.patch, device) if config.detail_weight > 0 else None
    if config.layout_weight > 0:
        models.source = Generator(config.model).to(device).eval().requires_grad_(False)
    step = 0
    if resume:
        step = _restore(models, state_tensors, meta, dist)
    else:
        if start_from is not None:
            _load_networks(models, start_from.tensors)
            if models.source is not None:
                load_module("ema", models.source, start_from.tensors)
        torch.manual_seed(config.seed * 7919 + dist.rank + 1)  # latents differ per process
    images_per_step = config.batch
    loader = make_loader(
        dataset, micro, config.workers, config.seed, start=step * images_per_step,
        rank=dist.rank, world=dist.world,
    )  # fmt: skip
    batches = iter(loader)
    cleanup.callback(stop_workers, batches)

    stop = cleanup.enter_context(StopFlag())
    writer = cleanup.enter_context(_LossLog(run_dir / "log.csv", step)) if dist.is_main else None
    # With a time budget the bar shows the time left instead of an ETA for all the steps.
    bar = _progress_bar(step, None if hours else config.steps, show_progress and dist.is_main)
    if bar is not None:
        cleanup.callback(bar.close)
    last_checkpoint = time.monotonic()
    deadline = last_checkpoint + hours * 3600.0 if hours is not None else None
    tick = time.perf_counter()
    values = dict.fromkeys(LOSS_NAMES, 0.0)
    while step < config.steps:
        values.update(dict.fromkeys(STEP_LOSSES, 0.0))  # lazy R1/PL keep their last value
        micro_batches = [_to_device(next(batches), device) for _ in range(rounds)]

        # Discriminator: logistic loss, vertical-position loss on both real and fake patches.
        models.generator.requires_grad_(False)
        models.discriminator.requires_grad_(True)
        for real, tops, _ in micro_batches:
            target = patch_position(config.model, tops, config.patch)
            with torch.no_grad(), _autocast(config, device):
                fake, _ = generate_patches(
                    models.generator, _zg(micro, config, device), tops,
                    _random_lefts(micro, config, device), config.patch,
                )  # fmt: skip
            backdrop = _backdrop(config, micro, device)  # one for the real and the fake
            with _autocast(config, device):
                real_logits, real_pos = models.discriminator(
                    _seen(augment(real, config.augment), backdrop)
                )
                fake_logits, fake_pos = models.discriminator(
                    _seen(augment(fake.float(), config.augment), backdrop)
                )
            d_loss = losses.d_logistic_loss(real_logits.float(), fake_logits.float())
            coord_real = losses.coordinate_loss(real_pos.float(), target)
            coord_fake = losses.coordinate_loss(fake_pos.float(), target)
            total = d_loss + config.coord_weight * (coord_real + coord_fake)
            if config.color_judge:  # the pixels as drawn: no colour transform
                judged = _color_judge_loss(models, config, real, fake.float())
                total = total + config.color_judge_weight * judged
                values["color_judge"] += judged.item() / rounds
            if config.zoom_weight > 0:  # a fake of no frame position: D's logit only
                zoom_logits = _zoomed_logits(models, config, micro, device, train_g=False)
                zoom_loss = losses.d_fake_loss(zoom_logits)
                total = total + config.zoom_weight * zoom_loss
            (total / rounds).backward()
            values["d_loss"] += d_loss.item() / rounds
            values["coord_real"] += coord_real.item() / rounds
            values["coord_fake"] += coord_fake.item() / rounds
        if config.lazy_r1 and step % config.r1_every == 0:
            values["r1"] = 0.0
            for real, _, _ in micro_batches:
                real = real.detach().requires_grad_(True)
                r1 = losses.r1_penalty(_r1_scores(models, config, real), real)
                ((config.r1_gamma / 2 * config.r1_every * r1) / rounds).backward()
                values["r1"] += r1.item() / rounds
        dist.average_gradients(models.discriminator)
        models.opt_d.step()
        models.opt_d.zero_grad(set_to_none=True)

        # Generator: non-saturating loss, position loss, diversity between paired zl.
        for param in models.opt_g.param_groups[0]["params"]:
            param.requires_grad_(True)
        models.discriminator.requires_grad_(False)
        for _, tops, _ in micro_batches:
            half = micro // 2
            zg = _zg(half, config, device).repeat(2, 1)
            lefts = _random_lefts(half, config, device).repeat(2)
            tops = tops[:half].repeat(2)
            with _autocast(config, device):
                if models.source is not None:  # the same latents and noise as below
                    with torch.no_grad(), _same_randomness(device):
                        before, _ = generate_patches(
                            models.source, zg, tops, lefts, config.patch, paired=True
                        )
                fake, zl = generate_patches(
                    models.generator, zg, tops, lefts, config.patch, paired=True
                )
                fake_logits, fake_pos = models.discriminator(
                    _seen(augment(fake, config.augment), _backdrop(config, micro, device))
                )
            fake = fake.float()
            g_loss = losses.g_nonsaturating_loss(fake_logits.float())
            coord = losses.coordinate_loss(
                fake_pos.float(), patch_position(config.model, tops, config.patch)
            )
            diversity = losses.diversity_loss(fake[:half], fake[half:], zl[:half], zl[half:])
            total = g_loss + config.coord_weight * coord + config.diversity_weight * diversity
            if config.color_judge:
                with _autocast(config, device):
                    judged = models.discriminator.color(augment(fake, _judge_policy(config)))
                total = total + config.color_judge_weight * losses.g_nonsaturating_loss(
                    judged.float()
                )
            if models.source is not None:
                layout = losses.layout_loss(fake, before.float(), config.model.pixels_per_cell)
                total = total + config.layout_weight * layout
                values["layout"] += layout.item() / rounds
            if real_detail is not None:
                detail = losses.detail_distribution_loss(premultiplied(fake), real_detail)
                total = total + config.detail_weight * detail
                values["detail"] += detail.item() / rounds
            if real_colors is not None:
                small = _color_patches(models.generator, config, device)
                color = losses.color_coverage_loss(_pair_colors(small.float()), real_colors)
                total = total + config.color_weight * color
                values["color"] += color.item() / rounds
            if config.zoom_weight > 0:
                zoom_logits = _zoomed_logits(models, config, micro, device, train_g=True)
                zoom_loss = losses.g_nonsaturating_loss(zoom_logits)
                total = total + config.zoom_weight * zoom_loss
                values["zoom"] += zoom_loss.item() / rounds
            if real_contrast is not None:
                afar = _render_from_afar(
                    models.generator, config, CONTRAST_IMAGES, _contrast_side(config), device,
                    train_g=True,
                )  # fmt: skip
                contrast = losses.contrast_loss(premultiplied(afar), real_contrast)
                total = total + config.contrast_weight * contrast
                values["contrast"] += contrast.item() / rounds
            (total / rounds).backward()
            values["g_loss"] += g_loss.item() / rounds
            values["diversity"] += diversity.item() / rounds
        if config.pl_weight > 0 and step % config.pl_every == 0:
            values["pl"] = 0.0
            for _, tops, _ in micro_batches:
                n = max(1, micro // 2)
                zg = _zg(n, config, device)
                w = models.generator.mapping(zg).detach().requires_grad_(True)
                fake, _ = generate_patches(
                    models.generator, zg, tops[:n], _random_lefts(n, config, device),
                    config.patch, w=w,
                )  # fmt: skip
                pl, models.pl_mean = losses.path_length_penalty(fake, w, models.pl_mean)
                ((config.pl_weight * config.pl_every * pl) / rounds).backward()
                values["pl"] += pl.item() / rounds
        dist.average_gradients(models.generator)
        models.opt_g.step()
        models.opt_g.zero_grad(set_to_none=True)
        step += 1
        _update_ema(models.ema, models.generator, ema_beta(config, step), config.freeze)

        if bar is not None:
            bar.update(1)
            bar.set_postfix(d=f"{values['d_loss']:.3f}", g=f"{values['g_loss']:.3f}")
        if writer is not None and (step % config.log_every == 0 or step == config.steps):
            now = time.perf_counter()
            rate = config.log_every * images_per_step / max(now - tick, 1e-9)
            tick = now
            writer.write(step, step * images_per_step, rate, values)
            if bar is not None:
                bar.set_postfix(img_s=f"{rate:.1f}", d=f"{values['d_loss']:.3f}",
                                g=f"{values['g_loss']:.3f}")  # fmt: skip
                if deadline is not None:
                    bar.set_description_str(f"{_time_left(deadline)} left", refresh=False)
        if dist.is_main and (step % config.sample_every == 0 or step == config.steps):
            write_samples(models.ema, run_dir / "samples", step)
        snapshot = config.snapshot_every and step % config.snapshot_every == 0
        due = time.monotonic() - last_checkpoint >= config.checkpoint_minutes * 60
        spent = deadline is not None and time.monotonic() >= deadline
        if dist.any(due or stop.requested or spent) or step == config.steps or snapshot:
            _save(checkpoint, config, models, step, scan.summary(), origin, dist)
            last_checkpoint = time.monotonic()
            if deadline is not None and dist.is_main:  # samples as it goes
                write_samples(models.ema, run_dir / "samples", step)
                log.info("step %d, %s left", step, _time_left(deadline))
        if snapshot and dist.is_main:
            (run_dir / "snapshots").mkdir(exist_ok=True)
            export_run(run_dir, run_dir / "snapshots" / f"step-{step:07d}.safetensors")
        if dist.any(stop.requested or spent):
            log.info("stopped at step %d; resume with --resume %s", step, run_dir)
            break
    return TrainResult(step, config, models)


def _time_left(deadline: float) -> str:
    """h:mm until ``deadline`` (``time.monotonic()`` seconds)."""
    minutes = max(0, round((deadline - time.monotonic()) / 60))
    return f"{minutes // 60}:{minutes % 60:02d}"


def _check_resumable(saved: TrainConfig, requested: TrainConfig) -> None:
    """A resumed run keeps its settings; only bookkeeping (and the length) may change."""
    changed = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if getattr(saved, f.name) != getattr(requested, f.name) and f.name not in RESUME_CHANGEABLE
    ]
    if changed:
        raise ConfigError(
            f"a resumed run keeps its settings, but {', '.join(changed)} differ from the "
            f"checkpoint; only {', '.join(sorted(RESUME_CHANGEABLE))} may change"
        )


def _default_device(dist: Distributed) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", dist.local_rank)
    return torch.device("cpu")


def _autocast(config: TrainConfig, device: torch.device):
    """bf16 autocast on CUDA GPUs that support it, and on CPUs when ``cpu_bf16`` asks for it;
    plain fp32 otherwise (bit-reproducible)."""
    if device.type == "cuda":
        enabled = config.mixed_precision and torch.cuda.is_bf16_supported()
    else:
        enabled = device.type == "cpu" and config.cpu_bf16
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _zg(batch: int, config: TrainConfig, device: torch.device) -> torch.Tensor:
    return torch.randn(batch, config.model.zg_dim, device=device)


def _random_lefts(batch: int, config: TrainConfig, device: torch.device) -> torch.Tensor:
    """Horizontal cells for fake patches: anywhere along the period (x carries no content)."""
    return torch.randint(0, max(1, round(config.model.period)), (batch,), device=device)


def _to_device(
    batch: dict, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        batch["patch"].to(device, non_blocking=True),
        batch["top"].to(device),
        batch["left"].to(device),
    )


def _same_randomness(device: torch.device):
    """Run a block, then put the random state back: what follows draws the same numbers."""
    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[device.index or 0], device_type=device.type)


def _pair_colors(patches: torch.Tensor) -> torch.Tensor:
    """Mean colour (N, 3) of each pair of patches: the halves of a paired batch share their
    global latent, so each pair says what colour that image is, not what one spot of it is.
    RGBA patches count their colour premultiplied: a transparent pixel counts as model-space 0
    (a mid grey, not black), alike in real and fake patches."""
    patches = premultiplied(patches)[:, :3]
    half = len(patches) // 2
    return (patches[:half].mean(dim=(2, 3)) + patches[half:].mean(dim=(2, 3))) / 2


def _color_patches(generator: Generator, config: TrainConfig, device: torch.device) -> torch.Tensor:
    """A pair of COLOR_CELLS-cell patches at random places for each of COLOR_IMAGES global
    latents (halves paired as in ``_pair_colors``): many images a step at a small cost."""
    model, count = config.model, 2 * COLOR_IMAGES
    zg = _zg(COLOR_IMAGES, config, device).repeat(2, 1)
    tops = torch.randint(0, model.native_height - COLOR_CELLS + 1, (count,), device=device)
    lefts = _random_lefts(count, config, device)
    with _autocast(config, device):
        patches, _ = generate_patches(
            generator, zg, tops, lefts, COLOR_CELLS * model.pixels_per_cell
        )
    return patches


def _backdrop(config: TrainConfig, count: int, device: torch.device) -> torch.Tensor | None:
    """Skies for the projected D to see an alpha model's land against (``trainer.projected``),
    or None where D sees the patches themselves (RGB models, the ``patch`` D: all 4 channels)."""
    if not (config.model.alpha and config.discriminator == "projected"):
        return None
    return sky_backdrop(count, config.patch, device)


def _seen(images: torch.Tensor, backdrop: torch.Tensor | None) -> torch.Tensor:
    """What D's main judges see: the patches, or RGBA ones over ``backdrop``."""
    return images if backdrop is None else over_backdrop(images, backdrop)


def _judge_policy(config: TrainConfig) -> tuple[str, ...]:
    """DiffAugment for the colour judge: the run's, without the colour transform."""
    return tuple(name for name in config.augment if name != "color")


def _r1_scores(models: Models, config: TrainConfig, real: torch.Tensor) -> torch.Tensor:
    """What lazy R1 regularises: the ``patch`` discriminator's logit, or the colour judge's
    mean logit over its map (the projected judges go without, ``trainer.projected``). The mean,
    as its loss averages over the map: the sum's gradient would be as many times larger as
    logits see a pixel (~25), and R1 on it ~600 times stronger; so held, the judge learnt
    next to nothing in 300 terrain steps (logits of real and fake 0.2 apart)."""
    if config.color_judge:
        return models.discriminator.color(augment(real, _judge_policy(config))).mean(dim=1)
    logits, _ = models.discriminator(augment(real, config.augment))
    return logits


def _color_judge_loss(
    models: Models, config: TrainConfig, real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """The colour judge's logistic loss on a micro-batch (``TrainConfig.color_judge_weight``)."""
    policy = _judge_policy(config)
    with _autocast(config, device=real.device):
        real_logits = models.discriminator.color(augment(real, policy))
        fake_logits = models.discriminator.color(augment(fake, policy))
    return losses.d_logistic_loss(real_logits.float(), fake_logits.float())


def _zoomed_logits(
    models: Models, config: TrainConfig, micro: int, device: torch.device, *, train_g: bool
) -> torch.Tensor:
    """D's logits (fp32) for half a micro-batch of fakes covering ``config.zoom`` x a patch's
    field of view, averaged down to the patch size (``TrainConfig.zoom_weight``), at random
    places of the frame. Without ``train_g`` (D's update) G renders them without autograd, as
    the normal fakes there, which also takes the layers' faster folded path."""
    count = max(1, micro // 2)
    zoomed = _render_from_afar(
        models.generator, config, count, config.patch, device, train_g=train_g
    )
    backdrop = _backdrop(config, count, device)
    with _autocast(config, device):
        logits, _ = models.discriminator(_seen(augment(zoomed, config.augment), backdrop))
    return logits.float()


def _render_from_afar(
    generator: Generator,
    config: TrainConfig,
    count: int,
    side: int,
    device: torch.device,
    *,
    train_g: bool,
) -> torch.Tensor:
    """``count`` renders (fp32, one global latent each, at random places of the frame) covering
    ``config.zoom`` x ``side`` px, averaged down to ``side`` px: what G lays out over tens of
    latent cells, seen from afar. RGBA renders average their colour weighted by coverage, as
    the bands are shrunk (``filter_premultiplied``), so colour under transparency is not seen."""
    tops = torch.randint(0, config.model.native_height, (count,), device=device)
    with torch.set_grad_enabled(train_g), _autocast(config, device):
        wide, _ = generate_patches(
            generator, _zg(count, config, device), tops,
            _random_lefts(count, config, device), config.zoom * side,
        )  # fmt: skip
    return _average_down(wide.float(), config.zoom)


def _average_down(images: torch.Tensor, factor: int) -> torch.Tensor:
    """``factor`` x ``factor`` means of model-space images; RGBA ones' colour premultiplied by
    the coverage clipped to [0, 1] (G's may overshoot), their alpha averaged raw as D sees it."""
    if images.shape[1] != 4:
        return F.avg_pool2d(images, factor)
    alpha = images[:, 3:]
    colour, _ = filter_premultiplied(
        images[:, :3], ((alpha + 1.0) * 0.5).clamp(0.0, 1.0), lambda x: F.avg_pool2d(x, factor)
    )
    return torch.cat([colour, F.avg_pool2d(alpha, factor)], dim=1)


def _contrast_side(config: TrainConfig) -> int:
    """Side of the contrast renders and crops: CONTRAST_SIDE, or a whole patch when smaller."""
    return min(CONTRAST_SIDE, config.patch)


def _real_contrast(dataset: PatchDataset, side: int, device: torch.device) -> torch.Tensor:
    """Mean ``losses.band_contrast`` (bands, C) of CONTRAST_PATCHES training patches cropped to
    ``side`` px: the detail photos carry at their finest scales."""
    patches = _reserved_patches(dataset, [2**40 + k for k in range(CONTRAST_PATCHES)], side)
    return losses.band_contrast(premultiplied(patches), CONTRAST_BANDS).mean(dim=0).to(device)


def _real_detail(dataset: PatchDataset, side: int, device: torch.device) -> torch.Tensor:
    """``losses.band_contrast`` (DETAIL_PATCHES, CONTRAST_BANDS, C) of training patches: the
    detail photos carry, one row per patch."""
    keys = [2**41 + k for k in range(DETAIL_PATCHES)]
    patches = premultiplied(_reserved_patches(dataset, keys, side))
    return losses.band_contrast(patches, CONTRAST_BANDS).to(device)


def _real_colors(dataset: PatchDataset, device: torch.device) -> torch.Tensor:
    """``_pair_colors`` of COLOR_PAIRS pairs of training patches cropped to COLOR_CELLS cells,
    both of a pair from one photo (keys k and k + photos: the dataset picks photo
    ``key % photos``) and the photos in turn."""
    keys = list(range(COLOR_PAIRS))
    keys += [key + len(dataset.files) for key in keys]
    patches = _reserved_patches(dataset, keys, COLOR_CELLS * dataset.config.pixels_per_cell)
    return _pair_colors(patches).to(device)


def _reserved_patches(dataset: PatchDataset, keys: list[int], side: int) -> torch.Tensor:
    """Training patches at ``keys`` counted from 2**62, cropped to ``side`` px. Those keys lie
    past any run's reach (its random numbers are seeded by key), so what a run measures on them
    at its start is the same on resume."""
    first = 2**62
    return torch.stack([dataset[first + key]["patch"][:, :side, :side] for key in keys])


def ema_beta(config: TrainConfig, step: int) -> float:
    """How much of the moving average survives step ``step`` (1-based) of this run."""
    images = step * config.batch
    half_life = config.ema_kimg * 1000.0
    if config.ema_rampup > 0:
        half_life = min(half_life, images * config.ema_rampup)
    return 0.5 ** (config.batch / max(half_life, 1e-8))


@torch.no_grad()
def _update_ema(ema: Generator, generator: Generator, beta: float, freeze: tuple[str, ...]) -> None:
    """Frozen parts keep their average too, so an export carries the source's own frozen parts."""
    pairs = zip(ema.named_parameters(), generator.parameters(), strict=True)
    for (name, p_ema), p in pairs:
        if not _is_frozen(name, freeze):
            p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), generator.buffers(), strict=True):
        b_ema.copy_(b)


def _save(
    path: Path,
    config: TrainConfig,
    models: Models,
    step: int,
    data: dict,
    origin: dict | None,
    dist: Distributed,
) -> None:
    rng_states = dist.gather(torch.get_rng_state())
    if not dist.is_main:
        return
    tensors = {}
    tensors.update(module_tensors("g", models.generator))
    tensors.update(module_tensors("d", models.discriminator))
    tensors.update(module_tensors("ema", models.ema))
    if models.source is not None:
        tensors.update(module_tensors("source", models.source))
    opt_g, groups_g = optimizer_tensors("opt_g", models.opt_g)
    opt_d, groups_d = optimizer_tensors("opt_d", models.opt_d)
    tensors.update(opt_g)
    tensors.update(opt_d)
    tensors["pl_mean"] = models.pl_mean.reshape(())
    for rank, state in enumerate(rng_states):
        tensors[f"rng.{rank}"] = state
    if torch.cuda.is_available():
        tensors["rng_cuda.0"] = torch.cuda.get_rng_state()
    meta = {
        "config": config.to_json(),
        "step": step,
        "images": step * config.batch,
        "world": dist.world,
        "opt_g_groups": groups_g,
        "opt_d_groups": groups_d,
        "data": data,
    }
    if origin is not None:
        meta["started_from"] = origin
    save_checkpoint(path, tensors, meta)


def _check_shapes(start: StartingPoint, config: TrainConfig) -> None:
    """The new run's networks must have the shapes of those it starts from."""
    shaped = ("model", "patch", "discriminator", "projected_side", "d_base_width", "d_max_width",
              "color_judge")  # fmt: skip
    fixed = shaped if start.has_discriminator else ("model",)
    differ = [name for name in fixed if getattr(start.settings, name) != getattr(config, name)]
    differ = ["color_judge_weight (0 or not)" if n == "color_judge" else n for n in differ]
    if differ:
        source = start.origin.get("run") or start.origin["model"]
        raise ConfigError(
            f"cannot start from {source}: its {', '.join(differ)} differ from this run's (the "
            "networks must have the same shapes; leave those settings as they are)"
        )


def _load_networks(models: Models, tensors: dict) -> None:
    """G and its moving average, and D and the path-length mean where ``tensors`` hold them
    (a checkpoint does; a model file's ``StartingPoint`` does not)."""
    load_module("g", models.generator, tensors)
    load_module("ema", models.ema, tensors)
    if "pl_mean" in tensors:
        load_module("d", models.discriminator, tensors)
        models.pl_mean = tensors["pl_mean"].to(models.pl_mean.device)


def _restore(models: Models, tensors: dict, meta: dict, dist: Distributed) -> int:
    _load_networks(models, tensors)
    load_optimizer("opt_g", models.opt_g, tensors, meta["opt_g_groups"])
    if models.source is not None:
        load_module("source", models.source, tensors)
    load_optimizer("opt_d", models.opt_d, tensors, meta["opt_d_groups"])
    state = tensors.get(f"rng.{dist.rank}")
    if state is None:
        raise ConfigError(
            f"the checkpoint was written by {meta['world']} processes, not {dist.world}"
        )
    torch.set_rng_state(state)
    if torch.cuda.is_available() and "rng_cuda.0" in tensors:
        torch.cuda.set_rng_state(tensors["rng_cuda.0"])
    return int(meta["step"])


class StopFlag:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop after the current step; a second one
    stops at once (``KeyboardInterrupt``), so a stuck step can always be ended."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: the caller stops us
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def __enter__(self) -> StopFlag:
        return self

    def __exit__(self, *exc) -> None:
        self.restore()


class _LossLog:
    """CSV log of losses and throughput, appended across resumes.

    Rows logged after the checkpoint a run resumes from are dropped: those steps run again. A log
    cut short by a kill (empty, no header, a half-written last row) is mended, never fatal.
    """

    def __init__(self, path: Path, resumed_step: int) -> None:
        header, rows = _read_log(path)
        self._names = LOSS_NAMES if header is None else header[3:]  # a run's columns stay its own
        width = len(self._names) + 3
        kept = [fields for step, fields in rows if len(fields) == width and step <= resumed_step]
        mended = io.StringIO()
        csv.writer(mended).writerows([["step", "images", "images_per_s", *self._names], *kept])
        partial = path.with_name(f".{path.name}.partial")  # a kill now keeps the old log
        partial.write_text(mended.getvalue(), encoding="utf-8", newline="")
        partial.replace(path)  # a run killed before its first row still leaves a valid log
        self._file = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._file)

    def write(self, step: int, images: int, rate: float, values: dict[str, float]) -> None:
        self._csv.writerow(
            [step, images, f"{rate:.2f}", *(f"{values[k]:.5f}" for k in self._names)]
        )
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _LossLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_log(path: Path) -> tuple[tuple[str, ...] | None, list[tuple[int, list[str]]]]:
    """The header and the complete rows (step, fields) of a log, skipping what a kill cut off."""
    if not path.exists():
        return None, []
    text = path.read_text(encoding="utf-8", errors="replace")
    complete = text[: text.rfind("\n") + 1]  # a row without its newline was cut off
    lines = list(csv.reader(complete.splitlines()))
    if not lines or lines[0][:3] != ["step", "images", "images_per_s"]:
        return None, []
    rows = []
    for fields in lines[1:]:
        with contextlib.suppress(ValueError, IndexError):
            rows.append((int(fields[0]), fields))
    return tuple(lines[0]), rows


def _progress_bar(step: int, total: int | None, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=step, unit="step", dynamic_ncols=True)
