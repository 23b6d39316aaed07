"""Hook specifications: the whole contract between meltdyn and its plugins.

A plugin is any importable object (usually a module) whose functions are marked with
:data:`hookimpl` and that is exposed under the ``meltdyn`` entry-point group. meltdyn's own
potentials, engines and observables register exactly this way.
"""

from __future__ import annotations

import pluggy

from meltdyn.plugin import PluginDef

PROJECT_NAME = "meltdyn"
ENTRY_POINT_GROUP = "meltdyn"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def meltdyn_potentials() -> list[PluginDef]:
    """Return the interatomic potentials this plugin provides (``PluginDef`` of kind ``potential``)."""


@hookspec
def meltdyn_engines() -> list[PluginDef]:
    """Return the MD engines this plugin provides (``PluginDef`` of kind ``engine``)."""


@hookspec
def meltdyn_observables() -> list[PluginDef]:
    """Return the trajectory observables this plugin provides (``PluginDef`` of kind ``observable``)."""


@hookspec
def meltdyn_labellers() -> list[PluginDef]:
    """Return the reference-data labellers this plugin provides (``PluginDef`` of kind ``labeller``)."""


HOOK_KINDS: dict[str, str] = {
    "meltdyn_potentials": "potential",
    "meltdyn_engines": "engine",
    "meltdyn_observables": "observable",
    "meltdyn_labellers": "labeller",
}
