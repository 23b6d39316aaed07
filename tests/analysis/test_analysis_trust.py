"""Analysis on trajectories meltdyn did not write, against brute-force references computed here.

One synthetic melt in a strongly tilted cell, three species with masses only ASE knows (Li, Ca, O), Li drifting
through the cell: every observable must see the same frame of reference, every foreign format must give the
brute-force numbers, the file's own time axis must be read and checked, unwrapping must use image flags when the
file has them and warn when frames are too far apart to unwrap, and the memory budget must be a bound.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.data import atomic_masses, atomic_numbers

from meltdyn import analyse_trajectory
from meltdyn.analysis.standalone import TrajectoryWarning
from meltdyn.analysis.streaming import analyse
from meltdyn.analysis.summaries import quantities
from meltdyn.base.errors import StudyError
from meltdyn.hooks.sections import validate_section
from meltdyn.plugins.observables.isf import box_q_vectors
from meltdyn.plugin import select
from meltdyn.spec.models import AnalysisSettings
from synthetic import assert_same_results, write_h5md

DT = 0.002  # ps per MD step
EVERY = 5  # MD steps between frames
CELL = np.array([[12.0, 0.0, 0.0], [4.0, 11.0, 0.0], [-3.0, 2.0, 10.5]])  # LAMMPS' lower-triangular form
SYMBOLS = ["Li"] * 8 + ["Ca"] * 8 + ["O"] * 20
TYPES = {"Li": 1, "Ca": 2, "O": 3}
Q = 2.0
OBSERVABLES = [{"plugin": "msd"},
               {"plugin": "alpha2", "max_origins": 10**6, "lags_per_decade": 4},
               {"plugin": "isf", "q_per_A": [Q], "max_origins": 10**6, "lags_per_decade": 4},
               {"plugin": "van_hove", "lags_ps": [0.05, 0.5], "max_origins": 10**6, "r_max_A": 8.0, "bins": 40,
                "hop_species": ["Li"]}]


def melt(frames: int = 120, seed: int = 0, drift_A_ps: float = 3.0) -> np.ndarray:
    """Unwrapped positions (frames, atoms, 3): Brownian atoms, Li also drifting along x."""
    rng = np.random.default_rng(seed)
    d = np.array([{"Li": 0.5, "Ca": 0.05, "O": 0.1}[s] for s in SYMBOLS])
    kicks = rng.normal(size=(frames, len(SYMBOLS), 3)) * np.sqrt(2 * d * EVERY * DT)[None, :, None]
    kicks[0] = 0
    x = rng.random((len(SYMBOLS), 3)) @ CELL + np.cumsum(kicks, axis=0)
    t = np.arange(frames) * EVERY * DT
    x[:, :8, 0] += drift_A_ps * t[:, None]
    return x


# --- brute-force references: every origin, plain loops, ASE masses --------------------------------------------------

def centre_of_mass_frame(x: np.ndarray) -> np.ndarray:
    m = np.array([atomic_masses[atomic_numbers[s]] for s in SYMBOLS])
    com = np.einsum("a,tai->ti", m, x) / m.sum()
    return x - (com - com[0])[:, None, :]


def displacements(x: np.ndarray, lag: int, species: str) -> np.ndarray:
    mask = np.array(SYMBOLS) == species
    return np.stack([x[t + lag, mask] - x[t, mask] for t in range(len(x) - lag)])


def reference(x: np.ndarray, lag: int, species: str) -> dict[str, float]:
    d = displacements(x, lag, species)
    r2 = np.sum(d * d, axis=-1)
    r = np.sqrt(r2)
    return {"msd": r2.mean(), "r2": r2.mean(), "alpha2": 3 * np.mean(r2**2) / (5 * r2.mean() ** 2) - 1,
            "Fs": np.mean(np.sinc(Q * r / np.pi)), "r": r.ravel()}


def gs_reference(x: np.ndarray, lag: int, species: str, edges: np.ndarray) -> np.ndarray:
    r = reference(x, lag, species)["r"]
    centres = 0.5 * (edges[1:] + edges[:-1])
    return np.histogram(r, edges)[0] / r.size / np.diff(edges) / (4 * np.pi * centres**2)


def lag_frames(lags_ps: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(lags_ps) / (EVERY * DT)).astype(int)


def assert_matches_brute_force(results, x: np.ndarray, tol: float = 1e-8) -> None:
    for species in ("Li", "Ca", "O"):
        msd = results["msd"]
        for lag, value in zip(lag_frames(msd["lag"].values)[1:], select(msd, "msd", species=species)[1:]):
            assert value == pytest.approx(reference(x, lag, species)["msd"], rel=tol)
        a2 = results["alpha2"]
        for k, lag in enumerate(lag_frames(a2["lag"].values)):
            ref = reference(x, lag, species)
            assert select(a2, "r2", species=species)[k] == pytest.approx(ref["r2"], rel=tol)
            assert select(a2, "alpha2", species=species)[k] == pytest.approx(ref["alpha2"], rel=tol, abs=tol)
        isf = results["isf"]
        for k, lag in enumerate(lag_frames(isf["lag"].values)[1:]):
            assert select(isf, "Fs", species=species)[0, k + 1] == pytest.approx(reference(x, lag, species)["Fs"], abs=tol)
        vh = results["van_hove"]
        edges = np.linspace(0, 8.0, 41)
        for k, lag in enumerate(lag_frames(vh["lag"].values)):
            np.testing.assert_allclose(select(vh, "Gs", species=species)[k], gs_reference(x, lag, species, edges),
                                       rtol=tol, atol=tol)


# --- writers for foreign formats ----------------------------------------------------------------------------------

def wrap(x: np.ndarray, cell: np.ndarray = CELL) -> tuple[np.ndarray, np.ndarray]:
    frac = x @ np.linalg.inv(cell)
    images = np.floor(frac)
    return (frac - images) @ cell, images.astype(int)


def lammps_dump(path, x: np.ndarray, steps=None, columns: str = "x y z ix iy iz", types=True,
                symbols: list[str] = SYMBOLS) -> str:
    """A triclinic LAMMPS dump: box bounds in LAMMPS' bounding-box form, atoms shuffled (the reader sorts by id)."""
    xy, xz, yz = CELL[1, 0], CELL[2, 0], CELL[2, 1]
    bounds = [f"{min(0, xy, xz, xy + xz)} {CELL[0, 0] + max(0, xy, xz, xy + xz)} {xy}",
              f"{min(0, yz)} {CELL[1, 1] + max(0, yz)} {xz}", f"0.0 {CELL[2, 2]} {yz}"]
    order = np.random.default_rng(1).permutation(len(symbols))
    steps = np.arange(len(x)) * EVERY if steps is None else steps
    lines = []
    for step, frame in zip(steps, x):
        wrapped, images = wrap(frame)
        cols = {"x y z": wrapped, "xu yu zu": frame, "ix iy iz": images}
        lines += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(symbols)),
                  "ITEM: BOX BOUNDS xy xz yz pp pp pp", *bounds,
                  f"ITEM: ATOMS id {'type' if types else 'element'} {columns}"]
        for i in order:
            label = TYPES[symbols[i]] if types else symbols[i]
            values = " ".join(" ".join(f"{v:.12f}" if isinstance(v, float) else str(v) for v in cols[c][i].tolist())
                              for c in ("x y z", "xu yu zu", "ix iy iz") if c in columns)
            lines.append(f"{i + 1} {label} {values}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(tmp_path, trajectory: str, name: str, **extra):
    spec = {"trajectory": trajectory, "output_dir": str(tmp_path / name), "observables": OBSERVABLES, **extra}
    return analyse_trajectory(spec)


TYPE_ELEMENTS = {"1": "Li", "2": "Ca", "3": "O"}


# --- 1. one frame of reference ------------------------------------------------------------------------------------

@pytest.mark.parametrize("frame", ["centre_of_mass", "box"])
def test_every_observable_sees_the_same_frame_of_reference(tmp_path, frame):
    x = melt()
    path = write_h5md(tmp_path / "t.h5", SYMBOLS, np.arange(len(x)) * EVERY, x, CELL, DT, EVERY)
    results = run(tmp_path, str(path), "out", reference_frame=frame)
    oracle = centre_of_mass_frame(x) if frame == "centre_of_mass" else x
    assert_matches_brute_force(results, oracle)
    # alpha2's <r^2> is the MSD at the same lags, whatever the drift
    msd, a2 = results["msd"], results["alpha2"]
    at = np.searchsorted(msd["lag"].values, a2["lag"].values)
    np.testing.assert_allclose(select(a2, "r2", species="Li"), select(msd, "msd", species="Li")[at], rtol=1e-10)
    import h5py

    with h5py.File(tmp_path / "out" / "results.h5") as f:
        assert f.attrs["reference_frame"] == frame


@pytest.mark.slow
def test_a_uniform_drift_changes_nothing_in_the_centre_of_mass_frame(tmp_path):
    x = melt(drift_A_ps=0.0)
    moved = x + (np.arange(len(x)) * EVERY * DT)[:, None, None] * np.array([1.5, -2.0, 0.7])
    steps = np.arange(len(x)) * EVERY
    still = run(tmp_path, str(write_h5md(tmp_path / "a.h5", SYMBOLS, steps, x, CELL, DT, EVERY)), "a")
    drifted = run(tmp_path, str(write_h5md(tmp_path / "b.h5", SYMBOLS, steps, moved, CELL, DT, EVERY)), "b")
    assert_same_results(drifted, still, rtol=1e-9, atol=1e-9)


# --- foreign formats, triclinic, image flags, steps from the file --------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("columns", ["x y z ix iy iz", "x y z", "xu yu zu"])
def test_triclinic_lammps_dump_matches_brute_force(tmp_path, columns):
    x = melt()
    dump = lammps_dump(tmp_path / "t.lammpstrj", x, columns=columns)
    results = run(tmp_path, dump, "out", timestep_ps=DT, type_elements=TYPE_ELEMENTS)
    assert_matches_brute_force(results, centre_of_mass_frame(x))
    record = json.loads((tmp_path / "out" / "conversion.json").read_text())
    assert record["report"]["unwrapped_by"] == {"x y z ix iy iz": "image flags", "x y z": "frame to frame (minimum "
                                                "image)", "xu yu zu": "as stored (unwrapped)"}[columns]
    assert record["report"]["steps_from"] == "step" and record["report"]["linear_interval_steps"] == EVERY
    cost = json.loads((tmp_path / "out" / "cost.json").read_text())
    assert 0 < cost["conversion_seconds"] <= cost["seconds"]


@pytest.mark.slow
def test_extxyz_with_steps_in_its_info_matches_brute_force(tmp_path):
    import ase
    import ase.io

    x = melt()
    frames = []
    for k, frame in enumerate(x):
        atoms = ase.Atoms(SYMBOLS, positions=wrap(frame)[0], cell=CELL, pbc=True)
        atoms.info["step"] = k * EVERY
        frames.append(atoms)
    ase.io.write(tmp_path / "t.extxyz", frames)
    # ASE writes 8 decimals: positions carry 1e-8 Å of rounding, MSDs of 0.003 Å² then agree to about 1e-6
    assert_matches_brute_force(run(tmp_path, str(tmp_path / "t.extxyz"), "out", timestep_ps=DT),
                               centre_of_mass_frame(x), tol=2e-6)


@pytest.mark.slow
def test_image_flags_are_used_where_frames_are_too_far_apart_to_unwrap(tmp_path):
    """Li atom 0 jumps 0.7 of a cell between two frames: only the image flags (or unwrapped columns) can tell."""
    x = melt()
    x[60:, 0, 0] += 0.7 * CELL[0, 0]
    with_flags = run(tmp_path, lammps_dump(tmp_path / "f.lammpstrj", x), "f", timestep_ps=DT,
                     type_elements=TYPE_ELEMENTS)
    assert_matches_brute_force(with_flags, centre_of_mass_frame(x))
    with pytest.warns(TrajectoryWarning, match="1 atom-frame"):
        without = run(tmp_path, lammps_dump(tmp_path / "n.lammpstrj", x, columns="x y z"), "n", timestep_ps=DT,
                      type_elements=TYPE_ELEMENTS)
    oracle = reference(centre_of_mass_frame(x), 100, "Li")["msd"]
    assert abs(select(without["msd"], "msd", species="Li")[100] - oracle) > 1.0  # mis-unwrapped, and said so
    assert "1 atom-frame(s) moved more than 30% of the cell" in json.loads(
        (tmp_path / "n" / "summary.json").read_text())["trajectory"]["flags"][0]


@pytest.mark.slow
def test_frames_too_far_apart_are_counted(tmp_path):
    """Moves of 0.35-0.45 of the smallest cell width are still unwrapped right, but each one is counted."""
    x = melt()
    width = abs(np.linalg.det(CELL)) / np.linalg.norm(np.cross(CELL[0], CELL[1]))  # smallest: along c
    jumpers = [(10, 3), (20, 17), (20, 30), (77, 5)]
    for frame, atom in jumpers:
        x[frame:, atom, 2] += 0.4 * width
    with pytest.warns(TrajectoryWarning, match=f"^{len(jumpers)} atom-frame"):
        results = run(tmp_path, lammps_dump(tmp_path / "t.lammpstrj", x, columns="x y z"), "out", timestep_ps=DT,
                      type_elements=TYPE_ELEMENTS)
    assert_matches_brute_force(results, centre_of_mass_frame(x))


def test_the_files_steps_set_the_time_axis(tmp_path):
    """Frames 20 steps apart in the file: lags are multiples of 20 timesteps whatever the frame count says."""
    x = melt(frames=60)
    dump = lammps_dump(tmp_path / "t.lammpstrj", x, steps=1000 + 20 * np.arange(len(x)))
    results = run(tmp_path, dump, "out", timestep_ps=DT, type_elements=TYPE_ELEMENTS)
    lags = results["msd"]["lag"].values
    np.testing.assert_allclose(lags, np.arange(len(x)) * 20 * DT, rtol=1e-12)
    with pytest.raises(StudyError, match="frame_interval_steps: 5, but the file's own steps put its frames 20 steps "
                                         "apart"):
        run(tmp_path, dump, "wrong", timestep_ps=DT, frame_interval_steps=5, type_elements=TYPE_ELEMENTS)


@pytest.mark.parametrize(("steps", "message"), [
    ([0, 5, 10, 10, 15, 20], "frame 3 repeats step 10 after frame 2's step 10"),
    ([0, 5, 10, 15, 5, 10], "frame 4 goes back to step 5 after frame 3's step 15"),
    ([0, 5, 10, 20, 25, 30], "frames at multiples of 5 steps are not contiguous"),
])
def test_a_broken_time_axis_is_refused(tmp_path, steps, message):
    x = melt(frames=len(steps))
    dump = lammps_dump(tmp_path / "t.lammpstrj", x, steps=np.array(steps))
    with pytest.raises(StudyError, match=f"trajectory( '[^']*')?: {message}"):
        run(tmp_path, dump, "out", timestep_ps=DT, type_elements=TYPE_ELEMENTS)
    assert not (tmp_path / "out" / "results.h5").exists()


def test_meltdyn_h5md_with_a_repeated_step_is_refused(tmp_path):
    x = melt(frames=6)
    path = write_h5md(tmp_path / "t.h5", SYMBOLS, np.array([0, 5, 10, 10, 15, 20]), x, CELL, DT, EVERY)
    with pytest.raises(StudyError, match="frame 3 is at step 10 after step 10; steps must increase"):
        run(tmp_path, str(path), "out")


# --- species and masses -------------------------------------------------------------------------------------------

def test_lammps_types_without_elements_are_refused_with_the_mapping_to_give(tmp_path):
    dump = lammps_dump(tmp_path / "t.lammpstrj", melt(frames=4))
    with pytest.raises(StudyError, match=r"type_elements: the file names atom types \['1', '2', '3'\], which are not "
                                         r"element symbols; map them, e\.g\. type_elements: \{'1': Na"):
        run(tmp_path, dump, "out", timestep_ps=DT)
    with pytest.raises(StudyError, match=r"type_elements: no element for atom types \['3'\]"):
        run(tmp_path, dump, "out", timestep_ps=DT, type_elements={"1": "Li", "2": "Ca"})
    with pytest.raises(StudyError, match="type_elements.3: Value error, 'Xx' is not a chemical element symbol"):
        run(tmp_path, dump, "out", timestep_ps=DT, type_elements={"1": "Li", "2": "Ca", "3": "Xx"})


@pytest.mark.slow
def test_element_columns_name_the_species(tmp_path):
    x = melt()
    dump = lammps_dump(tmp_path / "t.lammpstrj", x, types=False)
    assert_matches_brute_force(run(tmp_path, dump, "out", timestep_ps=DT), centre_of_mass_frame(x))


@pytest.mark.subprocess
def test_an_absent_hop_species_is_said_plainly(tmp_path):
    x = melt(frames=40)
    path = write_h5md(tmp_path / "t.h5", SYMBOLS, np.arange(len(x)) * EVERY, x, CELL, DT, EVERY)
    spec = tmp_path / "a.yaml"
    spec.write_text(f"trajectory: {path}\noutput_dir: {tmp_path / 'out'}\nobservables:\n"
                    "  - {plugin: van_hove, lags_ps: [0.05], hop_species: [Na]}\n  - {plugin: msd}\n")
    out = subprocess.run([sys.executable, "-m", "meltdyn.cli", "analyse", str(spec)], capture_output=True, text=True,
                         check=True)
    flag = "hop_species Na: not in this trajectory, so it has no hop analysis"
    assert flag in out.stdout
    # The numbers themselves, as `meltdyn results` shows a run's: the state point and each quantity with its unit.
    assert "state point: T = " in out.stdout
    shown = [q for q in quantities(json.loads((tmp_path / "out" / "summary.json").read_text()))
             if q.observable == "msd"]
    assert shown and all(f"{q.key}  " in out.stdout and q.estimate.text(4) in out.stdout for q in shown), out.stdout
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["van_hove"]["flags"] == [flag]


# --- smaller ones ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", [CELL, np.array([[10.0, 0, 0], [28.0, 4.0, 0], [0, 0, 10.0]]),
                                  np.array([[8.0, 0, 0], [7.5, 3.0, 0], [7.0, 2.5, 2.0]])])
def test_box_vectors_in_tilted_cells_are_all_found(cell):
    recip = 2 * np.pi * np.linalg.inv(cell).T
    grid = np.arange(-60, 61)
    n = np.array(np.meshgrid(grid, grid, grid, indexing="ij")).reshape(3, -1).T
    every = n @ recip
    shell = every[np.abs(np.linalg.norm(every, axis=1) - 1.7) <= 0.1]
    found = box_q_vectors(cell, 1.7, 0.1, 10**6)
    assert 2 * len(found) == len(shell)
    assert {tuple(v) for v in np.round(np.concatenate([found, -found]), 9)} == {tuple(v) for v in np.round(shell, 9)}


@pytest.mark.subprocess
def test_conversion_is_reused_for_the_same_file_and_never_overwrites_another(tmp_path):
    x = melt(frames=30)
    dump = lammps_dump(tmp_path / "t.lammpstrj", x)
    spec = {"trajectory": dump, "output_dir": str(tmp_path / "out"), "timestep_ps": DT,
            "type_elements": TYPE_ELEMENTS, "observables": [{"plugin": "msd"}]}
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "trajectory.h5").write_bytes(b"a user's file")
    with pytest.raises(StudyError, match=r"already holds \['trajectory.h5'\], which meltdyn did not make"):
        analyse_trajectory(spec)
    assert (tmp_path / "out" / "trajectory.h5").read_bytes() == b"a user's file"
    spec["output_dir"] = str(tmp_path / "again")
    analyse_trajectory(spec)
    (tmp_path / "again" / "results.h5").rename(tmp_path / "again" / "first.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analyse_trajectory(spec)  # converted once: the second analysis reads the same trajectory.h5
    # In meltdyn's own analysis directory, a conversion of another file is refused, not written over this one.
    (tmp_path / "again" / "results.h5").rename(tmp_path / "again" / "second.h5")
    spec["trajectory"] = lammps_dump(tmp_path / "other.lammpstrj", melt(frames=20))
    with pytest.raises(StudyError, match="trajectory.h5' exists and was not converted from"):
        analyse_trajectory(spec)


@pytest.mark.slow
@pytest.mark.parametrize("killed_at", ["record", "rename"])
def test_a_conversion_killed_at_its_last_steps_is_converted_again(tmp_path, monkeypatch, killed_at):
    """Killed while writing conversion.json or while moving the converted file into place: the next analysis of the
    same file converts again and completes, rather than finding a trajectory.h5 without a record and refusing it."""
    import os

    from meltdyn.analysis import standalone

    dump = lammps_dump(tmp_path / "t.lammpstrj", melt(frames=30))
    spec = {"trajectory": dump, "output_dir": str(tmp_path / "out"), "timestep_ps": DT,
            "type_elements": TYPE_ELEMENTS, "observables": [{"plugin": "msd"}]}

    def kill(*args, **kwargs):
        raise KeyboardInterrupt

    if killed_at == "record":
        monkeypatch.setattr(standalone, "write_json_atomic", kill)
    else:
        real = os.replace
        monkeypatch.setattr(os, "replace", lambda a, b: kill() if Path(b).name == "trajectory.h5" else real(a, b))
    with pytest.raises(KeyboardInterrupt):
        analyse_trajectory(spec)
    monkeypatch.undo()
    resumed = analyse_trajectory(spec)
    clean = analyse_trajectory({**spec, "output_dir": str(tmp_path / "clean")})
    for key in clean["msd"]:
        np.testing.assert_array_equal(resumed["msd"][key].values, clean["msd"][key].values)


# --- 2. the memory budget is a bound --------------------------------------------------------------------------------

HEAVY = [{"plugin": "msd"}, {"plugin": "alpha2", "max_origins": 300},
         {"plugin": "isf", "q_per_A": [1.7, 3.0], "average": "box_vectors", "q_shell_width_per_A": 0.2,
          "max_origins": 300},
         {"plugin": "van_hove", "lags_ps": [0.1, 1.0], "hop_species": ["Li", "O"], "max_origins": 300}]


def _observables(registry, entries):
    return {o["plugin"]: registry.build("observable", validate_section(registry, "observable", o, "o"))
            for o in entries}


@pytest.mark.slow
@pytest.mark.parametrize("unwrapped", [True, False])
def test_traced_memory_stays_within_the_budget(tmp_path, registry, unwrapped):
    frames, budget_MB = 1500, 2.0
    x = melt(frames=frames)
    stored = x if unwrapped else np.stack([wrap(f)[0] for f in x])
    path = write_h5md(tmp_path / "t.h5", SYMBOLS * 6, np.arange(frames) * EVERY, np.concatenate([stored] * 6, axis=1),
                      CELL, DT, EVERY, unwrapped=unwrapped)
    assert x.nbytes * 6 / 2**20 > 3 * budget_MB
    # all at once (and past first-call imports), then within the budget: the same numbers, block size aside
    whole = analyse(path, _observables(registry, HEAVY), block_atoms=len(SYMBOLS) * 6)
    observables = _observables(registry, HEAVY)  # validating the study file is not the analysis' memory
    tracemalloc.start()
    try:
        results = analyse(path, observables, AnalysisSettings(memory_budget_MB=budget_MB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= budget_MB * 2**20, f"traced peak {peak / 2**20:.2f} MB over a {budget_MB} MB budget"
    assert_same_results(results, whole, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_a_budget_that_cannot_fit_says_what_would(tmp_path, registry):
    x = melt(frames=3000)
    path = write_h5md(tmp_path / "t.h5", SYMBOLS, np.arange(3000) * EVERY, x, CELL, DT, EVERY)
    with pytest.raises(ValueError, match=r"memory_budget_MB: 1 MB cannot hold one atom's analysis \(positions over "
                                         r"3000 frames 0\.07 MB per atom; 'msd' .* it needs at least ([0-9.]+) MB"
                       ) as caught:
        analyse(path, _observables(registry, HEAVY), AnalysisSettings(memory_budget_MB=1))
    needed = float(caught.value.args[0].split("it needs at least ")[1].split(" MB")[0])
    # traced past numpy's lazy first-call imports (numpy.ma, numpy.fft: about 1 MB of modules, once per process)
    analyse(path, _observables(registry, HEAVY), AnalysisSettings(memory_budget_MB=needed + 0.1))
    observables = _observables(registry, HEAVY)
    tracemalloc.start()
    try:
        analyse(path, observables, AnalysisSettings(memory_budget_MB=needed + 0.1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= (needed + 0.1) * 2**20


@pytest.mark.slow
def test_converting_a_foreign_file_holds_a_few_frames_whatever_its_length(tmp_path):
    from meltdyn.trajectory.convert import convert
    from meltdyn.trajectory.readers import LammpsDump

    peaks = {}
    for frames in (100, 800):
        x = np.concatenate([melt(frames=frames)] * 8, axis=1)
        lammps_dump(tmp_path / f"{frames}.lammpstrj", x, symbols=SYMBOLS * 8)
        reader = LammpsDump(tmp_path / f"{frames}.lammpstrj", TYPE_ELEMENTS)
        tracemalloc.start()
        try:
            convert(reader, tmp_path / f"{frames}.h5", DT, None, False)
            peaks[frames] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[800] < 1.2 * peaks[100]
    assert peaks[800] < x.nbytes / 4


STUDY_OBSERVABLES = [{"plugin": "msd"}, {"plugin": "alpha2"}, {"plugin": "isf", "q_per_A": [1.7, 2.8]},
                     {"plugin": "van_hove", "lags_ps": [0.1, 1.0]}]


@pytest.mark.subprocess
def test_a_study_whose_analysis_cannot_fit_is_refused_before_its_md(tmp_path, tiny_study, registry):
    """Validation plans each run's analysis as its production trajectory will be. The oracle is the analysis itself,
    after the MD, of a trajectory with the same frames and cell written here: both need the same memory, and the
    study is refused (nothing written) when it cannot fit and accepted when it can."""
    from meltdyn.engine.schedule import frame_steps
    from meltdyn.spec.models import SamplingSpec
    from meltdyn.study.runner import load_study

    sampling = {"interval_ps": 0.02, "log_frames_per_interval": 3}
    tiny_study["protocol"]["stages"][-1] = {"stage": "production", "duration_ps": 20.0, "sampling": sampling}
    tiny_study["observables"] = STUDY_OBSERVABLES
    tiny_study["analysis"] = {"memory_budget_MB": 1}
    with pytest.raises(StudyError, match=r"analysis\.memory_budget_MB: 1 MB cannot hold one atom's analysis .* "
                                         r"it needs at least ([0-9.]+) MB.*\(run NS2_T3000K_r0: 153 atoms") as refused:
        load_study(tiny_study)
    assert not (tmp_path / "out").exists()
    at_validation = float(str(refused.value).split("it needs at least ")[1].split(" MB")[0])

    tiny_study["analysis"] = {"memory_budget_MB": 1000}
    outline = load_study(tiny_study).outline.runs[0].system
    steps, interval = frame_steps(SamplingSpec(**sampling), 1e-3, 20.0)
    x = np.random.default_rng(3).random((len(steps), outline.n_atoms, 3)) * 10
    symbols = [outline.species[i % len(outline.species)] for i in range(outline.n_atoms)]
    path = write_h5md(tmp_path / "p.h5", symbols, steps, x, outline.cell_A, 1e-3, interval)
    with pytest.raises(ValueError, match="it needs at least") as after_md:
        analyse(path, _observables(registry, STUDY_OBSERVABLES), AnalysisSettings(memory_budget_MB=1))
    assert float(str(after_md.value).split("it needs at least ")[1].split(" MB")[0]) == at_validation

    tiny_study["analysis"] = {"memory_budget_MB": at_validation + 0.1}
    load_study(tiny_study)


def test_results_and_plot_take_an_analysis_file_as_they_take_a_study(tmp_path, capsys):
    """`meltdyn results` and `meltdyn plot` on an analysis file: its summary as a table or JSON, its figures in
    output_dir/plots; before `meltdyn analyse` has run, a refusal that says so."""
    from meltdyn.cli.dispatch import main

    x = melt(frames=40)
    path = write_h5md(tmp_path / "t.h5", SYMBOLS, np.arange(len(x)) * EVERY, x, CELL, DT, EVERY)
    spec = tmp_path / "a.yaml"
    spec.write_text(f"trajectory: {path}\noutput_dir: {tmp_path / 'out'}\nobservables:\n  - {{plugin: msd}}\n")
    assert main(["results", str(spec)]) == 2
    assert "holds no analysis (no summary.json); run `meltdyn analyse`" in capsys.readouterr().err
    assert main(["analyse", str(spec)]) == 0
    capsys.readouterr()
    assert main(["results", str(spec)]) == 0
    table = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    shown = [q for q in quantities(summary) if q.observable == "msd"]
    assert shown and all(q.key in table and q.estimate.text(4) in table for q in shown)
    assert main(["results", "--json", str(spec)]) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == summary
    assert main(["plot", str(spec)]) == 0
    assert {p.name for p in (tmp_path / "out" / "plots").iterdir()} >= {"msd.png", "msd.pdf"}
