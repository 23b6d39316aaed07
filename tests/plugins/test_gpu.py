"""The CUDA paths, on a machine with a GPU: `pytest -m gpu tests/plugins/test_gpu.py` (skipped without one).

Each compares the GPU with the CPU on the same input, so a wrong device, precision or unit shows as a difference;
benchmarks/gpu/run.sh runs them on a GPU machine with no registry access.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import meltdyn
from meltdyn.hooks.data import AtomicSystem
from meltdyn.plugins.engines.openmm_engine.interface import OpenMMTarget, load_openmm, openmm_system
from meltdyn.trajectory.h5md import H5MDReader

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def _cuda_platform_or_skip():
    mm = load_openmm()
    names = [mm.Platform.getPlatform(i).getName() for i in range(mm.Platform.getNumPlatforms())]
    if "CUDA" not in names:
        pytest.skip(f"OpenMM has no CUDA platform here: {mm.Platform.getPluginLoadFailures()}")
    return mm


def _single_point(potential, system, platform, target):
    mm = load_openmm()
    ctx = mm.Context(openmm_system(system, potential, target), mm.VerletIntegrator(0.001),
                     mm.Platform.getPlatformByName(platform), {"Precision": "double"} if platform == "CUDA" else {})
    ctx.setPositions(system.positions_A * 0.1)
    state = ctx.getState(getEnergy=True, getForces=True)
    return state.getPotentialEnergy()._value, state.getForces(asNumpy=True)._value


def test_shik_runs_on_openmm_cuda_as_on_the_reference_platform(tiny_study, registry):
    _cuda_platform_or_skip()
    study = meltdyn.load_study(tiny_study, registry)
    run = study.runs[0]
    system = registry.build("system", study.spec.system).build(run.composition, run.temperature_K, 1)
    shik = registry.build("potential", study.spec.potential)
    e_ref, f_ref = _single_point(shik, system, "Reference", OpenMMTarget())
    e_gpu, f_gpu = _single_point(shik, system, "CUDA", OpenMMTarget("CUDA", "double"))
    assert e_gpu == pytest.approx(e_ref, rel=1e-6)
    np.testing.assert_allclose(f_gpu, f_ref, atol=1e-4 * np.abs(f_ref).max())
    tiny_study["engine"] = {"plugin": "openmm", "platform": "CUDA", "precision": "mixed"}
    (done,) = meltdyn.load_study(tiny_study, registry).run(progress=False)
    assert done.completed


def test_painn_python_force_on_the_cuda_platform_matches_the_cpu(tmp_path):
    _cuda_platform_or_skip()
    from meltdyn.plugins.potentials.painn import PainnParams
    from meltdyn.plugins.potentials.painn.runtime import Painn, save_untrained
    from meltdyn.plugins.systems.sodium_silicate import SodiumSilicate, SodiumSilicateParams

    save_untrained(tmp_path / "model", ["Na", "Si", "O"])
    system: AtomicSystem = SodiumSilicate(SodiumSilicateParams(atoms=120, density_g_cm3=2.3)).build("NS2", 3000.0, 1)
    painn = Painn(PainnParams(model_dir=tmp_path / "model", precision="float64", backend="python"))
    e_cpu, f_cpu = _single_point(painn, system, "CPU", OpenMMTarget("CPU"))
    e_gpu, f_gpu = _single_point(painn, system, "CUDA", OpenMMTarget("CUDA", "double"))
    assert e_gpu == pytest.approx(e_cpu, rel=1e-9)
    np.testing.assert_allclose(f_gpu, f_cpu, atol=1e-8 * np.abs(f_cpu).max())


def test_a_torchsim_batch_on_the_gpu_follows_the_cpu(tiny_study, registry, tmp_path):
    pytest.importorskip("torch_sim")
    tiny_study["sweep"]["replicas"] = 3
    tiny_study["protocol"]["stages"][-1]["duration_ps"] = 0.05
    trajectories = {}
    for device in ("cpu", "cuda"):
        study = copy.deepcopy(tiny_study)
        study["engine"] = {"plugin": "torchsim", "device": device, "precision": "float64", "max_batch": 3}
        runs = meltdyn.load_study(study, registry, output_dir=tmp_path / device).run(progress=False)
        for run in runs:
            with H5MDReader(run.dir / "trajectory.h5") as traj:
                trajectories[device, run.id] = traj.positions_A()
    for (device, run_id), x in trajectories.items():
        if device == "cuda":
            # Round-off differs between the devices and grows along a chaotic trajectory; 0.1 ps keeps it small.
            np.testing.assert_allclose(x, trajectories["cpu", run_id], atol=1e-4)


def test_training_runs_on_cuda(tmp_path):
    from meltdyn.plugins.potentials.painn.workflow import train_from_spec
    from meltdyn.testing import write_labelled_frames

    write_labelled_frames(tmp_path / "frames.extxyz", frames=8)
    report = train_from_spec({"name": "gpu", "output_dir": str(tmp_path / "model"),
                              "reference_data": {"plugin": "ase_file", "paths": [str(tmp_path / "frames.extxyz")]},
                              "model": {"cutoff_A": 3.9, "features": 8, "interactions": 1, "radial_basis": 6},
                              "training": {"max_epochs": 2, "batch_size": 2, "device": "cuda"}})
    assert report["epochs"] == 2 and report["test_metrics"]["force_rmse_meV_per_A"] > 0
