"""The learned layers of a composed sky: settings, and their periodic tiles drawn by a model.

A layer's texture is one square tile rendered by a torus-wrapping model (``wrap xy``) with the
exact patch renderer, so it repeats seamlessly every ``period_m`` metres on its plane; everything
else (perspective, filtering, light) is the composition's. A landscape model's band at the
horizon (``generator.sky.horizon``) is drawn the same way, wrapping in x only. Settings are
plain frozen dataclasses: they go into the recipe as they are.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generator.errors import RequestError
from generator.files.imagefile import srgb_to_linear
from generator.files.modelfile import LoadedModel
from generator.files.photo import IMAGE_EXTENSIONS, ImageReadError, load_linear, resize_linear
from generator.files.recipe import new_recipe
from generator.rendering.pick import make_renderer
from generator.rendering.progress import increments
from generator.rendering.render import BandRenderer, CancelFn
from generator.sky.cloudmap import density_from_linear
from generator.sky.plane import PlaneTexture, ThresholdTexture, wrapped_bilinear
from generator.sky.spectrum import REC709_LUMINANCE

COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
TILE_SIZES = (64, 128, 256, 512, 1024, 2048, 4096)
ModelLoader = Callable[[str], LoadedModel]
TilesDone = Callable[[float], None]
EDGE_WARP_M = 90.0
"""RMS displacement (m) of the fractal warp that frays cloud edges (``fray``). Chosen by KID of
3.4-km windows of the bundled model's density against real cloud layers (docs/sky.md, "Frayed
cloud edges"): 60 / 90 / 120 / 150 m gave 0.13 / 0.12 / 0.17 / 0.21 against the training
layers' crops (0.31 unwarped); beyond 90 m the clouds tear into noise."""
WARP_SLOPE = 3.4
"""Spectral slope of the warp's power (P ~ k^-3.4): displacement growing with scale as real
cloud boundaries' roughness does (a fractal edge), little at the texel, most near 1 km."""
WARP_LONGEST_M = 1000.0
"""Scales longer than this are not warped: there the model's own layout stands."""
WARP_SHORTEST_TEXELS = 2.0
"""Wavelengths shorter than this many texels are not warped."""
FRAY_ROWS = 256
"""Rows of the tile warped at a time."""
FRAY_STREAM = 0x46524159
"""Random stream of the edge warp, apart from every other use of a layer's seed."""
CLUSTERING = 1.2
"""RMS of the log-density field that gathers clouds into fields and clear stretches
(``cluster``). Chosen by KID of the frayed density against real cloud layers (docs/sky.md,
"Clouds in fields and gaps"): 0 / 0.7 / 1.2 / 1.6 gave 0.14 / 0.10 / 0.10 / 0.10 in 3.4-km
windows and 0.35 / 0.27 / 0.21 / 0.18 in 13.6-km ones, where beyond 1.2 the windows' SWD grew
(clouds saturated white in the fields)."""
CLUSTER_LONGEST_M = 12000.0
"""Longest scale of that field: a weather system's cloud fields and gaps."""
CLUSTER_SHORTEST_M = 1000.0
"""Shortest scale of that field: below it the model's own clouds and the fray stand."""
CLUSTER_SLOPE = 3.0
"""Spectral slope of that field's power (P ~ k^-3)."""
CLUSTER_AXIS = 2
"""The field's stream within ``FRAY_STREAM`` (0 and 1 are the warp's two axes)."""
DECK_MASSES = 0.8
"""How far a closed deck's thickness follows its large-scale masses rather than the model's
heaps (``deck_masses``), fading in with the deck's share (``deck_share``). With the heaps alone
an overcast sky was a pale sheet with darker blotches all of one size and shape, like ink
stains; real decks shade from lighter thin places to dark masses at every size up to tens of
kilometres (stratiform cloud's liquid water varies as a cascade with a k^-5/3 spectrum,
Cahalan et al. 1994)."""
DECK_LONGEST_M = 20000.0
DECK_SHORTEST_M = 500.0
DECK_SLOPE = 8.0 / 3.0
"""The masses' scales and spectral slope: power ~ k^-8/3 over the plane, k^-5/3 along a line."""
DECK_EDGE_RANK = 0.1
"""Within this rank of a cloud's edge the masses fade out, so a deck's thin places and holes
keep the thin fringes the heaps' rank gives them."""
DECK_AXIS = 3
"""The masses' stream within ``FRAY_STREAM``."""
TAU_MAX = 12.0
"""Optical thickness of the densest cloud: its base passes about half the light that falls on
it (diffusely). Real cumulus are thicker, and darker below, but a flat layer cannot show the
sunlit sides that make them read as white: with thicker cores every cloud became a grey blob
with a bright rim."""
BROKEN_POWER = 2.5
"""How broken cloud's thickness grows with its rank (rank^2.5 to ``TAU_MAX``): most of a cloud's
area thin around a thick core. At rank^2 the clouds were grey clay with hard edges; thinner
fringes make them whiter and translucent at their edges, and nearer the real panoramas by KID
(the gallery's broken skies against the training panoramas, noon / sunset: 0.051 / 0.180 at
rank^2, 0.046 / 0.162 at rank^2.5, 0.044 / 0.143 at rank^3). Rank^3 took the gallery's SWD
ratio against the darker reserved panoramas to its limit, 1.30 (docs/sky.md, "Thin fringes,
thick cores")."""
DECK_TAU_MAX = 40.0
"""Optical thickness of the densest cloud of a closed deck (cover 1): decks are deep
(stratocumulus and nimbostratus 1-3 km, tau 20-60), grey below with darker masses and lighter
thin places; at ``TAU_MAX`` an overcast sky was an even light grey."""


def check_tile(tile: int, period_m: float, problems: list[str], what: str) -> None:
    """Adds to ``problems`` what is wrong with a layer's tile size and period."""
    if tile not in TILE_SIZES:
        problems.append(f"the {what} tile must be one of {', '.join(map(str, TILE_SIZES))} px")
    if not 0.01 <= period_m <= 1e6:
        problems.append(f"the {what} texture's period must be 0.01..1e6 m")


@dataclass(frozen=True)
class GroundSettings:
    """The ground: a plane ``eye_height_m`` below the eye, textured by a terrain model
    (``source`` a model name or path), a plain colour (``source`` '#rrggbb', its linear value
    the albedo) or nothing (``source`` 'none': black, for compositing). A model's tile of
    ``tile`` px repeats every ``period_m`` metres, scaled so that its mean albedo is
    ``albedo``; ``seed`` and ``styles`` choose it as for any render.

    The default period puts the bundled terrain at its real size. It learned from close-up
    ground photos (0 A.D.'s terrain textures: gravel, grass blades, twigs, leaf litter) in
    256-px frames of 0.7-1 of a texture's side, and those photos show about 1.5-2 m of ground
    (10-20 cm twigs span a tenth of one): about 6 mm per texel, so a 2048-px tile is 12 m
    across. At 4096 x 2048 a pixel then meets one texel 30 degrees below the horizon; nearer
    the nadir (2.6 mm there) the texture is magnified at most 2.3 times, where 100 m (5 cm
    texels) made stones look half a metre wide and the nadir a 19-times blur. A larger tile
    would not sharpen it (the model draws at its learned scale); it would only repeat less."""

    source: str = "terrain"
    seed: int = 0
    styles: tuple[int, ...] = ()
    tile: int = 2048
    period_m: float = 12.0
    albedo: float = 0.2
    eye_height_m: float = 1.7
    model_hash: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(int(s) for s in self.styles))
        problems: list[str] = []
        check_tile(self.tile, self.period_m, problems, "ground")
        if not 0.0 < self.albedo <= 1.0:
            problems.append("the ground's albedo must be within 0..1")
        if not 0.01 <= self.eye_height_m <= 10000.0:
            problems.append("the eye height must be 0.01..10000 m")
        if problems:
            raise RequestError("; ".join(problems))

    @property
    def kind(self) -> str:
        """'none', 'colour' or 'model'."""
        if self.source == "none":
            return "none"
        return "colour" if self.source.startswith("#") else "model"

    def colour(self) -> np.ndarray:
        """The plain colour's linear albedo."""
        if not COLOUR.fullmatch(self.source):
            raise RequestError(f"a ground colour is #rrggbb, got {self.source!r}")
        srgb = np.array([int(self.source[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
        return srgb_to_linear(srgb).astype(np.float32)


@dataclass(frozen=True)
class CloudSettings:
    """A cloud layer ``altitude_m`` above the eye whose density a cloud model draws
    (``model``: a name or path of a torus-wrapping model, see ``generator.sky.cloudmap``) or a
    cloud map gives (``model`` the path of a square, tileable grey image: its sRGB value is the
    density, as a cloud model's output; a painted or photographed map, resampled to ``tile``).
    ``cover`` remaps it: 0 clear, about 0.5 broken, 1 overcast. Its tile of ``tile`` px
    repeats every ``period_m`` metres; ``seed`` and ``styles`` (two or more: a weather front,
    styles fused across the layer) choose it. The default period, 14.6 m a texel, keeps a cloud
    model's pixel near the 12-18 m its training tiles hold (``tools/cloud_tiles.py``: a window
    of a layer 1.5 km up with corners 25° above the horizon, about 4.5 km across; the trainer
    resizes crops of 0.7-1 of it to the 256-px frame), so clouds keep their photographed
    size. ``edge_warp_m`` frays the clouds' edges (``fray``); 0 keeps them as drawn.
    ``clustering`` gathers the clouds into fields and clear stretches (``cluster``); 0 keeps
    them spread as drawn."""

    model: str
    cover: float = 0.5
    seed: int = 0
    styles: tuple[int, ...] = ()
    tile: int = 2048
    period_m: float = 30000.0
    altitude_m: float = 1500.0
    edge_warp_m: float = EDGE_WARP_M
    clustering: float = CLUSTERING
    model_hash: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(int(s) for s in self.styles))
        problems: list[str] = []
        check_tile(self.tile, self.period_m, problems, "cloud")
        if not 0.0 <= self.edge_warp_m <= 1000.0:
            problems.append("the clouds' edge warp must be 0..1000 m")
        if not 0.0 <= self.clustering <= 3.0:
            problems.append("the clouds' clustering must be 0..3")
        if not 0.0 <= self.cover <= 1.0:
            problems.append("the cloud cover must be within 0..1")
        if not 50.0 <= self.altitude_m <= 20000.0:
            problems.append("the cloud layer's altitude must be 50..20000 m above the eye")
        if problems:
            raise RequestError("; ".join(problems))


def model_tile(
    model: LoadedModel,
    seed: int,
    styles: tuple[int, ...],
    size: int,
    tiles_done: TilesDone | None = None,
    cancel: CancelFn | None = None,
    height: int | None = None,
) -> np.ndarray:
    """(size, size, 3) linear tile of ``model`` wrapping in x and y: a seamless texture; with
    ``height``, (height, size, C) wrapping in x only (a landscape band: its rows are the
    model's frame, so it keeps its up; C is 4 for a model with alpha)."""
    return _tile_renderer(model, seed, styles, size, height).render(increments(tiles_done), cancel)


def tile_count(model: LoadedModel, size: int, height: int | None = None) -> int:
    """Progress units of ``model_tile``."""
    return _tile_renderer(model, 0, (), size, height).total_tiles


def _tile_renderer(
    model: LoadedModel, seed: int, styles: tuple[int, ...], size: int, height: int | None
) -> BandRenderer:
    recipe = new_recipe(
        model.config, model.hash, size, size if height is None else height, seed=seed,
        wrap="xy" if height is None else "x", projection="flat", style_seeds=styles,
    )  # fmt: skip
    return make_renderer(model, recipe)


def is_image(source: str) -> bool:
    """Whether a layer's source names an image file (a cloud map) rather than a model."""
    return Path(source).suffix.lower() in IMAGE_EXTENSIONS


def image_tile(path: str, size: int) -> tuple[np.ndarray, str]:
    """(size, size, 3) linear pixels of a square image resampled to ``size``, and the SHA-256
    of the file's bytes (a recipe records it, as it records a model's hash)."""
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        pixels = load_linear(path)
    except (OSError, ImageReadError) as err:
        raise RequestError(f"cannot read the cloud map {path}: {err}") from None
    if pixels.shape[0] != pixels.shape[1]:
        raise RequestError(f"a cloud map must be square (and tileable), {path} is not")
    chw = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    tile = resize_linear(chw, (size, size)).permute(1, 2, 0).contiguous().numpy()
    return tile, digest


def ground_texture(tile: np.ndarray, settings: GroundSettings) -> PlaneTexture:
    """A terrain tile as albedo on the ground plane: its mean luminance scaled to
    ``settings.albedo``."""
    tile = np.maximum(tile, 0.0)
    mean = float(tile.mean(axis=(0, 1), dtype=np.float64) @ REC709_LUMINANCE)
    return PlaneTexture(tile * np.float32(settings.albedo / max(mean, 1e-6)), settings.period_m)


OVERCAST_VEIL = 8.0
"""Optical thickness of the even deck that cover 1 lays under the layer's own clouds: enough
(e^-8 of the sun through it) that no blue shows through an overcast sky."""


OUTLINE_SMOOTHING = 0.7
"""Gaussian sigma, in texels, of the smoothing of a layer's density before its threshold: a
cloud model draws noise from texel to texel, which notched the outlines, and magnified
overhead each notch read as a star. Sharper than the relief's finest billows, which roughen
the outlines again at every scale."""


TIE_BREAK = 1e-3
"""Amplitude (in density) of the smooth noise that orders texels of equal density."""


def gaussian_spectrum(size: int, sigma: float) -> np.ndarray:
    """(size, size // 2 + 1) the ``rfft2`` spectrum of a Gaussian of ``sigma`` texels on a
    periodic ``size``-px tile: multiplying a tile's spectrum by it blurs the tile seamlessly."""
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * np.fft.fftfreq(size) ** 2)
    return kernel[:, None] * kernel[None, : size // 2 + 1]


def periodic_blur(field: np.ndarray, sigma: float) -> np.ndarray:
    """``field`` (square) blurred by a Gaussian of ``sigma`` texels, wrapping at its edges."""
    spectrum = np.fft.rfft2(field) * gaussian_spectrum(field.shape[0], sigma)
    return np.fft.irfft2(spectrum, s=field.shape)


def cover_density(density: np.ndarray) -> np.ndarray:
    """Density with its ties broken by nearness to cloud: 0.8 of itself plus 0.2 of itself
    blurred (periodically, so the tile stays seamless) over a 32nd of the tile. A model's tile
    is often exactly 0 over most of its gaps, and a quantile of tied zeros cannot grow the
    clouds past them; with the blur, more cover grows the clouds outward from their edges, as
    clouds grow. Far from any cloud (where the blur is ~0) and on an even tile (an overcast
    style), a faint, smooth, seamless noise field (fixed for the tile's size) orders the rest:
    more cover then adds rounded clouds there, where raster order drew straight-edged bands."""
    size = density.shape[0]
    noise = periodic_blur(np.random.default_rng(size).standard_normal(density.shape), size / 16)
    noise /= max(float(noise.std()), 1e-12)
    blurred = periodic_blur(density, size / 32.0)
    return (0.8 * density + 0.2 * blurred + TIE_BREAK * noise).astype(np.float32)


def overcast_veil(cover: float) -> float:
    """Optical thickness of an even veil over the whole layer: none up to cover 0.5, rising
    as the cube of the rest to ``OVERCAST_VEIL`` at cover 1, so that 0.75 only dims the gaps'
    blue (thickness 1) and 1 is a closed deck."""
    return OVERCAST_VEIL * deck_share(cover) ** 3


def deck_share(cover: float) -> float:
    """How far ``cover`` has closed the layer into a deck: 0 up to cover 0.5, 1 at cover 1."""
    return max(0.0, (cover - 0.5) / 0.5)


def cover_rank(density: np.ndarray, cover: float) -> np.ndarray:
    """Where each texel's density ranks in the cloud at ``cover``, the fraction of the layer
    that is cloud: 0 at the cloud's edge, 1 at the densest texel, negative in the gaps (how far
    below the edge), from the rank of the density in the tile. By rank, cover means the same
    for a sparse tile and a dense one, and exactly: 0.3 broken, 0.6 mostly cloudy. Smooth
    where the density is, so an outline drawn at 0 stays smooth when magnified."""
    order = np.argsort(density, axis=None, kind="stable")
    rank = np.empty(density.size, dtype=np.float32)
    rank[order] = (np.arange(density.size, dtype=np.float32) + 0.5) / density.size
    return ((rank.reshape(density.shape) - (1.0 - cover)) / max(cover, 1e-6)).astype(np.float32)


def deck_masses(rank: np.ndarray, texel_m: float, cover: float, seed: int) -> np.ndarray:
    """``rank`` (``cover_rank``, square and periodic) with a closing deck's large-scale masses:
    within the clouds, blended toward the rank of a seeded field at scales of 0.5-20 km
    (``DECK_MASSES`` times the deck's share); the gaps and the clouds' edges as they were. The
    cloud is where the rank is above 0 as before, so cover keeps its meaning exactly and more
    cover still grows the clouds; the ranks inside are a blend of two smooth ranks, so outlines
    stay smooth; the field wraps, so the tile stays seamless. As it is up to cover 0.5."""
    share = deck_share(cover)
    if share <= 0.0:
        return rank
    inside = rank > 0.0
    field = fractal_field(
        rank.shape[0], texel_m, seed, DECK_AXIS, DECK_LONGEST_M, DECK_SHORTEST_M, DECK_SLOPE
    )[inside]
    masses = np.empty(field.size, dtype=np.float32)
    masses[np.argsort(field, kind="stable")] = (np.arange(field.size) + 0.5) / field.size
    within = rank[inside]
    weight = DECK_MASSES * share * np.minimum(within / np.float32(DECK_EDGE_RANK), 1.0)
    blended = rank.copy()
    blended[inside] = within + (masses - within) * weight
    return blended


@dataclass(frozen=True)
class CoverProfile:
    """Optical thickness from ``cover_rank`` at a cover: the overcast veil everywhere, plus
    within the clouds thickness growing with the rank. Broken cloud (cover up to 0.5) grows as
    the rank to the power ``BROKEN_POWER`` to ``TAU_MAX``: thin, bright edges around thick
    cores. As the layer closes into a deck the profile steepens (to the rank^0.5 of a dome's
    chord at cover 1) and the thickest reaches ``DECK_TAU_MAX``: dark masses with lighter thin
    places."""

    cover: float

    @property
    def floor(self) -> float:
        """The thickness in the gaps: the overcast veil."""
        return overcast_veil(self.cover)

    @property
    def _thickest(self) -> np.float32:
        return np.float32(TAU_MAX + (DECK_TAU_MAX - TAU_MAX) * deck_share(self.cover))

    @property
    def _power(self) -> float:
        return BROKEN_POWER - (BROKEN_POWER - 0.5) * deck_share(self.cover)

    def __call__(self, rank: np.ndarray) -> np.ndarray:
        # clipped and shaped in one new array (read on every sample through the layer)
        shaped = np.maximum(rank, np.float32(0.0)).astype(np.float32, copy=False)
        np.minimum(shaped, np.float32(1.0), out=shaped)
        power = self._power
        if power == 2.5:  # BROKEN_POWER, read on every sample: a root, not a logarithm
            root = np.sqrt(shaped)
            np.square(shaped, out=shaped)
            shaped *= root
        else:
            np.power(shaped, np.float32(power), out=shaped)
        shaped *= self._thickest
        shaped += np.float32(self.floor)
        return shaped

    def inverse(self, thickness: np.ndarray) -> np.ndarray:
        """The rank (0..1) whose thickness is ``thickness`` (at least the floor)."""
        shaped = np.maximum(thickness - np.float32(self.floor), 0.0) / self._thickest
        power = self._power
        within = np.power(shaped, np.float32(1.0 / power))
        return within.astype(np.float32)


def fractal_field(
    size: int,
    texel_m: float,
    seed: int,
    axis: int,
    longest_m: float = WARP_LONGEST_M,
    shortest_m: float | None = None,
    slope: float = WARP_SLOPE,
    stretch: float = 1.0,
    heading: float = 0.0,
) -> np.ndarray:
    """(size, size) periodic Gaussian field of unit RMS with power ~ k^-``slope`` from
    ``longest_m`` down to ``shortest_m`` (default ``WARP_SHORTEST_TEXELS`` texels): seamless on
    the tile, fixed by ``seed`` and ``axis``. Nothing shorter: a warp that changes from texel
    to texel combs the edges into streaks where the texture is magnified (overhead).
    ``stretch`` > 1 measures k in a metric that makes the features that many times longer
    along ``heading`` (radians from the tile's ``z`` axis toward ``x``) than across it, turned
    in the spectrum, so the tile stays periodic at any angle."""
    if shortest_m is None:
        shortest_m = texel_m * WARP_SHORTEST_TEXELS
    rng = np.random.default_rng([FRAY_STREAM, axis, seed % 2**63])
    white = rng.standard_normal((size, size))
    rows = np.fft.fftfreq(size)[:, None] / texel_m  # cycles per metre along z
    cols = np.fft.rfftfreq(size)[None, :] / texel_m  # along x
    if stretch != 1.0:
        along = rows * math.cos(heading) + cols * math.sin(heading)
        rows, cols = (
            along * stretch,
            (cols * math.cos(heading) - rows * math.sin(heading)) / stretch,
        )
    k2 = np.square(rows) + np.square(cols)  # squared: no roots, no powers of k
    long2 = k2 * (longest_m * longest_m)
    long2[0, 0] = 1.0  # k = 0 carries no power (below): no division by zero
    amplitude = long2 ** (-slope / 4) * -np.expm1(-np.square(long2))
    amplitude *= np.exp(k2 * -(shortest_m * shortest_m))
    amplitude[0, 0] = 0.0
    field = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=(size, size))
    return field / max(float(field.std()), 1e-12)


def fray(density: np.ndarray, texel_m: float, warp_m: float, seed: int) -> np.ndarray:
    """``density`` (square, power-of-two side, periodic) read through a seeded fractal warp of
    ``warp_m`` RMS; as it is when ``warp_m`` is 0.

    A model trained on a few dozen tiles draws rounded blobs: it lacks the power that real
    cloud layers have below about 500 m (two to three orders of magnitude at 100 m, docs/sky.md).
    Warping where the texture is read, rather than adding noise to it, frays the edges into the
    fractal, wispy outlines real clouds have while the insides stay smooth and the cover (the
    fraction that is cloud) stays what the model drew; the warp wraps, so the tile stays
    seamless. Rows are read ``FRAY_ROWS`` at a time, so memory stays that of the tile."""
    if warp_m <= 0.0:
        return density
    size = density.shape[0]
    shift = np.float32(warp_m / texel_m)
    down = fractal_field(size, texel_m, seed, 0).astype(np.float32) * shift
    across = fractal_field(size, texel_m, seed, 1).astype(np.float32) * shift
    texels = density.astype(np.float32)[..., None]
    out = np.empty((size, size), dtype=np.float32)
    columns = np.arange(size, dtype=np.float32)[None, :]
    for start in range(0, size, FRAY_ROWS):
        rows = slice(start, start + FRAY_ROWS)
        top = np.arange(start, min(start + FRAY_ROWS, size), dtype=np.float32)[:, None]
        out[rows] = wrapped_bilinear(texels, columns + across[rows], top + down[rows])[..., 0]
    return out


def cluster(density: np.ndarray, texel_m: float, amount: float, seed: int) -> np.ndarray:
    """``density`` (square, periodic) times e^(``amount`` f - ``amount``^2 / 2), f a seeded
    periodic field of unit RMS at scales of 1 to 12 km, clipped to 0..1; as it is when
    ``amount`` is 0.

    A model trained on 3-5 km windows spreads its clouds evenly over any area, and most seeds
    lay them out alike. Real layers gather clouds into fields with clear stretches between,
    tens of kilometres across, and cover then means how much of the sky those fields fill.
    The multiplier's mean is 1, so a layer keeps most of its density (the bundled model's
    tiles 80 %: the densest clouds in the fields saturate); at a given cover the fields fill
    in and the gaps empty. The field wraps, so the tile stays seamless."""
    if amount <= 0.0:
        return density
    field = fractal_field(
        density.shape[0], texel_m, seed, CLUSTER_AXIS,
        CLUSTER_LONGEST_M, CLUSTER_SHORTEST_M, CLUSTER_SLOPE,
    )  # fmt: skip
    gain = np.exp(amount * field - amount * amount / 2.0).astype(np.float32)
    return np.clip(density * gain, 0.0, 1.0).astype(np.float32)


def layer_density(tile: np.ndarray, settings: CloudSettings) -> np.ndarray:
    """(N, N) cloud density as a sky draws it: a cloud model's tile (or a cloud map) read as
    density (``generator.sky.cloudmap``), its edges frayed and its clouds gathered into fields
    as the settings say."""
    texel_m = settings.period_m / tile.shape[0]
    frayed = fray(density_from_linear(tile), texel_m, settings.edge_warp_m, settings.seed)
    return cluster(frayed, texel_m, settings.clustering, settings.seed)


def cloud_texture(tile: np.ndarray, settings: CloudSettings) -> PlaneTexture:
    """A cloud model's tile (or a cloud map) as optical thickness on the cloud layer, at the
    settings' cover. Thickness, not density, is what the pyramid averages: far away a pixel
    then sees the mean extinction of the clouds and gaps it covers (a hazy band of cloud
    toward the horizon at any cover), not a thresholded mean density (which was clear at low
    cover and solid at high cover). Every level is read as a rank and thresholded after,
    so outlines are smooth curves up close and seen obliquely (``ThresholdTexture``). A
    closing deck gathers into large masses (``deck_masses``)."""
    density = periodic_blur(cover_density(layer_density(tile, settings)), OUTLINE_SMOOTHING)
    rank = cover_rank(density.astype(np.float32), settings.cover)
    texel_m = settings.period_m / tile.shape[0]
    rank = deck_masses(rank, texel_m, settings.cover, settings.seed)
    return ThresholdTexture(rank[..., None], settings.period_m, CoverProfile(settings.cover))
