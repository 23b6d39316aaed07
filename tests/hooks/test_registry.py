"""Plugin discovery: built-ins come through entry points; a broken plugin never hides the others."""

from __future__ import annotations

import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from meltdyn.hooks.registry import PluginError, discover
from meltdyn.study.runner import validate_study


def _fake_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A minimal installed distribution: a dist-info with entry points, plus its modules."""
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(
        "[meltdyn]\n" + "".join(f"{name} = {target}\n" for name, target in entry_points.items()))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("fake_")]:
        del sys.modules[name]


GOOD = """
    from typing import Literal
    from meltdyn.plugin import hookimpl
    from meltdyn.plugin import PluginDef, PluginParams
    from meltdyn.plugins.potentials.shik import ShikParams, outline
    from meltdyn.plugins.potentials.shik.potential import Shik

    class Params(ShikParams):
        flavour: Literal["plain"] = "plain"

    @hookimpl
    def meltdyn_potentials():
        return [PluginDef("shik_variant", "potential", Params, Shik, "a second potential", outline=outline)]
"""


def test_builtins_register_through_the_entry_point_group():
    eps = {ep.name: ep for ep in metadata.entry_points(group="meltdyn")}
    for name in ("core", "sodium_silicate", "shik", "painn", "openmm", "lammps", "msd", "isf", "van_hove", "alpha2",
                 "potential_md", "ase_file"):
        assert eps[name].dist.name == "meltdyn"
    registry = discover()
    assert registry.problems == []
    assert registry.get("potential", "shik").distribution == "meltdyn"
    assert registry.get("engine", "openmm").source == "openmm"
    assert registry.names("observable") == ["alpha2", "chi4", "isf", "mobility", "model_deviation", "msd",
                                            "network", "structure", "van_hove"]
    assert registry.commands["run"].source == "core" and registry.commands["train"].source == "painn"


def test_unknown_name_lists_known_plugins():
    with pytest.raises(PluginError, match="no engine plugin named 'gromacs'; known engines: lammps, openmm"):
        discover().get("engine", "gromacs")


def test_broken_plugins_are_reported_and_the_others_still_listed(site):
    _fake_distribution(site, "fake-broken", {"broken": "fake_missing_module"}, {})
    _fake_distribution(site, "fake-raises", {"raises": "fake_raises"}, {"fake_raises": """
        from meltdyn.plugin import hookimpl
        @hookimpl
        def meltdyn_observables():
            raise RuntimeError("boom")
    """})
    _fake_distribution(site, "fake-invalid", {"invalid": "fake_invalid"}, {"fake_invalid": """
        from pydantic import BaseModel
        from meltdyn.plugin import hookimpl
        from meltdyn.plugin import PluginDef, PluginParams

        class Loose(PluginParams):
            model_config = {"extra": "allow"}

        class NotParams(BaseModel):
            x: int = 1

        @hookimpl
        def meltdyn_observables():
            return [PluginDef("loose", "observable", Loose, object),
                    PluginDef("msd", "observable", PluginParams, object),
                    PluginDef("Bad-Name", "observable", PluginParams, object),
                    PluginDef("notparams", "observable", NotParams, object),
                    PluginDef("wrongkind", "engine", PluginParams, object),
                    "not a definition"]
    """})
    _fake_distribution(site, "fake-exits", {"exits": "fake_exits"}, {"fake_exits": """
        raise SystemExit("a plugin must not end meltdyn")
    """})
    _fake_distribution(site, "fake-bare", {"bare": "fake_bare"}, {"fake_bare": """
        from meltdyn.plugin import hookimpl
        from meltdyn.plugin import Command, PluginDef, PluginParams

        @hookimpl
        def meltdyn_observables():
            return PluginDef("bare", "observable", PluginParams, object)

        @hookimpl
        def meltdyn_commands():
            return [Command("run", "steals run", lambda p: None, lambda a: 0)]
    """})
    _fake_distribution(site, "fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    registry = discover()
    problems = "\n".join(str(p) for p in registry.problems)
    assert "plugin 'exits' from distribution 'fake-exits': failed to import 'fake_exits': SystemExit(" in problems
    assert ("plugin 'bare' from distribution 'fake-bare': meltdyn_observables() returned PluginDef "
            "PluginDef(name='bare'") in problems and "expected a list" in problems
    assert "command 'run' is already provided by 'core' (meltdyn)" in problems
    assert "plugin 'broken' from distribution 'fake-broken': failed to import 'fake_missing_module'" in problems
    assert "plugin 'raises' from distribution 'fake-raises': meltdyn_observables() raised RuntimeError('boom')" in problems
    assert "'loose': params model must keep extra='forbid'" in problems
    assert "observable 'msd' is already provided by 'msd' from distribution 'meltdyn'" in problems
    assert "name 'Bad-Name' must match" in problems
    assert "'notparams': params must be a subclass of meltdyn.plugin.PluginParams" in problems
    assert "'wrongkind' has kind 'engine' but was returned from the observable hook" in problems
    assert "returned 'not a definition'" in problems
    assert all(p.distribution == "fake-invalid" for p in registry.problems if p.source == "invalid")
    # Everything valid is still there, the good third-party potential included, with its version.
    assert registry.names("potential") == ["painn", "shik", "shik_variant"]
    assert registry.get("potential", "shik_variant").version == "1.2.3"
    assert registry.names("observable") == ["alpha2", "chi4", "isf", "mobility", "model_deviation", "msd",
                                            "network", "structure", "van_hove"]


def test_third_party_parameters_join_the_discriminated_union(site, tiny_study):
    _fake_distribution(site, "fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    registry = discover()
    tiny_study["potential"] = {"plugin": "shik_variant", "flavour": "plain", "coulomb_cutoff_A": 6.0,
                               "short_range_cutoff_A": 5.5}
    assert validate_study(tiny_study, registry).potential.flavour == "plain"
    tiny_study["potential"]["flavour"] = "spicy"
    with pytest.raises(Exception, match="potential.flavour: Input should be 'plain' \\(got 'spicy'\\)"):
        validate_study(tiny_study, registry)
    tiny_study["potential"] = {"plugin": "bks"}
    with pytest.raises(Exception, match="potential: 'bks' is not a known potential plugin; known: painn, shik, shik_variant"):
        validate_study(tiny_study, registry)
