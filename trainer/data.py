"""Training data: a folder of the user's photos turned into patches at latent-cell positions.

Users point the trainer at whatever folder they have, so every file is decoded once up front
(in DataLoader workers) and the bad ones are skipped and reported in one log line instead of
crashing a run hours later. Patches are cut from random full-image crops resized to the model's
frame; their top and left edges lie on latent-cell boundaries of that frame, and the vertical
cell is what the discriminator learns to predict.

Randomness is a pure function of (seed, sample number): a sample looks the same whichever
process or worker loads it, and a resumed run sees exactly the samples it would have seen.
"""

from __future__ import annotations

import logging
import math
import os
import signal
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from generator import BackdropError
from generator.files import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    decoded_size,
    load_linear,
    output_to_model,
    resize_linear,
)
from generator.network import ModelConfig

log = logging.getLogger("trainer.data")

LISTED_NAMES = 10
"""Bad files named in the scan's log line and error message; the rest are counted."""

# Domain tags keep the two random streams derived from one seed independent.
_ORDER_STREAM = 1
_ITEM_STREAM = 2
_SEED_MASK = (1 << 64) - 1


class DataError(BackdropError):
    """The data folder is missing, empty or holds no usable image."""


@dataclass(frozen=True)
class ImageInfo:
    """A file that decoded completely, with its size after EXIF orientation."""

    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class BadFile:
    """A skipped file and why, in a few words ("truncated", "not an image", "too small 6x6")."""

    path: Path
    reason: str


@dataclass(frozen=True)
class ScanResult:
    """What `scan_folder` found: files to train on and files skipped, both in path order."""

    folder: Path
    good: tuple[ImageInfo, ...]
    bad: tuple[BadFile, ...]

    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the training data, stored with checkpoints and models."""
        return {
            "folder": os.path.abspath(self.folder),  # a resumed run may start elsewhere
            "images": len(self.good),
            "skipped": len(self.bad),
        }


# --- Finding files -----------------------------------------------------------------


def find_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under `folder` by extension, recursively, sorted; hidden entries are skipped."""
    root = Path(folder)
    if not root.exists():
        raise DataError(f"data folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"data path is not a folder: {root}")

    def unreadable(error: OSError) -> None:
        raise DataError(f"cannot read folder {error.filename}: {error.strerror}")

    found = []
    for current, folders, files in os.walk(root, onerror=unreadable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found.extend(
            Path(current, name)
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS
        )
    return sorted(found)


# --- Scanning a folder --------------------------------------------------------------------------


class _DecodeCheck(Dataset):
    """Decodes one file per item in a worker and returns only what the scan needs."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[str, bool, str, int, int]:
        path = self.files[index]
        try:
            height, width = decoded_size(path)
        except ImageReadError as error:
            return str(path), False, error.reason, 0, 0
        return str(path), True, "", width, height


def _as_is(item: tuple[str, bool, str, int, int]) -> tuple[str, bool, str, int, int]:
    return item


def scan_folder(
    folder: str | os.PathLike[str],
    min_side: int,
    workers: int,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ScanResult:
    """Decode every image once and sort the folder into usable files and skipped ones.

    Truncated JPEGs only fail on a full decode, so nothing less would do. Skipped files are
    logged in one line; a folder with no usable image raises DataError. `progress(done, total)`
    is called after each file.
    """
    root = Path(folder)
    files = find_images(root)
    if not files:
        extensions = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise DataError(f"no images in {root} (looked for {extensions}, in subfolders too)")
    loader = DataLoader(
        _DecodeCheck(files),
        batch_size=None,
        num_workers=workers,
        collate_fn=_as_is,
        generator=torch.Generator(),  # its seed draw must not touch the global RNG
    )
    good, bad = [], []
    for done, (name, ok, reason, width, height) in enumerate(loader, 1):
        path = Path(name)
        if ok and min(width, height) < min_side:
            ok, reason = False, f"too small {width}x{height}"
        if ok:
            good.append(ImageInfo(path, width, height))
        else:
            bad.append(BadFile(path, reason))
        if progress is not None:
            progress(done, len(files))
    result = ScanResult(root, tuple(good), tuple(bad))
    listed = _list_bad(result)
    if not good:
        raise DataError(f"no usable images in {root}: {listed}")
    if bad:
        log.warning("skipped %d of %d images in %s: %s", len(bad), len(files), root, listed)
    else:
        log.info("using all %d images in %s", len(good), root)
    return result


def _list_bad(result: ScanResult) -> str:
    names = [
        f"{bad.path.relative_to(result.folder).as_posix()} ({bad.reason})"
        for bad in result.bad[:LISTED_NAMES]
    ]
    if len(result.bad) > LISTED_NAMES:
        names.append(f"and {len(result.bad) - LISTED_NAMES} more")
    return ", ".join(names)


# --- Patches ------------------------------------------------------------------------------------


class PatchDataset(Dataset):
    """Patches in the model's colour space with the latent cell of their top-left corner.

    Item `key` uses image ``key % len(files)`` and random numbers seeded by ``(seed, key)``;
    `make_loader` hands out keys that are unique over a whole run. Photos: a random crop with
    the frame's aspect ratio covering a random fraction (`crop_scale`) of the largest such crop,
    resized to the frame. Equirect panoramas span 360 degrees across their width and fill the
    frame's rows for the elevations they cover: a 2:1 image is the whole sphere; a wider one
    (an upper-hemisphere sky box is 4:1) covers 360 * height / width degrees downwards from
    elevation ``panorama_top``, and its patches come only from those rows. Panoramas are shifted
    circularly by whole latent cells (they are periodic). Horizon bands (``bands``, the images
    ``tools/horizon_bands.py`` writes, their horizon at the middle row) are not cropped: each is
    taken at its own scale (resized to the frame's height if it is not that high already), so
    its rows are the frame's rows and the vertical position is the elevation; a band that goes
    all the way round at the model's scale (``ModelConfig.degrees_per_pixel``: 22.5 times as
    wide as high for the bands' 16 degrees) is shifted circularly by whole cells, so its
    patches cross its seam as they cross any other column. Then an optional horizontal flip, and a
    patch at a random cell-aligned position. Each item is ``{"patch": (C, patch, patch)
    float32, "top": int64, "left": int64}`` with top/left in latent cells of the frame; C is 4
    for a model with alpha (the files' alpha kept as coverage, ``ModelConfig.alpha``), else 3.
    """

    def __init__(
        self,
        files: Sequence[ImageInfo | str | os.PathLike[str]],
        config: ModelConfig,
        patch: int,
        *,
        equirect: bool = False,
        bands: bool = False,
        panorama_top: float = 90.0,
        hflip: bool = False,
        crop_scale: tuple[float, float] = (0.5, 1.0),
        seed: int = 0,
        cache_mb: float = 1536.0,
    ) -> None:
        ppc = config.pixels_per_cell
        frame = config.native_frame
        if not files:
            raise ValueError("PatchDataset needs at least one image")
        if patch < ppc or patch % ppc or patch > min(frame):
            raise ValueError(
                f"patch must be a multiple of {ppc} px between {ppc} and {min(frame)}, got {patch}"
            )
        low, high = crop_scale
        if not 0 < low <= high <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {crop_scale}")
        self.files = [Path(f.path if isinstance(f, ImageInfo) else f) for f in files]
        self.config = config
        self.patch = patch
        self.equirect = equirect
        self.bands = bands
        if bands and equirect:
            raise ValueError("horizon bands are not equirect panoramas: choose one")
        if not -90.0 <= panorama_top <= 90.0:
            raise ValueError(f"panorama_top must be an elevation in [-90, 90], got {panorama_top}")
        self.panorama_top = float(panorama_top)
        self.hflip = hflip
        self.crop_scale = (float(low), float(high))
        self.seed = seed
        self.frame = frame
        self.cache_bytes = int(cache_mb * 2**20)
        self._max_top = config.native_height - patch // ppc
        self._max_left = config.native_width - patch // ppc
        self._reset_process_state()

    def _reset_process_state(self) -> None:
        self._cache: OrderedDict[int, tuple[torch.Tensor, int, bool]] = OrderedDict()
        self._failed: set[int] = set()

    def __getstate__(self) -> dict[str, Any]:
        """Workers started by pickling build their own cache instead of copying ours."""
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed & _SEED_MASK, _ITEM_STREAM, int(key)])
        source, first_row, wraps = self._source(int(key) % len(self.files))
        ppc = self.config.pixels_per_cell
        max_left = self._max_left
        if self.equirect:
            shift = int(rng.integers(self.config.native_width)) * ppc
            frame = torch.roll(source, shift, dims=2)
            max_top = source.shape[1] // ppc - self.patch // ppc
        elif self.bands:
            frame = source
            if wraps:
                frame = torch.roll(source, int(rng.integers(source.shape[2] // ppc)) * ppc, dims=2)
            max_top = self._max_top
            max_left = source.shape[2] // ppc - self.patch // ppc
        else:
            frame = self._random_crop(source, rng)
            max_top = self._max_top
        if self.hflip and rng.random() < 0.5:
            frame = frame.flip(2)
        top = int(rng.integers(max_top + 1))
        left = int(rng.integers(max_left + 1))
        y, x = top * ppc, left * ppc
        top += first_row
        patch = frame[:, y : y + self.patch, x : x + self.patch]
        return {
            "patch": torch.from_numpy(output_to_model(patch.numpy(), self.config, axis=0)),
            "top": torch.tensor(top, dtype=torch.int64),
            "left": torch.tensor(left, dtype=torch.int64),
        }

    def _random_crop(self, source: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        _, height, width = source.shape
        frame_h, frame_w = self.frame
        if width * frame_h > height * frame_w:  # wider than the frame: full height
            full_h, full_w = height, height * frame_w / frame_h
        else:
            full_h, full_w = width * frame_h / frame_w, width
        side = math.sqrt(rng.uniform(*self.crop_scale))
        crop_h = min(height, max(1, round(full_h * side)))
        crop_w = min(width, max(1, round(full_w * side)))
        y = int(rng.integers(height - crop_h + 1))
        x = int(rng.integers(width - crop_w + 1))
        return resize_linear(source[:, y : y + crop_h, x : x + crop_w], self.frame)

    def _source(self, index: int) -> tuple[torch.Tensor, int, bool]:
        """The image to crop from, (C, h, w) linear, the frame's cell row of its first row (0
        except for partial panoramas) and whether it is a horizon band that goes all the way
        round; a file that fails now is skipped for good."""
        for step in range(len(self.files)):
            candidate = (index + step) % len(self.files)
            if candidate in self._failed:
                continue
            try:
                return self._cached(candidate)
            except ImageReadError as error:
                self._failed.add(candidate)
                log.warning("skipping %s from now on: %s", self.files[candidate], error.reason)
        raise DataError(f"none of the {len(self.files)} training images can be read any more")

    def _cached(self, index: int) -> tuple[torch.Tensor, int, bool]:
        """Decoded images stay in a per-process LRU cache (crops are drawn afterwards).

        Photos are kept at twice the frame's size (enough detail for crops down to a quarter of
        the area), panoramas at the frame's scale. The default size holds ~500 photos for a
        256-px frame: a data set that does not fit is decoded again for nearly every sample.
        """
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        frame_h, frame_w = self.frame
        box = (1, frame_w) if self.equirect else (2 * frame_h, 2 * frame_w)
        pixels = load_linear(
            self.files[index], cover=None if self.bands else box, alpha=self.config.alpha
        )
        source = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
        first_row, wraps = 0, False
        if self.equirect:
            first_row, rows = self._panorama_rows(*source.shape[1:])
            source = resize_linear(source, (rows * self.config.pixels_per_cell, frame_w))
        elif self.bands:
            height, width = source.shape[1:]
            span = width * frame_h / height * self.config.degrees_per_pixel
            wraps = abs(span - 360.0) < 0.5 * self.config.degrees_per_pixel
            ppc = self.config.pixels_per_cell
            cells = max(self.patch // ppc, round(width * frame_h / height / ppc))
            source = resize_linear(source, (frame_h, cells * ppc))
        self._cache[index] = source, first_row, wraps
        while (
            len(self._cache) > 1
            and sum(t.nbytes for t, _, _ in self._cache.values()) > self.cache_bytes
        ):
            self._cache.popitem(last=False)
        return source, first_row, wraps

    def _panorama_rows(self, height: int, width: int) -> tuple[int, int]:
        """(first cell row in the frame, cell rows) that a panorama of this size covers."""
        cells = self.config.native_height
        rows = round(2 * cells * height / width)
        rows = min(cells, max(self.patch // self.config.pixels_per_cell, rows))
        first = round((90.0 - self.panorama_top) / 180.0 * cells)
        return min(first, cells - rows), rows


# --- Loading ------------------------------------------------------------------------------------


class SampleStream(Sampler[int]):
    """Endless item keys for one process: sample k of the run goes to process ``k % world``.

    The run's samples go through the images in epochs, each a fresh permutation seeded by
    ``(seed, epoch)``. Key ``k * images + image`` names both the image and the sample number, so
    a loader started at sample `start` continues a run exactly, on any number of workers.
    """

    def __init__(
        self, images: int, seed: int, *, start: int = 0, rank: int = 0, world: int = 1
    ) -> None:
        if images < 1:
            raise ValueError("SampleStream needs at least one image")
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, world), got rank {rank} of {world}")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.images = images
        self.seed = seed
        self.start = start
        self.rank = rank
        self.world = world

    def __iter__(self) -> Iterator[int]:
        sample = self.start + self.rank
        epoch, order = -1, np.empty(0, dtype=np.int64)
        while True:
            current, position = divmod(sample, self.images)
            if current != epoch:
                epoch = current
                seeds = [self.seed & _SEED_MASK, _ORDER_STREAM, epoch]
                order = np.random.default_rng(seeds).permutation(self.images)
            yield sample * self.images + int(order[position])
            sample += self.world


def make_loader(
    dataset: PatchDataset,
    batch_size: int,
    workers: int,
    seed: int,
    *,
    start: int = 0,
    rank: int = 0,
    world: int = 1,
) -> DataLoader:
    """An endless loader of batches for process `rank` of `world`.

    `start` is the number of samples the whole run (all processes) has already used: a resumed
    run passes ``step * global_batch`` and sees exactly what it would have seen. Processes take
    disjoint samples; together one step's batches are samples ``[start, start + global_batch)``.
    Iterate it with ``next``: it never ends, and ``len`` is undefined.
    """
    sampler = SampleStream(len(dataset), seed, start=start, rank=rank, world=world)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
        generator=torch.Generator().manual_seed(seed),  # keeps the global RNG untouched
        worker_init_fn=_leave_stopping_to_the_main_process,
    )


def stop_workers(batches: Iterator) -> None:
    """End a loader iterator's worker processes now.

    Left to garbage collection, a loader that an error unwinds past (its frames kept alive by
    the traceback) keeps its workers, and the interpreter's exit then waits on them for ever.
    ``_shutdown_workers`` is PyTorch's own clean shutdown; an in-process loader has none.
    """
    shutdown = getattr(batches, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()


def _leave_stopping_to_the_main_process(worker_id: int) -> None:
    """Ctrl-C, and schedulers that send SIGTERM to a whole process group, reach the workers too;
    they ignore it so the main process can checkpoint and stop them itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def center_frame(pixels: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """The largest centred crop of ``pixels`` (h, w, 3) with the frame's aspect, resized to
    ``frame`` (height, width): how a whole photo is compared with a generated frame."""
    height, width = pixels.shape[:2]
    frame_h, frame_w = frame
    crop_h, crop_w = (
        min(height, round(width * frame_h / frame_w)),
        min(width, round(height * frame_w / frame_h)),
    )
    y, x = (height - crop_h) // 2, (width - crop_w) // 2
    tensor = torch.from_numpy(
        np.ascontiguousarray(pixels[y : y + crop_h, x : x + crop_w].transpose(2, 0, 1))
    )
    return resize_linear(tensor, frame).permute(1, 2, 0).contiguous().numpy()


def upper_hemisphere(pixels: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """The upper hemisphere (zenith to horizon, all 360 degrees) of an equirect panorama
    (h, w, 3), resized to (frame height / 2, frame width): what whole-sphere panoramas and
    upper-hemisphere sky boxes (wider than 2:1, starting at the zenith) have in common."""
    height, width = pixels.shape[:2]
    frame_h, frame_w = frame
    rows = min(frame_h, max(frame_h // 2, round(2 * frame_h * height / width)))
    tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    return (
        resize_linear(tensor, (rows, frame_w))[:, : frame_h // 2]
        .permute(1, 2, 0)
        .contiguous()
        .numpy()
    )
