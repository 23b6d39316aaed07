"""An "AIMD stand-in": MD of small cells with a potential that gives OpenMM forces, frames labelled by it.

Sampling runs on OpenMM's CPU platform with one thread: its force sums depend on how threads split the work, and
labels must come out the same from the same file (one thread costs little at the sizes AIMD reaches).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from itertools import product
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from pydantic import Field

from meltdyn.plugin import (
    A_TO_NM, NM_TO_A, AtomicSystem, LabelledFrame, Labeller, PluginDef, PluginParams, Registry, check_labelled,
    derive_seed, hookimpl,
)
from meltdyn.plugins.engines.openmm_engine.interface import OpenMMForces, evaluate, load_openmm, openmm_system

log = logging.getLogger(__name__)


def sample(system: AtomicSystem, potential: OpenMMForces, temperature_K: float, frames: int, every_steps: int,
           seed: int, timestep_fs: float = 1.0, equilibration_steps: int = 1000) -> list[LabelledFrame]:
    """Minimise, equilibrate at ``temperature_K`` (Langevin), then label a frame every ``every_steps`` steps.
    ``seed`` must be positive: OpenMM takes a random number seed of 0 to mean "pick one at random", which would
    make the labels differ from one process to the next."""
    if seed <= 0:
        raise ValueError(f"seed {seed}: a positive integer is needed (OpenMM takes 0 as 'choose at random')")
    mm = load_openmm()
    integrator = mm.LangevinMiddleIntegrator(temperature_K, 5.0, timestep_fs * 1e-3)
    integrator.setRandomNumberSeed(seed)
    ctx = mm.Context(openmm_system(system, potential), integrator, mm.Platform.getPlatformByName("CPU"),
                     {"Threads": "1"})
    ctx.setPositions(system.positions_A * A_TO_NM)
    mm.LocalEnergyMinimizer.minimize(ctx, 10.0, 500)
    ctx.setVelocitiesToTemperature(temperature_K, seed)
    integrator.step(equilibration_steps)
    out = []
    for _ in range(frames):
        integrator.step(every_steps)
        state = ctx.getState(getPositions=True, enforcePeriodicBox=True)
        snapshot = AtomicSystem(system.symbols, state.getPositions(asNumpy=True)._value * NM_TO_A,
                                np.array(state.getPeriodicBoxVectors()._value) * NM_TO_A)
        out.append(evaluate(potential, snapshot))
    return out


class PotentialMDParams(PluginParams):
    potential: dict[str, Any] = Field(description="Any registered potential section that gives OpenMM forces, e.g. "
                                      "{plugin: shik, ...}.")
    system: dict[str, Any] = Field({"plugin": "sodium_silicate", "atoms": 150},
                                   description="A system section: how each cell is built (atoms as in AIMD).")
    compositions: list[str | float] = Field(["NS2", "NS4", "NS6"], min_length=1, max_length=100,
                                            description="Compositions sampled, as the system plugin names them.")
    temperatures_K: list[float] = Field([3000.0, 3500.0, 4000.0], min_length=1, max_length=100,
                                        description="Temperatures of the sampling MD.")
    densities_g_cm3: list[float] | None = Field(
        None, min_length=1, max_length=100, description="Cell densities (set as the system's density_g_cm3); several "
        "let the model learn the equation of state that NPT runs need. Default: the system section's own.")
    frames_per_state: int = Field(20, ge=1, le=100_000, description="Labelled frames per composition, temperature and "
                                                                    "density.")
    every_steps: int = Field(200, ge=1, le=10**7, description="MD steps between frames, for decorrelation.")
    equilibration_steps: int = Field(2000, ge=0, le=10**8, description="MD steps before the first frame of each "
                                     "cell.")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Root of the cells' packing and of the sampling MD.")


class PotentialMD(Labeller):
    def __init__(self, params: PotentialMDParams):
        self.params = params

    def _potential_section(self, registry: Registry) -> Any:
        from meltdyn.plugin import validate_section

        section = validate_section(registry, "potential", self.params.potential, "potential")
        offered = registry.get("potential", section.plugin).definition.outline(
            registry.params_of("potential", section)).interfaces
        if "openmm_forces" not in offered:
            raise ValueError(f"reference_data.potential: potential_md samples with OpenMM, and potential "
                             f"{section.plugin!r} gives no OpenMM forces (it provides {sorted(offered)})")
        return section

    def validate(self, registry: Registry) -> int:
        """Check the potential and system sections before any MD; the number of frames it will label."""
        from meltdyn.plugin import validate_section

        p = self.params
        self._potential_section(registry)
        validate_section(registry, "system", p.system, "system")
        return len(p.compositions) * len(p.temperatures_K) * len(p.densities_g_cm3 or [None]) * p.frames_per_state

    def batches(self, registry: Registry, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """One batch per composition × temperature × density, each seeded on its own."""
        from meltdyn.plugin import validate_section

        p = self.params
        potential = registry.build("potential", self._potential_section(registry))
        densities = p.densities_g_cm3 or [None]
        states = list(product(p.compositions, p.temperatures_K, densities))
        for k, (composition, temperature, density) in enumerate(states):
            if k < skip:
                continue
            system_section = {**p.system, **({"density_g_cm3": density} if density is not None else {})}
            builder = registry.build("system", validate_section(registry, "system", system_section, "system"))
            seed = derive_seed(p.seed, "state", str(composition), temperature, str(density))
            system = builder.build(composition, temperature, seed)
            frames = sample(system, potential, temperature, p.frames_per_state, p.every_steps, seed,
                            equilibration_steps=p.equilibration_steps)
            info = {"composition": str(composition), "temperature_K": float(temperature), "state": k}
            frames = [check_labelled(replace(f, info=info), f"reference_data: {composition} at {temperature:g} K, "
                                     f"frame {i}") for i, f in enumerate(frames)]
            log.info("labelled %d frames of %s at %g K, %s (state %d of %d)", p.frames_per_state, composition,
                     temperature, f"{density:g} g/cm3" if density else "default density", k + 1, len(states))
            yield frames


def _example(workdir: Path) -> dict[str, Any]:
    return {"potential": {"plugin": "shik", "short_range_cutoff_A": 4.5, "coulomb_cutoff_A": 4.5},
            "system": {"plugin": "sodium_silicate", "atoms": 90, "density_g_cm3": 2.3}, "compositions": ["NS2"],
            "temperatures_K": [3000.0], "frames_per_state": 2, "every_steps": 10, "equilibration_steps": 20}


@hookimpl
def meltdyn_labellers() -> list[PluginDef]:
    return [PluginDef("potential_md", "labeller", PotentialMDParams, PotentialMD,
                      "MD of small cells with a registered potential, frames labelled by it (AIMD stand-in)",
                      example=_example)]
