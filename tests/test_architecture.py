"""The house drawn from imports: its rooms are the generator's subpackages, it has no import
cycles, and the Blender add-on, the trainer and the tools use only the generator's public API.

Imports are read from the source with ``ast``; nothing is imported (no bpy, no torch). Two kinds
are counted:

- *load-time* imports: the statements that run when a module is imported (module level, also
  under ``if``/``try``/``with`` and in class bodies), not those inside functions. Cycles are looked
  for among these. Importing ``a.b.c`` also runs the ``__init__`` of ``a.b`` (and of ``a``), so an
  edge goes to those packages too, except the ones the importer lives in: they are already being
  imported when it runs, and Python finds their submodules then.
- *all* imports, functions' included (the add-on imports the generator lazily): the public-API,
  layering and "knows nothing of Blender or training" rules hold for these, and they make no
  cycles either.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("generator", "trainer", "addon")

TOP_LEVEL = {"__init__", "__main__", "cli", "device", "errors"}
"""The modules of generator/ itself; every other lives in a room."""
ROOMS = ("network", "files", "rendering", "sky")
"""generator's subpackages, bottom floor first: a room imports only from its own floor and the
floors below it (and from the top-level ``errors`` and ``device``)."""
PUBLIC_ONLY = ("addon", "trainer", "tools")
"""They import ``generator`` or a room (its ``__init__``), never a module inside one."""


@dataclass
class Imports:
    load_time: set[str] = field(default_factory=set)
    everywhere: set[str] = field(default_factory=set)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    return {
        module_name(root, path): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _load_time_nodes(tree: ast.Module) -> set[int]:
    """ids of the import statements that run at import time (not inside a function)."""
    found, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.add(id(node))
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    return found


def imports_of(name: str, path: Path, known: set[str]) -> Imports:
    """The modules ``name`` imports: ``from a.b import c`` is ``a.b.c`` where that is a module
    of ours, else ``a.b``; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    load_time, found = _load_time_nodes(tree), Imports()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        found.everywhere.update(targets)
        if id(node) in load_time:
            found.load_time.update(targets)
    return found


def graph(
    root: Path, packages=PACKAGES, load_time: bool = True
) -> tuple[dict[str, set[str]], dict[str, Imports]]:
    """Edges among our modules (load-time imports, or all), and every module's imports."""
    paths = modules(root, packages)
    known = set(paths)
    imports = {name: imports_of(name, path, known) for name, path in paths.items()}
    edges: dict[str, set[str]] = {}
    for name, found in imports.items():
        parts = name.split(".")
        running = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        edges[name] = set()
        for target in found.load_time if load_time else found.everywhere:
            pieces = target.split(".")
            for i in range(1, len(pieces) + 1):
                step = ".".join(pieces[:i])
                if step in known and step not in running:
                    edges[name].add(step)
    return edges, imports


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (or a self-import), each
    shown as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(_cycle_through(sorted(component), edges))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _cycle_through(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside it."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(edges.get(node, ()) & members):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    return component


def rooms(root: Path) -> list[str]:
    return sorted(p.parent.name for p in (root / "generator").glob("*/__init__.py"))


def private_imports(root: Path, imports: dict[str, Imports], users=PUBLIC_ONLY) -> list[str]:
    """Imports by ``users`` of a generator module that is neither ``generator`` nor a room."""
    public = {"generator", *(f"generator.{room}" for room in rooms(root))}
    return sorted(
        f"{name} imports {target}"
        for name, found in imports.items()
        if name.split(".")[0] in users
        for target in found.everywhere
        if target.split(".")[0] == "generator" and target not in public
    )


def foreign_imports(imports: dict[str, Imports]) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name, found in imports.items()
        if name.split(".")[0] == "generator"
        for target in found.everywhere
        if target.split(".")[0] in ("bpy", "trainer", "addon")
    )


def upstairs_imports(imports: dict[str, Imports], order=ROOMS) -> list[str]:
    """Imports from a room of a module in a room above it, or of generator's own ``__init__`` or
    ``cli`` (which are built from the rooms)."""

    def floor(module: str) -> int | None:
        parts = module.split(".")
        if parts[0] != "generator":
            return None
        if len(parts) == 1 or parts[1] in ("__init__", "__main__", "cli"):
            return len(order)
        return order.index(parts[1]) if parts[1] in order else None

    problems = []
    for name, found in imports.items():
        here = floor(name)
        if here is None or here == len(order):
            continue
        for target in found.everywhere:
            there = floor(target)
            if there is not None and there > here:
                problems.append(f"{name} imports {target}")
    return sorted(problems)


def stray_modules(root: Path, top_level=TOP_LEVEL) -> list[str]:
    return sorted(p.stem for p in (root / "generator").glob("*.py") if p.stem not in top_level)


# --- the project -------------------------------------------------------------------------------


def test_no_import_cycles():
    edges, _ = graph(ROOT)
    assert cycles(edges) == []


def test_no_import_cycles_even_through_imports_inside_functions():
    """A lazy import (the add-on's, the trainer's subcommands) does not break loading, but a
    cycle through one would still tangle the rooms."""
    edges, _ = graph(ROOT, load_time=False)
    assert cycles(edges) == []


def test_the_addon_the_trainer_and_the_tools_use_only_the_public_api():
    _, imports = graph(ROOT, (*PACKAGES, "tools"))
    assert private_imports(ROOT, imports) == []


def test_generator_knows_nothing_of_blender_or_training():
    _, imports = graph(ROOT)
    assert foreign_imports(imports) == []


def test_the_rooms_are_the_subpackages_and_each_floor_imports_only_downstairs():
    assert rooms(ROOT) == sorted(ROOMS)
    assert stray_modules(ROOT) == []
    _, imports = graph(ROOT)
    assert upstairs_imports(imports) == []


def test_the_layout_table_and_the_package_list_name_every_room():
    layout = (ROOT / "docs" / "how-it-works.md").read_text(encoding="utf-8").split("## Layout")[1]
    listed = set(re.findall(r"^\| `generator/(\w+)/`", layout, flags=re.M))
    assert listed == set(ROOMS)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = set(pyproject["tool"]["setuptools"]["packages"])
    on_disk = {
        module_name(ROOT, path.parent / "__init__.py")
        for top in ("generator", "trainer")
        for path in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk <= packages  # else a wheel (pip install .) would leave that room out


def test_the_device_is_chosen_before_torch_loads():
    """``python -m generator`` sets OMP_WAIT_POLICY in ``generator.device`` before PyTorch loads:
    the package imports it before any room (every room loads torch)."""
    tree = ast.parse((ROOT / "generator" / "__init__.py").read_text(encoding="utf-8"))
    first = next(n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    assert isinstance(first, ast.ImportFrom) and first.module == "generator.device"


# --- the checks themselves ---------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checks_catch_what_they_should(tmp_path):
    _write(
        tmp_path,
        {
            "generator/__init__.py": "from generator.rendering import draw\n",
            "generator/errors.py": "",
            "generator/stray.py": "",
            "generator/network/__init__.py": "",
            "generator/network/model.py": "def f():\n    from generator.rendering import draw\n",
            "generator/rendering/__init__.py": "from generator.rendering.render import draw\n",
            # render -> files.modelfile -> rendering (its __init__) -> render: a cycle that only
            # the package's __init__ closes.
            "generator/rendering/render.py": "from generator.files.modelfile import load\n",
            "generator/files/__init__.py": "",
            "generator/files/modelfile.py": "import bpy\nfrom generator.rendering import x\n",
            "addon/__init__.py": "from . import a\n",
            "addon/a.py": "from .b import f\ndef g():\n    from generator.network.model import G\n",
            "addon/b.py": "from . import a\nfrom generator.errors import E\n",
            "trainer/__init__.py": "",
            "trainer/t.py": "from generator import network, errors\ndef f():\n    import trainer.u",
            "trainer/u.py": "def f():\n    import trainer.t\n",
        },
    )
    edges, imports = graph(tmp_path)
    all_edges, _ = graph(tmp_path, load_time=False)
    assert ["trainer.t", "trainer.u", "trainer.t"] in cycles(all_edges)
    assert sorted(cycles(edges)) == [
        ["addon.a", "addon.b", "addon.a"],
        [
            "generator.files.modelfile",
            "generator.rendering",
            "generator.rendering.render",
            "generator.files.modelfile",
        ],
    ]
    assert private_imports(tmp_path, imports) == [
        "addon.a imports generator.network.model",
        "addon.b imports generator.errors",
        "trainer.t imports generator.errors",
    ]
    assert foreign_imports(imports) == ["generator.files.modelfile imports bpy"]
    assert upstairs_imports(imports, ("network", "files", "rendering")) == [
        "generator.files.modelfile imports generator.rendering",
        "generator.network.model imports generator.rendering",
    ]
    assert stray_modules(tmp_path) == ["stray"]
