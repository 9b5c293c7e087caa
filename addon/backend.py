"""What one render asks of the generator, and running it; free of bpy so it can run in a thread.

The main thread turns the panel's settings into a ``RenderRequest`` (plain data); ``run_request``
then does all the torch work wherever it is called (a worker thread in the UI, the main thread in
``blender -b``). The generator is imported lazily so that the add-on registers, and explains
itself, even where PyTorch is missing. Every failure leaves as ``JobFailed`` with one readable
line, a cancellation as ``JobCancelled``; the generator guarantees no partial file either way
(what a killed Blender leaves, the next render removes: ``partials``).
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .partials import writing_in

if TYPE_CHECKING:
    import torch

    from generator import LoadedModel, Recipe

KINDS = ("sky", "terrain", "matte")
CANNOT_MAKE = {
    "sky": "it has no up or down (a ground texture), so it cannot paint a sky: choose a Sky model",
    "terrain": "it paints scenes with an up and a down, so its terrain could not repeat top to "
    "bottom: choose a Terrain model (one trained without vertical position)",
    "matte": "it has no up or down (a ground texture), so it cannot paint a matte painting: "
    "choose a Matte Painting model",
}
PREVIEW_WIDTH = 512
"""Longest side of a preview canvas, in pixels: a few seconds on a CPU."""

ProgressFn = Callable[[float, int], None]
CancelFn = Callable[[], bool]


class JobFailed(Exception):
    """A render that could not be done; the message is one line for the UI."""


class JobCancelled(Exception):
    """The user cancelled; nothing was written."""


@dataclass(frozen=True)
class RenderRequest:
    """One render: a fresh canvas of ``kind``, or the recipe of ``recipe_path`` (an image we
    wrote) re-rendered ``scale`` x larger. The recipe is read by the job, not the UI: reading it
    imports the generator, and with it PyTorch (seconds, the first time).

    ``model_paths`` are the candidates, preferred first: a fresh canvas uses the first, a recipe
    the one whose hash it names.
    """

    kind: str | None
    """'sky', 'terrain' or 'matte' for a fresh canvas; None for a recipe (it says)."""
    model_paths: tuple[str, ...]
    out_dir: str
    width: int = 2048
    height: int = 1024
    seed: int = 0
    style_seeds: tuple[int, ...] = ()
    device: str = "auto"
    file_format: str = "exr"
    preview: bool = False
    recipe_path: str | None = None
    scale: int = 1
    detail: str = "1"
    """Flat canvases: the scene drawn 1, 2, 4 or 8 times larger, or "AUTO" (``auto_scale``)."""
    sun: tuple[float, float, float] | None = None
    """(azimuth, elevation, stops) of a sun disc (``generator.files.recipe.Sun``); skies only."""


def can_make(kind: str, horizon: bool) -> bool:
    """Whether a model that does (``horizon``) or does not condition on vertical position can
    make ``kind``: a terrain tile repeats top to bottom, which only a model without an up can
    do; skies and matte paintings need the horizon such a model lacks."""
    return horizon != (kind == "terrain")


def run_request(
    request: RenderRequest, progress: ProgressFn | None = None, cancel: CancelFn | None = None
) -> Path:
    """Render ``request`` to a file in its output folder and return the file's path."""
    return guarded(_run, request, progress, cancel)


def check_model(path: str) -> LoadedModel:
    """The model file loaded and checked on the CPU as a render loads it (``generator.load_model``),
    so that a file that is not a model is refused when it is added, not at its first render."""
    return guarded(lambda p, _progress, _cancel: _load(p, torch_device("cpu")), path, None, None)


def guarded(work, request, progress: ProgressFn | None, cancel: CancelFn | None) -> Any:
    """``work(request, progress, cancel)`` with every failure turned into one UI line."""
    try:
        from generator import Cancelled
    except ImportError as err:
        raise JobFailed(describe_error(err)) from None
    try:
        return work(request, progress, cancel)
    except (JobFailed, JobCancelled):
        raise
    except (Cancelled, KeyboardInterrupt):
        raise JobCancelled() from None
    except BaseException as err:
        raise JobFailed(describe_error(err)) from None


def describe_error(err: BaseException) -> str:
    """One line a Blender user can act on; unexpected errors also print their traceback."""
    if isinstance(err, ImportError):
        missing = err.name or "a Python module"
        what = "PyTorch (torch)" if missing == "torch" else f"the Python module '{missing}'"
        text = (
            f"{what} is not installed in Blender: install the Endless Backdrops build that bundles "
            "its Python wheels for your platform"
        )
    elif isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        text = "out of memory: choose a smaller resolution, or the CPU if the GPU ran out"
    elif _is_backdrop_error(err):
        text = str(err)
    elif isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        text = f"{err.strerror or err}{where}"
    else:
        traceback.print_exception(err)
        text = f"unexpected {type(err).__name__}: {err} (details in the system console)"
    return " ".join(text.split()) or type(err).__name__


def _is_backdrop_error(err: BaseException) -> bool:
    """A user-facing generator error (whose message is meant to be shown as it is)."""
    try:
        from generator import BackdropError
    except ImportError:
        return False
    return isinstance(err, BackdropError)


def _run(request: RenderRequest, progress: ProgressFn | None, cancel: CancelFn | None) -> Path:
    from generator import read_recipe, render_to_file

    device = torch_device(request.device)
    if request.recipe_path is None:
        model = _load(request.model_paths[0] if request.model_paths else "", device)
        recipe = fresh_recipe(model, request)
    else:
        recipe = read_recipe(request.recipe_path)
        model = _load(_model_for(recipe.model_hash, request.model_paths), device)
        recipe = enlarged(recipe, request.scale, model)
    path = output_path(request, recipe, model)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise JobFailed(f"cannot create the output folder {path.parent}: {err.strerror}") from None
    on_gpu = device.type != "cpu"
    with writing_in(Path(request.out_dir)):
        render_to_file(
            model,
            recipe,
            path,
            bit_depth=16 if request.file_format == "png" else None,
            batch=4 if on_gpu else 1,  # one tile per batch on a CPU: cancel is checked more often
            progress=progress,
            cancel=cancel,
        )
    return path


def torch_device(choice: str) -> torch.device:
    """'auto'/'cpu' as the generator resolves them; 'gpu' is CUDA, else Apple's Metal (MPS)."""
    import torch

    from generator import resolve_device

    if choice != "gpu":
        return resolve_device(choice)
    if torch.cuda.is_available():
        return resolve_device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return resolve_device("mps")
    raise JobFailed("no GPU (CUDA or Apple Metal) is available to PyTorch: choose Auto or CPU")


_cache_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], LoadedModel] | None = None


def _load(path: str, device: torch.device) -> LoadedModel:
    """Load a model, keeping the last one: regenerating with the same model skips the load."""
    global _cached
    from generator import load_model

    if not path:
        raise JobFailed("no model chosen: add a model file in the add-on's preferences")
    try:
        stat = os.stat(path)
        key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, str(device))
    except OSError:
        key = None
    with _cache_lock:
        if key is not None and _cached is not None and _cached[0] == key:
            return _cached[1]
        model = load_model(path, device)
        if key is not None:
            _cached = (key, model)
        return model


def _model_for(model_hash: str, candidates: Sequence[str]) -> str:
    """The candidate model file whose hash the recipe names."""
    from generator.files import file_hash

    for path in candidates:
        try:
            if file_hash(path) == model_hash:
                return path
        except OSError:
            continue
    raise JobFailed(
        f"the recipe needs model {model_hash[:12]}, which is not among your models: "
        "add its file in the add-on's preferences"
    )


def fresh_recipe(model: LoadedModel, request: RenderRequest) -> Recipe:
    """The canvas a panel asks for; previews are the same settings on a small canvas."""
    from generator import new_recipe
    from generator.files import Sun

    if request.kind not in KINDS:
        raise JobFailed(f"unknown backdrop kind {request.kind!r}")
    if not can_make(request.kind, model.config.vertical_conditioning):
        raise JobFailed(f"The model {_model_name(model)} cannot be used here: "
                        f"{CANNOT_MAKE[request.kind]}")  # fmt: skip
    ppc = model.config.pixels_per_cell
    width, height = request.width, request.height
    if request.kind == "sky":
        height = width // 2
    if request.preview:
        width, height = preview_size(request.kind, width, height, ppc)
    elif request.kind == "terrain" or (request.kind == "sky" and not model.config.sphere):
        _check_whole_cells(request.kind, width, ppc)
    wrap = {"sky": "x", "terrain": "xy", "matte": "none"}[request.kind]
    scale = 1
    if request.kind != "sky" and not request.preview:
        scale = _detail_scale(model, request.detail, width, height, wrap)
    recipe = new_recipe(
        model.config,
        model.hash,
        width,
        height,
        seed=request.seed,
        wrap=wrap,
        projection="equirect" if request.kind == "sky" else "flat",
        style_seeds=request.style_seeds,
        scale=scale,
    )
    if request.sun is not None and request.kind == "sky":
        recipe = recipe.replace(sun=Sun(*request.sun))
    return recipe


def _model_name(model: LoadedModel) -> str:
    return Path(str(model.path)).stem if model.path else model.hash[:12]


def _check_whole_cells(kind: str, size: int, ppc: int) -> None:
    """A canvas that wraps is whole latent cells around: said in the panel's words."""
    if size % ppc:
        what = "The sky's width" if kind == "sky" else "The terrain's size"
        lower, upper = max(ppc, size - size % ppc), size - size % ppc + ppc
        raise JobFailed(
            f"{what} must be a multiple of {ppc} pixels for this model (try {lower} or {upper})"
        )


def _detail_scale(model: LoadedModel, detail: str, width: int, height: int, wrap: str) -> int:
    from generator.files import auto_scale

    if detail == "AUTO":
        return auto_scale(model.config, width, height, wrap)
    return int(detail)


def preview_size(kind: str, width: int, height: int, ppc: int) -> tuple[int, int]:
    """Shrink a canvas to at most PREVIEW_WIDTH on its longest side, keeping its shape.

    Wrapped axes stay whole latent cells (a sky's width, both sides of a terrain tile).
    """
    factor = min(1.0, PREVIEW_WIDTH / max(width, height))
    w, h = max(1, round(width * factor)), max(1, round(height * factor))
    if kind == "sky":
        step = math.lcm(ppc, 2)
        w = max(step, w - w % step)
        h = w // 2
    elif kind == "terrain":
        w, h = max(ppc, w - w % ppc), max(ppc, h - h % ppc)
    return w, h


def enlarged(recipe: Recipe, scale: int, model: LoadedModel) -> Recipe:
    """The recipe on a canvas ``scale`` times larger in each direction.

    A flat canvas grows around itself, so every pixel it had stays identical (outpainting). A
    wrapped canvas (sky, terrain tile) cannot grow (its size is its period): it is re-rendered at
    the larger size with the same seeds and the styles at the same places relative to the canvas.
    """
    from generator import Style, extended

    recipe = recipe.replace(window=None)
    if scale <= 1:
        return recipe
    grow_w, grow_h = recipe.width * (scale - 1), recipe.height * (scale - 1)
    if recipe.wrap == "none":
        half_w, half_h = grow_w // 2, grow_h // 2
        return extended(recipe, half_w, half_h, grow_w - half_w, grow_h - half_h)
    ppc = model.config.pixels_per_cell
    width, height = recipe.width * scale, recipe.height * scale
    top = (model.config.native_frame[0] - height) // 2 if recipe.wrap == "x" else recipe.top
    old_top, new_top = recipe.top / ppc, top / ppc
    styles = tuple(
        Style(
            s.seed,
            x=round(s.x * scale, 6),
            y=None if s.y is None else round(new_top + (s.y - old_top) * scale, 6),
        )
        for s in recipe.styles
    )
    blend = recipe.blend * scale if recipe.styles else recipe.blend
    return recipe.replace(width=width, height=height, top=top, styles=styles, blend=blend)


def output_path(request: RenderRequest, recipe: Recipe, model: LoadedModel) -> Path:
    """Where the render goes: named by what it shows (kind, model, seeds, size) and a short hash
    of its whole recipe, so re-rendering a recipe replaces its own file while any other picture
    (a sun, another detail level or style placement) never overwrites it. Previews go to
    ``previews/``."""
    kind = _kind_of(recipe)
    digest = hashlib.sha256(recipe.to_json().encode("utf-8")).hexdigest()[:8]
    out_dir = Path(request.out_dir)
    if request.preview:
        return out_dir / "previews" / f"{kind}-preview-{digest}.{request.file_format}"
    seeds = "+".join(str(s.seed) for s in recipe.styles) or str(recipe.seed)
    if recipe.styles:
        seeds = f"{recipe.seed}-styles{seeds}"
    name = f"{kind}-{_model_name(model)}-s{seeds}-{recipe.width}x{recipe.height}-{digest}"
    return out_dir / f"{name}.{request.file_format}"


def _kind_of(recipe: Recipe) -> str:
    if recipe.projection == "equirect":
        return "sky"
    return "terrain" if recipe.wrap == "xy" else "matte"


def forget() -> None:
    """Drop the cached model and the composed sky's kept tiles and textures (frees their
    memory, a few hundred MiB, when the add-on is disabled); imports nothing to do so."""
    global _cached
    with _cache_lock:
        _cached = None
    sky = sys.modules.get("generator.sky")
    if sky is not None:
        sky.forget_layers()


@dataclass(frozen=True)
class OutpaintRequest:
    """Extend a photo (an image file) into a wider matte painting or a 360-degree sky around it.

    ``factor`` is how many times wider the result is than the photo (for a sky: 360 degrees over
    the photo's field of view); the height stays the photo's (a sky is 2:1).
    """

    photo_path: str
    sky: bool
    model_paths: tuple[str, ...]
    out_dir: str
    factor: int = 2
    seed: int = 0
    device: str = "auto"
    file_format: str = "exr"
    steps: int | None = None


def run_outpaint(
    request: OutpaintRequest, progress: ProgressFn | None = None, cancel: CancelFn | None = None
) -> Path:
    """Invert the photo and render the canvas around it; progress counts inversion steps as
    the first half and tiles as the second."""
    return guarded(_outpaint, request, progress, cancel)


def _outpaint(
    request: OutpaintRequest, progress: ProgressFn | None, cancel: CancelFn | None
) -> Path:
    from generator import new_recipe
    from generator.files import read_photo
    from generator.rendering import QUALITY_STEPS, InversionSettings, outpaint_to_file, place_photo

    model = _load(
        request.model_paths[0] if request.model_paths else "", torch_device(request.device)
    )
    photo = read_photo(request.photo_path)
    height, width = photo.shape[:2]
    ppc = model.config.pixels_per_cell
    if request.sky:
        canvas_w = max(2 * height, request.factor * width)
        canvas_w += -canvas_w % math.lcm(ppc, 2)
        canvas_h, wrap, projection = canvas_w // 2, "x", "equirect"
    else:
        canvas_w, canvas_h, wrap, projection = request.factor * width, height, "none", "flat"
    recipe = new_recipe(
        model.config, model.hash, canvas_w, canvas_h, seed=request.seed, wrap=wrap,
        projection=projection,
    )  # fmt: skip
    placement = place_photo(model, recipe, photo.shape)
    steps = request.steps or QUALITY_STEPS["default"]
    scale = 1000

    def inverting(done: int, total: int) -> None:
        if progress is not None:
            progress(done * scale // (2 * total), scale)

    def rendering(done: int, total: int) -> None:
        if progress is not None:
            progress(scale // 2 + done * scale // (2 * total), scale)

    stem = Path(request.photo_path).stem
    kind = "sky" if request.sky else "matte"
    path = (
        Path(request.out_dir)
        / f"{stem}-{kind}-s{request.seed}-{canvas_w}x{canvas_h}.{request.file_format}"
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise JobFailed(f"cannot create the output folder {path.parent}: {err.strerror}") from None
    with writing_in(Path(request.out_dir)):
        outpaint_to_file(
            model, photo, recipe, placement, path, photo_path=request.photo_path,
            settings=InversionSettings(steps=steps), inversion_progress=inverting,
            progress=rendering, cancel=cancel,
            bit_depth=16 if request.file_format == "png" else None,
        )  # fmt: skip
    return path
