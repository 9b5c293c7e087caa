"""The physical sky's render: the panel's settings as plain data, turned into a generator
``SkyRecipe`` and rendered to an EXR in the worker; free of bpy, like ``backend``.

The EXR has no disc when the Sun lamp lights the scene (half float holds the rest), and the disc
otherwise (``render_sky_to_file`` then writes 32-bit float). Each file records its recipe and the
matching Sun lamp; the main thread reads the lamp back from the file (``sun_lamp_of``), so the
lamp always matches the sky it shows.
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
"""The quick sky's width (1024 x 512): a second or two, wired in before the full one."""
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
    seed: int = 0
    ground: str = "model"
    """'model' (``ground_model``), 'colour' (``ground_colour``, linear) or 'none'."""
    ground_model: str = ""
    ground_colour: tuple[float, float, float] = (0.2, 0.2, 0.2)
    device: str = "auto"
    preview: bool = False
    quick_first: bool = False
    """Offer a PREVIEW_WIDTH sky first (``offer``), so the World shows it while the full one
    renders."""


def layer_tile(width: int) -> int:
    """The ground's and clouds' tile: half the sky's width in a power of two, 256..2048 px.
    Near the nadir even 2048 is magnified at 4K, so detail beyond that is not seen, and a
    preview's ground renders in a second rather than ten."""
    half = max(1, width // 2)
    return min(MAX_TILE, max(MIN_TILE, 1 << (half.bit_length() - 1)))


def _scaled_period(settings: type, tile: int) -> float:
    """The period of a smaller tile than the default: texels keep their size in metres, so a
    preview's ground and clouds show at the scale of the full sky (they repeat sooner)."""
    return settings.period_m * tile / settings.tile


def sky_recipe(request: PhysicalSkyRequest, width: int) -> SkyRecipe:
    """The generator's recipe for ``request`` at ``width``."""
    from generator import CloudSettings, GroundSettings, SkyComposition, SkyRecipe
    from generator.imagefile import linear_to_srgb
    from generator.sky import SkySettings

    air = {"haze": request.haze, "altitude": request.altitude, "sun_disc": request.disc}
    if request.moment is None:
        sky = SkySettings(
            sun_elevation=request.sun_elevation, sun_azimuth=request.sun_azimuth, **air
        )
    else:
        m = request.moment
        sky = SkySettings.at_place(m.when(), m.latitude, m.longitude, **air)
    tile = layer_tile(width)
    clouds = None
    if request.cloud_model and request.cloud_cover > 0.0:
        clouds = CloudSettings(
            request.cloud_model,
            cover=request.cloud_cover,
            seed=request.seed,
            styles=request.cloud_styles,
            tile=tile,
            period_m=_scaled_period(CloudSettings, tile),
        )
    source = {"model": request.ground_model, "none": "none"}.get(request.ground)
    if source is None:
        srgb = linear_to_srgb(request.ground_colour)
        source = "#" + "".join(f"{round(255 * float(c)):02x}" for c in srgb)
    ground = GroundSettings(
        source, seed=request.seed, tile=tile, period_m=_scaled_period(GroundSettings, tile)
    )
    return SkyRecipe(SkyComposition(sky=sky, clouds=clouds, ground=ground), width=width)


def output_path(request: PhysicalSkyRequest, recipe: SkyRecipe, preview: bool) -> Path:
    """Named by what it shows and a short hash of the recipe, as the learned skies are; previews
    go to ``previews/``."""
    digest = hashlib.sha256(recipe.to_json().encode("utf-8")).hexdigest()[:8]
    out_dir = Path(request.out_dir)
    if preview:
        return out_dir / "previews" / f"sky-preview-{digest}.exr"
    sky = recipe.composition.sky
    sun = f"az{sky.sun_azimuth:.0f}-el{sky.sun_elevation:.0f}"
    size = f"{recipe.width}x{recipe.height}"
    return out_dir / f"sky-physical-{sun}-s{request.seed}-{size}-{digest}.exr"


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
    from generator import render_sky_to_file

    from .backend import torch_device

    device = str(torch_device(request.device))
    if request.preview:
        stages = [(min(request.width, PREVIEW_WIDTH), True)]
    else:
        stages = [(request.width, False)]
        if request.quick_first and request.width > PREVIEW_WIDTH:
            stages.insert(0, (PREVIEW_WIDTH, True))
    out_dir = Path(request.out_dir)
    path = out_dir
    for width, preview in stages:
        recipe = sky_recipe(request, width)
        path = output_path(request, recipe, preview)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise JobFailed(
                f"cannot create the output folder {path.parent}: {err.strerror}"
            ) from None
        with writing_in(out_dir):
            render_sky_to_file(recipe, path, device=device, progress=progress, cancel=cancel)
        if preview and not request.preview and offer is not None:
            offer(path)
    return path


def sun_lamp_of(path: str | Path) -> dict:
    """The Sun lamp a sky file records: direction (the sky's frame), angular_diameter
    (degrees), colour, strength (W/m^2)."""
    from generator.imagefile import read_metadata
    from generator.sky.skyfile import LAMP_KEY

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
