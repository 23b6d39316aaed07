"""Where the mobile particles are: the most mobile fraction over a lag, its clusters against a random set of the
same size, its string-like motion, and which species it is made of.

For each lag and time origin, the ``fraction`` of all atoms that moved farthest (|Δr| over the lag) is the mobile
set (Kob et al., Phys. Rev. Lett. 79, 2827 (1997); Donati et al., Phys. Rev. E 60, 3107 (1999)). Two mobile atoms
within ``cutoff_A`` of each other at the origin are in one cluster; the weight-averaged cluster size
S_w = Σ s² / Σ s is compared with the same statistic of random sets with as many atoms of each species at the same
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
from pydantic import Field
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from meltdyn.plugin import (
    AtomBlock, Estimate, Observable, PluginDef, PluginParams, Reported, ResultArray, StudyOutline, Summary,
    TrajectoryInfo, coordinate, estimate_arrays, hookimpl, min_width_A, pairs_within, plan_lags, sample_lags, select,
    species_coordinate,
)

RANDOM_DRAWS = 5
"""Random sets drawn per origin for the no-clustering reference."""
SEED = 23
METHOD = "scatter over time origins / sqrt(origins)"


class MobilityParams(PluginParams):
    lags_ps: list[Annotated[float, Field(gt=0, le=1e7)]] = Field(
        min_length=1, max_length=20, description="Lags over which mobility is measured (nearest available used); "
                                                 "the alpha2 peak time is the usual choice.")
    fraction: float = Field(0.05, gt=0, lt=1, description="The most mobile fraction of all atoms.")
    cutoff_A: float = Field(3.5, gt=0, le=20, description="Mobile atoms this close at the origin are one cluster: "
                            "about the first minimum of the total g(r).")
    string_delta_A: float = Field(0.6, gt=0, le=5, description="An atom within this of where another was is in "
                                  "its string (about 0.2 of a neighbour distance).")
    max_origins: int = Field(40, ge=2, le=10_000, description="Time origins per lag, spread evenly.")


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
        self.samples = sample_lags(plan_lags(info), 1, p.max_origins,
                                   lags_steps=np.array(p.lags_ps) / info.timestep_ps)
        n = len(info.symbols)
        self.mobile_count = max(1, int(round(p.fraction * n)))
        self.types = np.array([info.species.index(s) for s in info.symbols])
        # By atom index, for every lag and origin: the atoms' origin positions and displacements.
        self.start = [np.zeros((len(x.origins), n, 3)) for x in self.samples]
        self.moved = [np.zeros((len(x.origins), n, 3)) for x in self.samples]
        self.first = np.zeros((n, 3))

    def process(self, block: AtomBlock) -> None:
        atoms = np.asarray(block.indices)
        self.first[atoms] = block.positions_A[0]
        for k, sample in enumerate(self.samples):
            self.start[k][:, atoms] = block.positions_A[sample.origins]
            self.moved[k][:, atoms] = block.displacements(sample.origins, sample.targets)

    def memory(self) -> tuple[int, int]:
        """Held: every atom's origin position and displacement for each lag and origin; at the end one origin's
        mobile and random sets with their pairs. Per atom of a block: one lag's displacements while they are made."""
        n = len(self.types)
        held = sum(a.nbytes for a in (*self.start, *self.moved, self.first))
        sets = self.mobile_count * (self.mobile_count * 8 * 6 + 200) * (RANDOM_DRAWS + 1)
        origins = max((len(x.origins) for x in self.samples), default=0)
        return held + sets + 8 * 8 * n, 2 * 3 * 8 * origins

    def conclude(self) -> dict[str, ResultArray]:
        p, info = self.params, self.info
        cell = np.asarray(info.cell_A, dtype=float)
        cutoff = min(p.cutoff_A, min_width_A(cell) / 2)
        # Random sets drawn from an order fixed by the atoms' first positions, whatever their numbering.
        canonical = np.lexsort(self.first.T[::-1])
        self.by_species = [canonical[self.types[canonical] == t] for t in range(len(info.species))]
        rng = np.random.default_rng(SEED)
        species = info.species
        lag = np.array([x.lag_steps * info.timestep_ps for x in self.samples])
        mobile_size, random_size, ratio, string_size, makeup = [], [], [], [], []
        for k in range(len(self.samples)):
            per_origin = []
            for o in range(len(self.samples[k].origins)):
                r = np.linalg.norm(self.moved[k][o], axis=1)
                mobile = np.argsort(-r, kind="stable")[:self.mobile_count]
                start = self.start[k][o]
                sw = weight_average(clusters(start[mobile], cell, cutoff))
                counts_of = np.bincount(self.types[mobile], minlength=len(species))
                random = [weight_average(clusters(start[self._random_set(counts_of, rng)], cell, cutoff))
                          for _ in range(RANDOM_DRAWS)]
                st = weight_average(strings(start[mobile], start[mobile] + self.moved[k][o][mobile], cell,
                                            p.string_delta_A))
                counts = np.bincount(self.types[mobile], minlength=len(species)) / self.mobile_count
                per_origin.append((sw, float(np.mean(random)), st, counts))
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
        return {"lag": coordinate("lag", lag, "ps", "lags actually used"),
                "species": species_coordinate(species),
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


def check(params: MobilityParams, study: StudyOutline) -> list[str]:
    duration = study.spec.protocol.production.duration_ps
    longer = [x for x in params.lags_ps if x > duration]
    return [f"lags_ps: {longer} ps are longer than the production ({duration} ps)"] if longer else []


def _example(workdir: Path) -> dict[str, Any]:
    return {"lags_ps": [0.1, 0.4], "fraction": 0.2, "cutoff_A": 3.0, "max_origins": 4}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("mobility", "observable", MobilityParams, Mobility,
                      "the most mobile atoms: clusters against random sets, strings, species make-up",
                      check=check, example=_example)]
