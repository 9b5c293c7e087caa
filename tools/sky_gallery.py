"""The composed sky's gallery and measures: 8 seeds x {clear, broken, overcast} x {noon, sunset}
beside the reserved real panoramas, and how far the upper hemisphere is from real skies.

    python tools/sky_gallery.py --data /work/data            # docs/gallery/sky-grid.jpg + numbers
    python tools/sky_gallery.py --data DIR --clouds my.safetensors --out /tmp/grid.jpg
    python tools/sky_gallery.py --data DIR --covers broken --out /tmp/b.jpg  # 16 skies, 3 min
    python tools/sky_gallery.py --cycles-only    # docs/gallery/composed-sky-cycles.jpg
    python tools/sky_gallery.py --hills-only     # docs/gallery/hills.jpg
    python tools/sky_gallery.py --strips BANDS   # docs/gallery/matte-strips.jpg and -strip-band
    python tools/sky_gallery.py --layers DATA    # the cloud layer against real layers

The clouded skies (and the strips) lie under the bundled sky's cirrus veil, with the cloud
seed; the clear ones under none.

``--strips`` takes a folder of horizon bands (``DATA/train/horizon``, ``tools/horizon_bands.py``)
and renders four 8192 x 1024 matte strips (120 degrees, cylindrical; cloud seeds 0-3, two at
noon and two toward a low sun) and a 360-degree cyclorama, each over one band, above the
reserved bands (``DATA/validation/horizon``) composited over a flat sky; the first strip alone
is the README's picture (``matte-strip-band.jpg``).

``--layers`` measures the cloud layer itself: density windows of 3.4 km (the reserved layers'
384-px windows) and 4x as wide averaged down, 16 per seed for seeds 0-3 of the cloud model's
2048-px tile (14.6 m a texel), as drawn, with the clouds' edges frayed as a sky frays them
(``CloudSettings.edge_warp_m``), and also gathered into fields (``CloudSettings.clustering``),
against the reserved layers (``DATA/validation/clouds``) beside
three random windows of each training layer against them (the real-vs-real baseline).

The Cycles picture is the bundled sky (``generator/models/sky.json``) without its disc, lighting
a small scene as the World together with the Sun lamp the file records.

Every sky is rendered as a user gets it: ``render_sky_to_file`` to an 8-bit PNG, its disc
drawn, exposed by the sky's own meter. Real panoramas (``DIR/{train,validation}/sky``: 4:1
upper-hemisphere sky boxes and 2:1 HDRIs) are brought to the same display space: boxes as they
are, HDRIs by a fixed rule (``real_upper``: their key made mid-grey, the ``shoulder`` tone), so
the judge does not move with our own exposure and tone. Each upper hemisphere becomes four
square frames of 128 px (one per quarter of azimuth). Printed: the streak ratio of each sky;
KID (Inception, with its standard error) of our frames, all and by condition, against the
reserved real frames beside the training panoramas' frames against them (the real-vs-real
baseline), and against the training panoramas' (92 frames to the reserved 20: a smaller error),
each reserved panorama's KID to ours and to the training frames, which of our frames are
farthest from the training ones (KID's witness), and each training panorama against the
others, under three judges (``JUDGES``: the frames as they are, blurred, under a common noise);
SWD against the reserved frames beside the training panoramas' (equal frame counts), again
against the reserved panoramas that are sky (``RESERVED_SKIES``, as KID is) and against each
reserved panorama alone; and how
far each set's display luminance reaches into the darks and lights (``light_range``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from generator.files import linear_to_srgb, read_image, srgb_to_linear  # noqa: E402
from generator.sky import (  # noqa: E402
    REC709_LUMINANCE,
    CloudSettings,
    GroundSettings,
    HorizonSettings,
    SkyComposition,
    SkyRecipe,
    SkySettings,
    StripCamera,
    read_sky_recipe,
    render_sky_to_file,
    tone_map,
)
from trainer.evaluate import swd  # noqa: E402
from trainer.kid import inception_features, kid, witness  # noqa: E402

COVERS = {"clear": 0.0, "broken": 0.35, "overcast": 0.9}
SUNS = {"noon": (30.0, 55.0), "sunset": (30.0, 3.0)}
SEEDS = range(8)
WIDTH = 512
FRAME = 128
QUARTERS = 4
"""Frames a panorama's upper hemisphere gives, one per quarter of azimuth."""
THUMB = 256
REAL_KEY = 0.18
"""Where ``real_upper`` puts a real HDRI's key: mid-grey, the rule every measure here was first
taken with."""


@functools.cache
def bundled() -> SkyRecipe:
    """The bundled sky's recipe (``generator/models/sky.json``): its sun, its cirrus veil and
    its hills at the horizon."""
    from generator.files import bundled_recipes

    return read_sky_recipe(bundled_recipes()["sky"])


def composition(cover: float, sun: tuple[float, float], seed: int, clouds: str) -> SkyComposition:
    """The bundled composition's parts at one cover, sun and seed: a clouded sky (cover > 0)
    under the bundled cirrus veil of the same seed, a clear one under none; the bundled hills
    drawn from the seed; the sun's disc drawn as the bundled sky draws it, as photographs of
    the sky hold the sun."""
    azimuth, elevation = sun
    layer = CloudSettings(clouds, cover=cover, seed=seed) if cover > 0 else None
    veil = bundled().composition.cirrus
    return SkyComposition(
        sky=SkySettings(
            sun_elevation=elevation,
            sun_azimuth=azimuth,
            sun_disc=bundled().composition.sky.sun_disc,
        ),
        clouds=layer,
        cirrus=dataclasses.replace(veil, seed=seed) if veil is not None and cover > 0 else None,
        ground=GroundSettings("terrain"),
        horizon=tuple(dataclasses.replace(b, seed=seed) for b in bundled().composition.horizon),
    )


def render_display(comp: SkyComposition, folder: Path, name: str) -> np.ndarray:
    """(H, W, 3) float32 display values in 0..1 of the 8-bit PNG a user gets."""
    path = folder / f"{name}.png"
    render_sky_to_file(SkyRecipe(comp, width=WIDTH), path)
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def sun_quarter(azimuth: float) -> int:
    """Which of ``quarters``' frames holds a sun at ``azimuth`` degrees (0 at the equirect's
    centre column, positive to the right)."""
    return int(QUARTERS * ((0.5 + azimuth / 360.0) % 1.0))


def quarters(upper: np.ndarray) -> list[np.ndarray]:
    """Four FRAME x FRAME frames of a (h, 4h, 3) upper hemisphere, one per quarter of azimuth."""
    image = Image.fromarray((np.clip(upper, 0, 1) * 255).astype(np.uint8))
    image = image.resize((QUARTERS * FRAME, FRAME), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    return [pixels[:, i * FRAME : (i + 1) * FRAME] for i in range(QUARTERS)]


def real_upper(path: Path) -> np.ndarray:
    """A real panorama's upper hemisphere in display values (h, 4h, 3)."""
    if path.suffix.lower() != ".exr":
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
        if pixels.shape[1] >= 4 * pixels.shape[0]:  # a 4:1 sky box: the upper hemisphere
            return pixels
        return pixels[: pixels.shape[0] // 2]
    linear = read_image(path)[..., :3].astype(np.float32)
    upper = linear[: linear.shape[0] // 2]
    luminance = np.maximum(upper.astype(np.float64) @ REC709_LUMINANCE, 1e-9)
    weight = np.sin((np.arange(len(upper)) + 0.5) / len(upper) * math.pi / 2)[:, None]
    weight = np.broadcast_to(weight, luminance.shape)
    key = math.exp(float((np.log(luminance) * weight).sum() / weight.sum()))
    exposure = math.log2(REAL_KEY / key)
    return linear_to_srgb(tone_map(upper, exposure, "shoulder")).astype(np.float32)


RESERVED_SKIES = ("stratus_2", "sunset_2", "open3d_brightday")
"""The reserved panoramas whose upper hemisphere is sky (looked at): ``courtyard``'s is a roof
and walls, ``open3d_konzerthaus``'s a city square's buildings to a quarter of its height.
Measures against all five reward frames that hold buildings, which no sky does."""


def sky_frames(data: Path) -> np.ndarray:
    """Indices of the reserved frames (``real_frames``' order) of the RESERVED_SKIES."""
    stems = [path.stem for path in panoramas(data / "validation" / "sky")]
    return np.array([
        QUARTERS * i + q for i, stem in enumerate(stems) if stem in RESERVED_SKIES
        for q in range(QUARTERS)
    ])  # fmt: skip


def panoramas(folder: Path) -> list[Path]:
    """Every panorama under ``folder`` (sky boxes and HDRIs), in the frames' order."""
    return sorted(folder.glob("*/*"))


def real_frames(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames and thumbnails of every panorama under ``folder``."""
    frames, thumbs = [], []
    for path in panoramas(folder):
        upper = real_upper(path)
        frames += quarters(upper)
        thumbs.append(upper)
    return frames, thumbs


def streak_ratio(display: np.ndarray) -> float:
    """Horizontal over vertical gradient energy of log luminance, elevations 10..60 degrees."""
    linear = srgb_to_linear(np.clip(display, 0, 1)) @ REC709_LUMINANCE
    log = np.log(np.maximum(linear, 1e-4))
    per_degree = display.shape[1] / 360.0
    band = log[round(30 * per_degree) : round(80 * per_degree)]
    across = np.diff(band, axis=1, append=band[:, :1])
    return float(np.square(across).mean() / np.square(np.diff(band, axis=0)).mean())


def thumbnail(pixels: np.ndarray, width: int = THUMB) -> Image.Image:
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    return image.resize((width, round(width * pixels.shape[0] / pixels.shape[1])))


def cycles_picture(out: Path, samples: int) -> None:
    """The bundled composition without its disc in Blender's World, plus its Sun lamp."""
    from gallery import cycles_scene

    from generator.files import read_metadata
    from generator.sky import LAMP_KEY

    recipe = bundled()
    sky = dataclasses.replace(recipe.composition.sky, sun_disc=False)
    recipe = recipe.replace(composition=dataclasses.replace(recipe.composition, sky=sky))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sky.exr"
        render_sky_to_file(recipe.replace(width=2048), path)
        lamp = json.loads(read_metadata(path)[LAMP_KEY])
        cycles_scene(path, out, samples, lamp=lamp)
    print(f"wrote {out}")


HILL_SUNS = ((60.0, 35.0), (10.0, 4.0))
"""The bundled sky's sun, and a low sun ahead: the hills lit, then against the light."""


def hills_sheet(out: Path) -> None:
    """The bundled sky (its hills, clouds and veil) as 4096 x 1024 strips, 120 degrees across,
    under its own sun and under a low one ahead."""
    recipe = bundled()
    camera = StripCamera(height=1024, fov=120.0, horizon=0.6)
    strips = []
    with tempfile.TemporaryDirectory() as tmp:
        for azimuth, elevation in HILL_SUNS:
            sky = dataclasses.replace(
                recipe.composition.sky, sun_azimuth=azimuth, sun_elevation=elevation
            )
            comp = dataclasses.replace(recipe.composition, sky=sky)
            path = Path(tmp) / "strip.png"
            strip = recipe.replace(
                composition=comp, width=4096, projection="cylindrical", camera=camera
            )
            render_sky_to_file(strip, path)
            strips.append(np.asarray(Image.open(path).convert("RGB").resize((2048, 512))))
    Image.fromarray(np.concatenate(strips, axis=0)).save(out, quality=85, optimize=True)
    print(f"wrote {out}")


STRIPS = (  # band, cloud seed, sun (azimuth, elevation), cover
    ("stellarium_grossmugl", 0, (-50.0, 30.0), 0.3),
    ("stellarium_garching", 1, (20.0, 45.0), 0.4),
    ("torcs_corkscrew", 2, (160.0, 8.0), 0.35),
    ("stellarium_hurricane", 3, (-150.0, 12.0), 0.25),
)


def strip_sheet(bands: Path, reserved: Path, clouds: str, out: Path) -> None:
    """Four matte strips and a cyclorama over the bands, above the reserved bands."""
    previews = []
    with tempfile.TemporaryDirectory() as tmp:
        shots = [(*shot, 120.0, 8192) for shot in STRIPS]
        shots.append(("stellarium_garching", 4, (60.0, 35.0), 0.35, 360.0, 8192))
        for band, seed, (azimuth, elevation), cover, fov, width in shots:
            comp = dataclasses.replace(
                composition(cover, (azimuth, elevation), seed, clouds),
                horizon=(HorizonSettings(str(bands / f"{band}.png")),),
            )
            height = 1024 if fov < 360 else 512
            camera = StripCamera(height=height, fov=fov, horizon=0.62)
            path = Path(tmp) / "strip.png"
            render_sky_to_file(
                SkyRecipe(comp, width=width, projection="cylindrical", camera=camera), path
            )
            image = Image.open(path).convert("RGB")
            previews.append(image.resize((2048, round(2048 * height / width))))
            print(f"rendered {band} ({fov:.0f} degrees)", flush=True)
    for path in sorted(reserved.glob("*.png")):
        band = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float32) / 255.0
        sky = np.array([0.55, 0.68, 0.86], dtype=np.float32)
        flat = band[..., :3] * band[..., 3:] + sky * (1.0 - band[..., 3:])
        image = Image.fromarray((flat * 255).astype(np.uint8))
        previews.append(image.resize((2048, round(2048 * band.shape[0] / band.shape[1]))))
    sheet = np.concatenate([np.asarray(p) for p in previews], axis=0)
    Image.fromarray(sheet).save(out, quality=85, optimize=True)
    print(f"wrote {out}: 4 strips, a cyclorama, then the reserved bands")
    first = out.with_name("matte-strip-band.jpg")
    previews[0].save(first, quality=85, optimize=True)
    print(f"wrote {first}: the first strip")


LAYER_WINDOW = 384
"""Side of the reserved layers' windows, px: 3.4 km at their 8.9 m a pixel."""
LAYER_WINDOW_M = 3400.0


def layer_windows(density: np.ndarray, texel_m: float, zoom: int, count: int, seed: int) -> list:
    """``count`` random windows of ``zoom`` x 3.4 km of a periodic density tile, as grey frames
    of LAYER_WINDOW px (bilinear up, area-averaged down)."""
    rng = np.random.default_rng(seed)
    side = round(zoom * LAYER_WINDOW_M / texel_m)
    frames = []
    for y, x in rng.integers(0, density.shape[0], (count, 2)):
        window = np.roll(density, (-y, -x), axis=(0, 1))[:side, :side]
        image = Image.fromarray(np.clip(window, 0, 1).astype(np.float32), mode="F")
        resample = Image.Resampling.BILINEAR if side < LAYER_WINDOW else Image.Resampling.BOX
        grey = np.asarray(image.resize((LAYER_WINDOW, LAYER_WINDOW), resample))
        frames.append(np.repeat(grey[..., None], 3, axis=-1))
    return frames


def layer_measures(data: Path, clouds: str) -> None:
    """KID and SWD of the cloud layer's density at 1x and 4x: as drawn, frayed, and frayed and
    gathered into fields (as a sky draws it)."""
    from generator.files import load_model
    from generator.sky import layer_density, model_tile

    def grey(path: Path) -> np.ndarray:
        pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0
        return np.repeat(pixels[..., None], 3, axis=-1)

    reserved = np.stack([grey(p) for p in sorted((data / "validation/clouds").glob("*.png"))])
    rng = np.random.default_rng(0)
    train = []
    for path in sorted((data / "train/clouds").glob("*.png")):
        tile = grey(path)
        for y, x in rng.integers(0, tile.shape[0] - LAYER_WINDOW + 1, (3, 2)):
            train.append(tile[y : y + LAYER_WINDOW, x : x + LAYER_WINDOW])
    reserved_features = inception_features(reserved)
    baseline = kid(inception_features(np.stack(train)), reserved_features)
    print(f"training layers vs reserved: KID {baseline.value:.3f} ± {baseline.error:.3f}, "
          f"SWD {swd(np.stack(train), reserved):.3f}")  # fmt: skip
    model = load_model(clouds)
    settings = CloudSettings(clouds)
    tiles = [model_tile(model, seed, (), settings.tile) for seed in range(4)]
    texel_m = settings.period_m / settings.tile
    variants = {
        "as drawn": dataclasses.replace(settings, edge_warp_m=0.0, clustering=0.0),
        f"frayed {settings.edge_warp_m:.0f} m": dataclasses.replace(settings, clustering=0.0),
        f"frayed and gathered ({settings.clustering})": settings,
    }
    for name, variant in variants.items():
        layers = [
            layer_density(tile, dataclasses.replace(variant, seed=seed))
            for seed, tile in enumerate(tiles)
        ]
        for zoom in (1, 4):
            frames = np.stack([
                frame for seed, layer in enumerate(layers)
                for frame in layer_windows(layer, texel_m, zoom, 16, seed)
            ])  # fmt: skip
            ours = kid(inception_features(frames), reserved_features)
            print(f"{name}, {zoom}x: KID {ours.value:.3f} ± {ours.error:.3f}, "
                  f"SWD {swd(frames, reserved):.3f}", flush=True)  # fmt: skip


def blurred(frames: np.ndarray, sigma: float) -> np.ndarray:
    """(N, h, w, 3) frames blurred by a Gaussian of ``sigma`` px, their edges repeated."""
    radius = math.ceil(3.0 * sigma)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = torch.from_numpy(taps / taps.sum()).float()
    x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).permute(0, 3, 1, 2)
    x = torch.nn.functional.pad(x, (radius,) * 4, mode="replicate")
    for shape in ((1, 1, 1, -1), (1, 1, -1, 1)):  # along the rows, then down the columns
        x = torch.nn.functional.conv2d(x, taps.view(shape).repeat(3, 1, 1, 1), groups=3)
    return x.permute(0, 2, 3, 1).numpy()


def noisy(frames: np.ndarray, levels: float) -> np.ndarray:
    """Frames with the same seeded Gaussian noise of ``levels`` 8-bit levels added."""
    noise = np.random.default_rng(0).normal(0.0, levels / 255.0, frames.shape)
    return np.clip(frames + noise, 0.0, 1.0).astype(np.float32)


JUDGES = {
    "as they are": lambda frames: frames,
    "blurred (sigma 1 px), most grain hidden": lambda frames: blurred(frames, 1.0),
    "under the same faint noise (1.5 levels), grain evened out": lambda frames: noisy(frames, 1.5),
}
"""The frames as the judge sees them. Inception is sensitive to a photograph's grain, which our
renders lack (but for the 8-bit files' dither) and no one sees at the frames' size: the second
and third judges show how much of each figure that is (blurring hides most of it, added noise
evens it out)."""


def report_kid(features: list[np.ndarray], counts: dict[tuple[str, str], int], data: Path) -> None:
    """KID of our frames (``features[0]``, conditions (sun, cover) in ``counts``' order)
    against the reserved and the training panoramas' frames (``features[1]``, ``[2]``: those
    under ``data``'s validation and train folders) and against the reserved skies
    (``RESERVED_SKIES``), all and by condition; ours and the
    training frames against each reserved panorama; each training panorama against the
    others."""
    ours, reserved, train = features
    skies = reserved[sky_frames(data)]
    train_reserved, train_skies = kid(train, reserved), kid(train, skies)
    references = (("reserved", reserved, train_reserved, "them"),
                  ("reserved skies", skies, train_skies, "them"),
                  ("training panoramas", train, train_reserved, "reserved"))  # fmt: skip
    for name, reference, real, baseline in references:
        both = kid(ours, reference)
        ratio = both.value / real.value
        print(f"  KID vs {name} (training vs {baseline}: "
              f"{real.value:.3f} ± {real.error:.3f}): "
              f"all {both.value:.3f} ± {both.error:.3f} ({ratio:.2f} times)")  # fmt: skip
        start, parts = 0, []
        for (sun, cover), count in counts.items():
            value = kid(ours[start : start + count], reference).value
            parts.append(f"{cover} {sun} {value:.3f}")
            start += count
        print(f"    {', '.join(parts)}")
    values = []
    for i, path in enumerate(panoramas(data / "validation" / "sky")):
        own = reserved[QUARTERS * i : QUARTERS * (i + 1)]
        values.append(f"{path.stem} {kid(train, own).value:.3f} / {kid(ours, own).value:.3f}")
    print(f"  each reserved panorama, training frames / ours against it: {', '.join(values)}")
    report_farthest(ours, train, counts)
    values = []
    for i, path in enumerate(panoramas(data / "train" / "sky")):
        own = slice(QUARTERS * i, QUARTERS * (i + 1))
        rest = np.concatenate([train[: own.start], train[own.stop :]])
        values.append(f"{path.stem} {kid(train[own], rest).value:.3f}")
    print(f"  each training panorama against the others: {', '.join(values)}")


FARTHEST = 8
"""``report_farthest`` counts the farthest one in FARTHEST of our frames."""


def report_farthest(
    ours: np.ndarray, reference: np.ndarray, counts: dict[tuple[str, str], int]
) -> None:
    """Which of our frames make the distance from ``reference``: the farthest eighth by KID's
    witness (``trainer.kid.witness``), counted by condition (sun, cover) and by how many of
    them hold the sun."""
    score = witness(ours, reference)
    farthest = set(np.argsort(-score)[: len(score) // FARTHEST].tolist())
    start, parts, sunlit = 0, [], 0
    for (sun, cover), count in counts.items():
        towards = sun_quarter(SUNS[sun][0])
        mine = [i for i in range(start, start + count) if i in farthest]
        sunlit += sum((i - start) % QUARTERS == towards for i in mine)
        parts += [f"{cover} {sun} {len(mine)}"] if mine else []
        start += count
    print(f"  our {len(farthest)} frames farthest from the training panoramas' (KID's "
          f"witness): {', '.join(parts)}; {sunlit} of them hold the sun")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="assembled data folder (for the grid)")
    parser.add_argument("--clouds", default="clouds", help="the cloud model (bundled 'clouds')")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery" / "sky-grid.jpg")
    parser.add_argument("--cycles-only", action="store_true", help="only the Cycles picture")
    parser.add_argument("--hills-only", action="store_true", help="only the hills' strips")
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples per pixel")
    parser.add_argument("--strips", type=Path, help="horizon bands: render the strip sheet")
    parser.add_argument("--layers", type=Path, help="assembled data: measure the cloud layer")
    parser.add_argument(
        "--covers",
        nargs="+",
        choices=COVERS,
        default=list(COVERS),
        help="only these covers (a quicker look at a change; needs --out)",
    )
    parser.add_argument(
        "--suns", nargs="+", choices=SUNS, default=list(SUNS), help="only these suns (needs --out)"
    )
    args = parser.parse_args(argv)
    partial = len(args.covers) < len(COVERS) or len(args.suns) < len(SUNS)
    if partial and args.out == parser.get_default("out"):
        parser.error("a partial gallery needs --out: the docs' grid holds every condition")
    if args.layers is not None:
        layer_measures(args.layers, args.clouds)
        return
    if args.strips is not None:
        reserved = args.strips.parent.parent / "validation" / "horizon"
        strip_sheet(args.strips, reserved, args.clouds, ROOT / "docs/gallery/matte-strips.jpg")
        return
    if args.hills_only:
        hills_sheet(ROOT / "docs" / "gallery" / "hills.jpg")
        return
    if args.cycles_only:
        cycles_picture(ROOT / "docs" / "gallery" / "composed-sky-cycles.jpg", args.samples)
        return
    torch.manual_seed(0)

    ours: dict[tuple[str, str], list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sun_name in args.suns:
            for cover_name in args.covers:
                cover, sun = COVERS[cover_name], SUNS[sun_name]
                ours[sun_name, cover_name] = [
                    render_display(composition(cover, sun, seed, args.clouds), Path(tmp), "s")
                    for seed in SEEDS
                ]
                print(f"rendered {cover_name} {sun_name}", flush=True)
    reserved, reserved_thumbs = real_frames(args.data / "validation" / "sky")
    train, _ = real_frames(args.data / "train" / "sky")

    rows = [
        np.concatenate([np.asarray(thumbnail(sky)) for sky in skies], axis=1)
        for skies in ours.values()
    ]
    width = rows[0].shape[1]
    real_width = min(2 * THUMB, width // len(reserved_thumbs))
    real_row = np.concatenate([np.asarray(thumbnail(t, real_width)) for t in reserved_thumbs], 1)
    pad = np.zeros((real_row.shape[0], width - real_row.shape[1], 3), dtype=np.uint8)
    sheet = np.concatenate([*rows, np.concatenate([real_row, pad], axis=1)], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, quality=85)
    print(f"wrote {args.out}: rows {', '.join(f'{c} {s}' for s, c in ours)}; reserved real last")

    streaks = {f"{c} {s}": np.median([streak_ratio(x) for x in v]) for (s, c), v in ours.items()}
    print("streak ratio (median of 8 seeds; real sky boxes 0.18-0.54):")
    for name, value in streaks.items():
        print(f"  {name}: {value:.2f}")
    frames = {
        key: [f for sky in skies for f in quarters(sky[: len(sky) // 2])]
        for key, skies in ours.items()
    }
    our_frames = np.stack([f for part in frames.values() for f in part])
    reserved_frames, train_frames = np.stack(reserved), np.stack(train)
    counts = {key: len(part) for key, part in frames.items()}
    for judge, seen in JUDGES.items():
        print(f"judged {judge}:")
        report_kid(
            [inception_features(seen(x)) for x in (our_frames, reserved_frames, train_frames)],
            counts,
            args.data,
        )
    count = min(len(our_frames), len(train_frames))
    ours_swd, real_swd = swd_pair(our_frames, train_frames, reserved_frames, count)
    print(f"SWD vs reserved ({count} frames): ours {ours_swd:.3f}, training panoramas "
          f"{real_swd:.3f}, ratio {ours_swd / real_swd:.2f} (goal <= 1.3)")  # fmt: skip
    ours_swd, real_swd = swd_pair(
        our_frames, train_frames, reserved_frames[sky_frames(args.data)], count
    )
    print(f"  vs the reserved skies: ours {ours_swd:.3f}, training panoramas {real_swd:.3f}, "
          f"ratio {ours_swd / real_swd:.2f}")  # fmt: skip
    parts = []
    for i, path in enumerate(panoramas(args.data / "validation" / "sky")):
        own = reserved_frames[QUARTERS * i : QUARTERS * (i + 1)]
        ours_swd, real_swd = swd_pair(our_frames, train_frames, own, count)
        parts.append(f"{path.stem} {ours_swd / real_swd:.2f}")
    print(f"  ratio against each reserved panorama alone: {', '.join(parts)}")
    print("display luminance, percentiles 1 / 10 / 50 / 90 / 99: "
          f"ours {light_range(our_frames)}, training panoramas {light_range(train_frames)}, "
          f"reserved {light_range(reserved_frames)}")  # fmt: skip


def swd_pair(
    ours: np.ndarray, train: np.ndarray, reference: np.ndarray, count: int
) -> tuple[float, float]:
    """SWD of ``count`` of our frames and of as many training frames against ``reference``,
    each the mean of four random draws: a ratio of SWDs is fair only between equal counts."""
    rng = np.random.default_rng(0)

    def mean_swd(frames: np.ndarray) -> float:
        draws = [
            swd(frames[rng.permutation(len(frames))[:count]], reference, seed=d) for d in range(4)
        ]
        return float(np.mean(draws))

    return mean_swd(ours), mean_swd(train)


def light_range(frames: np.ndarray) -> str:
    """Percentiles of the frames' luminance in display values (Rec. 709 weights on the values
    as shown): how far into the darks and the lights a set of frames reaches."""
    values = np.percentile(frames.reshape(-1, 3) @ REC709_LUMINANCE, (1, 10, 50, 90, 99))
    return " / ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
