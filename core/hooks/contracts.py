"""The interfaces plugins implement: one contract per plugin kind (the data they exchange is in
:mod:`meltdyn.hooks.data`).

One contract per plugin kind: :class:`SystemBuilder`, :class:`Potential`, :class:`Engine`, :class:`Observable`,
:class:`Labeller`. What an engine needs from a potential is not here: each engine owns that interface
(:class:`meltdyn.plugin.Interface`) and validation checks the pair before anything runs.

Lengths in meltdyn's own data are in ångström, times in picoseconds, energies in eV unless a name says
otherwise; engines convert at their boundary.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol, Self

from meltdyn.hooks.data import (
    AtomBlock, AtomicSystem, FrameBatch, FrameCheck, LabelledFrame, ResultArray, Summary, TrajectoryInfo,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from meltdyn.base.progress import Progress
    from meltdyn.hooks.registry import Registry
    from meltdyn.base.seeds import SeedBook
    from meltdyn.spec.models import ProtocolSpec


# -- plugin kinds -----------------------------------------------------------------------------------------------------

class SystemBuilder(ABC):
    """Builds each run's starting configuration."""

    @abstractmethod
    def build(self, composition: str | float, temperature_K: float, seed: int) -> AtomicSystem:
        """The configuration for one composition of the sweep at one temperature, reproducible from ``seed``."""


class Potential:
    """An interatomic potential. It implements the interfaces its plugin's outline lists (see
    :class:`meltdyn.plugin.Interface`); engines use only those."""

    check_interval_ps: float | None = None
    """Simulated time between the engine kit's calls of :meth:`check_frame` during MD; None: it never calls it."""

    def describe(self) -> dict[str, Any]:
        """Facts about the resolved potential worth recording in a run's provenance."""
        return {}

    def check_frame(self, system: AtomicSystem) -> FrameCheck:
        """Judge a configuration MD reached with this potential: what to record of it and whether the run must stop
        there. The engine kit (:mod:`meltdyn.engine.trust`) calls it every :attr:`check_interval_ps` of simulated
        time in every dynamics stage, production's first frame included, whatever the engine."""
        raise NotImplementedError(f"{type(self).__name__} sets check_interval_ps but does not check frames")


class Labeller(ABC):
    """Produces labelled reference frames: imported, computed by a potential, or by an ASE calculator."""

    @abstractmethod
    def batches(self, registry: Registry, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """The labelled frames in batches, the units an interrupted labelling keeps (a state point, one DFT
        calculation); the first ``skip`` batches were kept before and are not produced again. ``registry``
        builds any potential a labeller's parameters name."""

    def resume(self, kept: list[LabelledFrame]) -> None:
        """Called before ``batches(registry, skip)`` when an interrupted labelling kept frames: ``kept`` are its
        frames in the order they were made (velocities and info as the labeller gave them). A labeller that
        continues a trajectory frame by frame (MD driven by the reference) starts from the last; others need
        nothing, which is the default."""


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
    checkpoints without losing or duplicating trajectory frames. :mod:`meltdyn.engine.stage_driver` does all of that for
    an engine that supplies its primitives.
    """

    max_batch: int = 1
    """How many runs the engine advances together; the study hands it up to this many that share a potential and
    stand at the same checkpoint."""

    @abstractmethod
    def run(self, runs: Sequence[RunContext]) -> list[dict[str, Any]]:
        """Carry out the protocol of every run; return each run's facts for provenance (platform, timings)."""


class RunHandle(Protocol):
    """What an executor sees of a run: its id (a study's :class:`~meltdyn.study.runner.Run` is one)."""

    @property
    def id(self) -> str: ...


class Reporter(Protocol):
    """Says where a study stands (one line on stderr, unless progress is off), when asked."""

    def report(self) -> None: ...


class StudyHandle(Protocol):
    """What an executor may ask of a study (a :class:`~meltdyn.study.runner.Study` is one): to cut runs into
    batches, to simulate and analyse a batch here, to simulate a batch and analyse a run separately (for a task
    elsewhere), to select runs by id, to monitor runs, and where the study's spec and output directory are, for a worker to load it."""

    @property
    def source(self) -> dict[str, Any]: ...

    @property
    def output_dir(self) -> Path: ...

    def batches(self, runs: Sequence[RunHandle]) -> list[list[RunHandle]]: ...

    def execute(self, batch: Sequence[RunHandle], progress: bool | None) -> list[str]: ...

    def simulate(self, batch: Sequence[RunHandle], progress: bool | None) -> tuple[dict[str, Any], list[str]]: ...

    def analyse(self, run: RunHandle, engine_facts: dict[str, Any]) -> list[str]: ...

    def select(self, only: Sequence[str] | None) -> list[RunHandle]: ...

    def monitor(self, runs: Sequence[RunHandle], progress: bool | None) -> Reporter: ...


class Executor(ABC):
    """Carries out a study's runs: one after another here (``serial``), or as tasks of an existing distributed
    engine (``dask``). It hands batches to ``study.simulate`` and each simulated run to ``study.analyse``, where
    the run's lock, checkpoints and outputs are handled; the executor decides only where and when."""

    @abstractmethod
    def execute(self, study: StudyHandle, runs: Sequence[RunHandle], progress: bool | None) -> list[str]:
        """Simulate and analyse ``runs`` (claimed, not yet complete); return one line per run that failed."""

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """Call ``function`` on each of ``items`` — independent tasks, such as a committee's members to train — where
        this executor runs work, and return the results in order; a task that raised is raised here. The default
        runs them here, one after another. ``function`` must be importable by its name and ``items`` picklable, for
        an executor that runs them in other processes."""
        return [function(item) for item in items]


class BaseObservable(ABC):
    """What both observable kinds share: prepare → process (many times) → conclude, then a summary and a figure.

    Two kinds stream the trajectory differently. :class:`Observable` sees blocks of atoms over all frames — the
    natural chunk for averages over particles of single-particle quantities (MSD, F_s, G_s). :class:`FrameObservable`
    sees batches of consecutive whole frames — all atoms and that frame's cell — for anything over pairs or the
    whole system at one time (g(r), S(q), coordination, clusters). The analysis feeds both from the same pass.
    """

    @abstractmethod
    def prepare(self, info: TrajectoryInfo) -> None:
        """Allocate accumulators for the trajectory described by ``info``. Validation also prepares a fresh
        instance, with a production trajectory's planned frames and starting cell, to ask :meth:`memory` before
        any MD: prepare should plan, not read files or start work."""

    @abstractmethod
    def conclude(self) -> dict[str, ResultArray]:
        """Return the results as named arrays."""

    def memory(self) -> tuple[int, int]:
        """Bytes this observable needs after :meth:`prepare`: (held whatever the chunk size, per unit of a chunk —
        an atom of a block for :class:`Observable`, a frame of a batch for :class:`FrameObservable`). The analysis
        sizes its chunks so that everything fits ``memory_budget_MB``; the conformance kit measures what
        :meth:`process` allocates and fails an estimate it exceeds."""
        return 0, 0

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        """Which of ``results`` are headline quantities (diffusion coefficients, τ_α, a hop fraction), each labelled by
        its stored dims and coordinates, and the flags the results raise. summary.json, ``meltdyn results`` and the
        report read only this, so a third-party observable's quantities reach them as ours do."""
        return Summary()

    def plot(self, results: dict[str, ResultArray], ax: Axes) -> bool:
        """Draw this observable's figure of ``results`` on ``ax``; return False if it has none."""
        return False


class Observable(BaseObservable):
    """A time-correlation observable computed by streaming blocks of atoms through it.

    Every single-particle observable meltdyn ships is an average over particles, so blocks of atoms over all frames
    are the natural chunk: memory is bounded by the block size and the trajectory is read once however many
    observables run. Results must not depend on how atoms are split into blocks or ordered.
    """

    @abstractmethod
    def process(self, block: AtomBlock) -> None:
        """Accumulate the contribution of one block of atoms."""


class FrameObservable(BaseObservable):
    """An observable of whole frames: batches of consecutive frames, all atoms, each frame's cell, in frame order.

    How partial results merge is part of the contract: two instances prepared with the same ``info`` that processed
    different frames combine with :meth:`merge` into what one instance processing all of them would hold, so
    accumulate sums (and counts) per frame or per block of frames, and divide only in :meth:`conclude`. Results must
    not depend on how frames are split into batches (the conformance kit checks batches of one frame, of a few, of
    all of them, and a merge of two halves).
    """

    @abstractmethod
    def process(self, frames: FrameBatch) -> None:
        """Accumulate the contribution of a batch of consecutive frames."""

    @abstractmethod
    def merge(self, other: Self) -> None:
        """Add ``other``'s accumulators (same ``info``, other frames) to this instance's."""
