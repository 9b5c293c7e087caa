"""Regenerate the gallery (README and docs/models.md) from fixed recipes with the bundled models.

    python tools/gallery.py                 # into docs/gallery/
    python tools/gallery.py --no-cycles     # skip the Blender render (no bpy needed)
    python tools/gallery.py --only terrain  # the pictures of one model (after re-bundling it)

Every picture comes from a recipe in ``GALLERY`` (fixed seeds, no picking): a 360-degree sky with a
sun, the same sky lighting a small scene in Cycles (headless Blender from the ``bpy`` wheel), a
16384 x 2048 matte strip (the sky model's horizon band drawn 8x larger), a terrain tile repeated
3 x 3 and a panorama fusing three sky styles. The skies are the learned whole-sphere model's,
``sky-360`` (the default sky until it became a composed one, ``generator/models/sky.json``).
Full-size renders go to a temporary folder; the gallery keeps small JPEG previews (tone-mapped:
Reinhard, then sRGB) and each render's recipe as JSON beside its preview.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator import load_model, new_recipe, render_to_file  # noqa: E402
from generator.files import Sun, read_image  # noqa: E402
from trainer.evaluate import display  # noqa: E402

OUT = ROOT / "docs" / "gallery"


@dataclass(frozen=True)
class Shot:
    name: str
    model: str
    width: int
    height: int
    preview_width: int
    seed: int = 1
    wrap: str = "none"
    projection: str = "flat"
    styles: tuple[int, ...] = ()
    repeat: int = 1
    """Show the render repeated repeat x repeat times (a tileable texture)."""
    scale: int = 1
    suffix: str = ".exr"
    sun: Sun | None = None


SKY = "sky-360"
"""The learned whole-sphere sky (the composed default ``sky`` is no model)."""

GALLERY = (
    Shot("sky", SKY, 4096, 2048, 1024, seed=1, wrap="x", projection="equirect", sun=Sun(-45, 35)),
    Shot("matte-strip", SKY, 16384, 2048, 2048, seed=2, scale=8),
    Shot("terrain-3x3", "terrain", 512, 512, 768, seed=3, wrap="xy", repeat=3, suffix=".png"),
    Shot("fusion", SKY, 4096, 2048, 1024, wrap="x", projection="equirect", styles=(4, 9, 12)),
)


def render_shot(shot: Shot, scratch: Path) -> Path:
    model = load_model(shot.model)
    recipe = new_recipe(
        model.config, model.hash, shot.width, shot.height, seed=shot.seed, wrap=shot.wrap,
        projection=shot.projection, style_seeds=shot.styles, scale=shot.scale,
    ).replace(sun=shot.sun)  # fmt: skip
    path = scratch / f"{shot.name}{shot.suffix}"
    render_to_file(model, recipe, path)
    (OUT / f"{shot.name}.json").write_text(recipe.to_json() + "\n", encoding="utf-8")
    return path


def save_preview(linear: np.ndarray, path: Path, width: int, repeat: int = 1) -> None:
    """A tone-mapped JPEG of ``width`` pixels (after tiling ``repeat`` x ``repeat``)."""
    image = np.tile(linear, (repeat, repeat, 1))
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    pixels = (np.clip(display(image), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(pixels).resize((width, height), Image.Resampling.LANCZOS).save(
        path, quality=88, optimize=True
    )


def cycles_scene(sky: Path, out: Path, samples: int = 32, lamp: dict | None = None) -> None:
    """Render three objects on a ground plane lit by the sky (World) and, if given, the Sun
    lamp a composed sky file records (its direction in the sky's frame: y up, z toward the
    image's centre column, which Blender's equirect mapping shows toward +X, x toward -Y)."""
    import bpy

    addon_utils = importlib.import_module("addon_utils")  # on the path once bpy is imported

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("cycles")
    scene = bpy.context.scene
    world = bpy.data.worlds.new("Sky")
    world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    env = nodes.new("ShaderNodeTexEnvironment")
    env.image = bpy.data.images.load(str(sky))
    # Expose like a camera's auto exposure: the sky's mean luminance becomes mid-grey.
    mean = float((read_image(sky) @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)).mean())
    scene.view_settings.exposure = math.log2(0.18 / max(mean, 1e-6))
    links.new(env.outputs["Color"], nodes["Background"].inputs["Color"])
    scene.world = world
    if lamp is not None:
        sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
        sun.data.energy, sun.data.color = lamp["strength"], lamp["colour"]
        sun.data.angle = math.radians(lamp["angular_diameter"])
        x, y, z = lamp["direction"]
        mathutils = importlib.import_module("mathutils")
        sun.rotation_mode = "QUATERNION"
        sun.rotation_quaternion = mathutils.Vector((z, -x, y)).to_track_quat("Z", "Y")
        scene.collection.objects.link(sun)

    def material(name: str, color, roughness: float, metallic: float = 0.0):
        mat = bpy.data.materials.new(name)
        mat.use_nodes = True
        bsdf = mat.node_tree.nodes["Principled BSDF"]
        bsdf.inputs["Base Color"].default_value = (*color, 1.0)
        bsdf.inputs["Roughness"].default_value = roughness
        bsdf.inputs["Metallic"].default_value = metallic
        return mat

    def add(mesh_op, location, mat, **kw):
        mesh_op(location=location, **kw)
        bpy.context.object.data.materials.append(mat)
        return bpy.context.object

    ground = material("Ground", (0.5, 0.5, 0.5), 0.8)
    add(bpy.ops.mesh.primitive_plane_add, (0, 0, 0), ground, size=40)
    chrome = material("Chrome", (0.9, 0.9, 0.9), 0.05, 1.0)
    add(bpy.ops.mesh.primitive_uv_sphere_add, (-1.6, 0, 1), chrome, segments=64, ring_count=32)
    bpy.ops.object.shade_smooth()
    clay = material("Clay", (0.8, 0.5, 0.35), 0.6)
    add(bpy.ops.mesh.primitive_cube_add, (0.8, -0.6, 0.75), clay, size=1.5)
    white = material("White", (0.85, 0.85, 0.85), 0.4)
    add(bpy.ops.mesh.primitive_uv_sphere_add, (2.3, 0.8, 0.6), white, radius=0.6, segments=48)
    bpy.ops.object.shade_smooth()
    camera_data = bpy.data.cameras.new("Camera")
    camera_data.lens = 30
    camera = bpy.data.objects.new("Camera", camera_data)
    camera.location = (0.0, -7.5, 2.2)
    camera.rotation_euler = (math.radians(78), 0.0, 0.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 768, 432
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "AgX"
    scene.render.image_settings.file_format = "JPEG"
    scene.render.image_settings.quality = 88
    scene.render.filepath = str(out)
    bpy.ops.render.render(write_still=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cycles", action="store_true", help="skip the Cycles render")
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples per pixel")
    parser.add_argument(
        "--only", nargs="+", choices=sorted({shot.model for shot in GALLERY}), metavar="MODEL",
        help="only the pictures made with these bundled models",
    )  # fmt: skip
    args = parser.parse_args(argv)
    shots = [shot for shot in GALLERY if args.only is None or shot.model in args.only]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        renders = {}
        for shot in shots:
            renders[shot.name] = render_shot(shot, scratch)
            preview = OUT / f"{shot.name}.jpg"
            save_preview(read_image(renders[shot.name]), preview, shot.preview_width, shot.repeat)
            print(f"wrote {preview.relative_to(ROOT)}", flush=True)
        if not args.no_cycles and "sky" in renders:
            out = OUT / "sky-cycles.jpg"
            cycles_scene(renders["sky"], out, args.samples)
            print(f"wrote {out.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
