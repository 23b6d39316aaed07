"""The conformance kit: what every plugin of a kind must satisfy, for meltdyn's own plugins and third parties' alike.

Each check builds the plugin, exercises it against physics or an independent reference, and raises
``AssertionError`` saying what failed. A plugin package tests itself with one line::

    from meltdyn.testing import check_plugin
    def test_conformance(tmp_path):
        check_plugin("observable", "maxdisp", tmp_path)

``check_plugin`` builds the plugin from its definition's ``example`` (so the example must make a working instance)
and dispatches to the check of its kind:

- :func:`check_system`: the built system matches its outline; the same seed gives the same system, another seed
  another one (compositions from the params model's ``example_compositions`` ClassVar);
- :func:`check_potential`: through every interface it provides, forces are −∇E and stress is ∂E/∂ε / V (finite
  differences), the energy is unchanged by a periodic translation, and all interfaces give the same energy (units);
- :func:`check_engine`: a short study runs every stage kind; NVE conserves energy; NVT holds its temperature; a run
  killed during production resumes with every frame once and continues smoothly;
- :func:`check_observable`: results carry units and axes, and are the same whatever the block size (atom-major
  observables) or the batch size, the storage (wrapped or not) and a merge of halves (whole-frame observables), the
  atom order and a drift of the whole system; what prepare and process allocate, traced, stays within ``memory()``;
- :func:`check_labeller`: batches hold well-formed frames and ``skip`` leaves out exactly the batches kept before;
- :func:`check_executor`: a small study through the executor equals the same study run serially, frame for frame.

No pytest needed: the checks are plain functions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from meltdyn.analysis.dimensions import check_dimensions, coordinates
from meltdyn.analysis.summaries import summary_entry
from meltdyn.base import elements
from meltdyn.base.units import BOLTZMANN_EV_K, KJ_MOL_TO_EV, U_A2_PS2_TO_EV
from meltdyn.hooks.contracts import BaseObservable, FrameObservable, Observable
from meltdyn.hooks.data import AtomBlock, AtomicSystem, FrameBatch, LabelledFrame, ResultArray, TrajectoryInfo
from meltdyn.hooks.registry import PluginEntry, Registry, discover
from meltdyn.hooks.sections import validate_section
from meltdyn.engine.thermo import read_thermo
from meltdyn.trajectory.h5md import H5MDReader, H5MDWriter, Snapshot, TrajectoryHeader

__all__ = ["check_engine", "check_executor", "check_labeller", "check_observable", "check_plugin", "check_potential",
           "check_system", "kill_at_production_start",
           "kill_during_production", "nve_drift", "probe_system", "tiny_study", "write_labelled_frames"]


def _section(registry: Registry, kind: str, name: str, workdir: Path) -> Any:
    entry = registry.get(kind, name)  # type: ignore[arg-type]
    if entry.definition.example is None:
        raise AssertionError(f"{kind} plugin {name!r} gives no example, so no conformance check can build it")
    workdir.mkdir(parents=True, exist_ok=True)
    return validate_section(registry, kind, {"plugin": name, **entry.definition.example(workdir)}, kind)


def check_plugin(kind: str, name: str, workdir: Path, registry: Registry | None = None,
                 potential: str | None = None, engine: str | None = None) -> None:
    """Build the plugin from its example and run its kind's conformance check (an engine or executor with
    ``potential``, by default the first registered one that can run; an executor on ``engine``, by default the first
    registered engine that can run a study)."""
    registry = registry or discover()
    workdir = Path(workdir)
    section = _section(registry, kind, name, workdir / "example")
    if kind == "system":
        check_system(registry, section)
    elif kind == "potential":
        check_potential(registry, section)
    elif kind == "engine":
        check_engine(registry, tiny_study(registry, section, workdir, potential), workdir)
    elif kind == "observable":
        check_observable(lambda: registry.build("observable", section), workdir)
    elif kind == "labeller":
        check_labeller(registry, section)
    elif kind == "executor":
        check_executor(registry, section, workdir, engine, potential)
    else:
        raise AssertionError(f"no conformance check for plugin kind {kind!r}")


# -- systems --------------------------------------------------------------------------------------------------------

def check_system(registry: Registry, section: Any, compositions: list[Any] | None = None,
                 temperature_K: float = 3000.0) -> None:
    entry = registry.get("system", section.plugin)
    params = registry.params_of("system", section)
    builder = registry.build("system", section)
    compositions = compositions or _example_compositions(entry)
    for composition in compositions:
        outline = entry.definition.outline(params, composition, temperature_K)
        a, b, c = (builder.build(composition, temperature_K, seed) for seed in (1, 1, 2))
        assert set(a.symbols) == set(outline.species), f"{section.plugin}: species {set(a.symbols)} != outline's"
        assert a.n_atoms == outline.n_atoms, f"{section.plugin}: {a.n_atoms} atoms, outline says {outline.n_atoms}"
        np.testing.assert_allclose(a.cell_A, outline.cell_A, err_msg=f"{section.plugin}: cell differs from outline")
        if outline.counts is not None:
            built = tuple(a.symbols.count(s) for s in outline.species)
            assert built == outline.counts, f"{section.plugin}: atoms per species {built}, outline says {outline.counts}"
        assert a.symbols == b.symbols and np.array_equal(a.positions_A, b.positions_A), \
            f"{section.plugin}: the same seed gave different systems"
        assert not np.array_equal(a.positions_A, c.positions_A), f"{section.plugin}: another seed, the same system"
        assert np.isfinite(a.positions_A).all() and np.all(elements.masses_u(a.symbols) > 0)


def _example_compositions(entry: PluginEntry) -> list[Any]:
    """A system plugin names compositions it can build in ``example_compositions``, a ClassVar of its params."""
    compositions = getattr(entry.definition.params, "example_compositions", None)
    if not compositions:
        raise AssertionError(f"system plugin {entry.name!r}: its params give no example_compositions (a ClassVar), "
                             "so the conformance kit cannot choose compositions to build")
    return list(compositions)


# -- potentials -----------------------------------------------------------------------------------------------------

def probe_system(species: list[str], cutoff_A: float, seed: int = 0, density_per_A3: float = 0.06,
                 min_distance_A: float = 1.8) -> AtomicSystem:
    """A random configuration of ``species`` (oxygen twice as often, when present) in a cubic cell wide enough for
    ``cutoff_A``, with no pair closer than ``min_distance_A``: a probe for checks, not a physical state."""
    rng = np.random.default_rng(seed)
    edge = max(2 * cutoff_A + 1.0, 9.0)
    n = int(density_per_A3 * edge**3)
    pool = [s for s in species for _ in range(2 if s == "O" else 1)]
    symbols = [pool[k % len(pool)] for k in range(n)]
    placed: list[np.ndarray] = []
    while len(placed) < n:
        trial = rng.random(3) * edge
        d = np.array(placed) - trial if placed else np.zeros((0, 3))
        d -= edge * np.round(d / edge)
        if not len(d) or np.min(np.einsum("ij,ij->i", d, d)) >= min_distance_A**2:
            placed.append(trial)
    return AtomicSystem(symbols, np.array(placed), np.eye(3) * edge)


def _displaced(system: AtomicSystem, atom: int, axis: int, h: float) -> AtomicSystem:
    positions = system.positions_A.copy()
    positions[atom, axis] += h
    return AtomicSystem(system.symbols, positions, system.cell_A)


def _strained(system: AtomicSystem, a: int, b: int, h: float) -> AtomicSystem:
    d = np.eye(3)
    d[a, b] += h / 2
    d[b, a] += h / 2
    return AtomicSystem(system.symbols, system.positions_A @ d.T, system.cell_A @ d.T)


def check_potential(registry: Registry, section: Any, system: AtomicSystem | None = None, h: float = 1e-4,
                    rtol: float = 1e-3, energy_rtol: float = 1e-5) -> None:
    """Forces and stress against finite differences of the energy through every interface the potential gives.

    Tolerances are relative to the largest force (stress) component: loose enough for tabulated potentials, tight
    enough to catch a wrong sign, unit or convention.
    """
    definition = registry.get("potential", section.plugin).definition
    outline = definition.outline(registry.params_of("potential", section))
    potential = registry.build("potential", section)
    system = system or probe_system(sorted(outline.species or {"Ar"}), outline.cutoff_A or 5.0)
    interfaces = {e.definition.requires.name: e.definition.requires for e in registry.entries["engine"].values()}
    energies = {}
    for name in sorted(outline.interfaces):
        assert name in interfaces, f"potential {section.plugin!r} names interface {name!r}, which no engine requires"
        interface = interfaces[name]
        where = f"potential {section.plugin!r} through {name!r}"
        assert isinstance(potential, interface.protocol), f"{where}: does not implement {interface.protocol.__name__}"
        frame = interface.evaluate(potential, system)
        energies[name] = frame.energy_eV
        _check_frame(frame, system, where)
        fd = []
        for atom, axis in [(0, 0), (len(system.symbols) // 2, 1), (len(system.symbols) - 1, 2)]:
            plus = interface.evaluate(potential, _displaced(system, atom, axis, h), False).energy_eV
            minus = interface.evaluate(potential, _displaced(system, atom, axis, -h), False).energy_eV
            fd.append((-(plus - minus) / (2 * h), frame.forces_eV_A[atom, axis]))
        scale = np.abs(frame.forces_eV_A).max()
        for numeric, analytic in fd:
            assert abs(numeric - analytic) <= rtol * scale, \
                f"{where}: force {analytic:.6g} eV/Å, but -dE/dx = {numeric:.6g} eV/Å"
        if np.isfinite(frame.stress_eV_A3).all():
            stress_scale = max(np.abs(frame.stress_eV_A3).max(), 1e-6)
            for a, b in [(0, 0), (1, 2)]:
                plus = interface.evaluate(potential, _strained(system, a, b, h), False).energy_eV
                minus = interface.evaluate(potential, _strained(system, a, b, -h), False).energy_eV
                numeric = (plus - minus) / (2 * h) / system.volume_A3
                assert abs(numeric - frame.stress_eV_A3[a, b]) <= rtol * stress_scale, \
                    f"{where}: stress[{a},{b}] {frame.stress_eV_A3[a, b]:.6g} eV/Å³, but dE/dε/V = {numeric:.6g}"
        shift = np.array([0.37, -1.1, 2.9])
        moved = AtomicSystem(system.symbols, np.mod(system.positions_A + shift, system.cell_A[0, 0]), system.cell_A)
        assert abs(interface.evaluate(potential, moved, False).energy_eV - frame.energy_eV) <= energy_rtol * max(
            1.0, abs(frame.energy_eV)), f"{where}: a periodic translation changed the energy"
    first = next(iter(energies.values()))
    for name, energy in energies.items():
        assert abs(energy - first) <= energy_rtol * max(1.0, abs(first)), \
            f"potential {section.plugin!r}: energy {energy} eV through {name!r}, {first} through another interface"


def _check_frame(frame: LabelledFrame, system: AtomicSystem, where: str) -> None:
    assert np.isfinite(frame.energy_eV), f"{where}: energy is not finite"
    assert frame.forces_eV_A.shape == (system.n_atoms, 3), f"{where}: forces have shape {frame.forces_eV_A.shape}"
    assert frame.stress_eV_A3.shape == (3, 3), f"{where}: stress has shape {frame.stress_eV_A3.shape}"
    assert np.isfinite(frame.forces_eV_A).all(), f"{where}: forces are not finite"
    net = np.abs(frame.forces_eV_A.sum(axis=0)).max()
    assert net <= 1e-6 * max(1.0, np.abs(frame.forces_eV_A).sum()), f"{where}: net force {net} eV/Å is not zero"


# -- engines --------------------------------------------------------------------------------------------------------

def tiny_study(registry: Registry, engine: Any, workdir: Path, potential: str | None = None,
               production_ps: float = 0.5, observables: Sequence[str] = ()) -> dict[str, Any]:
    """A seconds-long study for ``engine`` from the plugins' examples: ``potential`` (default the first registered
    potential, by name, that gives the engine's interface), the first system plugin it covers, and ``observables``
    (plugin names, from their examples; none by default: an engine's check reads the trajectory)."""
    needs = registry.get("engine", engine.plugin).definition.requires.name
    for potential_name in [potential] if potential else registry.names("potential"):
        section = _section(registry, "potential", potential_name, workdir / potential_name)
        outline = registry.get("potential", potential_name).definition.outline(
            registry.params_of("potential", section))
        if needs not in outline.interfaces:
            continue
        for system_name in registry.names("system"):
            system = _section(registry, "system", system_name, workdir / system_name)
            entry = registry.get("system", system_name)
            composition = _example_compositions(entry)[0]
            species = entry.definition.outline(registry.params_of("system", system), composition, 3000.0).species
            if outline.species is None or set(species) <= outline.species:
                return {"name": "conformance", "output_dir": str(workdir / "runs"), "seed": 3,
                        "system": system.model_dump(mode="json"),
                        "sweep": {"compositions": [composition], "temperatures_K": [2000.0]},
                        "potential": section.model_dump(mode="json"), "engine": engine.model_dump(mode="json"),
                        "protocol": {"timestep_fs": 0.5, "stages": [
                            {"stage": "minimise", "max_iterations": 100},
                            {"stage": "nvt", "duration_ps": 0.1, "thermostat": "nose_hoover",
                             "friction_per_ps": 20.0},
                            {"stage": "nve", "duration_ps": 0.02},
                            {"stage": "production", "duration_ps": production_ps, "ensemble": "nve",
                             "sampling": {"interval_ps": 0.01, "log_frames_per_interval": 2, "chunk_frames": 4,
                                          "velocities": True}}]},
                        "observables": [_section(registry, "observable", name, workdir / name).model_dump(mode="json")
                                        for name in observables]}
    raise AssertionError(f"no registered potential ({potential or 'any'}) and system can run on engine "
                         f"{engine.plugin!r}")


def check_engine(registry: Registry, study: dict[str, Any], workdir: Path, max_drift: float = 2e-2) -> None:
    """Run ``study`` (one run; its production should be NVE with velocities written) whole, then killed during
    production and resumed; check energy conservation, the resumed trajectory, and the thermodynamic log (every MD
    stage in it, each step once after the resume)."""
    from meltdyn.study.runner import load_study

    workdir = Path(workdir)
    engine = study["engine"]["plugin"]
    (run,) = load_study(study, registry, output_dir=workdir / "whole").run(progress=False)
    drift, kinetic_eV = nve_drift(run.dir / "trajectory.h5")
    assert abs(drift) < max_drift, f"engine {engine!r}: NVE total energy changed by {drift:.2e} of the kinetic energy"
    with H5MDReader(run.dir / "trajectory.h5") as traj:
        steps, symbols = traj.steps, traj.symbols
    assert np.all(np.diff(steps) > 0), f"engine {engine!r}: trajectory steps are not increasing"
    nvt_T = [s for s in study["protocol"]["stages"] if s["stage"] == "nvt"]
    if nvt_T:
        measured = 2 * kinetic_eV.mean() / (3 * len(symbols) * BOLTZMANN_EV_K)
        target = study["sweep"]["temperatures_K"][0]
        assert 0.5 * target < measured < 1.5 * target, \
            f"engine {engine!r}: {measured:.0f} K after NVT at {target:.0f} K"

    study_file = workdir / "killed.yaml"
    study_file.write_text(yaml.safe_dump({**study, "output_dir": str(workdir / "killed")}))
    kill_during_production(study_file, workdir / "killed" / run.id, min_frames=8)
    subprocess.run([sys.executable, "-m", "meltdyn.cli", "run", "-q", str(study_file)], check=True,
                   capture_output=True)
    with H5MDReader(workdir / "killed" / run.id / "trajectory.h5") as traj:
        resumed_steps, y = traj.steps, traj.positions_A()
    np.testing.assert_array_equal(resumed_steps, steps, err_msg=f"engine {engine!r}: a resumed run lost or "
                                                               "duplicated frames")
    whole, resumed = read_thermo(run.dir), read_thermo(workdir / "killed" / run.id)
    md_stages = [k for k, s in enumerate(study["protocol"]["stages"]) if s["stage"] != "minimise"]
    assert sorted(set(whole["stage"].astype(int))) == md_stages, \
        f"engine {engine!r}: the thermodynamic log misses stages ({sorted(set(whole['stage']))} of {md_stages})"
    for name in ("stage", "step", "time_ps"):
        np.testing.assert_array_equal(resumed[name], whole[name], err_msg=f"engine {engine!r}: a resumed run's "
                                      f"thermodynamic log lost or repeated rows ({name})")
    jumps = np.abs(np.diff(y, axis=0)).max()
    assert jumps < 1.0, f"engine {engine!r}: the resumed trajectory jumps {jumps:.2f} Å between frames"


def nve_drift(trajectory: Path) -> tuple[float, np.ndarray]:
    """The change of total energy over an NVE trajectory written with velocities, as a fraction of the mean kinetic
    energy, and the kinetic energy of each frame (eV). The kinetic energy is taken from the velocities and masses,
    whatever temperature convention an engine reports."""
    with H5MDReader(trajectory) as traj:
        velocities = traj.velocities_A_ps()
        potential_eV = traj.observable("potential_energy") * KJ_MOL_TO_EV
        masses = elements.masses_u(traj.symbols)
    kinetic_eV = 0.5 * np.einsum("a,tai->t", masses, velocities**2) * U_A2_PS2_TO_EV
    total = potential_eV + kinetic_eV
    return float((total[-1] - total[0]) / kinetic_eV.mean()), kinetic_eV


def kill_during_production(study_file: Path, run_dir: Path, min_frames: int = 8, timeout_s: float = 120.0,
                           output_dir: Path | None = None) -> dict[str, Any]:
    """Start ``meltdyn run`` on ``study_file`` (into ``output_dir`` if given) and SIGKILL it once the run in
    ``run_dir`` has flushed ``min_frames`` production frames; return its checkpoint record."""
    progress = run_dir / "checkpoints" / "progress.json"
    extra = ["--output-dir", str(output_dir)] if output_dir else []
    proc = subprocess.Popen([sys.executable, "-m", "meltdyn.cli", "run", "-q", str(study_file), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout_s
    record: dict[str, Any] = {}
    while time.time() < deadline and proc.poll() is None:
        try:
            record = json.loads(progress.read_text())
        except (OSError, ValueError):
            record = {}
        if record.get("frames", 0) >= min_frames:
            break
        time.sleep(0.01)
    if proc.poll() is not None:
        raise AssertionError(f"{study_file} finished (or failed) before it could be killed during production")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return json.loads(progress.read_text())


def kill_at_production_start(study_file: Path, run_dir: Path, timeout_s: float = 120.0,
                             output_dir: Path | None = None) -> None:
    """Start ``meltdyn run`` and SIGKILL it as soon as the run in ``run_dir`` has opened its trajectory, before
    its first chunk of frames is written: the window in which a run once became stuck for good."""
    extra = ["--output-dir", str(output_dir)] if output_dir else []
    proc = subprocess.Popen([sys.executable, "-m", "meltdyn.cli", "run", "-q", str(study_file), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None and not (run_dir / "trajectory.h5").exists():
        time.sleep(0.002)
    if proc.poll() is not None:
        raise AssertionError(f"{study_file} finished (or failed) before production started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


# -- executors ------------------------------------------------------------------------------------------------------

def check_executor(registry: Registry, section: Any, workdir: Path, engine: str | None = None,
                   potential: str | None = None) -> None:
    """Two runs of a seconds-long study through the executor give what the serial executor gives, frame for frame
    (with ``deterministic: true``), and every run is complete. ``engine`` names the engine plugin (its example
    section; by default the first registered one for which a potential and system plugin make a study) and
    ``potential`` the potential plugin (as for :func:`tiny_study`)."""
    from meltdyn.study.runner import load_study

    study = None
    for name in [engine] if engine else registry.names("engine"):
        try:
            study = tiny_study(registry, _section(registry, "engine", name, workdir / name), workdir / "study",
                               potential, production_ps=0.05)
            break
        except AssertionError:
            if engine:
                raise
    if study is None:
        raise AssertionError(f"executor {section.plugin!r}: no registered engine can run a study from the plugins' "
                             "examples")
    study["deterministic"] = True
    study["sweep"]["temperatures_K"] = [2000.0, 2500.0]
    trajectories = {}
    for name, executor in (("serial", {"plugin": "serial"}), ("checked", section.model_dump(mode="json"))):
        runs = load_study({**study, "executor": executor}, registry, output_dir=workdir / name).run(progress=False)
        assert all(run.completed for run in runs), f"executor {section.plugin!r}: not every run completed"
        for run in runs:
            with H5MDReader(run.dir / "trajectory.h5") as traj:
                trajectories[name, run.id] = (traj.steps, traj.positions_A())
    for (name, run_id), (steps, x) in trajectories.items():
        if name == "checked":
            np.testing.assert_array_equal(steps, trajectories["serial", run_id][0])
            np.testing.assert_array_equal(x, trajectories["serial", run_id][1],
                                          err_msg=f"executor {section.plugin!r}: run {run_id} differs from serial")


# -- observables ----------------------------------------------------------------------------------------------------

def _write(path: Path, symbols: list[str], steps: np.ndarray, x: np.ndarray, cells_A: np.ndarray, dt: float,
           interval: int, unwrapped: bool = True) -> Path:
    writer = H5MDWriter(path, TrajectoryHeader(symbols, dt, interval, unwrapped), chunk_frames=16, velocities=False)
    for step, pos, cell in zip(steps, x, cells_A):
        writer.append(int(step), step * dt, Snapshot(pos, cell, 0.0, 0.0))
    writer.close()
    return path


MEMORY_SLACK_BYTES = 256 * 1024
"""What tracing may count beyond an observable's declared memory: Python objects, small temporaries."""


def _aligned(results: dict[str, ResultArray], reference: dict[str, ResultArray]) -> dict[str, ResultArray]:
    """``results`` with each labelled axis put in ``reference``'s order: species in order of first appearance follow
    the atom order, and a labelled result is the same whatever order its labels come in."""
    order = {}
    for dim, coord in coordinates(reference).items():
        mine = np.asarray(results[dim].values) if dim in results else None
        if mine is not None and mine.dtype.kind in "US" and sorted(mine.tolist()) == sorted(coord.values.tolist()):
            order[dim] = np.array([mine.tolist().index(v) for v in coord.values.tolist()])
    out = {}
    for key, arr in results.items():
        values = np.asarray(arr.values)
        for axis, dim in enumerate(arr.dims):
            if dim in order:
                values = np.take(values, order[dim], axis=axis)
        out[key] = ResultArray(values, arr.unit, arr.dims, arr.description)
    return out


def _assert_same_results(runs: dict[str, dict[str, ResultArray]]) -> None:
    reference = runs["whole"]
    assert reference, "the observable returned no results"
    for key, arr in reference.items():
        assert isinstance(arr, ResultArray) and isinstance(arr.unit, str), f"result {key!r} is not a ResultArray"
        assert len(arr.dims) == np.ndim(arr.values), f"result {key!r}: dims {arr.dims} for shape {arr.values.shape}"
    check_dimensions(reference, "the observable")
    for name, got in runs.items():
        assert got.keys() == reference.keys(), f"{name}: result names differ"
        got = _aligned(got, reference)
        for key in reference:
            message = f"result {key!r} differs when the trajectory is {name}"
            if np.asarray(reference[key].values).dtype.kind in "US":  # what an estimate is: its kind, its note
                np.testing.assert_array_equal(got[key].values, reference[key].values, err_msg=message)
            else:
                np.testing.assert_allclose(got[key].values, reference[key].values, rtol=1e-7, atol=1e-9,
                                           err_msg=message)


def _traced_peak(work: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _check_memory(build: Callable[[], BaseObservable], workdir: Path, steps: np.ndarray, dt: float,
                  interval: int) -> None:
    """What prepare and process allocate, traced, stays within what :meth:`memory` declares, on a system large enough
    (600 atoms) that an observable's declared work, not the tracing slack, decides."""
    rng = np.random.default_rng(11)
    symbols = ["Na"] * 150 + ["Si"] * 150 + ["O"] * 300
    edge = (len(symbols) / 0.07) ** (1 / 3)
    x = rng.random((1, len(symbols), 3)) * edge + np.cumsum(rng.normal(scale=0.1, size=(len(steps), len(symbols), 3)),
                                                            axis=0)
    path = _write(workdir / "memory.h5", symbols, steps, x, np.broadcast_to(np.eye(3) * edge, (len(steps), 3, 3)), dt,
                  interval)
    observable = build()
    frame_kind = isinstance(observable, FrameObservable)
    with H5MDReader(path) as traj:
        info = _info(traj)
        chunk: AtomBlock | FrameBatch
        if frame_kind:
            from meltdyn.analysis.streaming import frame_batches

            chunk = next(frame_batches(traj, 4, None))
            _ = chunk.positions_A  # the wrapped copy belongs to the pass, not to the observable
        else:
            chunk = AtomBlock(np.arange(traj.n_atoms), traj.symbols, traj.positions_A())
    units, unit = (len(chunk), "frame") if frame_kind else (len(symbols), "atom")
    declared: list[tuple[int, int]] = []

    def work() -> None:
        observable.prepare(info)
        declared.append(observable.memory())
        observable.process(chunk)  # type: ignore[arg-type]

    peak = _traced_peak(work)
    held, per_unit = declared[0]
    allowed = held + per_unit * units + MEMORY_SLACK_BYTES
    assert peak <= allowed, (f"{type(observable).__name__}: prepare and process allocated {peak / 2**20:.2f} MB for "
                             f"{units} {unit}s; memory() declares {held / 2**20:.2f} MB held and {per_unit / 2**20:.3f} "
                             f"MB per {unit} ({allowed / 2**20:.2f} MB with {MEMORY_SLACK_BYTES // 1024} KiB slack)")


def check_observable(build: Callable[[], BaseObservable], workdir: Path) -> None:
    """``build()`` makes a fresh observable of either kind; its results must not depend on how the trajectory is
    streamed to it, and its memory must stay within what it declares."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(build(), FrameObservable):
        _check_frame_observable(build, workdir)  # type: ignore[arg-type]
    else:
        _check_atom_observable(build, workdir)  # type: ignore[arg-type]


def _check_atom_observable(build: Callable[[], Observable], workdir: Path) -> None:
    """Results the same whatever the block size, the atom order and a drift of the whole system."""
    from meltdyn.analysis.streaming import analyse
    from meltdyn.engine.schedule import frame_steps
    from meltdyn.spec.models import SamplingSpec

    rng = np.random.default_rng(5)
    dt, edge = 0.002, 14.0
    steps, interval = frame_steps(SamplingSpec(interval_ps=0.02, log_frames_per_interval=3), dt, 1.0)
    symbols = ["Na"] * 12 + ["Si"] * 8 + ["O"] * 20
    d = np.repeat([0.8, 0.05, 0.1], [12, 8, 20])
    gaps = np.diff(steps, prepend=steps[0]) * dt
    kicks = rng.normal(size=(len(steps), len(symbols), 3)) * np.sqrt(2 * d[None, :, None] * gaps[:, None, None])
    x = rng.random((1, len(symbols), 3)) * edge + np.cumsum(kicks, axis=0)
    order = rng.permutation(len(symbols))
    drift = (steps * dt)[:, None, None] * np.array([3.0, -2.0, 1.0])
    cells = np.broadcast_to(np.eye(3) * edge, (len(steps), 3, 3))
    files = {"reference": _write(workdir / "ref.h5", symbols, steps, x, cells, dt, interval),
             "permuted": _write(workdir / "perm.h5", [symbols[k] for k in order], steps, x[:, order], cells, dt,
                                interval),
             "drifting": _write(workdir / "drift.h5", symbols, steps, x + drift, cells, dt, interval)}
    runs = {"whole": analyse(files["reference"], {"o": build()})["o"],
            "streamed atom by atom": analyse(files["reference"], {"o": build()}, block_atoms=1)["o"],
            "permuted": analyse(files["permuted"], {"o": build()})["o"],
            "drifting": analyse(files["drifting"], {"o": build()})["o"]}
    _assert_same_results(runs)
    _check_summary(build, runs["whole"])
    _check_memory(build, workdir, steps, dt, interval)


def _check_summary(build: Callable[[], BaseObservable], results: dict[str, ResultArray]) -> None:
    """Axes consistent across the results, every declared quantity among them with each axis labelled by a
    coordinate, and its summary.json entry JSON (raises with the observable's words otherwise)."""
    entry = summary_entry(results, build().summary(results), "observable")
    json.dumps(entry, allow_nan=True)


class _AtomCount(Observable):
    """A trivial atom-major observable run beside a whole-frame one, so that the kit also exercises the pass that
    cuts whole frames out of one block of every atom."""

    def prepare(self, info: TrajectoryInfo) -> None:
        self.atoms = 0

    def process(self, block: AtomBlock) -> None:
        self.atoms += len(block.indices)

    def conclude(self) -> dict[str, ResultArray]:
        return {"atoms": ResultArray(np.array(self.atoms), "1", ())}


def _info(traj: H5MDReader) -> TrajectoryInfo:
    return TrajectoryInfo(traj.n_atoms, traj.symbols, traj.steps, traj.times_ps, traj.linear_interval_steps,
                          traj.timestep_ps, traj.boxes_A()[0])


def _check_frame_observable(build: Callable[[], FrameObservable], workdir: Path) -> None:
    """Results the same whatever the batch size (one frame, a few, all), whether frames are cut from a block of every
    atom or read on their own, stored wrapped or unwrapped, the atom order, a drift of the whole system, and a
    merge of two instances that saw half the frames each; memory within what the observable declares."""
    from meltdyn.analysis.streaming import frame_batches, analyse, com_drift
    from meltdyn.engine.schedule import frame_steps
    from meltdyn.spec.models import AnalysisSettings, SamplingSpec

    rng = np.random.default_rng(7)
    dt = 0.002
    steps, interval = frame_steps(SamplingSpec(interval_ps=0.02, log_frames_per_interval=3), dt, 0.4)
    symbols = ["Na"] * 12 + ["Si"] * 8 + ["O"] * 20
    n = len(symbols)
    # A triclinic cell that breathes, as under a barostat: observables must use each frame's own cell.
    cells = np.array([[12.0, 0.0, 0.0], [2.0, 11.0, 0.0], [-1.5, 1.0, 13.0]]) * (
        1 + 0.01 * np.sin(np.arange(len(steps))))[:, None, None]
    kicks = rng.normal(scale=0.15, size=(len(steps), n, 3))
    kicks[0] = rng.random((n, 3)) @ cells[0]  # the first frame inside its cell: unwrapping gives x back exactly
    x = np.cumsum(kicks, axis=0)
    frac = np.einsum("tai,tij->taj", x, np.linalg.inv(cells))
    wrapped = np.einsum("taj,tjk->tak", frac - np.floor(frac), cells)
    order = rng.permutation(n)
    drift = (steps * dt)[:, None, None] * np.array([3.0, -2.0, 1.0])
    files = {"reference": _write(workdir / "ref.h5", symbols, steps, x, cells, dt, interval),
             "wrapped": _write(workdir / "wrapped.h5", symbols, steps, wrapped, cells, dt, interval, unwrapped=False),
             "permuted": _write(workdir / "perm.h5", [symbols[k] for k in order], steps, x[:, order], cells, dt,
                                interval),
             "drifting": _write(workdir / "drift.h5", symbols, steps, x + drift, cells, dt, interval)}
    ref = files["reference"]
    runs = {"whole": analyse(ref, {"o": build()})["o"],
            "streamed frame by frame": analyse(ref, {"o": build()}, batch_frames=1)["o"],
            "streamed three frames at a time": analyse(ref, {"o": build()}, batch_frames=3)["o"],
            "cut from one block of every atom": analyse(ref, {"o": build(), "n": _AtomCount()}, batch_frames=2)["o"],
            "read beside blocks of atoms": analyse(ref, {"o": build(), "n": _AtomCount()}, block_atoms=7,
                                                   batch_frames=2)["o"],
            "stored wrapped (unwrapped frame by frame)": analyse(files["wrapped"], {"o": build()}, batch_frames=3)["o"],
            "permuted": analyse(files["permuted"], {"o": build()})["o"],
            "drifting": analyse(files["drifting"], {"o": build()})["o"]}
    with H5MDReader(ref) as traj:
        info = _info(traj)
        centre_of_mass = AnalysisSettings().reference_frame == "centre_of_mass"  # what "whole" was analysed in
        batches = list(frame_batches(traj, 3, com_drift(traj, traj.n_atoms) if centre_of_mass else None))
        first, second = build(), build()
        first.prepare(info)
        second.prepare(info)
        half = len(batches) // 2
        for batch in batches[:half]:
            first.process(batch)
        for batch in batches[half:]:
            second.process(batch)
    first.merge(second)
    runs["merged from two halves"] = first.conclude()
    _assert_same_results(runs)
    _check_summary(build, runs["whole"])
    _check_memory(build, workdir, steps, dt, interval)


# -- labellers ------------------------------------------------------------------------------------------------------

def write_labelled_frames(path: Path, frames: int = 3) -> Path:
    """A few labelled argon-like frames (Lennard-Jones labels from ASE) in extxyz: reference data for labeller
    examples and tests."""
    import ase
    import ase.io
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(0)
    lattice = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)], dtype=float) * 4.0
    images = []
    for _ in range(frames):
        # a jiggled simple-cubic crystal, so that the labels are a solid's (stresses of a few GPa at most), as a
        # labeller's checks of physical magnitudes expect of reference data
        positions = lattice + rng.normal(scale=0.2, size=lattice.shape)
        atoms = ase.Atoms("Ar8", positions=positions, cell=np.eye(3) * 8.0, pbc=True)
        atoms.calc = LennardJones(sigma=2.0, epsilon=0.01, rc=3.9)
        labels = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(), "stress": atoms.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **labels)
        images.append(atoms)
    ase.io.write(path, images)
    return path



def check_labeller(registry: Registry, section: Any) -> None:
    labeller = registry.build("labeller", section)
    batches = list(labeller.batches(registry))
    assert batches and all(batches), f"labeller {section.plugin!r} produced no frames"
    for batch in batches:
        for frame in batch:
            system = AtomicSystem(frame.symbols, frame.positions_A, frame.cell_A)
            _check_frame(frame, system, f"labeller {section.plugin!r}")
    resumed = registry.build("labeller", section)
    resumed.resume(list(batches[0]))  # as meltdyn train does: the frames kept, then the batches after them
    later = list(resumed.batches(registry, skip=1))
    assert len(later) == len(batches) - 1, f"labeller {section.plugin!r}: skip=1 gave {len(later)} batches, " \
                                           f"expected {len(batches) - 1}"
    for a, b in zip(later, batches[1:]):
        # to rounding: a labeller continuing MD from kept positions and velocities may differ in the last bits
        assert np.allclose([f.energy_eV for f in a], [f.energy_eV for f in b], rtol=1e-9, atol=0), \
            f"labeller {section.plugin!r}: a resumed labelling gives other labels"
