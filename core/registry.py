"""Discovery of plugins through entry points, and the registry the rest of meltdyn reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel

from meltdyn import hookspecs
from meltdyn.plugin import PluginDef, PluginKind, PluginParams

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_FIELDS = {"plugin", "label"}


@dataclass(frozen=True)
class PluginEntry:
    """A registered plugin definition with where it came from."""

    definition: PluginDef
    source: str
    distribution: str
    version: str

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def kind(self) -> PluginKind:
        return self.definition.kind


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be loaded or that offered an invalid definition."""

    source: str
    distribution: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.source!r} from distribution {self.distribution!r}: {self.message}"


class PluginError(Exception):
    """A plugin cannot be used; the message names the plugin and its distribution."""


@dataclass
class Registry:
    """All potentials, engines and observables available in this process."""

    entries: dict[PluginKind, dict[str, PluginEntry]] = field(
        default_factory=lambda: {"potential": {}, "engine": {}, "observable": {}, "labeller": {}}
    )
    problems: list[PluginProblem] = field(default_factory=list)

    def names(self, kind: PluginKind) -> list[str]:
        return sorted(self.entries[kind])

    def get(self, kind: PluginKind, name: str) -> PluginEntry:
        try:
            return self.entries[kind][name]
        except KeyError:
            known = ", ".join(self.names(kind)) or "none"
            raise PluginError(f"no {kind} plugin named {name!r}; known {kind}s: {known}") from None

    def build(self, kind: PluginKind, spec: BaseModel) -> Any:
        """Turn a validated study-file section (carrying its ``plugin`` tag) into a working object."""
        entry = self.get(kind, spec.plugin)  # type: ignore[attr-defined]
        fields = {k: getattr(spec, k) for k in entry.definition.params.model_fields}
        return entry.definition.build(entry.definition.params(**fields))

    def all_entries(self) -> list[PluginEntry]:
        return [e for kind in self.entries.values() for e in kind.values()]

    def register(self, plugin: object, source: str | None = None, distribution: str = "(in-process)") -> None:
        """Register a plugin object (module or instance with hook implementations) directly.

        This is the Python-API twin of an entry point; problems are recorded, not raised, so one bad
        plugin never hides the others.
        """
        source = source or getattr(plugin, "__name__", type(plugin).__name__)
        version = _distribution_version(distribution)
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        try:
            pm.register(plugin, name=source)
        except Exception as exc:  # pluggy raises on hook implementations that match no spec
            self.problems.append(PluginProblem(source, distribution, f"invalid hook implementation: {exc}"))
            return
        for hook_name, kind in hookspecs.HOOK_KINDS.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                try:
                    defs = impl.function()
                except Exception as exc:
                    self.problems.append(PluginProblem(source, distribution, f"{hook_name}() raised {exc!r}"))
                    continue
                for definition in defs or []:
                    problem = _check_definition(definition, kind)
                    if problem is None and definition.name in self.entries[kind]:
                        other = self.entries[kind][definition.name]
                        problem = (f"{kind} {definition.name!r} is already provided by {other.source!r} "
                                   f"from distribution {other.distribution!r}")
                    if problem:
                        self.problems.append(PluginProblem(source, distribution, problem))
                        continue
                    self.entries[kind][definition.name] = PluginEntry(definition, source, distribution, version)


def _check_definition(definition: object, kind: PluginKind) -> str | None:
    if not isinstance(definition, PluginDef):
        return f"returned {definition!r}, expected meltdyn.plugin.PluginDef"
    if definition.kind != kind:
        return f"{definition.name!r} has kind {definition.kind!r} but was returned from the {kind} hook"
    if not _NAME_RE.match(definition.name):
        return f"name {definition.name!r} must match {_NAME_RE.pattern}"
    if not (isinstance(definition.params, type) and issubclass(definition.params, PluginParams)):
        return f"{definition.name!r}: params must be a subclass of meltdyn.plugin.PluginParams"
    if definition.params.model_config.get("extra") != "forbid":
        return f"{definition.name!r}: params model must keep extra='forbid'"
    clash = RESERVED_FIELDS & set(definition.params.model_fields)
    if clash:
        return f"{definition.name!r}: params may not define the reserved field(s) {sorted(clash)}"
    if not callable(definition.build):
        return f"{definition.name!r}: build must be callable"
    return None


def _distribution_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def discover() -> Registry:
    """Load every plugin registered under the ``meltdyn`` entry-point group, built-ins included."""
    registry = Registry()

    def order(ep: metadata.EntryPoint) -> tuple[bool, str, str]:
        # meltdyn's own plugins first, so a third-party name clash never shadows a built-in.
        dist = ep.dist.name if ep.dist is not None else "unknown"
        return (dist != hookspecs.PROJECT_NAME, dist, ep.name)

    for ep in sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=order):
        distribution = ep.dist.name if ep.dist is not None else "unknown"
        try:
            plugin: ModuleType | object = ep.load()
        except Exception as exc:
            registry.problems.append(PluginProblem(ep.name, distribution, f"failed to import {ep.value!r}: {exc!r}"))
            continue
        registry.register(plugin, source=ep.name, distribution=distribution)
    return registry
