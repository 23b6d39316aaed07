"""The whole-frame observable kind: what the streaming pass gives it, how often it reads the trajectory for it, and
that the conformance kit fails one that is wrong (the kit's own checks must be able to fail)."""

from __future__ import annotations

import numpy as np
import pytest

from meltdyn.analysis.streaming import analyse, plan_memory
from meltdyn.base.errors import InputError
from meltdyn.hooks.contracts import FrameObservable, Observable
from meltdyn.hooks.data import AtomBlock, FrameBatch, ResultArray, TrajectoryInfo
from meltdyn.spec.models import AnalysisSettings
from meltdyn.testing import check_observable
from meltdyn.trajectory.h5md import H5MDReader, H5MDWriter, Snapshot, TrajectoryHeader

BOX = AnalysisSettings(reference_frame="box")


class FrameRecorder(FrameObservable):
    """Keeps what it is given: every frame's index, cell, wrapped and unwrapped positions."""

    def prepare(self, info: TrajectoryInfo) -> None:
        self.frames, self.cells, self.wrapped, self.unwrapped, self.batches = [], [], [], [], 0

    def process(self, frames: FrameBatch) -> None:
        self.batches += 1
        self.frames += list(frames.frames)
        self.cells.append(np.array(frames.cell_A))
        self.wrapped.append(np.array(frames.positions_A))
        self.unwrapped.append(np.array(frames.unwrapped_A))

    def merge(self, other: FrameRecorder) -> None:
        raise NotImplementedError

    def conclude(self) -> dict[str, ResultArray]:
        return {"frames": ResultArray(np.array(self.frames), "1", ("frame",)),
                "wrapped": ResultArray(np.concatenate(self.wrapped), "angstrom", ("frame", "atom", "xyz")),
                "unwrapped": ResultArray(np.concatenate(self.unwrapped), "angstrom", ("frame", "atom", "xyz"))}


class AtomRecorder(Observable):
    def prepare(self, info: TrajectoryInfo) -> None:
        self.blocks = 0

    def process(self, block: AtomBlock) -> None:
        self.blocks += 1

    def conclude(self) -> dict[str, ResultArray]:
        return {"blocks": ResultArray(np.array(self.blocks), "1", ())}


def _trajectory(path, n_atoms=30, n_frames=20, unwrapped=True, seed=0):
    rng = np.random.default_rng(seed)
    cells = np.array([[10.0, 0, 0], [1.0, 9.0, 0], [0.5, -1.0, 11.0]]) * (1 + 0.02 * np.cos(np.arange(n_frames))
                                                                          )[:, None, None]
    steps = rng.normal(scale=0.4, size=(n_frames, n_atoms, 3))
    steps[0] = rng.random((n_atoms, 3)) @ cells[0]
    x = np.cumsum(steps, axis=0)
    stored = x
    if not unwrapped:
        frac = np.einsum("tai,tij->taj", x, np.linalg.inv(cells))
        stored = np.einsum("taj,tjk->tak", frac - np.floor(frac), cells)
    symbols = ["Na", "Si", "O"] * (n_atoms // 3)
    writer = H5MDWriter(path, TrajectoryHeader(symbols, 0.001, 10, unwrapped), chunk_frames=8, velocities=False)
    for k in range(n_frames):
        writer.append(10 * k, 0.01 * k, Snapshot(stored[k], cells[k], 0.0, 0.0))
    writer.close()
    return x, cells


@pytest.mark.parametrize("unwrapped", [True, False], ids=["stored unwrapped", "stored wrapped"])
@pytest.mark.parametrize("batch", [1, 3, 20])
def test_every_frame_once_in_order_with_its_own_cell_wrapped_and_unwrapped(tmp_path, unwrapped, batch):
    x, cells = _trajectory(tmp_path / "t.h5", unwrapped=unwrapped)
    got = analyse(tmp_path / "t.h5", {"f": FrameRecorder()}, BOX, batch_frames=batch)["f"]
    np.testing.assert_array_equal(got["frames"].values, np.arange(20))
    np.testing.assert_allclose(got["unwrapped"].values, x, atol=1e-9)  # unwrapped across batch boundaries too
    frac = np.einsum("tai,tij->taj", got["wrapped"].values, np.linalg.inv(cells))
    assert frac.min() >= 0 and frac.max() < 1
    shift = np.einsum("tai,tij->taj", x - got["wrapped"].values, np.linalg.inv(cells))
    np.testing.assert_allclose(shift, np.round(shift), atol=1e-9)  # the same atoms, moved by whole cells


def test_both_kinds_are_fed_from_one_read_when_every_atom_fits(tmp_path, monkeypatch):
    _trajectory(tmp_path / "t.h5")
    read = []
    original = H5MDReader.positions_A

    def counted(self, atoms=slice(None), frames=slice(None)):
        out = original(self, atoms, frames)
        read.append(out.size)
        return out

    monkeypatch.setattr(H5MDReader, "positions_A", counted)
    frames, atoms = FrameRecorder(), AtomRecorder()
    analyse(tmp_path / "t.h5", {"f": frames, "a": atoms}, BOX, batch_frames=4)
    assert sum(read) == 20 * 30 * 3 and atoms.blocks == 1 and frames.batches == 5

    read.clear()
    separate = analyse(tmp_path / "t.h5", {"f": FrameRecorder(), "a": AtomRecorder()}, BOX, block_atoms=9,
                       batch_frames=4)
    assert sum(read) == 2 * 20 * 30 * 3  # blocks of atoms, then batches of frames: each position read twice
    np.testing.assert_array_equal(separate["f"]["unwrapped"].values,
                                  analyse(tmp_path / "t.h5", {"f": FrameRecorder()}, BOX)["f"]["unwrapped"].values)


def test_the_batch_is_read_only_for_the_observables_that_share_it(tmp_path):
    _trajectory(tmp_path / "t.h5")

    class Vandal(FrameRecorder):
        def process(self, frames: FrameBatch) -> None:
            frames.unwrapped_A[0, 0, 0] = 0.0

    with pytest.raises(ValueError, match="read-only"):
        analyse(tmp_path / "t.h5", {"v": Vandal()}, BOX)


def test_the_plan_fits_whole_frames_in_the_budget_or_says_what_would(tmp_path):
    _trajectory(tmp_path / "t.h5", n_atoms=3000, n_frames=4)

    class Heavy(FrameRecorder):
        def memory(self) -> tuple[int, int]:
            return 0, 2**20

    with H5MDReader(tmp_path / "t.h5") as traj:
        plan = plan_memory(traj, {"h": Heavy()}, AnalysisSettings(memory_budget_MB=4))
        assert plan.batch_frames == 2 and plan.estimate_MB <= 0.9 * 4
        with pytest.raises(InputError, match=r"memory_budget_MB: 1 MB cannot hold one frame's analysis \(3000 atoms' "
                           r"positions 0\.21 MB per frame .* 'h' 1\.00 MB per frame .* needs at least 1\.3 MB"):
            plan_memory(traj, {"h": Heavy()}, AnalysisSettings(memory_budget_MB=1))


class _Mean(FrameObservable):
    """The mean wrapped position per frame, accumulated as a sum: batch- and merge-invariant by construction."""

    def prepare(self, info: TrajectoryInfo) -> None:
        self.sum = np.zeros(3)
        self.frames = 0

    def process(self, frames: FrameBatch) -> None:
        self.sum += frames.positions_A.sum(axis=(0, 1))
        self.frames += len(frames)

    def merge(self, other: _Mean) -> None:
        self.sum += other.sum
        self.frames += other.frames

    def conclude(self) -> dict[str, ResultArray]:
        return {"mean": ResultArray(self.sum / self.frames, "angstrom", ("xyz",))}


def test_the_kit_passes_a_correct_whole_frame_observable(tmp_path):
    check_observable(_Mean, tmp_path)


class _FirstBatchOnly(_Mean):
    def process(self, frames: FrameBatch) -> None:
        if self.frames == 0:
            super().process(frames)


class _LostInMerge(_Mean):
    def merge(self, other: _Mean) -> None:
        pass


class _OrderDependent(_Mean):
    def process(self, frames: FrameBatch) -> None:
        self.sum += frames.unwrapped_A[:, 0].sum(axis=0)  # atom 0, whichever atom that is
        self.frames += len(frames)


class _Hoarder(_Mean):
    """Keeps every frame's positions while declaring nothing."""

    def process(self, frames: FrameBatch) -> None:
        super().process(frames)
        self.kept = [np.array(frames.positions_A) for _ in range(8)]


@pytest.mark.parametrize(("observable", "message"), [
    (_FirstBatchOnly, "differs when the trajectory is streamed frame by frame"),
    (_LostInMerge, "differs when the trajectory is merged from two halves"),
    (_OrderDependent, "differs when the trajectory is permuted"),
    (_Hoarder, r"_Hoarder: prepare and process allocated .* MB for 4 frames; memory\(\) declares 0\.00 MB held"),
], ids=["batch", "merge", "atom order", "memory"])
def test_the_kit_fails_a_whole_frame_observable_that_is_wrong(tmp_path, observable, message):
    with pytest.raises(AssertionError, match=message):
        check_observable(observable, tmp_path)


class _AtomHoarder(AtomRecorder):
    def process(self, block: AtomBlock) -> None:
        self.kept = [np.array(block.positions_A) for _ in range(3)]


def test_the_kit_fails_an_atom_major_observable_that_allocates_more_than_it_declares(tmp_path):
    with pytest.raises(AssertionError, match=r"_AtomHoarder: prepare and process allocated .* for 600 atoms"):
        check_observable(_AtomHoarder, tmp_path)
