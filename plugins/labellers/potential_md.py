"""An "AIMD stand-in": MD of small melts with a classical potential, frames labelled by that potential."""

from __future__ import annotations

import logging
from itertools import product
from typing import Any, Iterator

import numpy as np
from pydantic import Field

from meltdyn.builder import build_system
from meltdyn.contracts import AtomicSystem, LabelledFrame, Labeller, Potential
from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import PluginDef, PluginParams
from meltdyn.plugins.engines.openmm_engine import openmm_system
from meltdyn.plugins.engines.openmm_loader import load_openmm

KJ_MOL_TO_EV = 1 / 96.48533212
STRAIN_STEP = 1e-5
log = logging.getLogger(__name__)


def label(system: AtomicSystem, potential: Potential) -> LabelledFrame:
    """Energy (eV), forces (eV/Å) and stress (∂E/∂ε / V, eV/Å³) of one configuration, in double precision.

    The stress is a central difference over symmetric strains ε: positions and cell both deformed by (1 + ε),
    as schnetpack's Strain module does, so labels and model share one convention. The deformed cell is rotated
    back to the lower-triangular form OpenMM requires; a rotation leaves the energy unchanged.
    """
    mm = load_openmm()
    ctx = mm.Context(openmm_system(system, potential), mm.VerletIntegrator(0.001),
                     mm.Platform.getPlatformByName("Reference"))

    def energy(deformation: np.ndarray) -> float:
        cell, positions = system.cell_A @ deformation.T, system.positions_A @ deformation.T
        q, u = np.linalg.qr(cell.T)
        q = q * np.sign(np.diag(u))  # so the rotated cell has a positive diagonal
        ctx.setPeriodicBoxVectors(*[mm.Vec3(*row) for row in np.tril(cell @ q) * 0.1])
        ctx.setPositions(positions @ q * 0.1)
        return ctx.getState(getEnergy=True).getPotentialEnergy()._value * KJ_MOL_TO_EV

    stress = np.zeros((3, 3))
    for a in range(3):
        for b in range(a, 3):
            step = np.zeros((3, 3))
            step[a, b] += STRAIN_STEP / 2
            step[b, a] += STRAIN_STEP / 2
            stress[a, b] = stress[b, a] = (energy(np.eye(3) + step) - energy(np.eye(3) - step)) / (2 * STRAIN_STEP)
    e0 = energy(np.eye(3))  # also leaves the context at the undeformed configuration for the forces
    forces = ctx.getState(getForces=True).getForces(asNumpy=True)._value * KJ_MOL_TO_EV / 10
    return LabelledFrame(list(system.symbols), system.positions_A.copy(), system.cell_A.copy(), e0, forces,
                         stress / system.volume_A3)


def sample(system: AtomicSystem, potential: Potential, temperature_K: float, frames: int, every_steps: int,
           seed: int, timestep_fs: float = 1.0, equilibration_steps: int = 1000) -> list[LabelledFrame]:
    """Minimise, equilibrate at ``temperature_K`` (Langevin), then label a frame every ``every_steps`` steps."""
    mm = load_openmm()
    integrator = mm.LangevinMiddleIntegrator(temperature_K, 5.0, timestep_fs * 1e-3)
    integrator.setRandomNumberSeed(seed)
    ctx = mm.Context(openmm_system(system, potential), integrator, mm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(system.positions_A * 0.1)
    mm.LocalEnergyMinimizer.minimize(ctx, 10.0, 500)
    ctx.setVelocitiesToTemperature(temperature_K, seed)
    integrator.step(equilibration_steps)
    out = []
    for _ in range(frames):
        integrator.step(every_steps)
        state = ctx.getState(getPositions=True, enforcePeriodicBox=True)
        snapshot = AtomicSystem(system.symbols, state.getPositions(asNumpy=True)._value * 10,
                                np.array(state.getPeriodicBoxVectors()._value) * 10)
        out.append(label(snapshot, potential))
    return out


class PotentialMDParams(PluginParams):
    potential: dict[str, Any] = Field(description="Any registered potential section, e.g. {plugin: shik, ...}.")
    compositions: list[str | float] = Field(["NS2", "NS4", "NS6"], min_length=1)
    temperatures_K: list[float] = Field([3000.0, 3500.0, 4000.0], min_length=1)
    atoms: int = Field(150, gt=0, description="Atoms per cell (rounded to formula units), as in AIMD.")
    densities_g_cm3: list[float] = Field([2.3], min_length=1,
                                         description="Cell densities; several let the model learn the equation "
                                                     "of state that NPT runs need.")
    frames_per_state: int = Field(20, ge=1, description="Labelled frames per composition, temperature and density.")
    every_steps: int = Field(200, ge=1, description="MD steps between frames, for decorrelation.")
    equilibration_steps: int = Field(2000, ge=0)
    seed: int = Field(0, ge=0)


class PotentialMD(Labeller):
    def __init__(self, params: PotentialMDParams):
        self.params = params

    def batches(self, registry: Any, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """One batch per composition × temperature × density, each seeded on its own."""
        from meltdyn.specs import SystemSpec, validate_section

        p = self.params
        potential = registry.build("potential", validate_section(registry, "potential", p.potential, "potential"))
        states = list(product(enumerate(p.compositions), enumerate(p.temperatures_K), enumerate(p.densities_g_cm3)))
        for k, ((c_index, composition), (t_index, temperature), (d_index, density)) in enumerate(states):
            if k < skip:
                continue
            seed = p.seed + 1000 * c_index + 100 * d_index + t_index
            system = build_system(SystemSpec(atoms=p.atoms, density_g_cm3=density), composition, temperature, seed)
            frames = sample(system, potential, temperature, p.frames_per_state, p.every_steps, seed,
                            equilibration_steps=p.equilibration_steps)
            log.info("labelled %d frames of %s at %g K, %g g/cm3 (state %d of %d)", p.frames_per_state, composition,
                     temperature, density, k + 1, len(states))
            yield frames


@hookimpl
def meltdyn_labellers() -> list[PluginDef]:
    return [PluginDef("potential_md", "labeller", PotentialMDParams, PotentialMD,
                      "MD of small Na2O-SiO2 cells with a registered potential, frames labelled by it (AIMD stand-in)")]
