"""What the ``openmm`` engine needs from a potential, and the OpenMM helpers that potentials and labellers share.

A potential runs on OpenMM when it implements :class:`OpenMMForces` and lists ``"openmm_forces"`` in its outline.
This module is public and light (OpenMM is imported only when called):

- :func:`load_openmm` imports OpenMM the one way that works beside openmm-torch (torch first);
- :func:`openmm_system` builds an OpenMM ``System`` from a system and a potential;
- :func:`evaluate` gives a potential's energy, forces and stress through OpenMM's Reference platform in double
  precision (stress by central finite strain), for labels and for the conformance kit.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from meltdyn.plugin import A_TO_NM, KJ_MOL_TO_EV, NM_TO_A, AtomicSystem, Interface, LabelledFrame

STRAIN_STEP = 1e-5


@dataclass(frozen=True)
class OpenMMTarget:
    """Where the forces will run: OpenMM's platform and precision. A force computed by a torch model puts the
    model on the matching ``device``."""

    platform: str = "Reference"
    precision: str = "double"

    @property
    def device(self) -> str:
        return "cuda" if self.platform == "CUDA" else "cpu"


@runtime_checkable
class OpenMMForces(Protocol):
    def openmm_forces(self, system: AtomicSystem, target: OpenMMTarget) -> list[Any]:
        """OpenMM ``Force`` objects for ``system`` (positions in nm, energies in kJ/mol, as OpenMM has them)."""


def load_openmm() -> ModuleType:
    # openmmtorch's plugin library links against libtorch; OpenMM loads its plugins on import and fails
    # to load that one unless torch's libraries are already in the process.
    import torch  # noqa: F401
    import openmm

    return openmm


def openmm_system(system: AtomicSystem, potential: OpenMMForces, target: OpenMMTarget = OpenMMTarget(),
                  *extra_forces: Any) -> Any:
    """An OpenMM System for ``system``: masses, periodic cell, the potential's forces and any extra ones."""
    mm = load_openmm()
    omm = mm.System()
    for m in system.masses_u:
        omm.addParticle(float(m))
    omm.setDefaultPeriodicBoxVectors(*[mm.Vec3(*row) for row in system.cell_A * A_TO_NM])
    for force in [*potential.openmm_forces(system, target), *extra_forces]:
        omm.addForce(force)
    return omm


class TorchEnergyCallback:
    """The computation of an ``openmm.PythonForce``: an eager torch module in openmm-torch's convention (positions
    and box vectors in nm → energy in kJ/mol), its forces by autograd, on ``device``."""

    def __init__(self, module: Any, device: str, dtype: Any):
        self.module, self.device, self.dtype = module, device, dtype

    def __call__(self, state: Any) -> tuple[float, np.ndarray]:
        import torch

        positions = torch.tensor(state.getPositions(asNumpy=True)._value, dtype=self.dtype, device=self.device,
                                 requires_grad=True)
        box = torch.tensor(state.getPeriodicBoxVectors(asNumpy=True)._value, dtype=self.dtype, device=self.device)
        energy = self.module(positions, box)
        (gradient,) = torch.autograd.grad(energy, positions)
        return float(energy.detach()), -gradient.detach().cpu().numpy()


def python_force(module: Any, target: OpenMMTarget, dtype: Any, name: str) -> Any:
    """An ``openmm.PythonForce`` running an openmm-torch-convention module eagerly on the target's device: the path
    that needs no openmm-torch binary, so it works beside any torch."""
    mm = load_openmm()
    force = mm.PythonForce(TorchEnergyCallback(module.to(target.device), target.device, dtype))
    force.setUsesPeriodicBoundaryConditions(True)
    force.setName(name)
    return force


def evaluate(potential: OpenMMForces, system: AtomicSystem, stress: bool = True) -> LabelledFrame:
    """Energy (eV), forces (eV/Å) and, if asked, stress (∂E/∂ε / V, eV/Å³) of one configuration, in double
    precision.

    The stress is a central difference over symmetric strains ε: positions and cell both deformed by (1 + ε), as
    schnetpack's Strain module does, so labels and models share one convention. Every cell is rotated to the
    lower-triangular form OpenMM requires (a rotation leaves the energy unchanged) and the forces rotated back.
    """
    mm = load_openmm()

    def rotation(cell: np.ndarray) -> np.ndarray:
        q, u = np.linalg.qr(cell.T)
        return q * np.sign(np.diag(u))  # so the rotated cell has a positive diagonal

    q0 = rotation(system.cell_A)
    reduced = AtomicSystem(system.symbols, system.positions_A @ q0, np.tril(system.cell_A @ q0))
    ctx = mm.Context(openmm_system(reduced, potential), mm.VerletIntegrator(0.001),
                     mm.Platform.getPlatformByName("Reference"))

    def energy(deformation: np.ndarray) -> float:
        cell, positions = system.cell_A @ deformation.T, system.positions_A @ deformation.T
        q = rotation(cell)
        ctx.setPeriodicBoxVectors(*[mm.Vec3(*row) for row in np.tril(cell @ q) * A_TO_NM])
        ctx.setPositions(positions @ q * A_TO_NM)
        return ctx.getState(getEnergy=True).getPotentialEnergy()._value * KJ_MOL_TO_EV

    sigma = np.full((3, 3), np.nan)
    for a in range(3) if stress else ():
        for b in range(a, 3):
            step = np.zeros((3, 3))
            step[a, b] += STRAIN_STEP / 2
            step[b, a] += STRAIN_STEP / 2
            sigma[a, b] = sigma[b, a] = (energy(np.eye(3) + step) - energy(np.eye(3) - step)) / (2 * STRAIN_STEP)
    e0 = energy(np.eye(3))  # also leaves the context at the undeformed configuration for the forces
    rotated = ctx.getState(getForces=True).getForces(asNumpy=True)._value * KJ_MOL_TO_EV / NM_TO_A
    forces = rotated @ q0.T  # back to the system's own axes
    return LabelledFrame(list(system.symbols), system.positions_A.copy(), system.cell_A.copy(), e0, forces,
                         sigma / system.volume_A3)


OPENMM_FORCES = Interface("openmm_forces", "gives OpenMM forces (openmm_forces(system, target))", OpenMMForces,
                          evaluate)
