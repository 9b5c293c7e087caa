"""Measured quality of a model (``python -m trainer evaluate``).

- KID: the kernel inception distance of generated frames to the reserved ones (``trainer.kid``:
  unbiased, so meaningful for a few dozen frames), at 1x and at ``wide`` x, with its spread over
  subsets, beside that of the training photos; FID too from 2,000 frames on each side.
- SWD: sliced Wasserstein distance between 7x7 neighbourhoods of Laplacian pyramids (Karras et al.,
  Progressive GAN), generated vs reserved real frames, as a ratio to the SWD between as many
  training photos and the same reserved ones (1.0 = as close as real photos of the same places;
  equal counts, because the SWD of finite sets is biased by their size). Measured at
  the native frame and at ``wide`` x the field of view (a canvas ``wide`` times larger in both
  directions, downsampled to the frame, as InfinityGAN's ScaleInv FID does).
- Seam energy: pixel differences across tile borders / across other latent-cell borders
  (1.00 = no seam).
- Wrap seam: the difference across a wrapped canvas's seam / elsewhere.
- Poles: spread of the first and last rows of an equirect sky (0 = constant) and the mean
  row-to-row change in the caps relative to the horizon band's.
- Repetition: the highest autocorrelation of a wide strip at shifts beyond an eighth of a frame
  (1 = it repeats exactly, ~0 = no repetition).
- Seams, wrap seam, poles and repetition are each the mean over ``canvases`` canvases (seeds).
- HDR range (HDR models): stops between the median and the 99.9th percentile, and between the
  median and the brightest pixel, of equirect skies at twice the native width, without and with
  a sun (``generator.rendering.sun``), next to the reserved HDR panoramas' own figures.

All images are compared in a tone-mapped display space, so LDR and HDR models are measured alike.
Sky models whose frame is the whole sphere are compared on the upper hemisphere (zenith to
horizon, 360 degrees), the part every sky panorama has, including upper-hemisphere sky boxes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from generator import ModelError
from generator.files import LoadedModel, Sun, linear_to_srgb, load_linear, new_recipe, read_image
from generator.rendering import add_sun, render_array
from trainer.data import center_frame, scan_folder, upper_hemisphere
from trainer.kid import FID_MIN_SAMPLES, fid, inception_features, kid
from trainer.losses import laplacian_levels

PYRAMID_LEVELS = 4
DESCRIPTORS_PER_IMAGE = 128
PATCH = 7
PROJECTIONS = 256
REPEATS = 4
REFERENCE_DRAWS = 16
"""Random sets of training frames the reference SWD is averaged over. Sets of 128 terrain
photos measured 0.035-0.077 (sets of 32: 0.050-0.163), so means of 4 still varied by 15%."""
HDR_SUN = Sun(azimuth=0.0, elevation=35.0)
HDR_FILES = (".exr",)
"""The HDR format the project reads (``generator.files.imagefile.read_image``)."""


def display(linear: np.ndarray) -> np.ndarray:
    """Linear light to a tone-mapped [0, 1] display space (Reinhard, then sRGB)."""
    linear = np.maximum(linear, 0.0)
    return linear_to_srgb(linear / (1.0 + linear))


def laplacian_pyramid(images: np.ndarray, levels: int = PYRAMID_LEVELS) -> list[torch.Tensor]:
    """(N, h, w, 3) images to ``levels`` band-pass levels, finest first, then the low-pass rest."""
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float()
    return laplacian_levels(x, levels)


def _descriptors(level: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random 7x7 neighbourhoods of one pyramid level, (N * DESCRIPTORS_PER_IMAGE, 3, 49)."""
    n, c, h, w = level.shape
    if h < PATCH or w < PATCH:
        return torch.empty(0, c, PATCH * PATCH)
    ys = rng.integers(0, h - PATCH + 1, (n, DESCRIPTORS_PER_IMAGE))
    xs = rng.integers(0, w - PATCH + 1, (n, DESCRIPTORS_PER_IMAGE))
    patches = level.unfold(2, PATCH, 1).unfold(3, PATCH, 1)  # (n, c, h', w', 7, 7)
    picked = patches[torch.arange(n)[:, None], :, torch.from_numpy(ys), torch.from_numpy(xs)]
    return picked.reshape(n * DESCRIPTORS_PER_IMAGE, c, PATCH * PATCH)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, rng: np.random.Generator) -> float:
    """Mean over random unit projections of the 1-D Wasserstein distance of the projections."""
    count = min(len(a), len(b))
    a = a[torch.from_numpy(rng.permutation(len(a))[:count])]
    b = b[torch.from_numpy(rng.permutation(len(b))[:count])]
    total = 0.0
    for _ in range(REPEATS):
        directions = torch.from_numpy(rng.standard_normal((a.shape[1], PROJECTIONS))).float()
        directions /= directions.norm(dim=0, keepdim=True)
        pa, _ = (a @ directions).sort(dim=0)
        pb, _ = (b @ directions).sort(dim=0)
        total += (pa - pb).abs().mean().item()
    return total / REPEATS


def swd(
    images: np.ndarray,
    reference: np.ndarray,
    seed: int = 0,
    levels: Sequence[int] | None = None,
) -> float:
    """SWD between (N, h, w, 3) display-space images and a reference set, mean over pyramid
    levels (all, or the given ones: 0 is the finest band-pass level).

    Descriptors of both sets are normalised per channel with the *reference's* statistics
    (Progressive GAN normalises each set by its own, which hides differences of contrast).
    """
    rng = np.random.default_rng(seed)
    distances = []
    pairs = list(zip(laplacian_pyramid(images), laplacian_pyramid(reference), strict=True))
    for index, (level, ref_level) in enumerate(pairs):
        if levels is not None and index not in levels:
            continue
        desc, ref = _descriptors(level, rng), _descriptors(ref_level, rng)
        if not len(desc) or not len(ref):
            continue
        mean, std = ref.mean(dim=(0, 2), keepdim=True), ref.std(dim=(0, 2), keepdim=True) + 1e-8
        desc, ref = ((d - mean) / std for d in (desc, ref))
        distances.append(sliced_wasserstein(desc.flatten(1), ref.flatten(1), rng))
    return float(np.mean(distances))


def reference_swds(
    train: np.ndarray,
    reference: np.ndarray,
    count: int,
    seed: int = 0,
    levels: Sequence[int] | None = None,
) -> np.ndarray:
    """SWDs between REFERENCE_DRAWS random sets of ``count`` training frames and the reference.

    The SWD of two finite sets is biased upwards, the more so the fewer frames they hold (at
    the low-pass level one frame's colour is one draw of the distribution). A ratio of SWDs is
    therefore only fair when both sides compare as many frames: ``count`` is the number of
    generated frames. (All 412 training textures against 83 reserved ones measure 0.040; sets
    of 16 measure 0.094, what 16 frames as good as photos would score.) The draws also differ
    from each other as much as sets of generated frames do, so their spread says which ratios
    are within noise.
    """
    if len(train) <= count:
        return np.array([swd(train, reference, seed=seed, levels=levels)])
    rng = np.random.default_rng(seed)
    return np.array(
        [
            swd(train[rng.permutation(len(train))[:count]], reference, seed + draw, levels)
            for draw in range(REFERENCE_DRAWS)
        ]
    )


def reference_swd(
    train: np.ndarray,
    reference: np.ndarray,
    count: int,
    seed: int = 0,
    levels: Sequence[int] | None = None,
) -> float:
    """The mean of ``reference_swds``: the SWD ``count`` frames as good as photos score."""
    return float(np.mean(reference_swds(train, reference, count, seed, levels)))


def seam_ratio(image: np.ndarray, period: int, cell: int, axis: int, phase: int = 0) -> float:
    """Mean |difference| across tile borders / across the other latent-cell borders.

    Borders lie between pixels p and p + 1 where (p + 1 - phase) is a multiple of ``period``;
    comparing with other cell borders (multiples of ``cell``) cancels the texture's own
    per-cell structure, so only a real seam moves the ratio away from 1.
    """
    diff = np.abs(np.diff(image, axis=axis)).mean(axis=tuple(i for i in range(3) if i != axis))
    position = np.arange(1, len(diff) + 1) - phase
    border = position % period == 0
    control = (position % cell == 0) & ~border
    if not border.any() or not control.any():
        return float("nan")
    return float(diff[border].mean() / max(diff[control].mean(), 1e-12))


def wrap_seam_ratio(image: np.ndarray) -> float:
    """|last column - first column| / mean |column-to-column difference| of a wrapped canvas."""
    inner = np.abs(np.diff(image, axis=1)).mean()
    return float(np.abs(image[:, -1] - image[:, 0]).mean() / max(inner, 1e-12))


def repetition(strip: np.ndarray, min_shift: int) -> float:
    """Highest normalised autocorrelation of a wide strip along x, for shifts >= ``min_shift``."""
    gray = strip.mean(axis=2)
    gray = gray - gray.mean(axis=1, keepdims=True)
    width = gray.shape[1]
    spectrum = np.fft.rfft(gray, n=2 * width, axis=1)
    corr = np.fft.irfft(spectrum * np.conj(spectrum), axis=1)[:, :width].sum(axis=0)
    overlap = width - np.arange(width)  # unbiased: divide by how many pairs each shift has
    corr = corr / overlap
    upper = width // 2  # keep at least half the strip in every comparison
    return float(corr[min_shift:upper].max() / max(corr[0], 1e-12))


def detail_ratio(images: np.ndarray, real: np.ndarray) -> float:
    """Mean magnitude of the finest Laplacian level of ``images`` over that of ``real``.

    The finest level is where a too-grainy or too-blurry generator differs most from photos,
    and the largest part of the pyramid's SWD; this says in which direction."""
    generated = float(laplacian_pyramid(images)[0].abs().mean())
    return generated / max(float(laplacian_pyramid(real)[0].abs().mean()), 1e-12)


@dataclass
class Report:
    swd_1x: float
    swd_wide: float
    swd_real: float
    swd_ratio_1x: float
    swd_ratio_wide: float
    wide: int
    seam_x: float
    seam_y: float
    wrap_seam: float
    pole_spread: float
    pole_smoothness: float
    repetition: float
    samples: int
    canvases: int
    """Canvases (seeds) the seam, wrap, pole and repetition figures are the mean of: one
    canvas's wrap column alone sat anywhere between the 19th and 96th percentile of its column
    pairs."""
    first_seed: int = 0
    """Seed of the first generated frame; frames are seeds first_seed .. first_seed + samples - 1.
    On 32 frames the terrain's 1x ratio ranged 1.1-3.7 between seed sets: compare sets."""
    detail_1x: float = float("nan")
    detail_wide: float = float("nan")
    """``detail_ratio`` of the generated frames at 1x and wide: where an SWD ratio comes from."""
    swd_real_range: tuple[float, float] = (float("nan"), float("nan"))
    """The lowest and highest SWD of single sets of ``samples`` training photos, as ratios to
    their mean (the reference): what photos themselves score, i.e. the measure's noise."""
    hdr: dict[str, list[float]] | None = None
    """HDR models: [stops median -> 99.9th percentile, stops median -> brightest] for the
    generated skies, the same with a sun, and the reserved HDR panoramas."""
    kid_1x: float = float("nan")
    kid_wide: float = float("nan")
    kid_real: float = float("nan")
    """KID of the generated frames at 1x and wide, and of the training photos, to the reserved
    photos (0 = the same distribution)."""
    kid_1x_error: float = float("nan")
    kid_wide_error: float = float("nan")
    kid_real_error: float = float("nan")
    """Their standard deviations over ``trainer.kid.SUBSETS`` subsets of ``kid_subset``."""
    kid_subset: int = 0
    fid_1x: float = float("nan")
    """FID at 1x, only when there are ``trainer.kid.FID_MIN_SAMPLES`` frames on each side."""

    def _kid_lines(self) -> list[str]:
        if not self.kid_subset:
            return []  # not measured (``with_kid=False``)
        real = (
            f", training photos {self.kid_real:.4f} ± {self.kid_real_error:.4f}"
            if not math.isnan(self.kid_real)
            else ""
        )
        fid = (
            f"{self.fid_1x:.2f}"
            if not math.isnan(self.fid_1x)
            else f"n/a (needs {FID_MIN_SAMPLES:,} frames on each side)"
        )
        return [
            f"KID at 1x:                     {self.kid_1x:.4f} ± {self.kid_1x_error:.4f}"
            f"  (0 = as the reserved photos{real})",
            f"KID at {self.wide}x field of view:  {self.kid_wide:.4f} ± {self.kid_wide_error:.4f}",
            f"  ± is the standard error (subsets of {self.kid_subset} frames); FID at 1x: {fid}",
        ]

    def lines(self) -> list[str]:
        hdr = []
        for name, (p999, peak) in (self.hdr or {}).items():
            hdr.append(
                f"HDR {name + ':':24s} {p999:4.1f} stops to the 99.9th pct, {peak:4.1f} to max"
            )
        low, high = self.swd_real_range
        if not math.isnan(low):
            noise = [
                f"  sets of {self.samples} training photos score {low:.2f}-{high:.2f} of that: "
                "ratios inside this range are as good as photos"
            ]
        elif not math.isnan(self.swd_real):
            noise = [f"  (all training photos as one set: no more than {self.samples}, no spread)"]
        else:
            noise = []
        return [
            *self._kid_lines(),
            f"SWD ratio at 1x:               {self.swd_ratio_1x:.3f}  (target <= 1.5)",
            f"SWD ratio at {self.wide}x field of view: {self.swd_ratio_wide:.3f}  (target <= 2.0)",
            f"  SWD generated/real at 1x {self.swd_1x:.4f}, training/real {self.swd_real:.4f}",
            *noise,
            f"  finest detail / real's, 1x and {self.wide}x: {self.detail_1x:.2f}, "
            f"{self.detail_wide:.2f}  (1 = as real, > 1 grainy, < 1 blurry)",
            f"seam energy x, y:              {self.seam_x:.3f}, {self.seam_y:.3f}  (target 1.00)",
            f"wrap seam:                     {self.wrap_seam:.3f}  (like any column pair: ~1)",
            f"pole row spread:               {self.pole_spread:.2e}  (0 = constant)",
            f"pole smoothness:               {self.pole_smoothness:.3f}  (<= 1: caps calmer)",
            f"repetition:                    {self.repetition:.3f}  (0 = none, 1 = exact repeat)",
            *hdr,
        ]


def load_frames(
    folder: Path, frame: tuple[int, int], limit: int | None = None, *, sphere: bool = False
) -> np.ndarray:
    """Every usable photo in ``folder`` as a display-space frame (N, h, w, 3); with ``sphere``,
    every panorama's upper hemisphere (N, h / 2, w, 3)."""
    if sphere:
        scan = scan_folder(folder, min_side=8, workers=0)
        files = [info.path for info in scan.good][:limit]
        cover = (1, frame[1])
        return np.stack(
            [display(upper_hemisphere(load_linear(f, cover=cover), frame)) for f in files]
        )
    return np.stack([display(f) for f in linear_frames(folder, frame, limit)])


def linear_frames(
    folder: Path, frame: tuple[int, int], limit: int | None = None
) -> list[np.ndarray]:
    """Every usable photo in ``folder`` as a linear-light frame (centred crop, resized)."""
    files = [info.path for info in scan_folder(folder, min_side=8, workers=0).good][:limit]
    return [center_frame(load_linear(f, cover=frame), frame) for f in files]


def evaluate(
    model: LoadedModel,
    real: Path,
    train: Path | None = None,
    *,
    samples: int = 16,
    wide: int = 8,
    tile_cells: int = 7,
    canvases: int = 4,
    first_seed: int = 0,
    with_kid: bool = True,
) -> Report:
    """Measure ``model`` against reserved photos in ``real`` (training photos in ``train``),
    with frames and canvases drawn from seeds ``first_seed`` on. ``with_kid=False`` skips KID
    and FID, whose Inception network takes a fifth of a second per frame on a CPU core. A
    model with alpha is refused: every measure compares RGB frames with photos."""
    config = model.config
    if config.alpha:
        raise ModelError(
            "this is a landscape model with alpha: evaluate measures RGB models against "
            "photos (see its bands over a sky: python -m generator sky --horizon-band MODEL)"
        )
    height, width = config.native_frame
    sphere = config.sphere
    reserved = load_frames(real, (height, width), sphere=sphere)
    compared = slice(0, height // 2 if sphere else height)
    seeds = range(first_seed, first_seed + samples)
    generated = np.stack([_frame(model, width, height, seed, 1) for seed in seeds])
    zoomed = np.stack([_frame(model, width, height, seed, wide) for seed in seeds])
    swd_1x = swd(generated[:, compared], reserved)
    swd_wide = swd(zoomed[:, compared], reserved)
    training = load_frames(train, (height, width), sphere=sphere) if train else None
    draws = (
        reference_swds(training, reserved, samples) if training is not None else np.full(1, np.nan)
    )
    swd_real = float(np.mean(draws))
    kids = {}
    if with_kid:
        kids = _kids(generated[:, compared], zoomed[:, compared], reserved, training)

    canvas = [
        _canvas_measures(model, seed, tile_cells)
        for seed in range(first_seed + 1, first_seed + canvases + 1)
    ]
    return Report(
        swd_1x=swd_1x,
        swd_wide=swd_wide,
        swd_real=swd_real,
        swd_ratio_1x=swd_1x / swd_real,  # NaN without training photos, as swd_real
        swd_ratio_wide=swd_wide / swd_real,
        swd_real_range=(  # one draw when no more photos than frames: no spread to show
            (float(draws.min() / swd_real), float(draws.max() / swd_real))
            if len(draws) > 1
            else (math.nan, math.nan)
        ),
        wide=wide,
        **{key: float(np.mean([c[key] for c in canvas])) for key in canvas[0]},
        samples=samples,
        canvases=canvases,
        first_seed=first_seed,
        detail_1x=detail_ratio(generated[:, compared], reserved),
        detail_wide=detail_ratio(zoomed[:, compared], reserved),
        hdr=hdr_ranges(model, real) if config.color_space == "log" else None,
        **kids,
    )


def _kids(
    generated: np.ndarray, zoomed: np.ndarray, reserved: np.ndarray, training: np.ndarray | None
) -> dict[str, float]:
    """The Report's KID and FID fields: each set's Inception features are computed once."""
    ref = inception_features(reserved)
    sets = {"1x": generated, "wide": zoomed}
    if training is not None:
        sets["real"] = training
    features = {name: inception_features(images) for name, images in sets.items()}
    figures: dict[str, float] = {"fid_1x": fid(features["1x"], ref)}
    for name, values in features.items():
        measured = kid(values, ref)
        figures[f"kid_{name}"], figures[f"kid_{name}_error"] = measured.value, measured.error
        if name == "1x":
            figures["kid_subset"] = measured.subset
    return figures


def _canvas_measures(model: LoadedModel, seed: int, tile_cells: int) -> dict[str, float]:
    """Seams, wrap seam, poles and repetition of one set of canvases drawn with ``seed``."""
    config = model.config
    ppc = config.pixels_per_cell
    height, width = config.native_frame
    # Tiles of an odd number of cells, so borders do not coincide with the coordinate period.
    tile = tile_cells * ppc
    canvas = new_recipe(config, model.hash, 8 * width, 4 * height, seed=seed, projection="flat")
    tiled = display(render_array(model, canvas, tile=tile))
    phase_y = (canvas.top // ppc) * ppc - canvas.top  # tiles start on whole latent cells
    wrap = new_recipe(config, model.hash, 4 * width, height, seed=seed, wrap="x")
    wrapped = display(render_array(model, wrap))
    sky_canvas = new_recipe(
        config, model.hash, 2 * width, width, seed=seed, wrap="x", projection="equirect"
    )
    sky = display(render_array(model, sky_canvas))
    rows = np.abs(np.diff(sky, axis=0)).mean(axis=(1, 2))
    cap = max(1, len(rows) // 6)
    band = rows[len(rows) // 3 : 2 * len(rows) // 3].mean()
    strip = display(
        render_array(
            model, new_recipe(config, model.hash, 8 * width, height, seed=seed, projection="flat")
        )
    )
    return {
        "seam_x": seam_ratio(tiled, tile, ppc, axis=1),
        "seam_y": seam_ratio(tiled, tile, ppc, axis=0, phase=phase_y),
        "wrap_seam": wrap_seam_ratio(wrapped),
        "pole_spread": float(max(np.ptp(sky[0], axis=0).max(), np.ptp(sky[-1], axis=0).max())),
        "pole_smoothness": float(
            np.concatenate([rows[:cap], rows[-cap:]]).mean() / max(band, 1e-12)
        ),
        "repetition": repetition(strip, max(1, width // 8)),
    }


def hdr_range(linear: np.ndarray) -> tuple[float, float]:
    """Stops from the median luminance to the 99.9th percentile and to the brightest pixel."""
    luminance = np.maximum(linear[..., :3].mean(axis=-1), 1e-12)
    median = np.median(luminance)
    return float(np.log2(np.percentile(luminance, 99.9) / median)), float(
        np.log2(luminance.max() / median)
    )


def hdr_ranges(model: LoadedModel, real: Path, seeds: int = 4) -> dict[str, list[float]]:
    """``hdr_range`` of equirect skies (mean over ``seeds``), with a sun, and of real HDR files."""
    config = model.config
    width = 2 * config.native_frame[1]
    height = width // 2
    skies = [
        render_array(
            model,
            new_recipe(config, model.hash, width, height, seed=s, wrap="x", projection="equirect"),
        )
        for s in range(seeds)
    ]
    rows, cols = np.arange(height), np.arange(width)
    # the sun adds its light to the sky (generator.rendering.sun): no second render needed
    ranges = {
        "generated": [hdr_range(sky) for sky in skies],
        "generated with a sun": [
            hdr_range(add_sun(sky, HDR_SUN, rows, cols, width, height)) for sky in skies
        ],
    }
    files = sorted(p for p in real.rglob("*") if p.suffix.lower() in HDR_FILES)
    if files:
        ranges["reserved panoramas"] = [hdr_range(read_image(f)) for f in files]
    return {k: [round(float(x), 2) for x in np.mean(v, axis=0)] for k, v in ranges.items()}


def _frame(model: LoadedModel, width: int, height: int, seed: int, zoom: int) -> np.ndarray:
    """A generated frame covering ``zoom`` x the native field of view, in display space."""
    recipe = new_recipe(
        model.config, model.hash, zoom * width, zoom * height, seed=seed, projection="flat"
    )
    image = render_array(model, recipe)
    if zoom > 1:
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        image = F.avg_pool2d(tensor, zoom)[0].permute(1, 2, 0).numpy()
    return display(image)


def report_json(report: Report) -> str:
    return json.dumps(asdict(report), sort_keys=True)
