"""Several processes rendering one canvas: ``torchrun --nproc_per_node=N -m generator render ...``.

Every process builds the same renderer (the tile plan depends only on the model, the
recipe and the memory budget, never on the machine's free memory), renders the row bands
``rank, rank + N, rank + 2N, ...`` and sends them to rank 0 over gloo; rank 0 renders its own
bands and writes all of them in order into the one streamed file. A tile's pixels do not depend on
which process computed it, so the file is byte-identical to a single-process render with the same
per-process thread count (torchrun sets OMP_NUM_THREADS=1 unless it is given): on CPUs, float32
convolutions can round differently with another thread count (~3e-7), which a 32-bit float file
would show.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from generator.files.imagefile import band_dither, open_image_writer
from generator.files.modelfile import LoadedModel
from generator.files.recipe import RECIPE_KEY, Recipe
from generator.rendering.output import SOFTWARE, image_place, with_precision
from generator.rendering.pick import make_renderer
from generator.rendering.render import CancelFn, ProgressFn

IN_FLIGHT = 2
"""Bands a worker may have sent and rank 0 not yet received (bounds a worker's memory)."""


def world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when alone."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1, 0
    return int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0"))


def local_device(device: torch.device) -> torch.device:
    """One GPU per process on a multi-GPU node (CUDA's LOCAL_RANK), else the device as asked."""
    _rank, size, local = world()
    if size > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", local % max(1, torch.cuda.device_count()))
    return device


@contextlib.contextmanager
def process_group():
    """The gloo group of a torchrun launch (bands travel as CPU arrays, whatever the device)."""
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("gloo")
    try:
        yield
    finally:
        if created:
            dist.destroy_process_group()


def render_to_file_parallel(
    model: LoadedModel,
    recipe: Recipe,
    path: str | os.PathLike,
    *,
    bit_depth: int | None = None,
    tile: int | None = None,
    batch: int | None = None,
    precision: str | None = None,
    memory_budget_mib: float | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Path | None:
    """Render with every process of the group; rank 0 writes ``path`` and returns it, the others
    return None. Inside a torchrun launch (see ``process_group``)."""
    rank, size = dist.get_rank(), dist.get_world_size()
    recipe = with_precision(recipe, precision)
    renderer = make_renderer(
        model, recipe, tile=tile, batch=batch, memory_budget_mib=memory_budget_mib
    )
    if rank != 0:
        pending: deque = deque()
        for index in range(rank, renderer.band_count, size):
            band = np.ascontiguousarray(renderer.render_band(index, cancel))
            pending.append((dist.isend(torch.from_numpy(band), dst=0), band))
            while len(pending) > IN_FLIGHT:
                pending.popleft()[0].wait()
        for request, _ in pending:
            request.wait()
        return None
    height, width, channels = renderer.output_shape
    metadata = {RECIPE_KEY: recipe.to_json(), "Software": SOFTWARE}
    per_band = renderer.tiles_per_band
    done, total = 0, renderer.total_tiles
    top, columns = image_place(recipe)
    with open_image_writer(
        path, width, height, bit_depth=bit_depth, metadata=metadata, alpha=channels == 4
    ) as writer:
        for index in range(renderer.band_count):
            owner = index % size
            if owner == 0:
                band = renderer.render_band(index, cancel)
            else:
                band = np.empty(renderer.band_shape(index), dtype=np.float32)
                dist.recv(torch.from_numpy(band), src=owner)
            rows = np.arange(top + writer.rows_written, top + writer.rows_written + len(band))
            writer.write_rows(band, band_dither(writer, band, rows, columns))
            del band
            done += per_band
            if progress is not None:
                progress(done, total)
        writer.commit()
    return Path(path)
