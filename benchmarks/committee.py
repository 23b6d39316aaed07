"""Cost of a PaiNN committee against one model: an MD step's energy and forces, and a frame's model deviation.

Four contenders per system size, each timed over the same configuration (CPU, float32 as MD runs, the validation
model's architecture: 32 features x 2 interactions, 5 A cutoff, 20 Gaussians; weights untrained, which changes no
timing):

- one model: the OpenMM module (OpenMMPaiNN) forward and backward, what TorchForce / PythonForce do per step
  (glibc keeping freed memory, as the painn potential does in MD);
- a committee of 4 in one pass: the same module over 4 members (one neighbour list, one backward of their mean);
- 4 models one after another: four single-model modules, each with its own neighbour list and backward;
- the model deviation of one frame: each member's forces (4 backward passes through one shared graph);
- the trust check during MD (the painn potential's ``trust``): the same in float64, as it runs, set against a
  committee step: its overhead is that ratio over the MD steps between two checks.

    python benchmarks/committee.py [--atoms 648 2997] [--repeats 5] [--output results/committee-2cpu.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from meltdyn.plugin import AtomicSystem, default_threads
from meltdyn.plugins.potentials.painn import PainnParams
from meltdyn.plugins.potentials.painn.model import Architecture
from meltdyn.plugins.potentials.painn.runtime import Painn, save_untrained
from meltdyn.plugins.systems.sodium_silicate import SodiumSilicate, SodiumSilicateParams

ARCH = Architecture(cutoff_A=5.0, features=32, interactions=2, radial_basis=20)
MEMBERS = 4


def _best(call, repeats: int) -> float:
    call()  # warm-up: first-call allocations and the neighbour list's set-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _step(module: torch.nn.Module, positions_nm: torch.Tensor, box_nm: torch.Tensor):
    def call() -> None:
        x = positions_nm.clone().requires_grad_(True)
        energy = module(x, box_nm)
        energy.backward()
    return call


def measure(atoms: int, repeats: int, workdir: Path) -> dict[str, float]:
    system = SodiumSilicate(SodiumSilicateParams(atoms=atoms, density_g_cm3=2.2)).build("NS2", 3000.0, 1)
    save_untrained(workdir / f"single-{atoms}", ["Na", "Si", "O"], ARCH)
    save_untrained(workdir / f"committee-{atoms}", ["Na", "Si", "O"], ARCH, members=MEMBERS)
    single = Painn(PainnParams(model_dir=workdir / f"single-{atoms}", keep_freed_memory=True))
    committee = Painn(PainnParams(model_dir=workdir / f"committee-{atoms}", keep_freed_memory=True,
                                  trust={"stop_at_eV_A": 100.0}))
    positions = torch.tensor(system.positions_A / 10.0, dtype=torch.float64)
    box = torch.tensor(system.cell_A / 10.0, dtype=torch.float64)
    one = single.md_module(system.symbols)
    four = committee.md_module(system.symbols)
    separate = [Painn(PainnParams(model_dir=workdir / f"single-{atoms}", keep_freed_memory=True)).md_module(
        system.symbols) for _ in range(MEMBERS)]
    result = {"atoms": len(system.symbols),
              "one_model_s": _best(_step(one, positions, box), repeats),
              "committee_one_pass_s": _best(_step(four, positions, box), repeats),
              "members_one_by_one_s": _best(lambda: [_step(m, positions, box)() for m in separate], repeats),
              "deviation_per_frame_s": _best(lambda: committee.member_forces(
                  AtomicSystem(system.symbols, system.positions_A, system.cell_A), torch.float32), repeats),
              "trust_check_s": _best(lambda: committee.check_frame(
                  AtomicSystem(system.symbols, system.positions_A, system.cell_A)), repeats)}
    result["committee_over_one"] = result["committee_one_pass_s"] / result["one_model_s"]
    result["one_by_one_over_one"] = result["members_one_by_one_s"] / result["one_model_s"]
    result["deviation_over_one"] = result["deviation_per_frame_s"] / result["one_model_s"]
    result["trust_check_over_committee_step"] = result["trust_check_s"] / result["committee_one_pass_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, nargs="+", default=[648, 2997])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(default_threads())
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, args.repeats, Path(tmp)) for n in args.atoms]
    for row in rows:
        print(f"{row['atoms']:>5} atoms: one model {row['one_model_s'] * 1e3:7.1f} ms; committee of {MEMBERS}, one "
              f"pass {row['committee_over_one']:.2f}x; {MEMBERS} models one by one {row['one_by_one_over_one']:.2f}x;"
              f" model deviation of a frame {row['deviation_over_one']:.2f}x; trust check (float64) "
              f"{row['trust_check_over_committee_step']:.2f} committee steps")
    if args.output:
        args.output.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                           "threads": torch.get_num_threads(), "members": MEMBERS,
                                           "architecture": ARCH.__dict__, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
