"""The physical sky's render: the panel's settings as plain data, turned into a generator
``SkyRecipe`` and rendered in the worker; free of bpy, like ``backend``.

Two outputs of one composition (sun, air, clouds, ground): the Sky kind's 360-degree equirect,
always an EXR, without the disc when the Sun lamp lights the scene (half float holds the rest)
and with it otherwise (``render_sky_to_file`` then writes 32-bit float); and the Matte kind's
strip (``StripView``) through a cylindrical or perspective camera, an exposed, tone-mapped 8-bit
PNG by default, or a half-float EXR (32-bit only when the sun's disc is in the strip). Each file
records its recipe and the matching Sun lamp; the main thread reads the lamp back from the file
(``sun_lamp_of``), so the lamp always matches the sky it shows, and ``run_sky_recipe`` re-renders
a file's recipe (Regenerate from Recipe) at the same or a larger size.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .backend import CancelFn, JobFailed, ProgressFn, guarded
from .partials import writing_in

if TYPE_CHECKING:
    from generator import SkyRecipe

PREVIEW_WIDTH = 1024
"""The quick sky's width (1024 x 512), and a matte preview's (its height in proportion): about
2 s once the layers' tiles and textures are made (11-15 s the first time, 7-10 s after Blender
starts with the tiles on disk), wired in before the full one."""
STRIP_FORMATS = {"png8": (".png", 8), "exr": (".exr", 16), "png16": (".png", 16)}
"""A strip's file: 8-bit PNG (exposed, tone-mapped), half-float EXR (radiance in Blender's
units; 32-bit where the disc is in view, which half float cannot hold) or 16-bit PNG."""
MIN_TILE, MAX_TILE = 256, 2048
METER_WIDTH = 64
"""The clear sky the exposure is metered on: 64 x 32 is plenty for an irradiance."""
REC709_LUMINANCE = (0.2126, 0.7152, 0.0722)


@dataclass(frozen=True)
class Moment:
    """A local date and time on a clock ``utc_offset`` hours ahead of UTC, at a place."""

    year: int
    month: int
    day: int
    hour: float
    utc_offset: float
    latitude: float
    longitude: float

    def when(self) -> dt.datetime:
        """The moment as an aware datetime (an impossible date is one line for the user)."""
        try:
            zone = dt.timezone(dt.timedelta(hours=self.utc_offset))
            midnight = dt.datetime(self.year, self.month, self.day, tzinfo=zone)
        except ValueError as err:
            raise JobFailed(
                f"no such date {self.year}-{self.month:02}-{self.day:02}: {err}"
            ) from None
        return midnight + dt.timedelta(hours=self.hour)


@dataclass(frozen=True)
class StripView:
    """A matte strip of the composed sky (``generator.sky.strip``): ``width`` x ``height`` px
    through a ``camera`` ('cylindrical' or 'perspective') ``fov`` degrees across, centred on
    azimuth ``heading``, the horizon ``horizon`` of the height below the top edge."""

    width: int = 8192
    height: int = 2048
    camera: str = "cylindrical"
    fov: float = 120.0
    horizon: float = 0.6
    heading: float = 0.0
    file_format: str = "png8"
    """A key of ``STRIP_FORMATS``."""
    exposure: float = 0.0
    """Stops over the sky's meter reading (8/16-bit files)."""
    tone: str = "filmic"

    def check(self) -> None:
        """What the panel's camera cannot do, in the panel's words (before any work)."""
        if self.camera == "perspective" and self.fov >= 170.0:
            raise JobFailed(
                f"A perspective camera cannot see {self.fov:g} degrees across (at most 169): "
                "choose Cylindrical for a wide strip or a cyclorama"
            )
        if self.file_format not in STRIP_FORMATS:
            raise JobFailed(f"unknown matte format {self.file_format!r}")

    def preview(self) -> StripView:
        """The same view at most PREVIEW_WIDTH wide (its height in proportion)."""
        factor = min(1.0, PREVIEW_WIDTH / max(self.width, self.height))
        width, height = max(2, round(self.width * factor)), max(1, round(self.height * factor))
        return dataclasses.replace(self, width=width, height=height)

    @property
    def sphere_width(self) -> int:
        """The width of an equirect with this strip's pixels at the horizon: what the layers'
        tile follows (``layer_tile``)."""
        if self.camera == "cylindrical":
            return max(2, round(self.width * 360.0 / self.fov))
        pixel = 2.0 * math.tan(math.radians(self.fov) / 2.0) / self.width
        return max(2, round(2.0 * math.pi / pixel))


@dataclass(frozen=True)
class PhysicalSkyRequest:
    """One physical sky: the sun (angles, or a ``moment``), air, clouds, ground and size."""

    out_dir: str
    width: int = 4096
    sun_azimuth: float = 0.0
    sun_elevation: float = 30.0
    moment: Moment | None = None
    haze: float = 1.0
    altitude: float = 100.0
    disc: bool = False
    cloud_model: str = ""
    """'' for no cloud layer (no cloud model yet, or cover 0)."""
    cloud_cover: float = 0.0
    cloud_styles: tuple[int, ...] = ()
    cloud_altitude: float | None = None
    """The cloud layer's height above the eye, m; None the bundled sky's."""
    cloud_clustering: float | None = None
    """How strongly the clouds gather into fields (``CloudSettings.clustering``); None the
    bundled sky's."""
    cloud_edges: float | None = None
    """How far the clouds' edges are frayed, m (``CloudSettings.edge_warp_m``); None the
    bundled sky's."""
    cirrus: float = 0.0
    """The cirrus veil's amount; 0 none."""
    seed: int = 0
    ground: str = "model"
    """'model' (``ground_model``), 'colour' (``ground_colour``, linear) or 'none'."""
    ground_model: str = ""
    ground_colour: tuple[float, float, float] = (0.2, 0.2, 0.2)
    hills: bool = True
    """The bundled sky's ranges of hills at the horizon (drawn from ``seed``), or none."""
    device: str = "auto"
    preview: bool = False
    quick_first: bool = False
    """Offer a PREVIEW_WIDTH sky first (``offer``), so the World shows it while the full one
    renders."""
    strip: StripView | None = None
    """A matte strip instead of the 360-degree sky."""


def layer_tile(width: int) -> int:
    """The ground's and clouds' tile: half the sky's width in a power of two, 256..2048 px.
    Near the nadir even 2048 is magnified at 4K, so detail beyond that is not seen, and a
    preview's ground renders in a second rather than ten."""
    half = max(1, width // 2)
    return min(MAX_TILE, max(MIN_TILE, 1 << (half.bit_length() - 1)))


def _scaled_period(settings, tile: int) -> float:
    """The period of a smaller tile than the default: texels keep their size in metres, so a
    preview's ground and clouds show at the scale of the full sky (they repeat sooner)."""
    return settings.period_m * tile / settings.tile


BUNDLED_SKY = "sky"
"""The bundled composed sky (``generator/models/sky.json``): what the panel does not set (the
cloud layer's altitude, the ground's albedo and eye height, the air's and ozone's density, the
sun's size) comes from it, so the Physical Sky is the bundled ``sky`` with the panel's sun,
air, clouds and ground."""


def base_composition():
    """The bundled ``sky`` recipe's composition, or the generator's defaults without one."""
    from generator import SkyComposition, read_sky_recipe
    from generator.files import MODELS_DIR

    path = MODELS_DIR / f"{BUNDLED_SKY}.json"
    if not path.is_file():
        return SkyComposition()
    return read_sky_recipe(path).composition


def sky_recipe(
    request: PhysicalSkyRequest, width: int, strip: StripView | None = None
) -> SkyRecipe:
    """The generator's recipe for ``request`` at ``width`` (an equirect), or of ``strip`` (its
    own size): the layers' tile follows the equirect's width, or the strip's ``sphere_width``."""
    from generator import CirrusSettings, CloudSettings, SkyComposition, SkyRecipe, StripCamera
    from generator.files import linear_to_srgb
    from generator.sky import SkySettings

    if strip is not None:
        width = strip.width
    disc = request.disc or strip is not None  # a strip draws the sun where it is in view
    base = base_composition()
    air = {"haze": request.haze, "altitude": request.altitude, "sun_disc": disc}
    if request.moment is None:
        sun = {"sun_elevation": request.sun_elevation, "sun_azimuth": request.sun_azimuth}
        sky = dataclasses.replace(base.sky, **sun, **air)
    else:
        m = request.moment
        fields = {f.name: getattr(base.sky, f.name) for f in dataclasses.fields(SkySettings)}
        fields = {k: v for k, v in fields.items() if k not in ("sun_elevation", "sun_azimuth")}
        sky = SkySettings.at_place(m.when(), m.latitude, m.longitude, **(fields | air))
    tile = layer_tile(width if strip is None else strip.sphere_width)
    clouds = None
    if request.cloud_model and request.cloud_cover > 0.0:
        layer = base.clouds or CloudSettings(request.cloud_model)
        shape = {
            "altitude_m": request.cloud_altitude,
            "clustering": request.cloud_clustering,
            "edge_warp_m": request.cloud_edges,
        }
        clouds = dataclasses.replace(
            layer,
            **{name: value for name, value in shape.items() if value is not None},
            model=request.cloud_model,
            cover=request.cloud_cover,
            seed=request.seed,
            styles=request.cloud_styles,
            tile=tile,
            period_m=_scaled_period(layer, tile),
            model_hash="",
        )
    cirrus = None
    if request.cirrus > 0.0:
        veil = base.cirrus or CirrusSettings()
        cirrus = dataclasses.replace(
            veil,
            amount=request.cirrus,
            seed=request.seed,
            tile=tile,
            period_m=_scaled_period(veil, tile),
        )
    source = {"model": request.ground_model, "none": "none"}.get(request.ground)
    if source is None:
        srgb = linear_to_srgb(request.ground_colour)
        source = "#" + "".join(f"{round(255 * float(c)):02x}" for c in srgb)
    ground = dataclasses.replace(
        base.ground,
        source=source,
        seed=request.seed,
        styles=(),
        tile=tile,
        period_m=_scaled_period(base.ground, tile),
        model_hash="",
    )
    hills = (b for b in base.horizon if b.kind == "hills") if request.hills else ()
    horizon = tuple(dataclasses.replace(band, seed=request.seed) for band in hills)
    composition = SkyComposition(
        sky=sky, clouds=clouds, cirrus=cirrus, ground=ground, horizon=horizon
    )
    if strip is None:
        return SkyRecipe(composition, width=width)
    camera = StripCamera(
        height=strip.height, fov=strip.fov, horizon=strip.horizon, heading=strip.heading
    )
    recipe = SkyRecipe(
        composition, width=width, projection=strip.camera, camera=camera, tone=strip.tone
    )
    if _sun_in_view(recipe):
        return recipe
    return recipe.replace(composition=_without_disc(composition))  # half float holds the rest


def _without_disc(composition):
    return dataclasses.replace(
        composition, sky=dataclasses.replace(composition.sky, sun_disc=False)
    )


def _sun_in_view(recipe: SkyRecipe) -> bool:
    """Whether the sun's disc (with a margin of its size and three pixels) falls inside a strip."""
    from generator.sky import perspective_directions

    sky, camera = recipe.composition.sky, recipe.camera
    if sky.sun_elevation < -1.0:
        return False
    el, az = math.radians(sky.sun_elevation), math.radians(sky.sun_azimuth)
    margin = math.radians(sky.sun_size) + 3.0 * recipe.pixel_rad  # a small disc is drawn larger
    if recipe.projection == "cylindrical":
        off = (sky.sun_azimuth - camera.heading + 180.0) % 360.0 - 180.0
        if abs(math.radians(off)) > math.radians(camera.fov) / 2.0 + margin:
            return False
        scale = camera.scale(recipe.width)
        top, bottom = camera.horizon * scale, (camera.horizon - 1.0) * scale
        return math.atan(bottom) - margin <= el <= math.atan(top) + margin
    toward = (math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az))
    corners = perspective_directions(
        camera, recipe.width, [[0.0, 0.0], [camera.height, camera.height]],
        [[0.0, recipe.width], [0.0, recipe.width]],
    )  # fmt: skip
    centre = corners.mean(axis=(0, 1))
    centre /= math.sqrt(float((centre * centre).sum()))
    reach = max(math.acos(min(1.0, float(c @ centre))) for c in corners.reshape(-1, 3))
    return math.acos(max(-1.0, min(1.0, float(centre @ toward)))) <= reach + margin


def output_path(
    out_dir: str | Path, recipe: SkyRecipe, preview: bool, suffix: str = ".exr"
) -> Path:
    """Named by what it shows and a short hash of the recipe, as the learned skies are; previews
    go to ``previews/``."""
    digest = hashlib.sha256(recipe.to_json().encode("utf-8")).hexdigest()[:8]
    out_dir = Path(out_dir)
    kind = "sky" if recipe.camera is None else "matte"
    if preview:
        return out_dir / "previews" / f"{kind}-preview-{digest}{suffix}"
    c = recipe.composition
    sun = f"az{c.sky.sun_azimuth:.0f}-el{c.sky.sun_elevation:.0f}"
    seed = c.clouds.seed if c.clouds is not None else c.ground.seed
    size = f"{recipe.width}x{recipe.height}"
    view = "" if recipe.camera is None else f"-{recipe.projection}{recipe.camera.fov:g}"
    return out_dir / f"{kind}-physical{view}-{sun}-s{seed}-{size}-{digest}{suffix}"


def run_physical_sky(
    request: PhysicalSkyRequest,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    offer: Callable[[Path], None] | None = None,
) -> Path:
    """Render the sky (a quick one first, handed to ``offer``, when asked) and return its file."""
    return guarded(functools.partial(_run, offer=offer), request, progress, cancel)


def _run(
    request: PhysicalSkyRequest,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    *,
    offer: Callable[[Path], None] | None,
) -> Path:
    from .backend import torch_device

    device = str(torch_device(request.device))
    strip = request.strip
    if strip is not None:
        strip.check()
    full = request.width if strip is None else strip
    small = min(request.width, PREVIEW_WIDTH) if strip is None else strip.preview()
    if request.preview:
        stages = [(small, True)]
    else:
        stages = [(full, False)]
        quick = strip is not None or request.width > PREVIEW_WIDTH
        if request.quick_first and quick and small != full:
            stages.insert(0, (small, True))
    path = Path(request.out_dir)
    for size, preview in stages:
        recipe = sky_recipe(request, size) if strip is None else sky_recipe(request, 0, size)
        suffix, depth = _file_of(recipe, strip)
        if strip is not None and suffix == ".png":
            recipe = _exposed(recipe, strip.exposure, device)
        path = output_path(request.out_dir, recipe, preview, suffix)
        _render(recipe, path, depth, request.out_dir, device, progress, cancel)
        if preview and not request.preview and offer is not None:
            offer(path)
    return path


def _file_of(recipe: SkyRecipe, strip: StripView | None) -> tuple[str, int | None]:
    """The suffix and bit depth of a sky's file: an equirect is an EXR (32-bit with the disc,
    which the generator chooses); a strip as asked, its EXR 32-bit where the disc is in view."""
    if strip is None:
        return ".exr", None
    suffix, depth = STRIP_FORMATS[strip.file_format]
    if suffix == ".exr" and recipe.composition.sky.sun_disc:
        depth = 32
    return suffix, depth


def _exposed(recipe: SkyRecipe, stops: float, device: str) -> SkyRecipe:
    """An 8/16-bit strip's exposure: the sky's meter reading (the generator's, recorded in the
    file) plus ``stops``. The meter needs the layers' tiles: drawn here, they are cached for the
    render that follows."""
    if not stops:
        return recipe
    from generator.sky import PreparedLayers, meter

    sky = PreparedLayers(recipe, device).sky()
    return recipe.replace(exposure=round(meter(sky) + stops, 3))


def _render(
    recipe: SkyRecipe,
    path: Path,
    depth: int | None,
    out_dir: str,
    device: str,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> None:
    from generator import render_sky_to_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise JobFailed(f"cannot create the output folder {path.parent}: {err.strerror}") from None
    with writing_in(Path(out_dir)):
        render_sky_to_file(
            recipe, path, bit_depth=depth, device=device, progress=progress, cancel=cancel
        )


@dataclass(frozen=True)
class SkyRecipeRequest:
    """Re-render the composed sky of ``recipe_path`` (a file we wrote) ``scale`` times larger
    (1: the same size, e.g. in another format): the same composition, the same layers' tiles
    and the same exposure, so it is the same sky with more pixels. An equirect stays an EXR;
    a strip becomes ``strip_format`` (a key of ``STRIP_FORMATS``)."""

    recipe_path: str
    out_dir: str
    scale: int = 1
    strip_format: str = "png8"
    device: str = "auto"


def is_sky_file(path: str | Path) -> bool:
    """Whether an image file carries a composed-sky recipe (worker side: imports the
    generator)."""
    from generator.files import read_metadata
    from generator.sky import SKY_KEY

    try:
        return SKY_KEY in read_metadata(path)
    except Exception:  # not an image we can read: the learned path says what is wrong
        return False


def run_sky_recipe(
    request: SkyRecipeRequest, progress: ProgressFn | None = None, cancel: CancelFn | None = None
) -> Path:
    """Render ``request``'s recipe and return the new file."""
    return guarded(_rerender, request, progress, cancel)


def _rerender(
    request: SkyRecipeRequest, progress: ProgressFn | None, cancel: CancelFn | None
) -> Path:
    from generator import read_sky_recipe

    from .backend import torch_device

    recipe = read_sky_recipe(request.recipe_path).replace(window=None)
    if request.scale > 1:
        changes = {"width": recipe.width * request.scale}
        if recipe.camera is not None:
            changes["camera"] = dataclasses.replace(
                recipe.camera, height=recipe.camera.height * request.scale
            )
        recipe = recipe.replace(**changes)
    if recipe.projection == "cube":
        raise JobFailed("cube faces are re-rendered by the command line: python -m generator sky")
    strip = None
    if recipe.camera is not None:
        strip = StripView(file_format=request.strip_format)
        strip.check()
    suffix, depth = _file_of(recipe, strip)
    path = output_path(request.out_dir, recipe, False, suffix)
    device = str(torch_device(request.device))
    _render(recipe, path, depth, request.out_dir, device, progress, cancel)
    return path


def sun_lamp_of(path: str | Path) -> dict:
    """The Sun lamp a sky file records: direction (the sky's frame), angular_diameter
    (degrees), colour, strength (W/m^2)."""
    from generator.files import read_metadata
    from generator.sky import LAMP_KEY

    return json.loads(read_metadata(path)[LAMP_KEY])


def daylight_exposure(path: str | Path) -> float:
    """The exposure (stops) at which a grey card lit by a sky file's sun and clear sky shows its
    own grey, as a camera's light meter sets it: -log2(E / pi) for E the illuminance of a
    horizontal plane (the lamp's share, dimmed by any cloud before the sun, plus the clear sky
    above; clouds' own light is not metered). Blender's units are absolute, so a sunny noon is
    about -5 and a sunset near 0."""
    import numpy as np

    from generator import GroundSettings, read_sky_recipe, render_sky_array

    recipe = read_sky_recipe(path)
    c = recipe.composition
    clear = dataclasses.replace(
        c,
        sky=dataclasses.replace(c.sky, sun_disc=False),
        clouds=None,
        ground=GroundSettings("none"),
    )
    sky = render_sky_array(recipe.replace(composition=clear, width=METER_WIDTH, window=None))
    height = METER_WIDTH // 2
    elevation = np.radians(90.0 - (np.arange(height // 2) + 0.5) * 180.0 / height)
    solid_angle = (2 * np.pi / METER_WIDTH) * (np.pi / height) * np.cos(elevation)
    luminance = sky[: height // 2] @ np.asarray(REC709_LUMINANCE)
    from_sky = float((luminance * (np.sin(elevation) * solid_angle)[:, None]).sum())
    lamp = sun_lamp_of(path)
    up = max(lamp["direction"][1], 0.0)
    from_sun = lamp["strength"] * up * float(np.dot(lamp["colour"], REC709_LUMINANCE))
    return -math.log2(max(from_sky + from_sun, 1e-6) / math.pi)
