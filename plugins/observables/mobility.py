"""Where the mobile particles are: the most mobile fraction over a lag, its clusters against a random set of the
same size, its string-like motion, and which species it is made of.

For each lag and time origin, the ``fraction`` of all atoms that moved farthest (|Δr| over the lag) is the mobile
set (Kob et al., Phys. Rev. Lett. 79, 2827 (1997); Donati et al., Phys. Rev. E 60, 3107 (1999)). Without
``lags_ps`` the lag is where α2(t) of ``peak_species`` (the most numerous species by default, as Kob et al. took the
majority A particles) peaks on a log grid of candidate lags: the time at which displacements are most heterogeneous;
a peak at the longest candidate is no peak, and the flags say so. Two mobile atoms
within ``cutoff_A`` of each other at the origin are in one cluster; the weight-averaged cluster size
S_w = Σ s² / Σ s (and the distribution of cluster sizes, as the share of mobile atoms in clusters of each size) is
compared with the same statistic of random sets with as many atoms of each species at the same
origins (species differ in how close their neighbours sit, so a set of sodium is compared with random sodium), and
"no clustering" is a measured answer: the ratio S_w(mobile) / S_w(random) is 1 when mobility has no spatial
correlation. Strings: mobile i and j are linked when one has moved into the other's place, min(|rᵢ(t) − rⱼ(0)|,
|rᵢ(0) − rⱼ(t)|) < ``string_delta_A``; the weight-averaged string length says how far motion is string-like.
Errors: the scatter over time origins, as blocks of them (origins more than a lag apart are nearly independent).

An atom-major observable: each block of atoms leaves its atoms' displacements and origin positions by atom index,
and the sets are formed once every atom has been seen. Random sets are drawn from the atoms in an order fixed by
their positions at the first frame, not by their indices, so that renumbering the atoms changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, model_validator
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from meltdyn.plugin import (
    AtomBlock, InputError, Estimate, Observable, PluginDef, PluginParams, Reported, ResultArray, StudyOutline, Summary,
    TrajectoryInfo, coordinate, estimate_arrays, hookimpl, min_width_A, pairs_within, plan_lags, sample_lags, select,
    species_coordinate,
)

RANDOM_DRAWS = 5
"""Random sets drawn per origin for the no-clustering reference."""
SEED = 23
METHOD = "scatter over time origins / sqrt(origins)"


class MobilityParams(PluginParams):
    lags_ps: list[Annotated[float, Field(gt=0, le=1e7)]] | None = Field(
        None, min_length=1, max_length=20, description="Lags over which mobility is measured (nearest available "
                                                       "used); default: the alpha2 peak time of peak_species.")
    peak_species: str | None = Field(None, min_length=1, max_length=3,
                                     description="Without lags_ps: the species whose alpha2 peak sets the lag; "
                                                 "default the most numerous.")
    lags_per_decade: int = Field(5, ge=1, le=20, description="Without lags_ps: candidate lags per decade over which "
                                 "the alpha2 peak is sought (every candidate's displacements are held).")
    fraction: float = Field(0.05, gt=0, lt=1, description="The most mobile fraction of all atoms.")
    cutoff_A: float = Field(3.5, gt=0, le=20, description="Mobile atoms this close at the origin are one cluster: "
                            "about the first minimum of the total g(r).")
    string_delta_A: float = Field(0.6, gt=0, le=5, description="An atom within this of where another was is in "
                                  "its string (about 0.2 of a neighbour distance).")
    max_origins: int = Field(40, ge=2, le=10_000, description="Time origins per lag, spread evenly.")

    @model_validator(mode="after")
    def _lag_choice(self) -> MobilityParams:
        # By value, not by the fields set: a study section reaches this model with every field filled in.
        given = {name for name in ("peak_species", "lags_per_decade")
                 if getattr(self, name) != type(self).model_fields[name].default}
        if self.lags_ps is not None and given:
            raise ValueError(f"{', '.join(sorted(given))}: only without lags_ps (they choose the lag when lags_ps "
                             "is not given)")
        return self


def clusters(positions_A: np.ndarray, cell_A: np.ndarray, cutoff_A: float) -> np.ndarray:
    """Cluster sizes of atoms linked when closer than ``cutoff_A`` (periodic, minimum image): connected components
    of the neighbour graph."""
    n = len(positions_A)
    if n == 0:
        return np.zeros(0, dtype=int)
    pairs = pairs_within(positions_A, cell_A, cutoff_A)
    return _component_sizes(n, pairs.i, pairs.j)


def _component_sizes(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.bincount(labels)


def weight_average(sizes: np.ndarray) -> float:
    """S_w = Σ s² / Σ s: the size of the cluster a randomly chosen member belongs to, on average."""
    return float((sizes.astype(float) ** 2).sum() / sizes.sum()) if len(sizes) else float("nan")


def strings(start_A: np.ndarray, end_A: np.ndarray, cell_A: np.ndarray, delta_A: float) -> np.ndarray:
    """String sizes of atoms (origin positions ``start_A``, target positions ``end_A``) linked when one has moved to
    within ``delta_A`` of where the other was, under the minimum image."""
    n = len(start_A)
    if n == 0:
        return np.zeros(0, dtype=int)
    inverse = np.linalg.inv(cell_A)

    def gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        frac = (a[:, None, :] - b[None, :, :]) @ inverse
        frac -= np.rint(frac)
        return np.linalg.norm(frac @ cell_A, axis=-1)

    near = np.minimum(gaps(end_A, start_A), gaps(start_A, end_A).T) < delta_A
    np.fill_diagonal(near, False)
    i, j = np.nonzero(near | near.T)
    return _component_sizes(n, i, j)


class Mobility(Observable):
    def __init__(self, params: MobilityParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        p = self.params
        self.info = info
        wanted = None if p.lags_ps is None else np.array(p.lags_ps) / info.timestep_ps
        self.samples = sample_lags(plan_lags(info), p.lags_per_decade, p.max_origins, lags_steps=wanted)
        n = len(info.symbols)
        self.mobile_count = max(1, int(round(p.fraction * n)))
        self.types = np.array([info.species.index(s) for s in info.symbols])
        self.peak_species = self._peak_species(info)
        # The peak species' Σr² and Σr⁴ per candidate lag, over its atoms and the lag's origins.
        self.r2, self.r4 = np.zeros(len(self.samples)), np.zeros(len(self.samples))
        # By atom index, for every lag and origin: the atoms' origin positions and displacements.
        self.start = [np.zeros((len(x.origins), n, 3)) for x in self.samples]
        self.moved = [np.zeros((len(x.origins), n, 3)) for x in self.samples]
        self.first = np.zeros((n, 3))

    def _peak_species(self, info: TrajectoryInfo) -> str:
        if self.params.peak_species is None:
            counts = {s: info.symbols.count(s) for s in info.species}
            return min(counts, key=lambda s: (-counts[s], s))
        if self.params.peak_species not in info.species:
            raise InputError(f"mobility.peak_species: {self.params.peak_species!r} is not in the trajectory; "
                             f"its species are {info.species}")
        return self.params.peak_species

    def process(self, block: AtomBlock) -> None:
        atoms = np.asarray(block.indices)
        self.first[atoms] = block.positions_A[0]
        peak = block.mask(self.peak_species)
        for k, sample in enumerate(self.samples):
            moved = block.displacements(sample.origins, sample.targets)
            self.start[k][:, atoms] = block.positions_A[sample.origins]
            self.moved[k][:, atoms] = moved
            r2 = np.einsum("oai,oai->oa", moved[:, peak], moved[:, peak])
            self.r2[k] += r2.sum()
            self.r4[k] += (r2**2).sum()

    def memory(self) -> tuple[int, int]:
        """Held: every atom's origin position and displacement for each lag (every candidate lag without lags_ps)
        and origin; at the end one origin's mobile and random sets with their pairs. Per atom of a block: one lag's
        displacements while they are made, and the peak species' r²."""
        n = len(self.types)
        held = sum(a.nbytes for a in (*self.start, *self.moved, self.first))
        sets = self.mobile_count * (self.mobile_count * 8 * 6 + 200) * (RANDOM_DRAWS + 1)
        origins = max((len(x.origins) for x in self.samples), default=0)
        return held + sets + 8 * 8 * n, (2 * 3 + 2) * 8 * origins

    def conclude(self) -> dict[str, ResultArray]:
        p, info = self.params, self.info
        candidates = np.array([x.lag_steps * info.timestep_ps for x in self.samples])
        pairs = np.array([len(x.origins) for x in self.samples]) * int(np.sum(np.array(info.symbols)
                                                                             == self.peak_species))
        with np.errstate(invalid="ignore", divide="ignore"):
            reference = 3 * (self.r4 / pairs) / (5 * (self.r2 / pairs) ** 2) - 1
        chosen = range(len(self.samples))
        if p.lags_ps is None:
            chosen = [int(np.nanargmax(reference))] if np.isfinite(reference).any() else [len(self.samples) - 1]
        cell = np.asarray(info.cell_A, dtype=float)
        cutoff = min(p.cutoff_A, min_width_A(cell) / 2)
        # Random sets drawn from an order fixed by the atoms' first positions, whatever their numbering.
        canonical = np.lexsort(self.first.T[::-1])
        self.by_species = [canonical[self.types[canonical] == t] for t in range(len(info.species))]
        rng = np.random.default_rng(SEED)
        species = info.species
        lag = candidates[list(chosen)]
        mobile_size, random_size, ratio, string_size, makeup, shares, random_shares = [], [], [], [], [], [], []
        for k in chosen:
            per_origin, share_of, random_share_of = [], [], []
            for o in range(len(self.samples[k].origins)):
                r = np.linalg.norm(self.moved[k][o], axis=1)
                mobile = np.argsort(-r, kind="stable")[:self.mobile_count]
                start = self.start[k][o]
                sizes = clusters(start[mobile], cell, cutoff)
                counts_of = np.bincount(self.types[mobile], minlength=len(species))
                random = [clusters(start[self._random_set(counts_of, rng)], cell, cutoff)
                          for _ in range(RANDOM_DRAWS)]
                st = weight_average(strings(start[mobile], start[mobile] + self.moved[k][o][mobile], cell,
                                            p.string_delta_A))
                counts = counts_of / self.mobile_count
                per_origin.append((weight_average(sizes), float(np.mean([weight_average(x) for x in random])), st,
                                   counts))
                share_of.append(self._shares(sizes))
                random_share_of.append(np.mean([self._shares(x) for x in random], axis=0))
            shares.append(_mean_and_error(np.array(share_of)))
            random_shares.append(_mean_and_error(np.array(random_share_of)))
            values = np.array([[a, b, a / b, c] for a, b, c, _ in per_origin])
            n_origins = len(per_origin)
            spread = values.std(axis=0, ddof=1) / np.sqrt(n_origins) if n_origins > 1 else np.full(4, np.nan)
            mean = values.mean(axis=0)
            note = "" if n_origins > 1 else "one origin: no error"
            mobile_size.append(Estimate(float(mean[0]), float(spread[0]), note=note, method=METHOD))
            random_size.append(Estimate(float(mean[1]), float(spread[1]), note=note, method=METHOD))
            ratio.append(Estimate(float(mean[2]), float(spread[2]), note=note, method=METHOD))
            string_size.append(Estimate(float(mean[3]), float(spread[3]), note=note, method=METHOD))
            fractions = np.array([c for *_, c in per_origin])
            f_spread = fractions.std(axis=0, ddof=1) / np.sqrt(n_origins) if n_origins > 1 else \
                np.full(len(species), np.nan)
            makeup.append([Estimate(float(v), float(e), note=note, method=METHOD)
                           for v, e in zip(fractions.mean(axis=0), f_spread)])
        overall = np.bincount(self.types, minlength=len(species)) / len(self.types)
        share, share_err = (np.array(x) for x in zip(*shares))
        random_share, random_share_err = (np.array(x) for x in zip(*random_shares))
        used = "lags actually used" if p.lags_ps is not None else f"the lag at which alpha2 of {self.peak_species} peaks"
        return {"lag": coordinate("lag", lag, "ps", used),
                "species": species_coordinate(species),
                "size": coordinate("size", np.arange(1, self.mobile_count + 1), "1", "cluster size (atoms)"),
                "candidate_lag": coordinate("candidate_lag", candidates, "ps",
                                            "lags searched for the alpha2 peak" if p.lags_ps is None else "lags"),
                "peak_species_alpha2": ResultArray(reference, "1", ("candidate_lag",),
                                                   f"alpha2 of {self.peak_species} over all origins of each lag"),
                "cluster_size_distribution": ResultArray(share, "1", ("lag", "size"),
                                                         "share of the mobile atoms in clusters of each size"),
                "cluster_size_distribution_stderr": ResultArray(share_err, "1", ("lag", "size"),
                                                                f"its standard error ({METHOD})"),
                "random_cluster_size_distribution": ResultArray(random_share, "1", ("lag", "size"),
                                                                "the same of the random sets"),
                "random_cluster_size_distribution_stderr": ResultArray(random_share_err, "1", ("lag", "size"),
                                                                       f"its standard error ({METHOD})"),
                "mobile_atoms": ResultArray(np.array(float(self.mobile_count)), "1", (), "atoms in each mobile set"),
                "cutoff": ResultArray(np.array(cutoff), "angstrom", (), "cluster link length used"),
                **estimate_arrays("cluster_size", mobile_size, "1", ("lag",),
                                  "weight-averaged cluster size of the mobile set"),
                **estimate_arrays("random_cluster_size", random_size, "1", ("lag",),
                                  "the same of random sets with as many atoms of each species"),
                **estimate_arrays("clustering", ratio, "1", ("lag",),
                                  "cluster_size / random_cluster_size: 1 without spatial correlation of mobility"),
                **estimate_arrays("string_length", string_size, "1", ("lag",),
                                  "weight-averaged string length of the mobile set"),
                **estimate_arrays("mobile_fraction_of", makeup, "1", ("lag", "species"),
                                  "the species' share of the mobile set"),
                "overall_fraction_of": ResultArray(overall, "1", ("species",), "the species' share of all atoms")}

    def _shares(self, sizes: np.ndarray) -> np.ndarray:
        """Share of the set's atoms in clusters of size 1 … mobile_count: s·n_s / Σ s·n_s."""
        return np.bincount(sizes, weights=sizes.astype(float), minlength=self.mobile_count + 1)[1:] / sizes.sum()

    def _random_set(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Atoms drawn at random with the given number of each species: the mobile set's make-up, so that the
        comparison is of where mobile atoms are, not of which species they are (species differ in how close their
        neighbours sit)."""
        # Species by name, not by first appearance, which follows the atoms' numbering.
        order = sorted(range(len(counts)), key=lambda t: self.info.species[t])
        return np.concatenate([self.by_species[t][rng.choice(len(self.by_species[t]), counts[t], replace=False)]
                               for t in order if counts[t]])

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        flags = []
        if float(results["cutoff"].values) < self.params.cutoff_A:
            flags.append(f"cutoff_A {self.params.cutoff_A:g} Å is more than half the cell: "
                         f"{float(results['cutoff'].values):.3g} Å used")
        if self.params.lags_ps is None:
            alpha2 = results["peak_species_alpha2"].values
            k = int(np.nanargmax(alpha2)) if np.isfinite(alpha2).any() else -1
            if k < 0:
                flags.append(f"alpha2 of {self.peak_species} is not finite at any lag: the longest lag is used")
            elif k == len(alpha2) - 1:
                flags.append(f"alpha2 of {self.peak_species} is still rising at the longest lag "
                             f"({results['candidate_lag'].values[-1]:g} ps): no peak, the mobile set is taken there")
        if float(results["mobile_atoms"].values) < 10:
            flags.append(f"mobile sets of {int(results['mobile_atoms'].values)} atoms: too few for cluster statistics")
        return Summary({"clustering": Reported(METHOD), "cluster_size": Reported(METHOD),
                        "random_cluster_size": Reported(METHOD), "string_length": Reported(METHOD),
                        "mobile_fraction_of": Reported(METHOD)}, flags)

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        lag = results["lag"].values
        ax.semilogx(lag, results["clustering"].values, "o-", label="mobile / random cluster size")
        ax.semilogx(lag, results["string_length"].values, "s-", label="string length")
        for s in results["species"].values.tolist():
            ax.semilogx(lag, select(results, "mobile_fraction_of", species=s), ":", label=f"share of {s}")
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.set(xlabel="lag (ps)", ylabel="ratio, length, share")
        return True


def _mean_and_error(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over origins (first axis) and its standard error (NaN from one origin)."""
    if len(values) < 2:
        return values.mean(axis=0), np.full(values.shape[1:], np.nan)
    return values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(len(values))


def check(params: MobilityParams, study: StudyOutline) -> list[str]:
    problems = []
    if params.peak_species is not None and params.peak_species not in study.species:
        problems.append(f"peak_species: {params.peak_species!r} is not among the study's species {study.species}")
    if params.lags_ps is not None:
        duration = study.spec.protocol.production.duration_ps
        longer = [x for x in params.lags_ps if x > duration]
        if longer:
            problems.append(f"lags_ps: {longer} ps are longer than the production ({duration} ps)")
    return problems


def _example(workdir: Path) -> dict[str, Any]:
    return {"fraction": 0.2, "cutoff_A": 3.0, "max_origins": 4}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("mobility", "observable", MobilityParams, Mobility,
                      "the most mobile atoms: clusters against random sets, strings, species make-up",
                      check=check, example=_example)]
