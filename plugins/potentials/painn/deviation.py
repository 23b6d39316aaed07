"""The ``model_deviation`` observable: how much a committee of PaiNN models disagrees on each frame of a trajectory.

Per frame, DP-GEN's model deviation: the largest over atoms of the members' force spread,
σ_max = max_i sqrt(⟨|F_i − ⟨F_i⟩|²⟩), with the members' mean the force MD ran on. Frames fall into three classes by
two trust bounds: accurate (σ_max < trust_lo), candidates (trust_lo ≤ σ_max < trust_hi: worth labelling, the
frames ``meltdyn learn`` selects) and failed (σ_max ≥ trust_hi: the committee extrapolates, and so did the MD).
A run with failed frames is flagged: its numbers came from configurations the training did not cover.

The fractions are of the frames evaluated (``max_frames``, spread evenly over the trajectory), with the scatter
of ten consecutive blocks of them as their error. The committee is evaluated in float64 on the CPU: the spread is a
difference of forces, and the analysis must give the same numbers however its frames are batched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from meltdyn.plugin import (
    AtomicSystem, Estimate, FrameBatch, FrameObservable, PluginDef, PluginParams, Reported, ResultArray,
    StudyOutline, Summary, TrajectoryInfo, coordinate, estimate_arrays, hookimpl, select,
)

BLOCKS = 10
BLOCK_METHOD = f"scatter of {BLOCKS} consecutive blocks of the frames evaluated / sqrt({BLOCKS})"
CLASSES = ("accurate", "candidate", "failed")


class ModelDeviationParams(PluginParams):
    model_dir: Path = Field(description="A committee (training.committee of 2 or more): usually the one the run's "
                            "painn potential names.")
    trust_lo_eV_A: float = Field(0.05, gt=0, le=100, description="Below it a frame is accurate (DP-GEN's "
                                 "model_devi_f_trust_lo default).")
    trust_hi_eV_A: float = Field(0.15, gt=0, le=100, description="At or above it a frame has failed: the committee "
                                 "extrapolates (DP-GEN's model_devi_f_trust_hi default).")
    max_frames: int = Field(100, ge=1, le=10**6, description="Frames evaluated, spread evenly over the trajectory "
                            "(each costs every member's forces).")

    @model_validator(mode="after")
    def _ordered(self) -> ModelDeviationParams:
        check_trust_bounds(self.trust_lo_eV_A, self.trust_hi_eV_A)
        return self


def check_trust_bounds(lo: float, hi: float) -> None:
    """ValueError unless trust_hi exceeds trust_lo (this observable's and ``meltdyn learn``'s selection)."""
    if hi <= lo:
        raise ValueError(f"trust_hi_eV_A ({hi:g}) must exceed trust_lo_eV_A ({lo:g})")


def committee_problems(model_dir: Path) -> list[str]:
    """Why ``model_dir`` cannot give a model deviation (not a committee, unreadable); empty if it can."""
    from meltdyn.plugins.potentials.painn import read_model_meta

    try:
        meta = read_model_meta(model_dir)
    except ValueError as exc:
        return [str(exc)]
    members = len(meta.get("committee") or [None])
    if members < 2:
        return [f"model_dir: {str(model_dir)!r} is a single model; a model deviation needs a committee (train with "
                "training.committee: 4, say)"]
    return []


class ModelDeviation(FrameObservable):
    def __init__(self, params: ModelDeviationParams):
        self.params = params
        self._committee: Any = None

    def _members(self) -> Any:
        if self._committee is None:
            from meltdyn.plugins.potentials.painn import PainnParams
            from meltdyn.plugins.potentials.painn.runtime import Painn

            problems = committee_problems(self.params.model_dir)
            if problems:
                raise ValueError(problems[0])
            self._committee = Painn(PainnParams(model_dir=self.params.model_dir, keep_freed_memory=False))
        return self._committee

    def prepare(self, info: TrajectoryInfo) -> None:
        n = len(info.steps)
        self.chosen = np.unique(np.linspace(0, n - 1, min(n, self.params.max_frames)).round().astype(int))
        self.wanted = set(self.chosen.tolist())
        self.times_ps = np.asarray(info.times_ps, dtype=float)
        self.deviation: dict[int, float] = {}
        self.n_atoms, self.volume_A3 = info.n_atoms, abs(float(np.linalg.det(info.cell_A)))

    def memory(self) -> tuple[int, int]:
        """Held: every member's weights, twice (as loaded, and in float64 for the spread). One frame at a time: each
        member's forward pass kept for its gradient — per pair and interaction about 16 feature-wide float64
        tensors (filters, gathered contexts, messages), per atom a few more; the members' graphs coexist."""
        from meltdyn.plugins.potentials.painn import parameter_estimate, read_model_meta

        meta = read_model_meta(self.params.model_dir)
        a = meta["architecture"]
        members = len(meta.get("committee") or [None])
        weights = members * parameter_estimate(a["features"], a["interactions"], a["radial_basis"]) * 4 * 3
        pairs = self.n_atoms * (self.n_atoms / self.volume_A3) * 4 / 3 * np.pi * a["cutoff_A"] ** 3
        per_member = 8 * a["features"] * a["interactions"] * (16 * pairs + 12 * self.n_atoms) \
            + 8 * pairs * (a["radial_basis"] + 8)
        return int(weights + members * per_member * 1.5) + 2**20, 0

    def process(self, frames: FrameBatch) -> None:
        from meltdyn.plugins.potentials.painn.metrics import max_force_deviation

        for k, frame in enumerate(frames.frames.tolist()):
            if frame in self.wanted:
                system = AtomicSystem(frames.symbols, frames.positions_A[k], frames.cell_A[k])
                _, forces = self._members().member_forces(system)
                self.deviation[frame] = max_force_deviation(forces)

    def merge(self, other: ModelDeviation) -> None:
        self.deviation.update(other.deviation)

    def conclude(self) -> dict[str, ResultArray]:
        p = self.params
        frames = np.array(sorted(self.deviation), dtype=int)
        sigma = np.array([self.deviation[f] for f in frames.tolist()])
        kind = np.digitize(sigma, [p.trust_lo_eV_A, p.trust_hi_eV_A])  # 0 accurate, 1 candidate, 2 failed
        block = np.arange(len(frames)) * BLOCKS // max(len(frames), 1)
        fractions = []
        for c in range(len(CLASSES)):
            value = float(np.mean(kind == c)) if len(frames) else float("nan")
            per_block = [np.mean(kind[block == b] == c) for b in range(BLOCKS) if np.any(block == b)]
            if len(per_block) > 1:
                fractions.append(Estimate(value, float(np.std(per_block, ddof=1) / np.sqrt(len(per_block))),
                                          method=BLOCK_METHOD))
            else:
                fractions.append(Estimate(value, float("nan"), note="fewer than two blocks of frames: no error",
                                          method=BLOCK_METHOD))
        block_means = [sigma[block == b].mean() for b in range(BLOCKS) if np.any(block == b)]
        mean = Estimate(float(sigma.mean()), float(np.std(block_means, ddof=1) / np.sqrt(len(block_means)))
                        if len(block_means) > 1 else float("nan"), method=BLOCK_METHOD)
        return {"frame": coordinate("frame", frames, "1", "trajectory frames evaluated"),
                "deviation_class": coordinate("deviation_class", list(CLASSES), "", "accurate: below trust_lo; "
                                              "candidate: between the bounds; failed: at or above trust_hi"),
                "time": ResultArray(self.times_ps[frames], "ps", ("frame",), "time of each frame evaluated"),
                "max_force_deviation": ResultArray(sigma, "eV/angstrom", ("frame",), "largest over atoms of the "
                                                   "committee's force spread (DP-GEN's model deviation)"),
                **estimate_arrays("fraction", fractions, "1", ("deviation_class",), "fraction of the frames "
                                  "evaluated in each class"),
                **estimate_arrays("mean_max_force_deviation", mean, "eV/angstrom", (), "mean over the frames of "
                                  "the max atomic force deviation"),
                "trust_bounds": ResultArray(np.array([p.trust_lo_eV_A, p.trust_hi_eV_A]), "eV/angstrom",
                                            ("bound",), "trust_lo, trust_hi")}

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        p = self.params
        failed = float(select(results, "fraction", deviation_class="failed"))
        flags = []
        if failed > 0:
            flags.append(f"{failed:.0%} of the frames evaluated have a committee force deviation of "
                         f"{p.trust_hi_eV_A:g} eV/Å or more (trust_hi): the potential extrapolates there, and "
                         "every number of this run rests on those configurations; label such frames and retrain "
                         "(meltdyn learn)")
        return Summary({"fraction": Reported(BLOCK_METHOD), "mean_max_force_deviation": Reported(BLOCK_METHOD)},
                       flags)

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        lo, hi = results["trust_bounds"].values
        ax.plot(results["time"].values, results["max_force_deviation"].values, ".-", ms=3, lw=0.5,
                label="committee")
        ax.axhline(lo, color="C2", ls="--", lw=0.8, label=f"trust_lo {lo:g} eV/Å")
        ax.axhline(hi, color="C3", ls="--", lw=0.8, label=f"trust_hi {hi:g} eV/Å")
        ax.set(xlabel="time (ps)", ylabel="max atomic force deviation (eV/Å)")
        ax.legend()
        return True


def check(params: ModelDeviationParams, study: StudyOutline) -> list[str]:
    problems = committee_problems(params.model_dir)
    if problems:
        return problems
    from meltdyn.plugins.potentials.painn import read_model_meta

    missing = sorted(set(study.species) - set(read_model_meta(params.model_dir)["species"]))
    return [f"model_dir: the committee was not trained on {missing}, present in this study"] if missing else []


def _example(workdir: Path) -> dict[str, Any]:
    from meltdyn.plugins.potentials.painn.runtime import save_untrained

    save_untrained(workdir / "painn-committee", ["Na", "Si", "O"], members=3)
    return {"model_dir": str(workdir / "painn-committee"), "max_frames": 12}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("model_deviation", "observable", ModelDeviationParams, ModelDeviation,
                      "a PaiNN committee's max atomic force deviation per frame (DP-GEN), against trust bounds",
                      check=check, example=_example)]
