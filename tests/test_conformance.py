"""Every registered plugin passes its kind's conformance check (meltdyn.testing): none can ship untested.

The cases are the registry itself, so a plugin registered tomorrow is checked tomorrow, and one that gives no
example (nothing the kit can build) fails here.
"""

from __future__ import annotations

import pytest

from meltdyn.cli.dispatch import parser
from meltdyn.hooks.definitions import PLUGIN_KINDS
from meltdyn.hooks.registry import discover
from meltdyn.testing import check_plugin

REGISTRY = discover()
ENGINE_POTENTIAL = "shik"  # stable dynamics on every engine here; PaiNN's own conformance is its derivative check
EXECUTOR_ENGINE = "openmm"  # the executors' check compares trajectories: OpenMM's Reference platform is the quickest
CASES = [(e.kind, e.name) for e in sorted(REGISTRY.all_entries(), key=lambda e: (e.kind, e.name))
         if e.distribution == "meltdyn"]


def test_every_kind_has_builtin_plugins_under_test():
    assert {kind for kind, _ in CASES} == set(PLUGIN_KINDS)
    assert REGISTRY.problems == []


SLOW_KINDS = {"engine": (pytest.mark.slow, pytest.mark.subprocess), "executor": (pytest.mark.slow,),
              "potential": (pytest.mark.slow,), "observable": (pytest.mark.slow,), "labeller": (pytest.mark.slow,)}
"""Kinds whose check runs a study (engines: with a killed subprocess), differentiates a potential numerically, or
analyses several trajectories (observables) or labels frames with a potential (labellers): a second or more each."""


@pytest.mark.parametrize("kind, name", [pytest.param(k, n, marks=SLOW_KINDS.get(k, ()), id=f"{k}-{n}") for k, n in CASES])
def test_plugin_conforms(kind, name, tmp_path):
    check_plugin(kind, name, tmp_path, REGISTRY, potential=ENGINE_POTENTIAL if kind in ("engine", "executor") else None,
                 engine=EXECUTOR_ENGINE if kind == "executor" else None)


@pytest.mark.parametrize("name", sorted(REGISTRY.commands))
def test_command_parses_its_arguments(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        parser(REGISTRY).parse_args([name, "--help"])
    assert exit_.value.code == 0 and name in capsys.readouterr().out
