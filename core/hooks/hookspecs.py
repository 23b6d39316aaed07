"""Hook specifications: the whole contract between meltdyn and its plugins.

A plugin is any importable object (usually a module) whose functions are marked with :data:`hookimpl` and that is
exposed under the ``meltdyn`` entry-point group. meltdyn's own potentials, engines, observables, labellers,
systems and commands, its core commands included, register exactly this way.
"""

from __future__ import annotations

import pluggy

from meltdyn.hooks.definitions import Command, PluginDef

PROJECT_NAME = "meltdyn"
ENTRY_POINT_GROUP = "meltdyn"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def meltdyn_potentials() -> list[PluginDef]:
    """Return the interatomic potentials this plugin provides (kind ``potential``, with an ``outline``)."""


@hookspec
def meltdyn_engines() -> list[PluginDef]:
    """Return the MD engines this plugin provides (kind ``engine``, with the ``Interface`` it ``requires``)."""


@hookspec
def meltdyn_observables() -> list[PluginDef]:
    """Return the trajectory observables this plugin provides (kind ``observable``)."""


@hookspec
def meltdyn_labellers() -> list[PluginDef]:
    """Return the reference-data labellers this plugin provides (kind ``labeller``)."""


@hookspec
def meltdyn_systems() -> list[PluginDef]:
    """Return the starting-configuration builders this plugin provides (kind ``system``, with an ``outline``)."""


@hookspec
def meltdyn_executors() -> list[PluginDef]:
    """Return the ways of carrying out a study's runs this plugin provides (kind ``executor``, with an ``outline``)."""


@hookspec
def meltdyn_commands() -> list[Command]:
    """Return the ``meltdyn`` subcommands this plugin adds."""


HOOK_KINDS: dict[str, str] = {
    "meltdyn_potentials": "potential",
    "meltdyn_engines": "engine",
    "meltdyn_observables": "observable",
    "meltdyn_labellers": "labeller",
    "meltdyn_systems": "system",
    "meltdyn_executors": "executor",
}
