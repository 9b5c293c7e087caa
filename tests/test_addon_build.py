"""Packaging of the Blender extension: the manifest, the build tool, Blender's validator, install.

The build test uses ``--no-wheels`` (no download); the wheel download logic is checked against
a fake pip. Installing runs in a fresh process with a fresh Blender user directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import load_tool, make_model_file

ROOT = Path(__file__).resolve().parents[1]


build_tool = load_tool("build_extension")
BLENDER_EXT = build_tool.find_blender_ext()
needs_builder = pytest.mark.skipif(BLENDER_EXT is None, reason="Blender's blender_ext.py not found")


def test_manifest_is_honest_and_matches_the_project():
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert manifest["version"] == project["version"]
    assert manifest["type"] == "add-on" and manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert set(manifest["permissions"]) == {"files"}, "files only: no network"
    assert manifest["wheels"] == [
        f"./wheels/endless_backdrops-{project['version']}-py3-none-any.whl"
    ]


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    if BLENDER_EXT is None:
        pytest.skip("Blender's blender_ext.py not found")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "tools/build_extension.py", "--no-wheels", "--output-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (made,) = out.glob("*.zip")
    return made


@needs_builder
def test_built_zip_passes_blenders_validator_and_holds_only_the_extension(built_zip):
    result = subprocess.run(
        [sys.executable, str(BLENDER_EXT), "validate", str(built_zip)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(built_zip) as archive:
        names = archive.namelist()
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
    assert {"__init__.py", "operators.py", "blender_manifest.toml", "LICENSE"} <= set(names)
    for name in names:
        assert not name.startswith(("trainer/", "tests/", "tools/", "generator/", "addon/")), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
    wheels = [n for n in names if n.startswith("wheels/")]
    assert [f"./{w}" for w in wheels] == manifest["wheels"]
    assert manifest["platforms"] == sorted(build_tool.PLATFORMS)


@needs_builder
def test_generator_wheel_carries_the_package_with_a_valid_record(built_zip, tmp_path):
    with zipfile.ZipFile(built_zip) as archive:
        (wheel_name,) = [n for n in archive.namelist() if n.endswith(".whl")]
        wheel = tmp_path / Path(wheel_name).name
        wheel.write_bytes(archive.read(wheel_name))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = archive.read(next(n for n in names if n.endswith("RECORD"))).decode()
        for line in record.splitlines():
            name, digest, size = line.rsplit(",", 2)
            if digest:
                data = archive.read(name)
                assert digest == f"sha256={build_tool._digest(data)}" and int(size) == len(data)
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "generator").rglob("*.py")}
    assert sources <= names
    bundled = {p.relative_to(ROOT).as_posix() for p in (ROOT / "generator" / "models").iterdir()}
    assert "generator/models/sky.json" in bundled  # the composed default sky's recipe
    assert bundled <= names
    assert not any(n.startswith(("trainer/", "tests/", "addon/")) for n in names)


INSTALL_SCRIPT = r"""
import json, os, sys
import bpy

zip_path, model_path = sys.argv[1:3]
module = "bl_ext.user_default.endless_backdrops"
result = {}
bpy.ops.extensions.package_install_files(
    filepath=zip_path, repo="user_default", enable_on_install=True
)
result["enabled"] = module in bpy.context.preferences.addons
bpy.context.preferences.addons[module].preferences.model_paths.add().filepath = model_path
props = bpy.context.scene.endless_backdrops
props.sky_resolution, props.sky_width, props.device = "CUSTOM", 128, "CPU"

sys.modules["torch"] = None  # as in a Blender without PyTorch
try:
    bpy.ops.endless_backdrops.generate(kind="SKY")
except RuntimeError as err:
    result["without_torch"] = str(err).strip()
del sys.modules["torch"]
for name in [n for n in sys.modules if n.split(".")[0] == "generator"]:
    del sys.modules[name]

result["generate"] = sorted(bpy.ops.endless_backdrops.generate(kind="SKY"))
image = bpy.context.scene.world.node_tree.nodes["EB Sky Texture"].image
result["image"] = bpy.path.abspath(image.filepath)
result["extension_dir"] = os.path.dirname(sys.modules[module].__file__)
result["user_dir"] = bpy.utils.extension_path_user(module)
bpy.ops.preferences.addon_disable(module=module)
result["disabled"] = module not in bpy.context.preferences.addons
print("RESULT " + json.dumps(result))
"""


@needs_builder
def test_zip_installs_and_works_in_a_fresh_blender_user_directory(built_zip, tmp_path):
    model = make_model_file(tmp_path / "tiny.safetensors")
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender-user")}
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(script), str(built_zip), str(model)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout + run.stderr
    result = json.loads(lines[0].removeprefix("RESULT "))
    assert result["enabled"] and result["disabled"]
    assert "PyTorch (torch) is not installed" in result["without_torch"]
    assert "\n" not in result["without_torch"]
    assert result["generate"] == ["FINISHED"]
    image = Path(result["image"])
    # An unsaved file's backdrops go to Blender's user data folder: never into the extension's
    # folders, which Blender deletes on an uninstall.
    assert image.is_file() and (tmp_path / "blender-user") in image.parents
    assert Path(result["extension_dir"]) not in image.parents
    assert Path(result["user_dir"]) not in image.parents


def fake_pip(catalog: dict[str, list[str]], calls: list[list[str]]):
    """A ``subprocess.run`` stand-in for ``pip download`` that writes wheels from ``catalog``."""

    def run(command, check=False):
        calls.append(command)
        dest = Path(command[command.index("--dest") + 1])
        for requirement in command[command.index("--dest") + 2 :]:
            name = build_tool.Requirement(requirement).name
            wheel = dest / f"{name.replace('-', '_')}-1.0-py3-none-any.whl"
            metadata = f"Name: {name}\n" + "".join(f"Requires-Dist: {r}\n" for r in catalog[name])
            with zipfile.ZipFile(wheel, "w") as archive:
                archive.writestr(f"{name}-1.0.dist-info/METADATA", metadata)
        return SimpleNamespace(returncode=0)

    return run


def test_wheel_download_follows_dependencies_for_the_target_platform(monkeypatch, tmp_path):
    catalog = {
        "torch": [
            "filelock",
            'nvidia-cudnn-cu12; platform_system == "Linux" and platform_machine == "x86_64"',
            'optree>=0.13; extra == "optree"',
        ],
        "safetensors": ['numpy>=1.24; extra == "numpy"'],
        "tifffile": ["numpy"],
        "pillow": [],
        "OpenEXR": ["numpy"],
        "filelock": [],
        "nvidia-cudnn-cu12": [],
    }
    calls: list[list[str]] = []
    monkeypatch.setattr(build_tool.subprocess, "run", fake_pip(catalog, calls))
    names = {}
    for platform in ("windows-x64", "linux-x64"):
        dest = tmp_path / platform
        dest.mkdir()
        names[platform] = {w.name.split("-")[0] for w in build_tool.download_wheels(platform, dest)}
    assert names["windows-x64"] == {
        "torch",
        "safetensors",
        "tifffile",
        "pillow",
        "OpenEXR",
        "filelock",
    }
    assert names["linux-x64"] == names["windows-x64"] | {"nvidia_cudnn_cu12"}
    first = calls[0]
    assert {"--no-deps", "--only-binary=:all:", "win_amd64", "3.11"} <= set(first)
    assert not any("numpy" in arg or "tqdm" in arg for call in calls for arg in call)
