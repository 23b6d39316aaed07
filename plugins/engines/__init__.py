"""Built-in MD engines, and the kinetic temperature they all store."""

from __future__ import annotations

import numpy as np

from meltdyn.units import BOLTZMANN_EV_K, U_A2_PS2_TO_EV


def kinetic_temperature_K(velocities_A_ps: np.ndarray, masses_u: np.ndarray) -> float:
    """The kinetic temperature of the motion relative to the centre of mass, over its 3N − 3 degrees of freedom.

    Unbiased whether an integrator keeps the centre of mass still (Nosé–Hoover, NVE, LAMMPS' Langevin with zero yes)
    or lets the thermostat move it (OpenMM's and TorchSim's Langevin): 3N with a frozen centre of mass reads low by
    3/(3N), 0.7 % at 150 atoms.
    """
    m = masses_u[:, None]
    relative = velocities_A_ps - (m * velocities_A_ps).sum(0) / m.sum()
    kinetic_eV = 0.5 * float((m * relative**2).sum()) * U_A2_PS2_TO_EV
    return 2 * kinetic_eV / ((3 * len(masses_u) - 3) * BOLTZMANN_EV_K)
