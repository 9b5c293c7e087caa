"""Build the Endless Backdrops Blender extension zip(s) and validate them with Blender's validator.

    python tools/build_extension.py                       # all platforms, with bundled wheels
    python tools/build_extension.py --platforms linux-x64 --extra-index-url \\
        PYTORCH_CPU_INDEX                                 # one platform, CPU-only PyTorch
    python tools/build_extension.py --no-wheels           # fast local build, no download

A staging folder gets ``blender_manifest.toml`` (its ``wheels``/``platforms`` filled in), the
``addon/`` package as the extension's root package, ``LICENSE`` and ``wheels/``: the ``generator``
package as a pure-Python wheel built here, plus (unless ``--no-wheels``) the runtime wheels for
each platform. Blender's own builder, ``blender_ext.py`` from the installed ``bpy`` wheel (the code
behind ``blender --command extension build``), then zips it (one zip per platform when wheels
are bundled) and each zip is validated. Nothing else of the repository (trainer, tests, tools)
can end up in a zip: only staged files are packed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "blender_manifest.toml"
PYTHON_VERSION = "3.11"
"""Blender 4.2 to 5.x embed CPython 3.11."""
NOT_BUNDLED = {"numpy": "Blender ships it", "tqdm": "only the command line uses it"}
PLATFORMS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    # Blender platform: (pip platform tags, environment for dependency markers)
    "windows-x64": (
        ("win_amd64",),
        {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
    ),
    "macos-arm64": (
        ("macosx_14_0_arm64",),  # pip also accepts wheels for older macOS versions
        {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
    ),
    "linux-x64": (
        ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
        {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
    ),
}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """Something the person building can fix; printed as one line."""


def find_blender_ext() -> Path | None:
    """Blender's extension command-line tool inside the installed ``bpy`` wheel, if any."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return found[-1] if found else None


def project_metadata() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]


def build_generator_wheel(dest: Path) -> Path:
    """The ``generator`` package as a py3-none-any wheel (sources, the bundled models and composed
    skies' recipes, reproducible bytes).

    Blender installs an extension's wheels into a site-packages of its own, so inside Blender the
    add-on imports ``generator`` (and finds its bundled models) exactly as from this repository.
    """
    project = project_metadata()
    dist, version = canonicalize_name(project["name"]).replace("-", "_"), project["version"]
    info = f"{dist}-{version}.dist-info"
    requires = "".join(f"Requires-Dist: {r}\n" for r in project.get("dependencies", ()))
    files: dict[str, bytes] = {
        path.relative_to(ROOT).as_posix(): path.read_bytes()
        for pattern in ("*.py", "models/*.safetensors", "models/*.json")
        for path in sorted((ROOT / "generator").rglob(pattern))
    }
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {version}\n"
        f"Summary: {project.get('description', '')}\nLicense: GPL-3.0-or-later\n"
        f"Requires-Python: {project.get('requires-python', '>=3.11')}\n{requires}"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tools/build_extension.py\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = "".join(f"{name},sha256={_digest(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, _FIXED_TIME), data, zipfile.ZIP_DEFLATED)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def runtime_requirements() -> list[Requirement]:
    """The generator's dependencies from pyproject.toml, less those Blender already has."""
    wanted = [Requirement(text) for text in project_metadata().get("dependencies", ())]
    return [r for r in wanted if canonicalize_name(r.name) not in NOT_BUNDLED]


def download_wheels(platform: str, dest: Path, pip_options: Sequence[str] = ()) -> list[Path]:
    """Download the runtime wheels and their dependencies for one Blender platform into ``dest``.

    pip runs with ``--no-deps`` and this function follows each wheel's ``Requires-Dist`` itself,
    because pip evaluates dependency markers for the machine it runs on, not the target platform.
    """
    tags, markers = PLATFORMS[platform]
    environment = {
        **markers,
        "os_name": "nt" if markers["sys_platform"] == "win32" else "posix",
        "python_version": PYTHON_VERSION,
        "python_full_version": f"{PYTHON_VERSION}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    base = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps"]
    base += ["--python-version", PYTHON_VERSION, "--implementation", "cp"]
    base += [arg for abi in ("cp311", "abi3", "none") for arg in ("--abi", abi)]
    base += [arg for tag in tags for arg in ("--platform", tag)]
    seen: set[str] = set()
    pending = runtime_requirements()
    wheels: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:
        while pending:
            batch = [r for r in pending if canonicalize_name(r.name) not in seen]
            seen.update(canonicalize_name(r.name) for r in batch)
            if not batch:
                break
            before = set(Path(scratch).iterdir())
            command = [*base, *pip_options, "--dest", scratch, *(str(r) for r in batch)]
            print(f"[{platform}] pip download {' '.join(str(r) for r in batch)}", flush=True)
            if subprocess.run(command, check=False).returncode != 0:
                raise BuildError(f"pip could not download wheels for {platform} (see above)")
            new = sorted(set(Path(scratch).iterdir()) - before)
            pending = [
                r
                for wheel in new
                for r in _wheel_requirements(wheel)
                if canonicalize_name(r.name) not in NOT_BUNDLED
                and (r.marker is None or r.marker.evaluate(environment))
            ]
            wheels += new
        for wheel in wheels:
            if not (dest / wheel.name).exists():
                shutil.copy2(wheel, dest / wheel.name)
    return [dest / w.name for w in wheels]


def _wheel_requirements(wheel: Path) -> Iterable[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode("utf-8")
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            yield Requirement(line.split(":", 1)[1].strip())


def stage(
    folder: Path,
    platforms: Sequence[str],
    *,
    wheels: bool,
    pip_options: Sequence[str] = (),
) -> list[Path]:
    """Fill ``folder`` with everything the zip holds; returns the staged wheels."""
    shutil.copytree(
        ROOT / "addon", folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    )
    shutil.copy2(ROOT / "LICENSE", folder / "LICENSE")
    wheel_dir = folder / "wheels"
    wheel_dir.mkdir()
    staged = [build_generator_wheel(wheel_dir)]
    if wheels:
        for platform in platforms:
            staged += download_wheels(platform, wheel_dir, pip_options)
    staged = sorted(set(staged))
    manifest = (ROOT / MANIFEST).read_text(encoding="utf-8")
    manifest = _set_list(manifest, "wheels", [f"./wheels/{w.name}" for w in staged])
    manifest = _set_list(manifest, "platforms", list(platforms))
    (folder / MANIFEST).write_text(manifest, encoding="utf-8")
    return staged


def _set_list(toml: str, key: str, values: Sequence[str]) -> str:
    """Replace the top-level ``key = [...]`` array of the manifest text."""
    pattern = re.compile(rf"^{key} = \[.*?\]", re.S | re.M)
    if not pattern.search(toml):
        raise BuildError(f"{MANIFEST} has no top-level '{key} = [...]' to fill in")
    items = "".join(f'\n    "{v}",' for v in values)
    return pattern.sub(lambda _m: f"{key} = [{items}\n]", toml, count=1)


def run_blender_ext(blender_ext: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(blender_ext), *args], capture_output=True, text=True, check=False
    )
    output = (result.stdout + result.stderr).strip()
    if output:
        print(output, flush=True)
    if result.returncode != 0:
        raise BuildError(f"blender_ext.py {args[0]} failed (see above)")


def build(
    output_dir: Path,
    platforms: Sequence[str],
    *,
    wheels: bool = True,
    pip_options: Sequence[str] = (),
    blender_ext: Path | None = None,
) -> list[Path]:
    """Stage, build with Blender's builder, validate; returns the zips made."""
    blender_ext = blender_ext or find_blender_ext()
    if blender_ext is None:
        raise BuildError(
            "Blender's blender_ext.py was not found: install the test extras (bpy) "
            "or pass --blender-ext"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="endless-backdrops-") as scratch:
        folder = Path(scratch) / "extension"
        stage(folder, platforms, wheels=wheels, pip_options=pip_options)
        with tempfile.TemporaryDirectory(dir=output_dir) as fresh:
            args = ["build", "--source-dir", str(folder), "--output-dir", fresh]
            if wheels and len(platforms) > 1:
                args.append("--split-platforms")
            run_blender_ext(blender_ext, *args)
            zips = []
            for made in sorted(Path(fresh).glob("*.zip")):
                run_blender_ext(blender_ext, "validate", str(made))
                zips.append(Path(shutil.move(made, output_dir / made.name)))
    return zips


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/build_extension.py",
        description="Build the Blender extension zip(s) of Endless Backdrops and validate them.",
    )
    parser.add_argument(
        "--platforms",
        nargs="+",
        choices=sorted(PLATFORMS),
        default=sorted(PLATFORMS),
        help="Blender platforms to build for (default: all)",
    )
    parser.add_argument(
        "--no-wheels",
        action="store_true",
        help="bundle no third-party wheels (fast, no download): Blender must find PyTorch itself",
    )
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist", help="default: dist/")
    parser.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        help="also download from this index (e.g. PyTorch's CPU-only wheel index)",
    )
    parser.add_argument("--blender-ext", type=Path, help="path to Blender's blender_ext.py")
    args = parser.parse_args(argv)
    pip_options = [arg for url in args.extra_index_url for arg in ("--extra-index-url", url)]
    try:
        zips = build(
            args.output_dir,
            args.platforms,
            wheels=not args.no_wheels,
            pip_options=pip_options,
            blender_ext=args.blender_ext,
        )
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for made in zips:
        print(f"built {made} ({made.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
