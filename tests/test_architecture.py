"""The layering the design card asks for, read from the source: a core that imports no plugin, and plugins that use
each other only through public interface modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_PLUGIN_MODULES = {"interface"}
"""Modules a plugin publishes for other plugins: an engine's interface (what it needs from a potential, and the
helpers for giving it)."""


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _plugin_package(module: str) -> str | None:
    """'meltdyn.plugins.engines.openmm_engine.machine' → 'meltdyn.plugins.engines.openmm_engine'."""
    parts = module.split(".")
    return ".".join(parts[:4]) if parts[:2] == ["meltdyn", "plugins"] and len(parts) >= 4 else None


def test_the_core_imports_no_plugin():
    offenders = {str(p.relative_to(ROOT)): m for p in (ROOT / "core").glob("*.py") for m in _imports(p)
                 if m.startswith("meltdyn.plugins")}
    assert offenders == {}


def _package_api_uses(path: Path) -> list[str]:
    """``import meltdyn`` or names taken from meltdyn's __init__ (not its submodules)."""
    submodules = {p.stem for p in (ROOT / "core").glob("*.py")}
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(alias.name == "meltdyn" for alias in node.names):
            out.append("import meltdyn")
        elif isinstance(node, ast.ImportFrom) and node.module == "meltdyn" and node.level == 0:
            out += [f"from meltdyn import {a.name}" for a in node.names if a.name not in submodules]
    return out


def test_no_module_imports_the_package_api_it_belongs_to():
    """`import meltdyn` inside meltdyn was an import cycle: the package's __init__ imports its modules."""
    offenders = {str(p.relative_to(ROOT)): _package_api_uses(p) for d in ("core", "plugins")
                 for p in (ROOT / d).rglob("*.py") if _package_api_uses(p)}
    assert offenders == {}


def test_plugins_use_other_plugins_only_through_their_public_interface_modules():
    offenders = []
    for path in (ROOT / "plugins").rglob("*.py"):
        relative = path.relative_to(ROOT / "plugins").with_suffix("")
        own = _plugin_package("meltdyn.plugins." + ".".join(relative.parts))
        for module in _imports(path):
            package = _plugin_package(module)
            if package and package != own and module.split(".")[-1] not in PUBLIC_PLUGIN_MODULES:
                offenders.append(f"{relative}: {module}")
    assert offenders == []


def test_any_module_imports_on_its_own():
    for module in ("meltdyn.trajectory", "meltdyn.stage_driver", "meltdyn.testing", "meltdyn.cli"):
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
