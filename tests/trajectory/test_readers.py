"""Foreign trajectories (wrapped extxyz, LAMMPS dump, DCD) give what meltdyn's unwrapped H5MD gives."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from meltdyn import analyse_trajectory
from meltdyn.analysis.streaming import analyse
from meltdyn.base.errors import StudyError
from meltdyn.hooks.sections import validate_section
from synthetic import assert_same_results, brownian, write_h5md

DT, BOX = 0.01, 11.0
OBSERVABLES = [{"plugin": "msd"}, {"plugin": "alpha2"}, {"plugin": "isf", "q_per_A": [2.0]}]


@pytest.fixture(scope="module")
def melt(tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign")
    steps = np.arange(120)
    symbols = ["Na"] * 10 + ["Si"] * 10 + ["O"] * 20
    x = brownian(np.random.default_rng(12), steps, len(symbols), 0.4, DT)
    h5 = write_h5md(root / "ref.h5", symbols, steps, x, BOX, DT, 1)
    reference = analyse_trajectory({"trajectory": str(h5), "output_dir": str(root / "ref"), "observables": OBSERVABLES})
    return root, symbols, x, reference


def _assert_same(a, b, rtol):
    assert_same_results(b, a, rtol=rtol, atol=rtol)


def test_wrapped_extxyz_matches_unwrapped_h5md(melt):
    import ase
    import ase.io

    root, symbols, x, reference = melt
    frames = [ase.Atoms(symbols, positions=np.mod(p, BOX), cell=np.eye(3) * BOX, pbc=True) for p in x]
    ase.io.write(root / "t.extxyz", frames)
    got = analyse_trajectory({"trajectory": str(root / "t.extxyz"), "timestep_ps": DT, "frame_interval_steps": 1,
                              "output_dir": str(root / "xyz"), "observables": OBSERVABLES})
    _assert_same(reference, got, 1e-6)


def test_lammps_dump_matches(melt):
    pytest.importorskip("MDAnalysis")
    root, symbols, x, reference = melt
    types = {"Na": 1, "Si": 2, "O": 3}
    lines = []
    for t, p in enumerate(np.mod(x, BOX)):
        lines += ["ITEM: TIMESTEP", str(t), "ITEM: NUMBER OF ATOMS", str(len(symbols)),
                  "ITEM: BOX BOUNDS pp pp pp"] + [f"0.0 {BOX}"] * 3 + ["ITEM: ATOMS id type x y z"]
        lines += [f"{i + 1} {types[s]} {p[i, 0]:.10f} {p[i, 1]:.10f} {p[i, 2]:.10f}" for i, s in enumerate(symbols)]
    (root / "t.lammpstrj").write_text("\n".join(lines) + "\n")
    got = analyse_trajectory({"trajectory": str(root / "t.lammpstrj"), "timestep_ps": DT,
                              "type_elements": {"1": "Na", "2": "Si", "3": "O"},
                              "output_dir": str(root / "dump"), "observables": OBSERVABLES})
    _assert_same(reference, got, 1e-6)


def test_dcd_with_topology_matches(melt):
    mda = pytest.importorskip("MDAnalysis")
    root, symbols, x, reference = melt
    u = mda.Universe.empty(len(symbols), trajectory=True, atom_resindex=[0] * len(symbols))
    u.add_TopologyAttr("names", symbols)
    u.add_TopologyAttr("resnames", ["MEL"])
    u.dimensions = [BOX, BOX, BOX, 90, 90, 90]
    u.atoms.write(str(root / "top.pdb"))
    with mda.Writer(str(root / "t.dcd"), len(symbols)) as w:
        for p in np.mod(x, BOX):
            u.atoms.positions = p
            u.dimensions = [BOX, BOX, BOX, 90, 90, 90]
            w.write(u.atoms)
    got = analyse_trajectory({"trajectory": str(root / "t.dcd"), "topology": str(root / "top.pdb"),
                              "timestep_ps": DT, "output_dir": str(root / "dcd"), "observables": OBSERVABLES})
    _assert_same(reference, got, 2e-4)  # DCD stores single precision


def test_streaming_atom_by_atom_gives_identical_results(melt, registry):
    root, *_, reference = melt
    observables = {o["plugin"]: registry.build("observable", validate_section(registry, "observable", o, "o"))
                   for o in OBSERVABLES}
    _assert_same(reference, analyse(root / "ref.h5", observables, block_atoms=1), 1e-9)


def test_results_are_never_overwritten_and_bad_input_is_named(melt):
    root, *_ = melt
    with pytest.raises(StudyError, match="results.h5 exists; meltdyn never overwrites results"):
        analyse_trajectory({"trajectory": str(root / "ref.h5"), "output_dir": str(root / "ref"),
                            "observables": OBSERVABLES})
    with pytest.raises(StudyError, match="timestep_ps: give the MD timestep"):
        analyse_trajectory({"trajectory": str(root / "t.extxyz"), "output_dir": str(root / "x2"),
                            "observables": OBSERVABLES})
    with pytest.raises(StudyError, match="observables\\[0\\].q_per_A: Input should be a valid list"):
        analyse_trajectory({"trajectory": "x.h5", "output_dir": "o", "observables": [{"plugin": "isf", "q_per_A": 2}]})


@pytest.mark.subprocess
def test_cli_analyse(melt, tmp_path):
    root, *_ = melt
    spec = tmp_path / "a.yaml"
    spec.write_text(f"trajectory: {root / 'ref.h5'}\noutput_dir: {tmp_path / 'out'}\nobservables:\n  - plugin: alpha2\n")
    out = subprocess.run([sys.executable, "-m", "meltdyn.cli", "analyse", str(spec)], capture_output=True, text=True,
                         check=True)
    # What was measured, as `meltdyn results` prints a run's: the state point, then each quantity with its unit.
    lines = out.stdout.splitlines()
    assert lines[0].endswith("results.h5, summary.json)") and lines[1].strip().startswith("state point: T = ")
    assert any(line.strip().startswith("alpha2.peak_time[species=") and line.rstrip().endswith(("ps", "(see note)"))
               for line in lines) and "_stderr" not in out.stdout
    assert "atoms per block, peak memory" in out.stdout
    assert (tmp_path / "out" / "results.h5").exists()


def test_an_analysis_files_trajectory_is_found_beside_the_file_from_any_directory(melt, tmp_path, monkeypatch):
    """A relative ``trajectory`` is relative to the analysis file's folder, not the current directory (as a
    relative include is); ``output_dir`` stays relative to the current directory, as a study's is."""
    from meltdyn.cli.dispatch import main

    root, *_ = melt
    folder = tmp_path / "analyses"
    folder.mkdir()
    (folder / "a.yaml").write_text(f"trajectory: {root.name}/ref.h5\noutput_dir: out\nobservables:\n"
                                   "  - plugin: alpha2\n")
    (folder / root.name).symlink_to(root)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["analyse", str(folder / "a.yaml")]) == 0
    assert (elsewhere / "out" / "results.h5").is_file() and not (folder / "out").exists()
    assert main(["results", str(folder / "a.yaml")]) == 0  # `results` finds the same trajectory and output

    (folder / "b.yaml").write_text("trajectory: missing.h5\noutput_dir: out2\nobservables:\n  - plugin: msd\n")
    with pytest.raises(StudyError, match=r"trajectory: '.*analyses/missing.h5' is not a file \(a relative "
                                         r"trajectory is relative to the analysis file's folder\)"):
        analyse_trajectory(folder / "b.yaml")
