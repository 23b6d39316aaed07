"""TorchSim's primitives for the stage driver: every run of a batch in one batched state, one model evaluation per
step for all of them (the point of batching on a GPU), each run still its own lane with its own checkpoints.

Integrators are TorchSim's: velocity Verlet (NVE), the Nosé–Hoover chain (NVT), MTK Nosé–Hoover (NPT) and FIRE
(minimise). Langevin is TorchSim's BAOAB split (its momentum and position steps) with one random stream per run:
TorchSim draws one stream for a whole batch, which would make a run's trajectory depend on the runs batched with it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import torch
import torch_sim as ts
from torch_sim.integrators.md import MDState, momentum_step, position_step
from torch_sim.models.interface import ModelInterface
from torch_sim.units import MetalUnits

from meltdyn.plugin import (
    BAR_TO_EV_A3, BOLTZMANN_EV_K, Lane, LaneStart, MinimiseStage, RunContext, SimulationBlewUp, Snapshot, Stage,
    StageMachine, elements, kinetic_temperature_K, stage_dynamics,
)
from meltdyn.plugins.engines.torchsim_engine.interface import energy_forces_stress

TIME = float(MetalUnits.time)
"""TorchSim's unit of time (√(u·Å²/eV)) per picosecond: dt_internal = dt_ps · TIME."""
CHAIN = {"chain_length": 3, "chain_steps": 1, "sy_steps": 1}
"""Nosé–Hoover chains as LAMMPS' fix nvt/npt integrate them by default (tchain 3, tloop = ploop = 1): TorchSim's
default of several Suzuki–Yoshida substeps per step costs it twice the time per step on a CPU."""
MD_FIELDS = {f.name for f in fields(MDState)}


def resolve_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


class TorchModel(ModelInterface):
    """A potential's energy module as a TorchSim model: forces and (for NPT) stress by autograd."""

    def __init__(self, energy: torch.nn.Module, device: str, dtype: torch.dtype):
        super().__init__()
        self.energy = energy
        self._device, self._dtype = torch.device(device), dtype
        self._compute_forces, self._compute_stress = True, False

    @property
    def compute_stress(self) -> bool:
        return self._compute_stress

    @compute_stress.setter
    def compute_stress(self, value: bool) -> None:
        self._compute_stress = bool(value)

    def forward(self, state: ts.SimState, **kwargs: Any) -> dict[str, torch.Tensor]:
        energy, forces, stress = energy_forces_stress(self.energy, state.positions, state.row_vector_cell,
                                                      state.system_idx, state.atomic_numbers, self._compute_stress)
        out = {"energy": energy, "forces": forces}
        if stress is not None:
            out["stress"] = stress
        return out


def _lane_part(value: Any, atoms: slice, k: int, n_atoms: int, n_systems: int) -> Any:
    """Lane k's share of an integrator's state: atom-wise and system-wise tensors sliced, functions left out."""
    if isinstance(value, torch.Tensor):
        if value.ndim and value.shape[0] == n_atoms:
            return value[atoms].clone()
        if value.ndim and value.shape[0] == n_systems:
            return value[k:k + 1].clone()
        return value.clone()
    if is_dataclass(value):
        return {f.name: _lane_part(getattr(value, f.name), atoms, k, n_atoms, n_systems) for f in fields(value)}
    return None


def _restore_parts(template: Any, parts: list[Any]) -> Any:
    """Put the lanes' saved shares back into a freshly initialised integrator state (floating-point values only:
    indices belong to the new batch)."""
    if isinstance(template, torch.Tensor):
        if not template.is_floating_point() or any(p is None for p in parts):
            return template
        joined = torch.cat(parts) if template.ndim and len(parts) > 1 else parts[0]
        return joined.to(template) if joined.shape == template.shape else template
    if is_dataclass(template) and all(isinstance(p, dict) for p in parts):
        for f in fields(template):
            setattr(template, f.name, _restore_parts(getattr(template, f.name), [p[f.name] for p in parts]))
    return template


class TorchSimLane(Lane):
    def __init__(self, machine: TorchSimMachine, k: int):
        self.machine, self.k = machine, k
        self.atoms = slice(machine.offsets[k], machine.offsets[k + 1])

    @property
    def state(self) -> Any:
        return self.machine.state

    def _momenta(self) -> torch.Tensor:
        momenta = getattr(self.state, "momenta", None)
        return momenta[self.atoms] if momenta is not None else torch.zeros_like(self.state.positions[self.atoms])

    def potential_energy_eV(self) -> float:
        return float(self.state.energy[self.k])

    def snapshot(self, velocities: bool) -> Snapshot:
        masses = self.state.masses[self.atoms]
        v = (self._momenta() / masses[:, None] * TIME).detach().cpu().numpy().astype(float)  # Å/ps, on the step
        temperature = float(kinetic_temperature_K(v, masses.cpu().numpy().astype(float)))
        return Snapshot(self.state.positions[self.atoms].detach().cpu().numpy().astype(float), self.cell_A(),
                        self.potential_energy_eV(), temperature, v if velocities else None)

    def cell_A(self) -> np.ndarray:
        return self.state.row_vector_cell[self.k].detach().cpu().numpy().astype(float)

    def rescale_to_cell(self, cell_A: np.ndarray) -> None:
        new = torch.as_tensor(cell_A, dtype=self.state.dtype, device=self.state.device)
        old = self.state.row_vector_cell[self.k]
        positions = self.state.positions.clone()
        positions[self.atoms] = positions[self.atoms] @ torch.linalg.inv(old) @ new
        cells = self.state.row_vector_cell.clone()
        cells[self.k] = new
        self.state.positions = positions
        self.state.row_vector_cell = cells

    def save(self, exact: bool) -> bytes:
        record: dict[str, Any] = {"positions": self.state.positions[self.atoms].detach().cpu(),
                                  "momenta": self._momenta().detach().cpu(), "cell": self.cell_A()}
        if exact:
            n_atoms, n_systems = self.state.positions.shape[0], self.state.n_systems
            record["integrator"] = {name: _lane_part(getattr(self.state, name), self.atoms, self.k, n_atoms,
                                                     n_systems) for name in self.machine.extended_fields()}
            record["rng"] = self.machine.generators[self.k].get_state()
        buffer = io.BytesIO()
        torch.save(record, buffer)
        return buffer.getvalue()


class TorchSimMachine(StageMachine):
    def __init__(self, params: Any, runs: Sequence[RunContext]):
        self.params, self.runs = params, list(runs)
        self.device = resolve_device(params.device)
        self.dtype = torch.float64 if params.precision == "float64" else torch.float32
        if runs[0].deterministic:
            torch.use_deterministic_algorithms(True)
        self.model = TorchModel(runs[0].potential.torch_model(self.device, self.dtype), self.device, self.dtype)
        counts = [run.system.n_atoms for run in runs]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).tolist()
        self.generators = [torch.Generator(device=self.device) for _ in runs]
        tensor = lambda x, d=self.dtype: torch.as_tensor(np.asarray(x), dtype=d, device=self.device)  # noqa: E731
        self.masses = tensor(np.concatenate([run.system.masses_u for run in runs]))
        self.numbers = tensor(np.concatenate([[elements.atomic_number(s) for s in run.system.symbols] for run in runs]),
                              torch.long)
        self.system_idx = tensor(np.repeat(np.arange(len(runs)), counts), torch.long)
        self.tensor = tensor
        self.state: Any = None
        self.step_fn: Any = None

    def extended_fields(self) -> list[str]:
        """The integrator's own state beyond positions, momenta, forces: thermostat chains, barostat variables."""
        return [f.name for f in fields(self.state) if f.name not in MD_FIELDS and not f.name.endswith("_fns")]

    def _base_state(self, starts: Sequence[LaneStart]) -> MDState:
        positions, momenta, cells, records = [], [], [], []
        for start in starts:
            record = torch.load(io.BytesIO(start.restart), weights_only=False) if start.restart else None
            records.append(record)
            system = start.run.system
            positions.append(record["positions"].numpy() if record else system.positions_A)
            momenta.append(record["momenta"].numpy() if record else np.zeros((system.n_atoms, 3)))
            cells.append(record["cell"] if record else system.cell_A)
        self.records = records
        p = self.tensor(np.concatenate(momenta))
        for k, start in enumerate(starts):
            atoms = slice(self.offsets[k], self.offsets[k + 1])
            if start.exact and records[k] is not None and "rng" in records[k]:
                self.generators[k].set_state(records[k]["rng"])
            else:
                self.generators[k].manual_seed(start.seed)
            if start.thermalise:
                p[atoms] = self._maxwell_boltzmann(atoms, start.temperature_K, self.generators[k])
        rows = self.tensor(np.stack(cells))
        state = ts.SimState(positions=self.tensor(np.concatenate(positions)), masses=self.masses,
                            cell=rows.transpose(1, 2), pbc=True, atomic_numbers=self.numbers,
                            system_idx=self.system_idx)
        out = self.model(state)
        return MDState(positions=state.positions, masses=self.masses, cell=state.cell, pbc=True,
                       atomic_numbers=self.numbers, system_idx=self.system_idx, momenta=p, energy=out["energy"],
                       forces=out["forces"])

    def _maxwell_boltzmann(self, atoms: slice, temperature_K: float, generator: torch.Generator) -> torch.Tensor:
        m = self.masses[atoms][:, None]
        p = torch.randn((m.shape[0], 3), generator=generator, device=self.device, dtype=self.dtype)
        p = p * torch.sqrt(m * BOLTZMANN_EV_K * temperature_K)
        return p - m * (p.sum(0) / m.sum())  # no drift of the centre of mass

    def start_stage(self, stage: Stage, starts: Sequence[LaneStart]) -> list[Lane]:
        state = self._base_state(starts)
        dt = self.runs[0].protocol.timestep_fs * 1e-3 * TIME
        # The step functions read self.kT when they run, so that a ramp's set_temperature retargets them.
        self.kT = kT = self.tensor([BOLTZMANN_EV_K * s.temperature_K for s in starts])
        dynamics = stage_dynamics(stage)
        self.model.compute_stress = dynamics is not None and dynamics.ensemble == "npt"
        if dynamics is None:
            self.state, self.step_fn = state, None
        elif dynamics.ensemble == "nve":
            self.state = state
            self.step_fn = lambda s: ts.nve_step(s, self.model, dt=dt)
        elif dynamics.ensemble == "npt":  # thermostat nose_hoover: validation refuses the batch-coupled Langevin
            tau = 1.0 / dynamics.friction_per_ps * TIME
            self.state = ts.npt_nose_hoover_isotropic_init(state, self.model, kT=kT, dt=dt, t_tau=tau,
                                                           b_tau=self.params.barostat_time_ps * TIME, **CHAIN)
            pressure = dynamics.pressure_bar * BAR_TO_EV_A3
            self.step_fn = lambda s: ts.npt_nose_hoover_isotropic_step(s, self.model, dt=dt, kT=self.kT,
                                                                       external_pressure=pressure)
        elif dynamics.thermostat == "nose_hoover":
            tau = 1.0 / dynamics.friction_per_ps * TIME
            self.state = ts.nvt_nose_hoover_init(state, self.model, kT=kT, dt=dt, tau=tau, **CHAIN)
            self.step_fn = lambda s: ts.nvt_nose_hoover_step(s, self.model, dt=dt, kT=self.kT)
        else:
            self.state = state
            gamma = dynamics.friction_per_ps / TIME
            self.step_fn = lambda s: self._langevin_step(s, dt, self.kT, gamma)
        if any(s.exact for s in starts):
            for name in self.extended_fields():
                parts = [r.get("integrator", {}).get(name) for r in self.records]
                setattr(self.state, name, _restore_parts(getattr(self.state, name), parts))
        return [TorchSimLane(self, k) for k in range(len(starts))]

    def set_temperature(self, temperatures_K: Sequence[float]) -> None:
        self.kT = self.tensor([BOLTZMANN_EV_K * t for t in temperatures_K])

    def _langevin_step(self, state: MDState, dt: float, kT: torch.Tensor, gamma: float) -> MDState:
        """BAOAB (Leimkuhler & Matthews) with each run's noise from its own generator."""
        state = momentum_step(state, dt / 2)
        state = position_step(state, dt / 2)
        c1 = float(np.exp(-gamma * dt))
        noise = torch.cat([torch.randn((self.offsets[k + 1] - self.offsets[k], 3), generator=g, device=self.device,
                                       dtype=self.dtype) for k, g in enumerate(self.generators)])
        c2 = torch.sqrt(kT[self.system_idx] * (1 - c1**2) * self.masses)[:, None]
        state.momenta = c1 * state.momenta + c2 * noise
        state = position_step(state, dt / 2)
        out = self.model(state)
        state.energy, state.forces = out["energy"], out["forces"]
        return momentum_step(state, dt / 2)

    def minimise(self, stage: MinimiseStage) -> None:
        """FIRE at fixed cell until every run's RMS force is below the tolerance (or the iteration limit)."""
        tolerance_eV_A = stage.tolerance_eV_A
        state = ts.fire_init(self.state, self.model)
        for _ in range(stage.max_iterations or 10_000):
            state = ts.fire_step(state, self.model)
            rms = torch.sqrt(torch.zeros(len(self.runs), dtype=self.dtype, device=self.device).index_add(
                0, self.system_idx, (state.forces**2).sum(1)) / (3 * torch.bincount(self.system_idx)))
            if bool((rms < tolerance_eV_A).all()):
                break
        self.state = state

    def advance(self, steps: int) -> None:
        for _ in range(steps):
            self.state = self.step_fn(self.state)
        if not torch.isfinite(self.state.positions).all():
            bad = sorted({self.runs[int(k)].id for k in self.system_idx[~torch.isfinite(self.state.positions).all(1)]})
            raise SimulationBlewUp(f"run(s) {bad}: positions stopped being finite")

    def facts(self) -> dict[str, Any]:
        return {"platform": f"TorchSim {ts.__version__} on {self.device}",
                "properties": {"precision": str(self.dtype).removeprefix("torch."), "batch": len(self.runs),
                               "torch_threads": torch.get_num_threads()}}
