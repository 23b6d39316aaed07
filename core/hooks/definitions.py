"""What a plugin hands to meltdyn: plugin definitions, engine interfaces and commands.

A definition names a plugin, its parameter model (one section of a study file) and the factory that builds the
working object, plus what validation needs to know *before* anything is built, so that ``meltdyn validate`` checks
a study as the run would meet it:

- a potential's ``outline(params)`` says which engine interfaces it implements, for which elements and with which
  cutoff (a :class:`~meltdyn.hooks.data.PotentialOutline`);
- an engine's ``requires`` is the :class:`Interface` it needs from a potential;
- a system's ``outline(params, composition, temperature_K)`` says which atoms and cell a run will start from
  (a :class:`~meltdyn.hooks.data.SystemOutline`) without building it;
- an executor's ``outline(params)`` says whether runs execute on this machine (an
  :class:`~meltdyn.hooks.data.ExecutorOutline`), so checks of this machine's hardware apply or not;
- any plugin's ``check(params, study)`` returns the problems it finds in a whole study
  (a :class:`~meltdyn.hooks.data.StudyOutline`), e.g. an observable asked for a species no run has;
- ``example(workdir)`` returns parameters for a small working instance: the conformance kit
  (:mod:`meltdyn.testing`) builds and checks every registered plugin from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from meltdyn.base.strict import StrictModel

if TYPE_CHECKING:
    from meltdyn.hooks.data import AtomicSystem, LabelledFrame, StudyOutline

PluginKind = Literal["potential", "engine", "observable", "labeller", "system", "executor"]
PLUGIN_KINDS: tuple[PluginKind, ...] = get_args(PluginKind)


class PluginParams(StrictModel):
    """Base class for a plugin's parameter model: unknown keys are errors, numbers finite, values immutable."""


@dataclass(frozen=True)
class Interface:
    """What an engine needs from a potential, owned by that engine (its public ``interface`` module).

    ``protocol`` is the ``typing.Protocol`` a potential implements; a potential lists ``name`` in its outline.
    ``evaluate(potential, system, stress)`` returns the potential's energy, forces and, if ``stress``, its stress
    (NaN where not asked for or not available) through the interface, so the conformance kit can check any potential
    through any interface.
    """

    name: str
    summary: str
    protocol: type
    evaluate: Callable[[Any, AtomicSystem, bool], LabelledFrame]


@dataclass(frozen=True)
class PluginDef:
    """One potential, engine, observable, labeller or system offered by a plugin (see the module docstring)."""

    name: str
    kind: PluginKind
    params: type[PluginParams]
    build: Callable[[Any], Any]
    summary: str = ""
    outline: Callable[..., Any] | None = None
    requires: Interface | None = None
    check: Callable[[Any, StudyOutline], list[str]] | None = None
    example: Callable[[Path], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Command:
    """A ``meltdyn`` subcommand: ``add_arguments`` fills its argparse parser, ``run`` returns the exit status;
    ``files``, given the registry, returns the models of the files it reads as ``(title, model)`` pairs, for the
    generated file reference (``meltdyn schema --markdown``): a plugin's file format is documented as meltdyn's are;
    ``check(data, path, registry)`` checks such a file for ``meltdyn validate`` without running it, returning the
    line to print, or None when ``data`` (the file's top-level mapping) is not a file of this command."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    files: Callable[[Any], list[tuple[str, type]]] | None = None
    check: Callable[[dict[str, Any], Path, Any], str | None] | None = None
