"""Discovery of plugins through entry points, and the registry the rest of meltdyn reads.

A broken plugin never hides the others: whatever goes wrong while importing it or calling its hooks (an exception,
``SystemExit``, a hook returning something other than a list of definitions) becomes a :class:`PluginProblem`
naming the plugin and its distribution, and discovery goes on.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy
from pydantic import BaseModel

from meltdyn.hooks import hookspecs
from meltdyn.hooks.definitions import PLUGIN_KINDS, Command, Interface, PluginDef, PluginKind, PluginParams

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_FIELDS = {"plugin", "label"}
_NEEDS_OUTLINE = {"potential", "system", "executor"}


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
class CommandEntry:
    command: Command
    source: str
    distribution: str


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
    """All plugins available in this process: definitions by kind, commands, and the problems met."""

    entries: dict[PluginKind, dict[str, PluginEntry]] = field(
        default_factory=lambda: {kind: {} for kind in PLUGIN_KINDS})
    commands: dict[str, CommandEntry] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)

    def names(self, kind: PluginKind) -> list[str]:
        return sorted(self.entries[kind])

    def get(self, kind: PluginKind, name: str) -> PluginEntry:
        try:
            return self.entries[kind][name]
        except KeyError:
            known = ", ".join(self.names(kind)) or "none"
            hint = difflib.get_close_matches(name, self.names(kind), n=1, cutoff=0.6)
            guess = f"; did you mean {hint[0]!r}?" if hint else ""
            raise PluginError(f"no {kind} plugin named {name!r}; known {kind}s: {known}{guess}") from None

    def params_of(self, kind: PluginKind, spec: BaseModel) -> PluginParams:
        """The plugin's own parameter model from a validated study-file section (which carries ``plugin``)."""
        entry = self.get(kind, spec.plugin)  # type: ignore[attr-defined]
        fields = {k: getattr(spec, k) for k in entry.definition.params.model_fields}
        return entry.definition.params(**fields)

    def build(self, kind: PluginKind, spec: BaseModel) -> Any:
        """Turn a validated study-file section into a working object."""
        return self.get(kind, spec.plugin).definition.build(self.params_of(kind, spec))  # type: ignore[attr-defined]

    def all_entries(self) -> list[PluginEntry]:
        return [e for kind in self.entries.values() for e in kind.values()]

    def interface_users(self, interface: str) -> list[str]:
        """Engines that need ``interface``."""
        return sorted(e.name for e in self.entries["engine"].values() if e.definition.requires.name == interface)

    def register(self, plugin: object, source: str | None = None, distribution: str = "(in-process)") -> None:
        """Register a plugin object (module or instance with hook implementations) directly.

        This is the Python-API twin of an entry point; problems are recorded, not raised.
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
        problem = lambda message: self.problems.append(PluginProblem(source, distribution, message))  # noqa: E731
        for hook_name, kind in hookspecs.HOOK_KINDS.items():
            for definition in _call_hook(pm, hook_name, problem):
                reason = _check_definition(definition, kind)  # type: ignore[arg-type]
                if reason is None and definition.name in self.entries[kind]:
                    other = self.entries[kind][definition.name]
                    reason = (f"{kind} {definition.name!r} is already provided by {other.source!r} "
                              f"from distribution {other.distribution!r}")
                if reason:
                    problem(reason)
                    continue
                self.entries[kind][definition.name] = PluginEntry(definition, source, distribution, version)
        for command in _call_hook(pm, "meltdyn_commands", problem):
            reason = _check_command(command)
            if reason is None and command.name in self.commands:
                other = self.commands[command.name]
                reason = f"command {command.name!r} is already provided by {other.source!r} ({other.distribution})"
            if reason:
                problem(reason)
                continue
            self.commands[command.name] = CommandEntry(command, source, distribution)


def _call_hook(pm: pluggy.PluginManager, hook_name: str, problem: Any) -> list[Any]:
    out: list[Any] = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        try:
            returned = impl.function()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit included: a plugin must not end meltdyn
            problem(f"{hook_name}() raised {exc!r}")
            continue
        if not isinstance(returned, (list, tuple)):
            problem(f"{hook_name}() returned {type(returned).__name__} {returned!r:.80}, expected a list")
            continue
        out.extend(returned)
    return out


def _check_definition(definition: object, kind: PluginKind) -> str | None:
    if not isinstance(definition, PluginDef):
        return f"returned {definition!r:.80}, expected meltdyn.plugin.PluginDef"
    if definition.kind != kind:
        return f"{definition.name!r} has kind {definition.kind!r} but was returned from the {kind} hook"
    if not isinstance(definition.name, str) or not _NAME_RE.match(definition.name):
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
    if kind in _NEEDS_OUTLINE and not callable(definition.outline):
        return f"{definition.name!r}: a {kind} must give an outline (what validation knows before building it)"
    if kind == "engine" and not isinstance(definition.requires, Interface):
        return f"{definition.name!r}: an engine must say which Interface it requires from a potential"
    return None


def _check_command(command: object) -> str | None:
    if not isinstance(command, Command):
        return f"returned {command!r:.80}, expected meltdyn.plugin.Command"
    if not _NAME_RE.match(command.name):
        return f"command name {command.name!r} must match {_NAME_RE.pattern}"
    if not (callable(command.add_arguments) and callable(command.run)):
        return f"command {command.name!r}: add_arguments and run must be callable"
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
            plugin: Any = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit at import included
            registry.problems.append(PluginProblem(ep.name, distribution, f"failed to import {ep.value!r}: {exc!r}"))
            continue
        registry.register(plugin, source=ep.name, distribution=distribution)
    return registry
