"""The interfaces plugins implement and the data that flows between them.

Lengths in meltdyn's own data are in ångström, times in picoseconds, energies in eV unless a name says
otherwise; engines convert at their boundary.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:
    from meltdyn.progress import Progress
    from meltdyn.specs import ProtocolSpec

ATOMIC_MASS_U: dict[str, float] = {"Na": 22.98977, "Si": 28.0855, "O": 15.9994}


@dataclass
class AtomicSystem:
    """A periodic configuration: element symbols, positions (Å) and cell rows a, b, c (Å)."""

    symbols: list[str]
    positions_A: np.ndarray
    cell_A: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions_A = np.asarray(self.positions_A, dtype=float)
        self.cell_A = np.asarray(self.cell_A, dtype=float)
        if self.positions_A.shape != (len(self.symbols), 3):
            raise ValueError(f"positions_A has shape {self.positions_A.shape}, expected ({len(self.symbols)}, 3)")
        if self.cell_A.shape != (3, 3):
            raise ValueError(f"cell_A has shape {self.cell_A.shape}, expected (3, 3)")

    @property
    def n_atoms(self) -> int:
        return len(self.symbols)

    @property
    def species(self) -> list[str]:
        """Distinct elements in order of first appearance."""
        return list(dict.fromkeys(self.symbols))

    @property
    def masses_u(self) -> np.ndarray:
        return np.array([ATOMIC_MASS_U[s] for s in self.symbols])

    @property
    def volume_A3(self) -> float:
        return float(abs(np.linalg.det(self.cell_A)))

    @property
    def min_width_A(self) -> float:
        """Smallest distance between opposite faces of the (possibly triclinic) cell."""
        a, b, c = self.cell_A
        return self.volume_A3 / max(np.linalg.norm(np.cross(b, c)), np.linalg.norm(np.cross(c, a)),
                                    np.linalg.norm(np.cross(a, b)))

    def require_width(self, cutoff_A: float) -> None:
        """Minimum-image interactions need a cell at least twice the cutoff wide."""
        if self.min_width_A < 2 * cutoff_A:
            raise ValueError(f"potential: cutoff {cutoff_A} Å needs a box at least {2 * cutoff_A:.2f} Å wide, "
                             f"the system's is {self.min_width_A:.2f} Å; use more atoms or smaller cutoffs")


class Potential(ABC):
    """An interatomic potential. Engines ask it for their own representation of it."""

    @abstractmethod
    def supported_species(self) -> set[str]:
        """Elements this potential has parameters for."""

    def openmm_forces(self, system: AtomicSystem) -> list[Any]:
        """OpenMM ``Force`` objects for this system. Potentials that OpenMM cannot run leave this alone."""
        raise NotImplementedError(f"{type(self).__name__} has no OpenMM representation")

    def lammps_commands(self, system: AtomicSystem, species: list[str], workdir: Path) -> tuple[list[str], float]:
        """LAMMPS (metal units) pair commands for atom types numbered in ``species`` order, files written to
        ``workdir``, and a constant energy (eV) LAMMPS leaves out. Potentials LAMMPS cannot run leave this alone."""
        raise NotImplementedError(f"{type(self).__name__} has no LAMMPS representation")

    def describe(self) -> dict[str, Any]:
        """Facts about the resolved potential worth recording in a run's provenance."""
        return {}


@dataclass
class LabelledFrame:
    """A reference configuration: Å, eV, eV/Å, and stress as ∂E/∂ε / V in eV/Å³ (ASE's convention)."""

    symbols: list[str]
    positions_A: np.ndarray
    cell_A: np.ndarray
    energy_eV: float
    forces_eV_A: np.ndarray
    stress_eV_A3: np.ndarray


class Labeller(ABC):
    """Produces labelled reference frames: imported, computed by a potential, or by an ASE calculator."""

    @abstractmethod
    def batches(self, registry: Any, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """The labelled frames in batches, the units an interrupted labelling keeps (a state point, one DFT
        calculation); the first ``skip`` batches were kept before and are not produced again. ``registry``
        builds any potential a labeller's parameters name."""


@dataclass
class RunContext:
    """Everything an engine needs to carry out one run's protocol in its own directory."""

    run_dir: Path
    system: AtomicSystem
    potential: Potential
    protocol: ProtocolSpec
    target_temperature_K: float
    seed: int
    progress: Progress

    @property
    def trajectory_path(self) -> Path:
        return self.run_dir / "trajectory.h5"

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"


class Engine(ABC):
    """Runs a protocol (minimise, equilibrate, produce) and writes the production trajectory.

    Must be restartable: called again on a run directory it left unfinished, it continues from its last
    checkpoint without losing or duplicating trajectory frames.
    """

    @abstractmethod
    def run(self, ctx: RunContext) -> dict[str, Any]:
        """Carry out ``ctx.protocol``; return facts for provenance (platform, precision, timings)."""


@dataclass(frozen=True)
class ResultArray:
    """A named result: values with their unit and the names of their axes."""

    values: np.ndarray
    unit: str
    dims: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class TrajectoryInfo:
    """What observables learn about a trajectory before its atoms are streamed to them."""

    n_atoms: int
    symbols: list[str]
    steps: np.ndarray
    times_ps: np.ndarray
    linear_interval_steps: int
    timestep_ps: float
    com_drift_A: np.ndarray
    """Mass-weighted centre-of-mass displacement from the first frame, shape (frames, 3)."""
    cell_A: np.ndarray
    """Cell of the first frame, rows a, b, c."""

    @property
    def species(self) -> list[str]:
        return list(dict.fromkeys(self.symbols))


@dataclass(frozen=True)
class AtomBlock:
    """A block of atoms over all frames: unwrapped positions (Å), shape (frames, atoms, 3).

    :meth:`displacements` caches, so observables that share lags share the work.
    """

    indices: np.ndarray
    symbols: list[str]
    positions_A: np.ndarray
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def displacements(self, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Displacement vectors (pairs, atoms, 3) between the given frame pairs."""
        key = (origins.tobytes(), targets.tobytes())
        if key not in self._cache:
            self._cache[key] = self.positions_A[targets] - self.positions_A[origins]
        return self._cache[key]

    def mask(self, symbol: str) -> np.ndarray:
        return np.asarray(self.symbols) == symbol


class Observable(ABC):
    """A time-correlation observable computed by streaming blocks of atoms through it.

    Every observable meltdyn ships is an average over particles of a single-particle quantity, so
    blocks of atoms over all frames are the natural chunk: memory is bounded by the block size and the
    trajectory is read once however many observables run.
    """

    @abstractmethod
    def prepare(self, info: TrajectoryInfo) -> None:
        """Allocate accumulators for the trajectory described by ``info``."""

    @abstractmethod
    def process(self, block: AtomBlock) -> None:
        """Accumulate the contribution of one block of atoms."""

    @abstractmethod
    def conclude(self) -> dict[str, ResultArray]:
        """Return the results as named arrays."""

    def summary(self, results: dict[str, ResultArray]) -> dict[str, Any]:
        """Scalars worth a line in the run's JSON summary (e.g. diffusion coefficients)."""
        return {}
