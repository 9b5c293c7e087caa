"""The Blender add-on, headless with the real ``bpy`` module: operators, node graphs, errors.

Blender runs in background mode here, so the operators render blocking (the UI's worker thread
and modal timer are covered in test_addon_jobs.py). Each test starts from factory settings with
the add-on enabled, two tiny models listed in its preferences and small canvas sizes.
"""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import bpy
import numpy as np
import pytest
import torch
from conftest import make_model_file
from PIL import Image

import addon
from addon import backend, nodes, operators
from addon import models as addon_models
from addon import preferences as addon_preferences
from generator import read_recipe
from generator.files.imagefile import read_image
from generator.files.modelfile import file_hash

LEARNED_SKY = next(
    name
    for name in ("sky-360", "sky")
    if (
        Path(addon_models.__file__).parents[1] / "generator/models" / f"{name}.safetensors"
    ).exists()
)
"""The bundled whole-sphere sky model: ``sky-360`` since ``sky`` names the composition."""


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("addon-models")
    return SimpleNamespace(
        sky=make_model_file(folder / "sky.safetensors").resolve(),
        flat=make_model_file(folder / "flat.safetensors", vertical=False, seed=1).resolve(),
        sphere=make_model_file(
            folder / "sphere.safetensors",
            seed=2,
            sphere=True,
            color_space="log",
            log_stops=1.0,
            rgb_scale=0.2,
        ).resolve(),
    )


@pytest.fixture
def blender(tmp_path, model_files):
    """Factory Blender with the add-on enabled, our models listed and small sizes chosen."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="addon")
    prefs = bpy.context.preferences.addons["addon"].preferences
    prefs.output_dir = str(tmp_path / "out")
    for path in (model_files.sky, model_files.flat, model_files.sphere):
        prefs.model_paths.add().filepath = str(path)
    props = bpy.context.scene.endless_backdrops
    props.sky_model = props.matte_model = str(model_files.sky)
    props.terrain_model = str(model_files.flat)
    props.device = "CPU"
    props.sky_source = "LEARNED"  # the panorama models' path; the physical sky: test_addon_sky
    props.matte_source = "LEARNED"  # the learned strip; the physical one: test_addon_matte
    props.sky_resolution = "CUSTOM"
    props.sky_width = 128
    props.terrain_size = 64
    props.matte_width, props.matte_height = 128, 32
    yield SimpleNamespace(props=props, prefs=prefs, out=tmp_path / "out", models=model_files)
    bpy.ops.preferences.addon_disable(module="addon")


@pytest.fixture
def untouched(tmp_path):
    """A new scene as a user first sees it: only the bundled models, nothing chosen. Only the
    output folder is set, so that the test does not write into the real user data folder."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="addon")
    prefs = bpy.context.preferences.addons["addon"].preferences
    prefs.output_dir = str(tmp_path / "out")
    yield SimpleNamespace(props=bpy.context.scene.endless_backdrops, out=tmp_path / "out")
    bpy.ops.preferences.addon_disable(module="addon")


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def links_of(tree) -> set[tuple[str, str, str, str]]:
    return {
        (link.from_node.name, link.from_socket.name, link.to_node.name, link.to_socket.name)
        for link in tree.links
    }


def snapshot(tree) -> tuple:
    return sorted(n.name for n in tree.nodes), links_of(tree)


def test_register_and_unregister_twice():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for _ in range(2):
        addon.register()
        assert hasattr(bpy.types.Scene, "endless_backdrops")
        assert hasattr(bpy.types, "EB_PT_world") and hasattr(bpy.types, "EB_PT_sidebar")
        assert bpy.ops.endless_backdrops.generate.poll()
        addon.unregister()
        assert not hasattr(bpy.types.Scene, "endless_backdrops")
        assert not hasattr(bpy.types, "EB_PT_world")
    for _ in range(2):
        bpy.ops.preferences.addon_enable(module="addon")
        assert "addon" in bpy.context.preferences.addons
        bpy.ops.preferences.addon_disable(module="addon")
        assert "addon" not in bpy.context.preferences.addons


def test_a_new_scene_reads_a_model_for_every_kind_without_warnings(untouched, capfd):
    props = untouched.props
    assert (props.sky_model, props.terrain_model, props.matte_model) == (
        LEARNED_SKY,
        "terrain",
        LEARNED_SKY,
    )
    assert props.clouds_model == "clouds" and props.ground_model == "terrain"
    assert "matches no enum" not in "".join(capfd.readouterr())


def test_generate_on_an_untouched_scene_works_for_every_kind(untouched):
    """Only the sizes are made small; every other setting, the models included, is as new (the
    Sky and Matte kinds' default, the physical sky, is tested in test_addon_sky.py and
    test_addon_matte.py)."""
    props = untouched.props
    props.sky_source = props.matte_source = "LEARNED"
    props.sky_resolution, props.sky_width = "CUSTOM", 128
    props.terrain_size = 64
    props.matte_width, props.matte_height = 128, 32
    bpy.ops.mesh.primitive_plane_add()
    made = {}
    for kind in ("SKY", "TERRAIN", "MATTE"):
        assert bpy.ops.endless_backdrops.generate(kind=kind) == {"FINISHED"}
        made[kind] = read_recipe(bpy.path.abspath(props.recipe_image.filepath)).model_hash
    bundled = {Path(e.path).stem: file_hash(e.path) for e in addon_models.bundled_models()}
    sky, terrain = bundled[LEARNED_SKY], bundled["terrain"]
    assert made == {"SKY": sky, "TERRAIN": terrain, "MATTE": sky}


def test_generate_sky_builds_the_world_node_setup(blender):
    blender.props.strength = 2.5
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}

    (exr,) = files_in(blender.out)
    assert exr.suffix == ".exr"
    recipe = read_recipe(exr)
    assert (recipe.width, recipe.height, recipe.wrap, recipe.projection) == (
        128,
        64,
        "x",
        "equirect",
    )
    world = bpy.context.scene.world
    tree = world.node_tree
    texture = tree.nodes[nodes.SKY_TEXTURE]
    assert texture.bl_idname == "ShaderNodeTexEnvironment"
    assert texture.projection == "EQUIRECTANGULAR"
    assert Path(bpy.path.abspath(texture.image.filepath)) == exr
    assert tuple(texture.image.size) == (128, 64)
    background = tree.nodes[nodes.SKY_BACKGROUND]
    assert background.inputs["Strength"].default_value == pytest.approx(2.5)
    output = tree.get_output_node("ALL")
    assert {
        (nodes.SKY_COORDS, "Generated", nodes.SKY_MAPPING, "Vector"),
        (nodes.SKY_MAPPING, "Vector", nodes.SKY_TEXTURE, "Vector"),
        (nodes.SKY_TEXTURE, "Color", nodes.SKY_BACKGROUND, "Color"),
        (nodes.SKY_BACKGROUND, "Background", output.name, "Surface"),
    } <= links_of(tree)
    assert blender.props.recipe_image == texture.image


def test_regenerate_reuses_our_nodes_and_leaves_the_users_alone(blender):
    world = bpy.data.worlds.new("User World")
    bpy.context.scene.world = world
    tree = world.node_tree
    user_background = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBackground")
    user_background.inputs["Strength"].default_value = 0.25
    bpy.ops.endless_backdrops.generate(kind="SKY")
    rgb = tree.nodes.new("ShaderNodeRGB")
    rgb.name = "My Colour"
    tree.links.new(rgb.outputs["Color"], user_background.inputs["Color"])
    before = snapshot(tree)

    blender.props.seed = 11
    blender.props.rotation = math.radians(90)
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}

    assert snapshot(tree) == before
    assert tree.nodes[user_background.name].inputs["Strength"].default_value == 0.25
    assert ("My Colour", "Color", user_background.name, "Color") in links_of(tree)
    image = tree.nodes[nodes.SKY_TEXTURE].image
    assert read_recipe(bpy.path.abspath(image.filepath)).seed == 11
    rotation = tree.nodes[nodes.SKY_MAPPING].inputs["Rotation"].default_value
    assert rotation[2] == pytest.approx(math.radians(90))
    assert len(files_in(blender.out)) == 2


def test_strength_rotation_and_tiling_act_on_built_nodes(blender):
    bpy.ops.endless_backdrops.generate(kind="SKY")
    tree = bpy.context.scene.world.node_tree
    blender.props.strength = 4.0
    blender.props.rotation = 1.0
    assert tree.nodes[nodes.SKY_BACKGROUND].inputs["Strength"].default_value == 4.0
    assert tree.nodes[nodes.SKY_MAPPING].inputs["Rotation"].default_value[2] == pytest.approx(1)


def test_terrain_material_on_the_active_object(blender):
    blender.props.file_format = "PNG"
    blender.props.terrain_tiling = 3.0
    bpy.ops.mesh.primitive_plane_add()
    plane = bpy.context.active_object
    user_material = bpy.data.materials.new("User Material")
    plane.data.materials.append(user_material)

    assert bpy.ops.endless_backdrops.generate(kind="TERRAIN") == {"FINISHED"}

    (png,) = files_in(blender.out)
    recipe = read_recipe(png)
    assert (png.suffix, recipe.width, recipe.height, recipe.wrap) == (".png", 64, 64, "xy")
    material = plane.active_material
    assert material.get(nodes.TAG) == "terrain"
    assert user_material.use_fake_user, "the replaced material must survive saving"
    tree = material.node_tree
    texture = tree.nodes[nodes.TERRAIN_TEXTURE]
    assert texture.extension == "REPEAT"
    assert Path(bpy.path.abspath(texture.image.filepath)) == png
    scale = tree.nodes[nodes.TERRAIN_MAPPING].inputs["Scale"].default_value
    assert tuple(scale) == pytest.approx((3.0, 3.0, 1.0))
    output = tree.get_output_node("ALL")
    assert {
        (nodes.TERRAIN_COORDS, "UV", nodes.TERRAIN_MAPPING, "Vector"),
        (nodes.TERRAIN_MAPPING, "Vector", nodes.TERRAIN_TEXTURE, "Vector"),
        (nodes.TERRAIN_TEXTURE, "Color", nodes.TERRAIN_BSDF, "Base Color"),
        (nodes.TERRAIN_BSDF, "BSDF", output.name, "Surface"),
    } == links_of(tree)

    before, materials = snapshot(tree), len(bpy.data.materials)
    blender.props.seed = 5
    blender.props.terrain_tiling = 6.0
    assert bpy.ops.endless_backdrops.generate(kind="TERRAIN") == {"FINISHED"}
    assert plane.active_material == material and len(bpy.data.materials) == materials
    assert snapshot(tree) == before
    assert tree.nodes[nodes.TERRAIN_MAPPING].inputs["Scale"].default_value[0] == 6.0


def test_terrain_needs_a_mesh_and_its_menu_offers_only_models_that_tile(blender):
    with pytest.raises(RuntimeError, match="Select a mesh object"):
        bpy.ops.endless_backdrops.generate(kind="TERRAIN")
    bpy.ops.mesh.primitive_plane_add()
    with pytest.raises(TypeError, match="not found"):  # scripts cannot choose one either
        blender.props.terrain_model = str(blender.models.sky)
    with pytest.raises(TypeError, match="not found"):
        blender.props.sky_model = str(blender.models.flat)
    assert blender.props.terrain_model == str(blender.models.flat)
    assert files_in(blender.out) == []


def test_sizes_that_cannot_wrap_are_reported_in_the_panels_words(blender):
    """The tiny models' cells are 4 px: a tile or a sky wraps around whole cells."""
    bpy.ops.mesh.primitive_plane_add()
    blender.props.terrain_size = 66
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.endless_backdrops.generate(kind="TERRAIN")
    message = str(raised.value)
    assert "terrain's size must be a multiple of 4 pixels for this model (try 64 or 68)" in message
    blender.props.sky_width = 130
    with pytest.raises(RuntimeError, match="sky's width must be a multiple of 4") as raised:
        bpy.ops.endless_backdrops.generate(kind="SKY")
    assert "wrap" not in str(raised.value) + message
    assert files_in(blender.out) == []


def test_matte_painting_on_a_camera_facing_plane(blender):
    bpy.ops.object.camera_add(location=(0, -10, 2), rotation=(math.radians(80), 0, 0.3))
    camera = bpy.context.active_object
    bpy.context.scene.camera = camera
    blender.props.matte_distance = 20.0

    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}

    (exr,) = files_in(blender.out)
    recipe = read_recipe(exr)
    assert (recipe.width, recipe.height, recipe.wrap) == (128, 32, "none")
    plane = next(o for o in bpy.context.scene.objects if o.get(nodes.TAG) == "matte")
    width, height = plane.dimensions.x, plane.dimensions.y
    assert width / height == pytest.approx(4.0)
    to_camera = camera.matrix_world.translation - plane.matrix_world.translation
    assert to_camera.length == pytest.approx(20.0)
    normal = plane.matrix_world.to_3x3() @ plane.data.polygons[0].normal
    assert normal.normalized().dot(to_camera.normalized()) == pytest.approx(1.0)
    texture = plane.active_material.node_tree.nodes[nodes.MATTE_TEXTURE]
    assert Path(bpy.path.abspath(texture.image.filepath)) == exr

    objects = len(bpy.data.objects)
    bpy.ops.endless_backdrops.generate(kind="MATTE")
    assert len(bpy.data.objects) == objects, "the plane is reused"


def test_matte_painting_without_plane_only_saves_the_image(blender):
    blender.props.matte_plane = False
    bpy.ops.endless_backdrops.generate(kind="MATTE")
    (exr,) = files_in(blender.out)
    assert read_image(exr).shape == (32, 128, 3)
    assert len(bpy.data.objects) == 0 and len(bpy.data.images) == 1


@pytest.mark.parametrize(("detail", "scale"), [("2", 2), ("AUTO", 2)])
def test_matte_detail_draws_the_scene_larger(blender, detail, scale):
    """The tiny model's frame is 32 px tall: a 64 px matte at Auto is the scene at 2x."""
    blender.props.matte_plane = False
    blender.props.matte_width, blender.props.matte_height = 128, 64
    blender.props.detail = detail
    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    (exr,) = files_in(blender.out)
    assert read_recipe(exr).scale == scale and read_image(exr).shape == (64, 128, 3)


def test_preview_is_a_small_canvas_placed_like_the_full_render(blender, monkeypatch):
    monkeypatch.setattr(backend, "PREVIEW_WIDTH", 64)
    assert bpy.ops.endless_backdrops.generate(kind="SKY", preview=True) == {"FINISHED"}
    (preview,) = files_in(blender.out)
    assert preview.parent.name == "previews"
    assert read_image(preview).shape == (32, 64, 3)
    texture = bpy.context.scene.world.node_tree.nodes[nodes.SKY_TEXTURE]
    assert texture.image == blender.props.preview_image
    assert blender.props.recipe_image is None, "a preview is not offered for regeneration"

    bpy.ops.endless_backdrops.generate(kind="SKY")
    assert tuple(texture.image.size) == (128, 64)


def test_style_fusion_places_styles_around_the_horizon(blender):
    blender.props.use_fusion = True
    blender.props.fusion_count = 3
    blender.props.fusion_seeds = (4, 9, 12, 0)
    bpy.ops.endless_backdrops.generate(kind="SKY")
    recipe = read_recipe(files_in(blender.out)[0])
    assert [s.seed for s in recipe.styles] == [4, 9, 12]
    cells = 128 / 4
    assert [s.x for s in recipe.styles] == pytest.approx([cells / 6, cells / 2, 5 * cells / 6])


def test_regenerate_from_recipe_extends_a_matte_painting(blender):
    bpy.ops.object.camera_add(location=(0, -10, 0), rotation=(math.radians(90), 0, 0))
    bpy.context.scene.camera = bpy.context.active_object
    bpy.ops.endless_backdrops.generate(kind="MATTE")
    (small,) = files_in(blender.out)
    blender.props.recipe_scale = "2"

    assert bpy.ops.endless_backdrops.regenerate() == {"FINISHED"}

    (large,) = set(files_in(blender.out)) - {small}
    old, new = read_image(small), read_image(large)
    assert new.shape == (64, 256, 3)
    # The same pixels up to float rounding (tiles may differ in size), stored as half floats.
    np.testing.assert_allclose(new[16:48, 64:192], old, rtol=2e-3, atol=2e-4)
    plane = next(o for o in bpy.context.scene.objects if o.get(nodes.TAG) == "matte")
    texture = plane.active_material.node_tree.nodes[nodes.MATTE_TEXTURE]
    assert Path(bpy.path.abspath(texture.image.filepath)) == large
    assert blender.props.recipe_image == texture.image


def test_regenerate_exactly_in_another_format(blender):
    bpy.ops.endless_backdrops.generate(kind="SKY")
    (exr,) = files_in(blender.out)
    blender.props.recipe_scale = "1"
    blender.props.file_format = "PNG"
    assert bpy.ops.endless_backdrops.regenerate() == {"FINISHED"}
    (png,) = set(files_in(blender.out)) - {exr}
    assert png.suffix == ".png" and read_recipe(png) == read_recipe(exr)
    texture = bpy.context.scene.world.node_tree.nodes[nodes.SKY_TEXTURE]
    assert Path(bpy.path.abspath(texture.image.filepath)) == png


def test_regenerate_from_an_image_without_a_recipe_is_a_one_line_report(blender, tmp_path):
    plain = tmp_path / "holiday.png"
    Image.new("RGB", (32, 16), (90, 140, 200)).save(plain)
    blender.props.recipe_image = bpy.data.images.load(str(plain))
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.endless_backdrops.regenerate()
    message = str(raised.value).strip()
    assert "carries no Endless Backdrops recipe" in message and "\n" not in message
    assert files_in(blender.out) == []


def test_another_picture_never_overwrites_a_render_but_the_same_recipe_does(blender):
    blender.props.sky_model = str(blender.models.sphere)
    bpy.ops.endless_backdrops.generate(kind="SKY")
    (plain,) = files_in(blender.out)
    before = plain.read_bytes()
    blender.props.use_sun = True
    bpy.ops.endless_backdrops.generate(kind="SKY")  # same seed and size, with a sun
    (sunny,) = set(files_in(blender.out)) - {plain}
    assert plain.read_bytes() == before
    assert read_recipe(sunny).sun is not None and read_recipe(plain).sun is None
    bpy.ops.endless_backdrops.generate(kind="SKY")
    assert files_in(blender.out) == sorted([plain, sunny])


def test_cancel_leaves_no_file_and_no_nodes(blender, monkeypatch):
    world = bpy.data.worlds.new("User World")
    bpy.context.scene.world = world
    before, images = snapshot(world.node_tree), len(bpy.data.images)
    blender.props.sky_width = 1024  # several tiles, cancelled after the first
    real = operators.run_request

    def cancelled_after_first_tile(request, progress, cancel):
        done = []
        return real(request, lambda d, t: done.append(d), lambda: bool(done))

    monkeypatch.setattr(
        operators.EB_OT_generate, "runner", staticmethod(cancelled_after_first_tile)
    )
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"CANCELLED"}
    assert files_in(blender.out) == []
    assert snapshot(world.node_tree) == before
    assert len(bpy.data.images) == images


def test_corrupt_model_is_a_one_line_report(blender, tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    blender.prefs.model_paths.add().filepath = str(corrupt)
    blender.props.sky_model = str(corrupt.resolve())
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.endless_backdrops.generate(kind="SKY")
    message = str(raised.value).strip()
    assert "not a readable model file" in message
    assert "Traceback" not in message and "\n" not in message
    assert bpy.context.scene.world is None
    assert files_in(blender.out) == []


def test_bundled_models_are_offered_first_sky_on_top(blender):
    entries = addon_preferences.listed_models(bpy.context)
    bundled = [e for e in entries if e.bundled]
    assert [Path(e.path).stem for e in bundled[:2]] == [LEARNED_SKY, "terrain"]
    assert entries[: len(bundled)] == bundled


def test_no_model_yet_is_explained(blender, monkeypatch):
    """An installation without bundled models (a trimmed build) and none of the user's own."""
    monkeypatch.setattr(addon_models, "_model_folders", lambda: [])
    blender.prefs.model_paths.clear()
    with pytest.raises(RuntimeError, match=r"No model yet: add a \.safetensors model file"):
        bpy.ops.endless_backdrops.generate(kind="SKY")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_device_without_gpu_is_a_clear_report(blender):
    blender.props.device = "GPU"
    with pytest.raises(RuntimeError, match="no GPU"):
        bpy.ops.endless_backdrops.generate(kind="SKY")


def test_output_folder_inside_the_extension_is_refused(blender):
    blender.prefs.output_dir = str(Path(addon.__file__).parent / "renders")
    with pytest.raises(RuntimeError, match="inside the extension"):
        bpy.ops.endless_backdrops.generate(kind="SKY")
    assert not (Path(addon.__file__).parent / "renders").exists()


@pytest.mark.filterwarnings("error::RuntimeWarning")  # Blender warns of an undeclared '//' path
def test_by_default_backdrops_go_beside_the_saved_blend_linked_relatively(blender, tmp_path):
    """A project folder moves to another machine (or survives an uninstall of the extension)
    with its backdrops; an unsaved file cannot use a folder relative to it."""
    blender.prefs.output_dir = "//renders"
    with pytest.raises(RuntimeError, match="save the file first"):
        bpy.ops.endless_backdrops.generate(kind="SKY")
    project = tmp_path / "project"
    project.mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(project / "scene.blend"))
    blender.prefs.output_dir = ""
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    (exr,) = files_in(project / "backdrops")
    texture = bpy.context.scene.world.node_tree.nodes[nodes.SKY_TEXTURE]
    assert texture.image.filepath == f"//backdrops/{exr.name}"
    assert Path(bpy.path.abspath(texture.image.filepath)) == exr


WRITER = """
import sys, time
from addon.backend import RenderRequest, run_request

def progress(done, total):
    print("writing", flush=True)
    time.sleep(600)  # a long render, until the test kills it

request = RenderRequest(kind="sky", model_paths=(sys.argv[1],), out_dir=sys.argv[2], width=1024)
run_request(request, progress)
"""


def test_partials_of_a_killed_blender_are_removed_by_the_next_generate(blender):
    """Another Blender renders into the same folder: its partial file stays while it lives;
    once it is killed (SIGKILL: no clean-up of its own), the next Generate removes it."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(blender.models.sky), str(blender.out)],
        cwd=Path(addon.__file__).parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline() == "writing\n"
        (live,) = blender.out.glob(".sky-*.exr.*.partial")
        stale_preview = blender.out / "previews" / ".sky-preview-0badf00d.exr.89abcdef.partial"
        stale_preview.parent.mkdir()
        stale_preview.write_bytes(b"left by an earlier kill")
        not_ours = [blender.out / ".holiday.jpg.01234567.partial", blender.out / ".notes.partial"]
        for path in not_ours:
            path.write_bytes(b"keep")
        assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
        assert live.exists() and stale_preview.exists(), "nothing is removed while it writes"
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    assert bpy.ops.endless_backdrops.generate(kind="MATTE") == {"FINISHED"}
    assert not live.exists() and not stale_preview.exists()
    assert all(path.exists() for path in not_ours)
    assert [p.name for p in files_in(blender.out) if p.name.startswith(".")] == sorted(
        p.name for p in not_ours
    )


def test_backdrops_made_before_the_first_save_move_with_the_project(blender, tmp_path, monkeypatch):
    """An unsaved file's images live in Blender's user data folder; saving moves them beside
    the .blend file, linked relatively, so that the project folder can move."""
    user_data = tmp_path / "config" / "blender"

    def user_resource(kind, path="", create=False):
        folder = user_data / kind.lower() / path
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    monkeypatch.setattr(bpy.utils, "user_resource", user_resource)
    monkeypatch.setattr(backend, "PREVIEW_WIDTH", 64)
    blender.prefs.output_dir = ""
    bpy.ops.endless_backdrops.generate(kind="SKY", preview=True)
    bpy.ops.endless_backdrops.generate(kind="SKY")
    unsaved = user_data / "datafiles" / "endless_backdrops" / "backdrops"
    (sky,) = [p.name for p in files_in(unsaved) if p.parent == unsaved]
    project = tmp_path / "work" / "project"
    project.mkdir(parents=True)

    bpy.ops.wm.save_as_mainfile(filepath=str(project / "scene.blend"))

    texture = bpy.context.scene.world.node_tree.nodes[nodes.SKY_TEXTURE]
    assert texture.image.filepath == f"//backdrops/{sky}"
    assert blender.props.preview_image.filepath.startswith("//backdrops/previews/")
    assert files_in(unsaved) == []
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    shutil.move(project, moved)
    bpy.ops.wm.open_mainfile(filepath=str(moved / "scene.blend"))
    image = bpy.context.scene.world.node_tree.nodes[nodes.SKY_TEXTURE].image
    assert Path(bpy.path.abspath(image.filepath)) == moved / "backdrops" / sky
    assert tuple(image.size) == (128, 64) and image.has_data


def test_a_script_stops_its_batch_with_the_cancel_hook(blender, monkeypatch):
    """Documented for scripts: a signal handler (here Ctrl-C's) calls the Cancel operator, which
    stops the Generate in progress in background mode too; the loop then ends."""
    stop: list[int] = []

    def on_ctrl_c(signum, _frame):
        stop.append(signum)
        if bpy.ops.endless_backdrops.cancel.poll():  # as in docs/blender.md
            bpy.ops.endless_backdrops.cancel()

    real, main, pressed = operators.run_request, threading.main_thread().ident, []

    def ctrl_c(_done, _total):  # tiles report from worker threads; Ctrl-C reaches the main one
        if not pressed:
            pressed.append(True)
            signal.pthread_kill(main, signal.SIGINT)

    def interrupted_after_first_tile(request, progress, cancel):
        return real(request, ctrl_c, cancel)

    monkeypatch.setattr(
        operators.EB_OT_generate, "runner", staticmethod(interrupted_after_first_tile)
    )
    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    blender.props.sky_width = 1024  # several tiles
    results = []
    try:
        for seed in range(3):
            if stop:
                break
            blender.props.seed = seed
            results.append(bpy.ops.endless_backdrops.generate(kind="SKY"))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert results == [{"CANCELLED"}] and stop == [signal.SIGINT]
    assert files_in(blender.out) == []
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}, "the next one runs"


def test_cycles_render_of_the_generated_sky_shows_its_colours(blender, tmp_path):
    """An equirect panoramic camera sees the whole World: the render is the sky, resampled."""
    bpy.ops.endless_backdrops.generate(kind="SKY")
    (exr,) = files_in(blender.out)
    scene = bpy.context.scene
    camera_data = bpy.data.cameras.new("Pano")
    camera_data.type = "PANO"
    camera_data.panorama_type = "EQUIRECTANGULAR"
    camera = bpy.data.objects.new("Pano", camera_data)
    camera.rotation_euler = (math.pi / 2, 0, -math.pi / 2)
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 64, 32
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.filepath = str(tmp_path / "render.exr")

    bpy.ops.render.render(write_still=True)

    render = read_image(tmp_path / "render.exr")
    sky = read_image(exr).reshape(32, 2, 64, 2, 3).mean(axis=(1, 3))
    assert render.mean() > 0.05, "the render is black"
    assert np.corrcoef(render.ravel(), sky.ravel())[0, 1] > 0.9
    np.testing.assert_allclose(render.mean(axis=(0, 1)), sky.mean(axis=(0, 1)), rtol=0.1)


def test_a_sky_with_a_sun_casts_a_shadow_in_cycles(blender, tmp_path):
    """The sun the panel asks for is in the recipe and the EXR, and it really lights the scene:
    a cube on a plane, seen from above, throws its shadow away from the sun."""
    props = blender.props
    props.sky_model = str(blender.models.sphere)
    props.use_sun, props.sun_azimuth, props.sun_elevation, props.sun_stops = True, 0.0, 45.0, 24.0
    assert bpy.ops.endless_backdrops.generate(kind="SKY") == {"FINISHED"}
    (exr,) = files_in(blender.out)
    recipe = read_recipe(exr)
    assert (recipe.sun.azimuth, recipe.sun.elevation, recipe.sun.stops) == (0.0, 45.0, 24.0)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=8.0)
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0.0, 0.0, 0.5))
    camera_data = bpy.data.cameras.new("Top")
    camera_data.type, camera_data.ortho_scale = "ORTHO", 4.0
    camera = bpy.data.objects.new("Top", camera_data)
    camera.location = (0.0, 0.0, 10.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 16, False
    scene.render.resolution_x = scene.render.resolution_y = 64
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.filepath = str(tmp_path / "render.exr")

    bpy.ops.render.render(write_still=True)

    # The image's centre column faces +X in Blender's World, so the shadow falls towards -X:
    # 4 world units over 64 pixels, x = -1.0 is column 16 and x = +1.0 column 48 (row 32: y = 0).
    render = read_image(tmp_path / "render.exr").mean(axis=2)
    shadow, lit = render[30:34, 14:18].mean(), render[30:34, 46:50].mean()
    assert lit > 3.0 * shadow


def test_dice_and_add_model_operators(blender, tmp_path):
    blender.props.seed = 0
    bpy.ops.endless_backdrops.random_seed()
    bpy.ops.endless_backdrops.random_seed(styles=True)
    assert blender.props.seed != 0 or tuple(blender.props.fusion_seeds) != (1, 2, 3, 4)
    extra = make_model_file(tmp_path / "extra.safetensors", seed=3)
    assert bpy.ops.endless_backdrops.model_add(filepath=str(extra)) == {"FINISHED"}
    # A sky-like model becomes the choice of the kinds it can make, and only of those.
    assert blender.props.sky_model == blender.props.matte_model == str(extra.resolve())
    assert blender.props.terrain_model == str(blender.models.flat)
    with pytest.raises(RuntimeError, match="Not a model file"):
        bpy.ops.endless_backdrops.model_add(filepath=str(tmp_path / "missing.txt"))
    bpy.ops.endless_backdrops.model_remove(index=0)
    assert blender.props.sky_model == str(extra.resolve()), "the choice survives list changes"
    bpy.ops.endless_backdrops.model_remove(index=len(blender.prefs.model_paths) - 1)
    assert str(extra) not in [m.filepath for m in blender.prefs.model_paths]


@pytest.mark.parametrize(
    "content",
    [b"", b"just some notes\n", bytes(range(256)) * 4, "not ours"],
    ids=["empty", "text", "random", "foreign-safetensors"],
)
def test_add_model_refuses_a_file_that_is_not_a_model(blender, tmp_path, content):
    path = tmp_path / "download.safetensors"
    if content == "not ours":
        from safetensors.numpy import save_file

        save_file({"weight": np.zeros((2, 2), np.float32)}, str(path))
    else:
        path.write_bytes(content)
    listed = [m.filepath for m in blender.prefs.model_paths]
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.endless_backdrops.model_add(filepath=str(path))
    message = str(raised.value).strip()
    assert message.startswith("Error: Not added:") and str(path) in message
    assert "\n" not in message and "Traceback" not in message
    assert [m.filepath for m in blender.prefs.model_paths] == listed
    assert blender.props.sky_model == str(blender.models.sky)


def test_a_chosen_model_file_that_is_gone_is_reported_not_replaced(blender, tmp_path):
    mine = make_model_file(tmp_path / "my-sky.safetensors", seed=4)
    bpy.ops.endless_backdrops.model_add(filepath=str(mine))
    mine.unlink()
    assert blender.props.sky_model == str(mine.resolve()), "the menu shows the missing choice"
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.endless_backdrops.generate(kind="SKY")
    message = str(raised.value).strip()
    assert f"model file {mine.resolve()} is missing" in message and "\n" not in message
    assert bpy.context.scene.world is None and files_in(blender.out) == []


class FakeLayout:
    """Records what the panels draw and checks every property and operator they name exists."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.enabled = True

    def prop(self, data, name, **_kw):
        assert name in data.bl_rna.properties, name
        self.log.append(f"prop {name}")

    def operator(self, idname, **_kw):
        category, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, category), name), idname
        self.log.append(f"operator {idname}")
        return SimpleNamespace()

    def template_ID(self, data, name, **_kw):
        self.prop(data, name)

    def label(self, **kw):
        self.log.append(f"label {kw.get('text', '')}")

    def row(self, **_kw):
        return self

    column = box = row

    def progress(self, **_kw):
        self.log.append("progress")

    def separator(self, **_kw):
        self.log.append("separator")

    def template_icon(self, **_kw):
        self.log.append("icon")


def test_panels_draw_existing_properties_and_operators(blender, monkeypatch):
    from addon import panels

    bpy.ops.mesh.primitive_plane_add()
    blender.props.use_fusion = True
    log: list[str] = []
    for draw in (
        panels.draw_common,
        panels.draw_sky,
        panels.draw_terrain,
        panels.draw_matte,
        panels.draw_recipe,
    ):
        draw(FakeLayout(log), bpy.context)
    assert {"prop sky_model", "prop terrain_model", "prop matte_model"} <= set(log)
    assert "operator endless_backdrops.generate" in log

    monkeypatch.setattr(addon_models, "_model_folders", lambda: [])  # no bundled models either
    blender.prefs.model_paths.clear()
    log.clear()
    panels.draw_common(FakeLayout(log), bpy.context)
    assert "label No model yet" in log and "operator endless_backdrops.model_add" in log


@pytest.mark.parametrize("sky", [False, True])
def test_extend_image_outpaints_the_photo_and_keeps_its_pixels(blender, tmp_path, sky):
    """The Image Editor / Recipe panel operator: a 2x wider matte, or a 360-degree World sky."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(1)
    photo = tmp_path / "location.png"
    PILImage.fromarray(rng.integers(40, 220, (24, 40, 3), dtype=np.uint8)).save(photo)
    blender.props.recipe_image = bpy.data.images.load(str(photo))
    factor = 4 if sky else 2  # the photo and its context fit in the sky's 360 degrees
    blender.props.extend_sky, blender.props.extend_factor = sky, factor
    assert bpy.ops.endless_backdrops.extend_image() == {"FINISHED"}
    (out,) = files_in(blender.out)
    result = read_image(out)
    width = 40 * factor
    assert result.shape == ((width // 2, width, 3) if sky else (24, width, 3))
    recipe = read_recipe(out)
    assert recipe.local_latents is not None and recipe.extra["outpaint"]["photo"] == photo.name
    p = recipe.extra["outpaint"]
    f = p["feather"]
    from generator.files.photo import read_photo

    inner = result[p["y"] + f : p["y"] + p["height"] - f, p["x"] + f : p["x"] + p["width"] - f]
    np.testing.assert_allclose(inner, read_photo(photo)[f:-f, f:-f], atol=2e-3)  # half floats
    assert blender.props.recipe_image.filepath.endswith(out.name)
    if sky:
        env = bpy.context.scene.world.node_tree.nodes[nodes.SKY_TEXTURE]
        assert env.image.filepath.endswith(out.name)


def test_extend_image_without_a_photo_file_is_explained(blender):
    blender.props.recipe_image = bpy.data.images.new("unsaved", 8, 8)
    with pytest.raises(RuntimeError, match="Open a photo saved to a file"):
        bpy.ops.endless_backdrops.extend_image()
