"""The layering of docs/explanation/architecture.md, read from the source.

The core is a stack of layers, each importing only those below it (every import counts: module level, inside a
function, under ``if TYPE_CHECKING:``), with no import cycle; plugins — ours and the example third-party package —
import from meltdyn only its public face, ``meltdyn.plugin``, and reach other plugins only through their public
``interface`` modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
LAYERS = ["base", "spec", "hooks", "trajectory", "engine", "analysis", "study", "testing", "plugin", "cli"]
"""Bottom to top. A module's layer is its first dotted component after ``meltdyn``."""
FACE = "meltdyn.plugin"
PUBLIC_PLUGIN_MODULES = {"interface"}
"""Modules a plugin publishes for other plugins: an engine's interface (what it needs from a potential, and the
helpers for giving it)."""


def _module_name(path: Path) -> str:
    """core/study/runner.py → meltdyn.study.runner; core/analysis/__init__.py → meltdyn.analysis."""
    parts = path.relative_to(CORE).with_suffix("").parts
    return ".".join(("meltdyn", *(parts[:-1] if parts[-1] == "__init__" else parts)))


MODULES = {_module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def _imports(path: Path) -> list[str]:
    """Every meltdyn module ``path`` imports, wherever the import statement is. ``from meltdyn.x import y`` counts
    as meltdyn.x.y when y is a module of meltdyn's, else as meltdyn.x."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names if alias.name.split(".")[0] == "meltdyn"]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.relative_to(ROOT)}:{node.lineno}: relative import"
            if node.module and node.module.split(".")[0] == "meltdyn":
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    out.append(child if child in MODULES else node.module)
    return out


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def _core_edges() -> dict[str, set[str]]:
    return {name: {m for m in _imports(path) if m in MODULES} for name, path in MODULES.items()}


def test_every_core_module_sits_in_a_layer():
    homeless = [m for m in MODULES if m != "meltdyn" and _layer(m) is None]
    assert homeless == []


def test_each_layer_imports_only_itself_and_the_layers_below_it():
    upward = [f"{source} ({LAYERS[_layer(source)]}) imports {target} ({LAYERS[_layer(target)]})"
              for source, targets in _core_edges().items() if source != "meltdyn" for target in targets
              if _layer(target) is not None and _layer(target) > _layer(source)]
    assert upward == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_even_through_type_checking_or_function_level_imports():
    edges = _core_edges()
    edges.pop("meltdyn")  # the package API imports its modules; test below: none imports it
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_subpackage_inits_hold_a_docstring_only():
    """A re-export in a subpackage's __init__ would be a hidden import edge for every module below it."""
    for init in CORE.glob("*/__init__.py"):
        body = ast.parse(init.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), init


def _package_api_uses(path: Path) -> list[str]:
    """``import meltdyn`` or names taken from meltdyn's __init__ (not its modules)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(alias.name == "meltdyn" for alias in node.names):
            out.append("import meltdyn")
        elif isinstance(node, ast.ImportFrom) and node.module == "meltdyn":
            out += [f"from meltdyn import {a.name}" for a in node.names if f"meltdyn.{a.name}" not in MODULES]
    return out


def test_no_module_of_meltdyn_imports_the_package_api_or_the_face():
    """`import meltdyn` inside meltdyn is an import cycle (the package's __init__ imports its modules); the face is
    for plugins, and a core module using it would import everything above itself."""
    offenders = {name: _package_api_uses(path) + [m for m in _imports(path) if m == FACE]
                 for name, path in MODULES.items() if name not in ("meltdyn", FACE)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_core_imports_no_plugin():
    offenders = {name: m for name, path in MODULES.items() for m in _imports(path) if m.startswith("meltdyn.plugins")}
    assert offenders == {}


def _plugin_package(module: str) -> str | None:
    """'meltdyn.plugins.engines.openmm_engine.machine' → 'meltdyn.plugins.engines.openmm_engine'."""
    parts = module.split(".")
    return ".".join(parts[:4]) if parts[:2] == ["meltdyn", "plugins"] and len(parts) >= 4 else None


def _plugin_offences(path: Path, own: str) -> list[str]:
    """What a plugin module imports from meltdyn besides the face, its own package and other plugins' interfaces."""
    offences = []
    for module in _imports(path):
        if module == FACE or module.startswith(own + ".") or module == own:
            continue
        package = _plugin_package(module)
        if package is None or module.split(".")[-1] not in PUBLIC_PLUGIN_MODULES:
            offences.append(module)
    return offences


def test_plugins_import_only_the_face_and_other_plugins_interfaces():
    offenders = {}
    for path in (ROOT / "plugins").rglob("*.py"):
        relative = path.relative_to(ROOT / "plugins").with_suffix("").parts
        dotted = "meltdyn.plugins." + ".".join(p for p in relative if p != "__init__")
        own = _plugin_package(dotted) or dotted  # a kind's package (meltdyn.plugins.engines) owns only itself
        if offences := _plugin_offences(path, own):
            offenders[str(path.relative_to(ROOT))] = offences
    assert offenders == {}


@pytest.mark.parametrize(("folder", "package"), [("plugin_example", "meltdyn_maxdisp"),
                                                  ("plugin_pair_rdf", "meltdyn_pair_rdf")])
def test_the_example_third_party_packages_import_only_the_face(folder, package):
    paths = [p for p in (ROOT / "tests" / folder).rglob("*.py") if "build" not in p.parts]
    assert paths
    offenders = {str(p.relative_to(ROOT)): bad for p in paths if (bad := _plugin_offences(p, package))}
    assert offenders == {}


def test_the_face_exports_what_it_imports_and_nothing_it_does_not():
    import meltdyn.plugin as face

    tree = ast.parse(MODULES[FACE].read_text())
    imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert sorted(face.__all__) == face.__all__
    assert set(face.__all__) == imported


@pytest.mark.slow
@pytest.mark.subprocess
def test_every_module_imports_on_its_own():
    """A cycle the static check cannot see (an import inside a module's own top-level code path) shows here."""
    names = [m for m in MODULES if not m.endswith("__main__")]

    def attempt(module: str) -> tuple[str, str]:
        proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
        return module, proc.stderr.strip().splitlines()[-1] if proc.returncode else ""

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = {m: e for m, e in pool.map(attempt, names) if e}
    assert failures == {}


def test_every_package_is_in_the_distribution():
    """pyproject lists packages explicitly: a subpackage missing there works in an editable install and is silently
    left out of a wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"meltdyn" + "".join(f".{part}" for part in init.parent.relative_to(CORE).parts)
             for init in CORE.rglob("__init__.py")}
    found |= {"meltdyn.plugins" + "".join(f".{part}" for part in init.parent.relative_to(ROOT / "plugins").parts)
              for init in (ROOT / "plugins").rglob("__init__.py")}
    assert found == listed
