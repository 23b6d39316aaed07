"""Ab initio MD, the way the paper's reference data were made: MD driven by the reference calculator itself
(GFN1-xTB through tblite, a DFT code, any ASE calculator), a labelled frame every ``every_steps`` steps.

Each frame is its own batch, so an interrupted labelling keeps every frame it finished; on resume the trajectory
continues from the last kept frame's positions and velocities. The thermostat's random numbers are drawn afresh for
each stretch between frames from a seed derived from the study's seed, the state and the frame's index, so the
continued trajectory is the one the uninterrupted labelling would have followed (to the rounding of the stored
velocities, and of the reference's own iterations where it keeps state between calls, as SCF guesses do).
The calculator is named as ``ase_calculator`` names it (``module:Class``, checked before anything runs).
"""

from __future__ import annotations

import logging
from itertools import product
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
from pydantic import Field, field_validator

from meltdyn.plugin import (
    LabelledFrame, Labeller, PluginDef, PluginParams, Registry, calculator_class, check_labelled, derive_seed,
    hookimpl, kinetic_temperature_K,
)

log = logging.getLogger(__name__)


class ReferenceMDParams(PluginParams):
    calculator: str = Field(max_length=300, description="'module:Class' of the ASE calculator that drives the MD "
                            "and labels the frames, e.g. 'tblite.ase:TBLite' (GFN1-/GFN2-xTB, the `qm` extra).")
    calculator_kwargs: dict[str, Any] = Field({}, description="Keyword arguments for the calculator, e.g. "
                                              "{method: GFN1-xTB}.")
    system: dict[str, Any] = Field({"plugin": "sodium_silicate", "atoms": 27},
                                   description="A system section: how each cell is built (tens of atoms, as "
                                   "electronic structure affords).")
    compositions: list[str | float] = Field(["NS2"], min_length=1, max_length=100,
                                            description="Compositions sampled, as the system plugin names them.")
    temperatures_K: list[float] = Field([3000.0], min_length=1, max_length=100,
                                        description="Temperatures of the MD (Langevin's target; NVE starts there).")
    densities_g_cm3: list[float] | None = Field(
        None, min_length=1, max_length=100, description="Cell densities (set as the system's density_g_cm3). "
        "Default: the system section's own.")
    frames_per_state: int = Field(10, ge=1, le=100_000, description="Labelled frames per composition, temperature "
                                  "and density.")
    every_steps: int = Field(20, ge=1, le=10**7, description="MD steps between labelled frames.")
    equilibration_steps: int = Field(100, ge=0, le=10**8, description="MD steps before the first frame of each "
                                     "cell (each a reference calculation).")
    minimise_steps: int = Field(0, ge=0, le=10**6, description="Steps of FIRE minimisation with the reference before "
                                "the MD (each a reference calculation): a freshly packed cell releases its excess "
                                "potential energy as heat, which a short equilibration does not drain (measured, "
                                "27-atom NS2, GFN1-xTB, 150 steps of equilibration: frames labelled 2500 K averaged "
                                "3950 K without it, 2380 K after 50 steps). Default 0 keeps earlier labellings "
                                "resumable; 50 is the measured choice.")
    timestep_fs: float = Field(1.0, gt=0, le=10, description="MD timestep.")
    thermostat: Literal["langevin", "nve"] = Field("langevin", description="langevin (ASE's Langevin) or nve "
                                                   "(velocity Verlet).")
    friction_per_ps: float = Field(10.0, gt=0, le=1000, description="Langevin friction (10 /ps: a 0.1 ps "
                                   "velocity memory, weak beside a melt's relaxation yet holding the temperature).")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Root of the cells' packing, the initial velocities and "
                      "the thermostat's noise.")

    @field_validator("calculator")
    @classmethod
    def _a_calculator_class(cls, v: str) -> str:
        calculator_class(v)
        return v


class ReferenceMD(Labeller):
    def __init__(self, params: ReferenceMDParams):
        self.params = params
        self._kept: list[LabelledFrame] = []

    def _states(self) -> list[tuple[str | float, float, float | None]]:
        p = self.params
        return list(product(p.compositions, p.temperatures_K, p.densities_g_cm3 or [None]))

    def validate(self, registry: Registry) -> int:
        """Check the system section before any calculation; the number of frames it will label."""
        from meltdyn.plugin import validate_section

        validate_section(registry, "system", self.params.system, "system")
        return len(self._states()) * self.params.frames_per_state

    def resume(self, kept: list[LabelledFrame]) -> None:
        self._kept = list(kept)

    def _integrator(self, atoms: Any, temperature_K: float, seed: int) -> Any:
        from ase import units
        from ase.md.langevin import Langevin
        from ase.md.verlet import VelocityVerlet

        p = self.params
        if p.thermostat == "nve":
            return VelocityVerlet(atoms, timestep=p.timestep_fs * units.fs)
        return Langevin(atoms, timestep=p.timestep_fs * units.fs, temperature_K=temperature_K,
                        friction=p.friction_per_ps / (1000 * units.fs), rng=np.random.default_rng(seed), fixcm=False)

    def batches(self, registry: Registry, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """One batch per frame; frames of a state already kept are not recomputed (see the module docstring)."""
        import ase
        from ase import units
        from ase.md.velocitydistribution import Stationary, thermalize_momenta

        from meltdyn.plugin import validate_section

        p = self.params
        calculator = calculator_class(p.calculator)
        for k, (composition, temperature, density) in enumerate(self._states()):
            first = k * p.frames_per_state
            if skip >= first + p.frames_per_state:
                continue
            state_seed = derive_seed(p.seed, "state", str(composition), temperature, str(density))
            system_section = {**p.system, **({"density_g_cm3": density} if density is not None else {})}
            builder = registry.build("system", validate_section(registry, "system", system_section, "system"))
            start = max(skip - first, 0)
            if start == 0:
                system = builder.build(composition, temperature, state_seed)
                atoms = ase.Atoms(system.symbols, positions=system.positions_A, cell=system.cell_A, pbc=True)
                atoms.calc = calculator(**p.calculator_kwargs)
                if p.minimise_steps:
                    from ase.optimize import FIRE

                    FIRE(atoms, logfile=None).run(fmax=MINIMISED_FMAX_EV_A, steps=p.minimise_steps)
                thermalize_momenta(atoms, temperature, rng=np.random.default_rng(derive_seed(state_seed, "velocities")))
                Stationary(atoms)
                self._integrator(atoms, temperature, derive_seed(state_seed, "equilibration")).run(
                    p.equilibration_steps)
            else:
                atoms = self._continued(first + start - 1, k, start - 1, calculator)
            reached = [float(kinetic_temperature_K(f.velocities_A_fs * 1e3, _masses(f.symbols)))
                       for f in self._kept[first:first + start]]
            for i in range(start, p.frames_per_state):
                self._integrator(atoms, temperature, derive_seed(state_seed, "frame", i)).run(p.every_steps)
                velocities = atoms.get_velocities() * units.fs
                kinetic = float(kinetic_temperature_K(velocities * 1e3, atoms.get_masses()))
                reached.append(kinetic)
                frame = LabelledFrame(
                    atoms.get_chemical_symbols(), atoms.get_positions(wrap=True), np.array(atoms.cell),
                    float(atoms.get_potential_energy()), atoms.get_forces(), _stress(atoms),
                    velocities_A_fs=velocities,
                    info={"composition": str(composition), "temperature_K": float(temperature),
                          "kinetic_temperature_K": kinetic, "state": k, "frame": i})
                yield [check_labelled(frame, f"reference_data ({p.calculator}): {composition} at {temperature:g} K, "
                                             f"frame {i}", allow_missing_stress=True)]
            log.info("labelled %d frames of %s at %g K by MD with %s (state %d of %d)", p.frames_per_state,
                     composition, temperature, p.calculator, k + 1, len(self._states()))
            if problem := temperature_problem(temperature, reached, len(atoms)):
                log.warning("reference_data: %s at %g K: %s", composition, temperature, problem)

    def _continued(self, index: int, state: int, frame: int, calculator: type) -> Any:
        """The MD state at kept frame ``index`` (state ``state``, its frame ``frame``), to continue from."""
        import ase
        from ase import units
        from ase.stress import full_3x3_to_voigt_6_stress

        if index >= len(self._kept):
            raise ValueError(f"reference_data: the labelling kept {len(self._kept)} frame(s), but frame {index} is "
                             "needed to continue its MD; remove dataset.partial.db to label again")
        kept = self._kept[index]
        if kept.velocities_A_fs is None or (kept.info.get("state"), kept.info.get("frame")) != (state, frame):
            raise ValueError(f"reference_data: kept frame {index} is not frame {frame} of state {state} of this "
                             "MD (made by another labeller?); remove dataset.partial.db to label again")
        atoms = ase.Atoms(kept.symbols, positions=kept.positions_A, cell=kept.cell_A, pbc=True)
        atoms.set_velocities(kept.velocities_A_fs / units.fs)
        atoms.calc = calculator(**self.params.calculator_kwargs)
        # The kept labels are the reference's results at these positions: handed to the calculator's cache (ASE's
        # results and atoms), the first step of the continued MD does not pay for that calculation again.
        atoms.calc.atoms = atoms.copy()
        atoms.calc.results = {"energy": kept.energy_eV, "free_energy": kept.energy_eV,
                              "forces": kept.forces_eV_A.copy()}
        if np.isfinite(kept.stress_eV_A3).all():
            atoms.calc.results["stress"] = full_3x3_to_voigt_6_stress(kept.stress_eV_A3)
        return atoms


MINIMISED_FMAX_EV_A = 0.1
"""FIRE stops at this largest atomic force, or after minimise_steps: the overlaps of a packed cell are gone long
before, and the melt's own structure comes from the MD."""
TEMPERATURE_TOLERANCE = 0.1
"""A state's frames whose mean kinetic temperature, or that of its first or last quarter, differs from the target
by more than this fraction, and by more than :data:`SIGNIFICANCE` standard errors, are reported."""
SIGNIFICANCE = 4.0
"""Standard errors a mean must lie off its target by: three checks a state, many states a labelling, so a rare
fluctuation (4 standard errors: 6e-5 a check) is not taken for a fault."""


def temperature_problem(target_K: float, reached_K: list[float], atoms: int) -> str | None:
    """What is wrong with the temperatures a state's frames reached, or None: the frames are labelled with the
    target, and their info also holds each one's kinetic temperature, so a user can see where they differ.

    A small cell's kinetic temperature fluctuates a lot from frame to frame, by sqrt(2 / (3N - 3)) of the target in
    the canonical ensemble (±16 % at 27 atoms): a mean is taken as off only beyond both 10 % and four standard
    errors of that mean (that fluctuation over the square root of the frames' number: optimistic for frames closer
    than the velocities' memory, hence the 10 % floor)."""
    if len(reached_K) < 8:
        return None
    t = np.asarray(reached_K)
    quarters = np.array_split(t, 4)
    sd = target_K * np.sqrt(2 / (3 * atoms - 3))
    parts = [t, quarters[0], quarters[-1]]
    means = [float(p.mean()) for p in parts]
    if all(abs(m - target_K) <= max(TEMPERATURE_TOLERANCE * target_K, SIGNIFICANCE * sd / np.sqrt(len(p)))
           for m, p in zip(means, parts)):
        return None
    first, last = means[1:]
    return (f"its frames' kinetic temperature averages {t.mean():.0f} K (first quarter {first:.0f} K, last "
            f"{last:.0f} K), not the target: the MD had not equilibrated, or the thermostat does not hold it. "
            "Each frame's info keeps both (temperature_K the target, kinetic_temperature_K measured); to label at the "
            "target, give minimise_steps (a packed cell heats as it relaxes) or more equilibration_steps")


def _masses(symbols: list[str]) -> np.ndarray:
    from ase.data import atomic_masses, atomic_numbers

    return np.array([atomic_masses[atomic_numbers[s]] for s in symbols])


def _stress(atoms: Any) -> np.ndarray:
    """The reference's stress (3x3), or NaN throughout where the calculator computes none (a molecular code)."""
    from ase.calculators.calculator import PropertyNotImplementedError

    try:
        return atoms.get_stress(voigt=False)
    except PropertyNotImplementedError:
        return np.full((3, 3), np.nan)


def _example(workdir: Path) -> dict[str, Any]:
    return {"calculator": "ase.calculators.lj:LennardJones", "calculator_kwargs": {"sigma": 2.0, "epsilon": 0.01,
                                                                                   "rc": 4.0},
            "system": {"plugin": "sodium_silicate", "atoms": 27, "density_g_cm3": 2.2},
            "frames_per_state": 2, "every_steps": 2, "equilibration_steps": 2}


@hookimpl
def meltdyn_labellers() -> list[PluginDef]:
    return [PluginDef("reference_md", "labeller", ReferenceMDParams, ReferenceMD,
                      "ab initio MD: MD driven by an ASE reference calculator (e.g. GFN1-xTB), frames labelled by "
                      "it, resumable frame by frame", example=_example)]
