"""The interfaces plugins implement and the data that flows between them.

One contract per plugin kind: :class:`SystemBuilder`, :class:`Potential`, :class:`Engine`, :class:`Observable`,
:class:`Labeller`. What an engine needs from a potential is not here: each engine owns that interface
(:class:`meltdyn.plugin.Interface`) and validation checks the pair before anything runs.

Lengths in meltdyn's own data are in ångström, times in picoseconds, energies in eV unless a name says
otherwise; engines convert at their boundary.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from meltdyn import elements

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from meltdyn.progress import Progress
    from meltdyn.seeds import SeedBook
    from meltdyn.specs import ProtocolSpec


def min_width_A(cell_A: np.ndarray) -> float:
    """Smallest distance between opposite faces of a (possibly triclinic) cell with rows a, b, c."""
    a, b, c = np.asarray(cell_A, dtype=float)
    volume = abs(float(np.linalg.det(np.array([a, b, c]))))
    return volume / max(np.linalg.norm(np.cross(b, c)), np.linalg.norm(np.cross(c, a)), np.linalg.norm(np.cross(a, b)))


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
        return elements.masses_u(self.symbols)

    @property
    def volume_A3(self) -> float:
        return float(abs(np.linalg.det(self.cell_A)))

    @property
    def min_width_A(self) -> float:
        return min_width_A(self.cell_A)

    def require_width(self, cutoff_A: float) -> None:
        """Minimum-image interactions need a cell at least twice the cutoff wide."""
        if self.min_width_A < 2 * cutoff_A:
            raise ValueError(f"potential: cutoff {cutoff_A} Å needs a box at least {2 * cutoff_A:.2f} Å wide, "
                             f"the system's is {self.min_width_A:.2f} Å; use more atoms or smaller cutoffs")


# -- what validation knows before anything is built ---------------------------------------------------------------

@dataclass(frozen=True)
class SystemOutline:
    """The atoms and cell a run will start from, known without building the configuration."""

    species: tuple[str, ...]
    n_atoms: int
    cell_A: np.ndarray

    @property
    def min_width_A(self) -> float:
        return min_width_A(self.cell_A)


@dataclass(frozen=True)
class PotentialOutline:
    """What a potential offers: the engine interfaces it implements, its elements (None: any) and cutoff (Å)."""

    interfaces: frozenset[str]
    species: frozenset[str] | None = None
    cutoff_A: float | None = None


@dataclass(frozen=True)
class ExecutorOutline:
    """Whether an executor runs a study's runs on this machine (else its hardware checks do not apply here)."""

    local: bool


@dataclass(frozen=True)
class RunOutline:
    id: str
    composition: str | float
    temperature_K: float
    replica: int
    system: SystemOutline


@dataclass(frozen=True)
class StudyOutline:
    """A validated study spec with each run's starting system outlined.

    ``local`` is False when the runs execute elsewhere (a cluster), so checks of this machine's hardware do not
    apply.
    """

    spec: Any
    runs: tuple[RunOutline, ...]
    local: bool = True

    @property
    def species(self) -> list[str]:
        return sorted({s for run in self.runs for s in run.system.species})


# -- plugin kinds -----------------------------------------------------------------------------------------------------

class SystemBuilder(ABC):
    """Builds each run's starting configuration."""

    @abstractmethod
    def build(self, composition: str | float, temperature_K: float, seed: int) -> AtomicSystem:
        """The configuration for one composition of the sweep at one temperature, reproducible from ``seed``."""


class Potential:
    """An interatomic potential. It implements the interfaces its plugin's outline lists (see
    :class:`meltdyn.plugin.Interface`); engines use only those."""

    def describe(self) -> dict[str, Any]:
        """Facts about the resolved potential worth recording in a run's provenance."""
        return {}


@dataclass
class LabelledFrame:
    """A reference configuration: Å, eV, eV/Å, and stress as ∂E/∂ε / V in eV/Å³ (ASE's convention; NaN if
    unknown)."""

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
    seeds: SeedBook
    progress: Progress
    deterministic: bool = False

    @property
    def id(self) -> str:
        return self.run_dir.name

    @property
    def trajectory_path(self) -> Path:
        return self.run_dir / "trajectory.h5"

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"


class Engine(ABC):
    """Runs a protocol (minimise, equilibrate, produce) and writes the production trajectory.

    Must be restartable: called again on run directories it left unfinished, it continues from their last
    checkpoints without losing or duplicating trajectory frames. :mod:`meltdyn.stage_driver` does all of that for
    an engine that supplies its primitives.
    """

    max_batch: int = 1
    """How many runs the engine advances together; the study hands it up to this many that share a potential and
    stand at the same checkpoint."""

    @abstractmethod
    def run(self, runs: Sequence[RunContext]) -> list[dict[str, Any]]:
        """Carry out the protocol of every run; return each run's facts for provenance (platform, timings)."""


class Executor(ABC):
    """Carries out a study's runs: one after another here (``serial``), or as tasks of an existing distributed
    engine (``dask``). It hands batches to ``study.simulate`` and each simulated run to ``study.analyse``, where
    the run's lock, checkpoints and outputs are handled; the executor decides only where and when."""

    @abstractmethod
    def execute(self, study: Any, runs: Sequence[Any], progress: bool | None) -> list[str]:
        """Simulate and analyse ``runs`` (claimed, not yet complete); return one line per run that failed."""


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
    cell_A: np.ndarray
    """Cell of the first frame, rows a, b, c."""

    @property
    def species(self) -> list[str]:
        return list(dict.fromkeys(self.symbols))


@dataclass(frozen=True)
class AtomBlock:
    """A block of atoms over all frames: unwrapped positions (Å), shape (frames, atoms, 3), in the analysis' frame
    of reference (centre-of-mass drift removed unless the analysis says otherwise)."""

    indices: np.ndarray
    symbols: list[str]
    positions_A: np.ndarray

    def displacements(self, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Displacement vectors (pairs, atoms, 3) between the given frame pairs. Not cached: an observable holds one
        lag's displacements at a time, which is what keeps the analysis inside its memory budget."""
        d = self.positions_A[targets]
        d -= self.positions_A[origins]
        return d

    def mask(self, symbol: str) -> np.ndarray:
        return np.asarray(self.symbols) == symbol


class Observable(ABC):
    """A time-correlation observable computed by streaming blocks of atoms through it (prepare → process → conclude).

    Every observable meltdyn ships is an average over particles of a single-particle quantity, so blocks of atoms
    over all frames are the natural chunk: memory is bounded by the block size and the trajectory is read once
    however many observables run.
    """

    @abstractmethod
    def prepare(self, info: TrajectoryInfo) -> None:
        """Allocate accumulators for the trajectory described by ``info``. Validation also prepares a fresh
        instance, with a production trajectory's planned frames and starting cell, to ask :meth:`memory` before
        any MD: prepare should plan, not read files or start work."""

    @abstractmethod
    def process(self, block: AtomBlock) -> None:
        """Accumulate the contribution of one block of atoms."""

    @abstractmethod
    def conclude(self) -> dict[str, ResultArray]:
        """Return the results as named arrays."""

    def memory(self) -> tuple[int, int]:
        """Bytes this observable needs beyond the block's positions, after :meth:`prepare`: (held whatever the block
        size, per atom of a block: its displacements, work space, temporaries). The analysis sizes its blocks so that
        everything fits ``memory_budget_MB``; an estimate too low breaks that bound."""
        return 0, 0

    def summary(self, results: dict[str, ResultArray]) -> dict[str, Any]:
        """Scalars worth a line in the run's JSON summary (e.g. diffusion coefficients)."""
        return {}

    def plot(self, results: dict[str, ResultArray], ax: Axes) -> bool:
        """Draw this observable's figure of ``results`` on ``ax``; return False if it has none."""
        return False

