"""The data that flows between meltdyn and its plugins: systems, outlines for preflight, labelled frames, result
arrays, and what an observable is given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from meltdyn.base import elements
from meltdyn.base.units import AVOGADRO


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
    """The atoms and cell a run will start from, known without building the configuration; ``counts``, the atoms
    of each of ``species`` in that order, when the system plugin knows them (``meltdyn validate`` shows them with
    the starting density)."""

    species: tuple[str, ...]
    n_atoms: int
    cell_A: np.ndarray
    counts: tuple[int, ...] | None = None

    @property
    def min_width_A(self) -> float:
        return min_width_A(self.cell_A)

    @property
    def density_g_cm3(self) -> float | None:
        if self.counts is None:
            return None
        mass_u = float(np.dot(self.counts, elements.masses_u(list(self.species))))
        return mass_u / AVOGADRO / (abs(float(np.linalg.det(self.cell_A))) * 1e-24)

    def describe(self) -> str:
        """``648 atoms (Na 144, Si 144, O 360) in a 21.04 × 21.04 × 21.04 Å cell, 2.20 g/cm³``."""
        made_of = f" ({', '.join(f'{s} {n}' for s, n in zip(self.species, self.counts))})" if self.counts else ""
        lengths = " × ".join(f"{x:.2f}" for x in np.linalg.norm(self.cell_A, axis=1))
        density = self.density_g_cm3
        return (f"{self.n_atoms} atoms{made_of} in a {lengths} Å cell"
                + (f", {density:.2f} g/cm³" if density is not None else ""))


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


@dataclass(frozen=True)
class FrameCheck:
    """A potential's judgement of one configuration MD reached (:meth:`~meltdyn.hooks.contracts.Potential.check_frame`):
    ``values`` (names with units, e.g. ``max_force_deviation_eV_A``) go to the run's ``checks.csv``; ``stop`` says why
    the MD must not go on from this configuration (it left the potential's trust region), or is None."""

    values: Mapping[str, float]
    stop: str | None = None


@dataclass
class LabelledFrame:
    """A reference configuration: Å, eV, eV/Å, and stress as ∂E/∂ε / V in eV/Å³ (ASE's convention; NaN if
    unknown).

    ``velocities_A_fs`` are the atoms' velocities where MD made the frame (a labeller that continues its trajectory
    after an interruption starts from them); ``info`` says what the frame's source knows of it — ``composition``
    and ``temperature_K`` of the state it was sampled at, say — so training reports can break errors down by them.
    """

    symbols: list[str]
    positions_A: np.ndarray
    cell_A: np.ndarray
    energy_eV: float
    forces_eV_A: np.ndarray
    stress_eV_A3: np.ndarray
    velocities_A_fs: np.ndarray | None = None
    info: dict[str, str | float] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultArray:
    """A named result: values with their unit and the names of their axes.

    Axes are labelled as in netCDF: a one-dimensional result named like its only axis is that axis' coordinate
    (``species`` holding the element symbols, ``q`` the wavenumbers, ``lag`` the lags), so that ``D`` with dims
    ``("species",)`` or ``Fs`` with dims ``("species", "q", "lag")`` say what each entry is without a name that
    encodes it. An axis without a coordinate is a plain index (events, histogram counts)."""

    values: np.ndarray
    unit: str
    dims: tuple[str, ...]
    description: str = ""


Trend = Literal["rate", "time", "level"]
"""How a quantity is expected to vary over the state points of a sweep, which the report draws and fits:
``rate`` an activated rate (D: ln y against 1/T, an Arrhenius fit of y), ``time`` an activated time (τ_α: the same,
with the fit of 1/y), ``level`` drawn against T without a fit (the α2 peak height)."""


@dataclass(frozen=True)
class Reported:
    """One of an observable's results that is a headline quantity: how its error was obtained and how it varies
    over a sweep (None: tabulated only)."""

    method: str = ""
    trend: Trend | None = None


@dataclass(frozen=True)
class Summary:
    """What an observable reports of its results: the results that are headline quantities (by name; their dims and
    coordinates are the stored ones, their estimates stored with
    :func:`~meltdyn.analysis.estimates.estimate_arrays` or plain numbers) and flags, findings to read with care.
    The run's summary.json, ``meltdyn results`` and the report all read it the same way for every observable."""

    quantities: Mapping[str, Reported] = field(default_factory=dict)
    flags: Sequence[str] = ()


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
        return self._symbol_array == symbol

    @cached_property
    def _symbol_array(self) -> np.ndarray:
        return np.asarray(self.symbols)


@dataclass(frozen=True)
class FrameBatch:
    """Consecutive frames of the whole system, in frame order: what a whole-frame observable is given.

    ``unwrapped_A`` (frames, atoms, 3) are the positions every observable sees (unwrapped, in the analysis' frame of
    reference); ``positions_A`` are the same positions wrapped into each frame's cell, computed on first use. Both
    are read-only: several observables are handed the same batch.
    """

    frames: np.ndarray
    """Indices of these frames in the trajectory."""
    steps: np.ndarray
    times_ps: np.ndarray
    symbols: list[str]
    cell_A: np.ndarray
    """Each frame's cell, (frames, 3, 3), rows a, b, c."""
    unwrapped_A: np.ndarray

    @cached_property
    def positions_A(self) -> np.ndarray:
        """Positions wrapped into each frame's cell: fractional coordinates in [0, 1)."""
        frac = np.einsum("tai,tij->taj", self.unwrapped_A, np.linalg.inv(self.cell_A))
        frac -= np.floor(frac)
        wrapped = np.einsum("taj,tjk->tak", frac, self.cell_A)
        wrapped.flags.writeable = False
        return wrapped

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def species(self) -> list[str]:
        return list(dict.fromkeys(self.symbols))

    def mask(self, symbol: str) -> np.ndarray:
        return np.asarray(self.symbols) == symbol
