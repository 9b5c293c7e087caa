"""The project's promises about itself: CI runs the README's test command, the package carries the
bundled models and composed skies, and the README's first command works from a wheel install."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_commands = [b for b in blocks if "pytest" in b]
    assert len(test_commands) == 1
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci_lines[-1] == test_commands[0]


def _package_data() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["tool"]["setuptools"]["package-data"]["generator"]


def test_the_package_carries_every_bundled_model_and_sky_recipe():
    patterns = _package_data()
    bundled = sorted((ROOT / "generator" / "models").iterdir())
    assert {p.suffix for p in bundled} >= {".safetensors", ".json"}
    for path in bundled:
        name = path.relative_to(ROOT / "generator").as_posix()
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


def test_the_readme_first_command_works_from_a_wheel_install(tmp_path):
    """Build the wheel ``pip install .`` would install, install it alone into a folder and run
    the README's first render from an empty one: the bundled composed sky and the models it
    names come with the package. Slow (a 4096 x 2048 sky)."""
    from test_bundled import first_command

    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for folder in ("generator", "trainer"):
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, source],
                   check=True, capture_output=True)  # fmt: skip
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", site, wheel],
                   check=True, capture_output=True)  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import generator; print(generator.__file__)"],
        cwd=work, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(site)
    args = first_command()
    done = subprocess.run([sys.executable, "-m", "generator", "render", *args, "--quiet"],
                          cwd=work, env=env, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Sun lamp:" in done.stdout
    from generator.files.imagefile import read_metadata
    from generator.sky.skyfile import SKY_KEY, read_sky_recipe

    out = work / args[args.index("--out") + 1]
    assert SKY_KEY in read_metadata(out)
    assert read_sky_recipe(out).composition.clouds.model_hash  # the bundled cloud model's
