"""Benchmark: MD with one trained PaiNN along every path meltdyn offers, against schnetpack's ASE path.

Same model weights (the model a `meltdyn train` wrote; float32), same NS2 system, same machine and threads, Langevin
at 2500 K with 1 fs steps. The paths:

- ``openmm-torchscript``: the ``painn`` potential's TorchForce (``backend: torchscript``) on OpenMM, as ``meltdyn
  run`` uses it with the ``openmm`` engine;
- ``openmm-python``: the same module eager in an ``openmm.PythonForce`` (``backend: python``): the path that works
  with any torch;
- ``torchsim-N``: the ``torchsim`` engine's own stage machine advancing N copies of the system in one batch
  (N = 1 is a single run); aggregate throughput is atoms × steps per second over the batch;
- ``schnetpack``: ``SpkCalculator`` with its matscipy neighbour list driving ``ase.md.Langevin``, and the same with
  meltdyn's allocator setting (``schnetpack-kept``), so a reader can tell the setting from the module's arithmetic.

Each path runs in its own fresh interpreter, alternating, ``--repeats`` times; the best run of each counts (in one
process, whichever path goes second inherits the first one's heap). Peak resident memory of each process is
reported too. ``--device cuda`` runs the OpenMM paths on the CUDA platform and TorchSim and schnetpack on the GPU.

    python benchmarks/painn_md.py [--atoms 200 3000] [--steps 50] [--threads 2] [--repeats 2] [--batches 4 16]
                                  [--device cpu|cuda] [--model-dir DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

from meltdyn.hooks.data import AtomicSystem
from meltdyn.plugins.engines.openmm_engine.interface import OpenMMTarget, load_openmm, openmm_system
from meltdyn.plugins.potentials.painn import PainnParams
from meltdyn.plugins.potentials.painn.heap import keep_freed_memory
from meltdyn.plugins.potentials.painn.runtime import Painn
from meltdyn.plugins.systems.sodium_silicate import SodiumSilicate, SodiumSilicateParams

ROOT = Path(__file__).resolve().parent.parent
T_K = 2500.0


def system_of(atoms: int, seed: int = 1) -> AtomicSystem:
    return SodiumSilicate(SodiumSilicateParams(atoms=atoms, density_g_cm3=2.3)).build("NS2", T_K, seed=seed)


def openmm_ms_per_step(potential: Painn, system: AtomicSystem, steps: int, device: str) -> float:
    mm = load_openmm()
    target = OpenMMTarget("CUDA" if device == "cuda" else "CPU", "mixed" if device == "cuda" else "double")
    integrator = mm.LangevinMiddleIntegrator(T_K, 1.0, 0.001)
    properties = {"Precision": "mixed"} if device == "cuda" else {}
    ctx = mm.Context(openmm_system(system, potential, target), integrator,
                     mm.Platform.getPlatformByName(target.platform), properties)
    ctx.setPositions(system.positions_A * 0.1)
    ctx.setVelocitiesToTemperature(T_K, 1)
    integrator.step(5)
    t0 = time.perf_counter()
    integrator.step(steps)
    ctx.getState(getPositions=True)
    return (time.perf_counter() - t0) / steps * 1e3


def torchsim_ms_per_step(potential: Painn, system: AtomicSystem, steps: int, batch: int, device: str) -> float:
    """The torchsim engine's stage machine (what `meltdyn run` drives) on ``batch`` copies, Langevin NVT."""
    from meltdyn.plugins.engines.torchsim_engine import TorchSimParams
    from meltdyn.plugins.engines.torchsim_engine.machine import TorchSimMachine
    from meltdyn.spec.models import NVTStage
    from meltdyn.engine.kit import LaneStart

    runs = [types.SimpleNamespace(system=system_of(system.n_atoms, seed=1 + k), potential=potential, id=f"copy{k}",
                                  protocol=types.SimpleNamespace(timestep_fs=1.0), deterministic=False)
            for k in range(batch)]
    machine = TorchSimMachine(TorchSimParams(device=device, precision="float32"), runs)
    machine.start_stage(NVTStage(stage="nvt", duration_ps=1.0),
                        [LaneStart(run, T_K, 1 + k, None, False, True) for k, run in enumerate(runs)])
    machine.advance(5)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    machine.advance(steps)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps * 1e3


def schnetpack_ms_per_step(potential: Painn, system: AtomicSystem, steps: int, device: str) -> tuple[float, float]:
    import ase
    import schnetpack as spk
    from ase import units
    from ase.md.langevin import Langevin

    model = potential.model
    forces_only = spk.model.NeuralNetworkPotential(
        representation=model.representation, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[model.output_modules[0], model.output_modules[1], spk.atomistic.Forces()])
    calc = spk.interfaces.SpkCalculator(forces_only.eval(), neighbor_list=spk.transform.MatScipyNeighborList(
        cutoff=potential.arch.cutoff_A), energy_unit="eV", position_unit="Angstrom", device=device)
    atoms = ase.Atoms(system.symbols, positions=system.positions_A, cell=system.cell_A, pbc=True)
    atoms.calc = calc
    dyn = Langevin(atoms, 1.0 * units.fs, temperature_K=T_K, friction=0.001 / units.fs)
    dyn.run(5)
    t0 = time.perf_counter()
    dyn.run(steps)
    per_step = (time.perf_counter() - t0) / steps * 1e3
    inputs = calc.converter(atoms)  # neighbour list built once: what is left is the network itself
    t0 = time.perf_counter()
    for _ in range(steps):
        forces_only(dict(inputs))
    return per_step, (time.perf_counter() - t0) / steps * 1e3


def worker(args: argparse.Namespace) -> None:
    """One path, one size, in this (fresh) process: prints one JSON line."""
    torch.set_num_threads(args.threads)
    path = args.worker
    backend = "python" if path == "openmm-python" else "torchscript"
    potential = Painn(PainnParams(model_dir=args.model_dir, backend=backend))
    system = system_of(args.worker_atoms)
    row: dict = {"path": path}
    if path.startswith("openmm-"):
        row["ms_per_step"] = openmm_ms_per_step(potential, system, args.steps, args.device)
    elif path.startswith("torchsim-"):
        batch = int(path.split("-")[1])
        row["ms_per_step"] = torchsim_ms_per_step(potential, system, args.steps, batch, args.device)
        row["batch"] = batch
    else:
        if path == "schnetpack-kept" and not keep_freed_memory():
            raise SystemExit("schnetpack-kept: this C library is not glibc")
        row["ms_per_step"], row["network_ms"] = schnetpack_ms_per_step(potential, system, args.steps, args.device)
    batch = row.get("batch", 1)
    row["steps_per_s"] = 1e3 / row["ms_per_step"]
    row["ns_per_day"] = row["steps_per_s"] * 1e-6 * 86400
    row["atom_steps_per_s"] = row["steps_per_s"] * system.n_atoms * batch
    row["peak_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    if args.device == "cuda":
        row["peak_gpu_MB"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps({"atoms": system.n_atoms, "architecture": potential.meta["architecture"], **row}))


def measure(path: str, atoms: int, args: argparse.Namespace) -> dict:
    steps = max(5, args.steps // int(path.split("-")[1])) if path.startswith("torchsim-") and args.device == "cpu" \
        else args.steps
    command = [sys.executable, __file__, "--worker", path, "--worker-atoms", str(atoms), "--steps", str(steps),
               "--threads", str(args.threads), "--model-dir", str(args.model_dir), "--device", args.device]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, nargs="+", default=[200, 3000])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="alternating runs of each path; the best one counts")
    p.add_argument("--batches", type=int, nargs="*", default=[4, 16], help="TorchSim batch sizes besides 1")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--paths", nargs="*", help="only these paths (default: all)")
    p.add_argument("--model-dir", type=Path, default=ROOT / "models/painn-ns-validation",
                   help="a model written by meltdyn train (default: the README's validation model)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-atoms", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if not (args.model_dir / "model.json").exists():
        p.error(f"--model-dir: {str(args.model_dir)!r} holds no model.json; train one first, e.g. "
                "meltdyn train examples/training/painn-ns-validation.yaml")
    if args.worker:
        worker(args)
        return
    paths = args.paths or ["openmm-torchscript", "openmm-python", "torchsim-1",
                           *[f"torchsim-{b}" for b in args.batches], "schnetpack", "schnetpack-kept"]
    rows = []
    for atoms in args.atoms:
        runs: dict[str, list[dict]] = {path: [] for path in paths}
        for _ in range(args.repeats):
            for path in paths:
                runs[path].append(measure(path, atoms, args))
        best = {path: min(r, key=lambda x: x["ms_per_step"]) for path, r in runs.items()}
        reference = best.get("openmm-torchscript")
        row = {"atoms": next(iter(best.values()))["atoms"], "best": best,
               "all_ms_per_step": {path: [r["ms_per_step"] for r in rs] for path, rs in runs.items()}}
        if reference:
            row["time_relative_to_torchscript"] = {path: b["ms_per_step"] / reference["ms_per_step"]
                                                   for path, b in best.items()}
        if "torchsim-1" in best:
            single = best["torchsim-1"]["atom_steps_per_s"]
            row["batched_throughput_over_single"] = {path: b["atom_steps_per_s"] / single
                                                     for path, b in best.items() if path.startswith("torchsim-")}
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"device": args.device, "threads": args.threads, "steps": args.steps, "repeats": args.repeats,
              "torch": torch.__version__, "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
              "architecture": next(iter(rows[0]["best"].values()))["architecture"],
              "model_dir": str(args.model_dir), "rows": rows}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
