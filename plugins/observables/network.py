"""The network's topology: Qn speciation of the former, the anions' kinds, the former's coordination, and the
anion–former–anion and former–anion–former bond-angle distributions (O–Si–O, Si–O–Si for a silicate).

A former and an anion closer than ``cutoff_A`` are bonded (take it from the first minimum of their g(r): the
``structure`` observable reports it as ``first_min_r``). An anion bonded to no former is free, to one
non-bridging, to two bridging, to three or more a tricluster; a former's Qn counts its anions that bond to another
former too (triclusters included). Whole frames, spread evenly over the trajectory, kept per block of it (ten
consecutive stretches): fractions and mean angles are means over the frames with the blocks' scatter over √10 as
their error, right when a block is longer than the time bonds last. When the atoms moved less than a neighbour
distance over the frames used (a glass), the frames are one network and every error says that it is scatter in
time only (:mod:`meltdyn.analysis.relaxation`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from meltdyn.plugin import (
    EndFrames, Estimate, FrameBatch, FrameObservable, InputError, PluginDef, PluginParams, Reported, ResultArray,
    StudyOutline, Summary, TrajectoryInfo, annotate, coordinate, elements, estimate_arrays, frozen_note, hookimpl,
    pairs_bytes, pairs_within, select,
)

BLOCKS = 10
BLOCK_METHOD = f"scatter of {BLOCKS} consecutive blocks of frames / sqrt({BLOCKS})"
MAX_N = 6
"""Qn is counted for n = 0..6 (a five- or six-fold former can bridge more than four times)."""
MAX_COORDINATION = 8
ANION_KINDS = ("free", "non_bridging", "bridging", "tricluster")


class NetworkParams(PluginParams):
    former: str = Field("Si", description="The network former whose Qn is counted.")
    anion: str = Field("O", description="The anion that bridges formers.")
    cutoff_A: float = Field(2.3, gt=0, le=10, description="Former–anion bond length limit: the first minimum of "
                            "their g(r) (the structure observable's first_min_r).")
    angle_bins: int = Field(180, ge=10, le=10_000, description="Bins between 0 and 180 degrees.")
    max_frames: int = Field(200, ge=1, le=10**6, description="Frames used, spread evenly over the trajectory.")

    @field_validator("former", "anion")
    @classmethod
    def _element(cls, value: str) -> str:
        elements.atomic_number(value)
        return value


def angles_at(centers: np.ndarray, vectors: np.ndarray, n_centers: int) -> np.ndarray:
    """Every angle (degrees) between two bonds of the same center: ``vectors`` are the bonds from their
    ``centers``. Centers are grouped by how many bonds they have, so each group's pairs come from one array."""
    order = np.argsort(centers, kind="stable")
    centers, vectors = centers[order], vectors[order]
    counts = np.bincount(centers, minlength=n_centers)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]
    out = []
    for k in range(2, int(counts.max(initial=0)) + 1):
        which = np.flatnonzero(counts == k)
        if not len(which):
            continue
        bonds = unit[starts[which][:, None] + np.arange(k)[None, :]]  # (centers, k, 3)
        a, b = np.triu_indices(k, 1)
        cosines = np.einsum("cpi,cpi->cp", bonds[:, a], bonds[:, b])
        out.append(np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0))).ravel())
    return np.concatenate(out) if out else np.zeros(0)


def ratio(numerator: np.ndarray, denominator: np.ndarray, used: np.ndarray) -> Estimate:
    """Σ numerator / Σ denominator over the blocks, with the scatter of the blocks' own ratios as its error."""
    value = float(numerator.sum() / denominator.sum()) if denominator.sum() else float("nan")
    if not np.isfinite(value):
        return Estimate.undefined("nothing counted")
    per_block = numerator[used] / np.maximum(denominator[used], 1)
    spread = float(np.std(per_block, ddof=1) / np.sqrt(len(used))) if len(used) > 1 else float("nan")
    return Estimate(value, spread, note="" if len(used) > 1 else "one block of frames: no error", method=BLOCK_METHOD)


class Network(FrameObservable):
    def __init__(self, params: NetworkParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        p = self.params
        for field, symbol in (("former", p.former), ("anion", p.anion)):
            if symbol not in info.species:
                raise InputError(f"{field}: {symbol} is not in this trajectory (its species: {info.species})")
        symbols = np.asarray(info.symbols)
        self.formers = np.flatnonzero(symbols == p.former)
        self.anions = np.flatnonzero(symbols == p.anion)
        self.role = np.full(len(symbols), -1)
        self.role[self.formers], self.role[self.anions] = 0, 1
        self.index = np.zeros(len(symbols), dtype=np.int64)  # position among the formers or among the anions
        self.index[self.formers], self.index[self.anions] = np.arange(len(self.formers)), np.arange(len(self.anions))
        n_frames = len(info.steps)
        chosen = np.unique(np.linspace(0, n_frames - 1, min(n_frames, p.max_frames)).round().astype(int))
        self.block_of = dict(zip(chosen.tolist(), (np.arange(len(chosen)) * BLOCKS // len(chosen)).tolist()))
        self.qn = np.zeros((BLOCKS, MAX_N + 1))
        self.kinds = np.zeros((BLOCKS, len(ANION_KINDS)))
        self.coordination = np.zeros((BLOCKS, MAX_COORDINATION + 1))
        self.angles = np.zeros((BLOCKS, 2, p.angle_bins))
        self.angle_sums = np.zeros((BLOCKS, 2))
        self.frames = np.zeros(BLOCKS)
        self.density_guess = len(symbols) / abs(np.linalg.det(info.cell_A))
        self.n_atoms = len(symbols)
        self.ends = EndFrames()

    def memory(self) -> tuple[int, int]:
        """Held: the block sums and the atoms' roles. One frame at a time: its bonds (pairs within the cutoff), each
        atom's bond counts, and the bond pairs of each center with their angles."""
        bonds = len(self.anions) * 2 + len(self.formers) * MAX_N
        held = sum(a.nbytes for a in (self.qn, self.kinds, self.coordination, self.angles, self.role, self.index)) \
            + EndFrames.nbytes(self.n_atoms)
        work = pairs_bytes(self.n_atoms, self.params.cutoff_A, self.density_guess) + 8 * 40 * bonds
        return held + work, 0

    def process(self, frames: FrameBatch) -> None:
        p = self.params
        for k, frame in enumerate(frames.frames.tolist()):
            block = self.block_of.get(frame)
            if block is None:
                continue
            try:
                pairs = pairs_within(frames.unwrapped_A[k], frames.cell_A[k], p.cutoff_A)
            except ValueError as exc:
                raise InputError(f"cutoff_A: frame {frame}: {exc}") from None
            ri, rj = self.role[pairs.i], self.role[pairs.j]
            bond = ((ri == 0) & (rj == 1)) | ((ri == 1) & (rj == 0))
            flip = ri[bond] == 1  # the pair's first atom is the anion: the bond goes the other way
            former = np.where(flip, pairs.j[bond], pairs.i[bond])
            anion = np.where(flip, pairs.i[bond], pairs.j[bond])
            vectors = pairs.vectors_A[bond] * np.where(flip, -1.0, 1.0)[:, None]  # former → anion
            f, a = self.index[former], self.index[anion]
            per_anion = np.bincount(a, minlength=len(self.anions))
            per_former = np.bincount(f, minlength=len(self.formers))
            bridging = np.bincount(f, weights=(per_anion[a] >= 2).astype(float), minlength=len(self.formers))
            self.qn[block] += np.bincount(np.minimum(bridging.astype(int), MAX_N), minlength=MAX_N + 1)
            self.kinds[block] += np.bincount(np.minimum(per_anion, 3), minlength=4)
            self.coordination[block] += np.bincount(np.minimum(per_former, MAX_COORDINATION),
                                                    minlength=MAX_COORDINATION + 1)
            for t, found in enumerate((angles_at(f, vectors, len(self.formers)),
                                       angles_at(a, -vectors, len(self.anions)))):
                self.angles[block, t] += np.histogram(found, p.angle_bins, (0.0, 180.0))[0]
                self.angle_sums[block, t] += found.sum()
            self.frames[block] += 1
            self.ends.see(frame, frames.unwrapped_A[k])

    def merge(self, other: Network) -> None:
        for name in ("qn", "kinds", "coordination", "angles", "angle_sums", "frames"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ends.merge(other.ends)

    def conclude(self) -> dict[str, ResultArray]:
        p = self.params
        used = np.flatnonzero(self.frames > 0)
        triplets = [f"{p.anion}-{p.former}-{p.anion}", f"{p.former}-{p.anion}-{p.former}"]
        edges = np.linspace(0.0, 180.0, p.angle_bins + 1)
        width = edges[1] - edges[0]

        def estimates(per_block: np.ndarray, normalise: bool) -> list[Estimate]:
            """The total's value and the blocks' scatter, per entry of the last axis."""
            total = per_block.sum(axis=0)
            value = total / total.sum(axis=-1, keepdims=True) if normalise else total
            blocks = per_block[used] / per_block[used].sum(axis=-1, keepdims=True) if normalise else per_block[used]
            spread = (np.std(blocks, axis=0, ddof=1) / np.sqrt(len(used)) if len(used) > 1
                      else np.full(value.shape, np.nan))
            note = "" if len(used) > 1 else "one block of frames: no error"
            return [Estimate(float(v), float(e), note=note, method=BLOCK_METHOD) for v, e in
                    zip(np.ravel(value), np.ravel(spread))]

        with np.errstate(invalid="ignore", divide="ignore"):
            counts = self.angles.sum(axis=2)  # (blocks, triplet)
            density = self.angles.sum(axis=0) / (counts.sum(axis=0)[:, None] * width)
            block_density = self.angles[used] / (counts[used][..., None] * width)
            density_err = (np.std(block_density, axis=0, ddof=1) / np.sqrt(len(used)) if len(used) > 1
                           else np.full(density.shape, np.nan))
            means = self.angle_sums.sum(axis=0) / counts.sum(axis=0)
            block_means = self.angle_sums[used] / counts[used]
        mean_angles = []
        for t, triplet in enumerate(triplets):
            if not counts[:, t].sum():
                mean_angles.append(Estimate.undefined(f"no {triplet} angle: no {triplet.split('-')[1]} has two "
                                                      f"bonds within {p.cutoff_A:g} Å"))
                continue
            spread = np.nanstd(block_means[:, t], ddof=1) / np.sqrt(len(used)) if len(used) > 1 else np.nan
            mean_angles.append(Estimate(float(means[t]), float(spread), method=BLOCK_METHOD))
        qn, kinds = estimates(self.qn, True), estimates(self.kinds, True)
        coordination = self.coordination
        mean_coordination = ratio(coordination @ np.arange(MAX_COORDINATION + 1), coordination.sum(axis=1), used)
        connectivity = ratio(self.qn @ np.arange(MAX_N + 1), self.qn.sum(axis=1), used)
        rms = self.ends.rms_displacement_A()
        return annotate({"n": coordinate("n", np.arange(MAX_N + 1), "1", "bridging anions of a former"),
                "anion_kind": coordinate("anion_kind", list(ANION_KINDS), "", "formers an anion bonds to: 0, 1, 2, 3+"),
                "neighbours": coordinate("neighbours", np.arange(MAX_COORDINATION + 1), "1", "anions bonded to a "
                                         "former"),
                "triplet": coordinate("triplet", triplets, "", "the angle's atoms, its vertex in the middle"),
                "angle": coordinate("angle", 0.5 * (edges[1:] + edges[:-1]), "degree", "bin centres"),
                **estimate_arrays("Qn_fraction", qn, "1", ("n",), f"fraction of {p.former} with n bridging "
                                  f"{p.anion}"),
                **estimate_arrays("anion_fraction", kinds, "1", ("anion_kind",), f"fraction of {p.anion} by the "
                                  f"{p.former} it bonds to"),
                "coordination_fraction": ResultArray(coordination.sum(axis=0) / max(coordination.sum(), 1), "1",
                                                     ("neighbours",), f"fraction of {p.former} with that many "
                                                     f"{p.anion} within cutoff_A"),
                **estimate_arrays("mean_coordination", mean_coordination, "1", (), f"mean number of {p.anion} "
                                  f"bonded to a {p.former}"),
                **estimate_arrays("connectivity", connectivity, "1", (), f"mean n of Qn: bridging {p.anion} per "
                                  f"{p.former}"),
                "angle_distribution": ResultArray(np.nan_to_num(density), "1/degree", ("triplet", "angle"),
                                                  "bond-angle distribution, normalised to 1"),
                "angle_distribution_stderr": ResultArray(density_err, "1/degree", ("triplet", "angle"),
                                                         f"standard error of the distribution ({BLOCK_METHOD})"),
                **estimate_arrays("mean_angle", mean_angles, "degree", ("triplet",), "mean bond angle"),
                "cutoff": ResultArray(np.array(p.cutoff_A), "angstrom", (), "former-anion bond length limit"),
                "frames_used": ResultArray(np.array(float(self.frames.sum())), "1", (), "frames counted"),
                "rms_displacement": ResultArray(np.array(rms), "angstrom", (), "root-mean-square displacement "
                                                "between the first and last frames used: under 1 Å they are one "
                                                "configuration")}, frozen_note(rms))

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        flags = []
        if float(results["frames_used"].values) < 2 * BLOCKS:
            flags.append(f"network from {int(results['frames_used'].values)} frames: fewer than two per block, so its "
                         "errors are rough or missing")
        frozen = frozen_note(float(results["rms_displacement"].values))
        if frozen:
            flags.append(frozen)
        tri = float(select(results, "anion_fraction", anion_kind="tricluster"))
        if tri > 0.05:
            flags.append(f"{tri:.0%} of the anions bond to three or more formers within cutoff_A = "
                         f"{self.params.cutoff_A:g} Å: check the cutoff against the first minimum of their g(r)")
        return Summary({"Qn_fraction": Reported(BLOCK_METHOD, "level"), "anion_fraction": Reported(BLOCK_METHOD),
                        "mean_coordination": Reported(BLOCK_METHOD), "connectivity": Reported(BLOCK_METHOD, "level"),
                        "mean_angle": Reported(BLOCK_METHOD)}, flags)

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        angle = results["angle"].values
        for triplet in results["triplet"].values.tolist():
            ax.plot(angle, select(results, "angle_distribution", triplet=triplet), label=triplet)
        ax.set(xlabel="angle (degrees)", ylabel="P(angle) (1/degree)")
        return True


def check(params: NetworkParams, study: StudyOutline) -> list[str]:
    problems = [f"{field}: {symbol} is not among this study's species {study.species}"
                for field, symbol in (("former", params.former), ("anion", params.anion))
                if symbol not in study.species]
    for run in study.runs:
        if params.cutoff_A > run.system.min_width_A / 2:
            problems.append(f"cutoff_A: {params.cutoff_A:g} Å is more than half the smallest width of run {run.id}'s "
                            f"cell")
            break
    return problems


def _example(workdir: Path) -> dict[str, Any]:
    return {"former": "Si", "anion": "O", "cutoff_A": 2.3, "angle_bins": 36, "max_frames": 40}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("network", "observable", NetworkParams, Network,
                      "Qn speciation, bridging and non-bridging anions, former coordination and bond angles",
                      check=check, example=_example)]
