"""Self intermediate scattering function F_s(q,t) per species, and the α-relaxation time with its error or bound.

τα is where F_s first falls to 1/e. Its standard error comes from a block bootstrap over time origins: the sums
behind F_s are kept per time block of origins, blocks are merged until each is at least τα long (shorter ones are
correlated), resampled with replacement, and the crossing found again in each resample. When F_s is already below
1/e at the first lag, or never falls to it, τα is a bound, not a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from meltdyn.plugin import (
    BOOTSTRAP_BLOCKS, AtomBlock, Estimate, InputError, LagSample, Observable, PluginDef, PluginParams, Reported,
    ResultArray, Summary, TrajectoryInfo, bootstrap_bytes, bootstrap_replicates, bootstrap_std, coordinate,
    estimate_arrays, hookimpl, independent_blocks, largest_sample, merge_blocks, origin_blocks, plan_lags, sample_lags,
    samples_bytes, select, species_coordinate,
)
from pydantic import Field


class ISFParams(PluginParams):
    q_per_A: list[Annotated[float, Field(gt=0, le=100)]] = Field(
        [1.7], min_length=1, max_length=100, description="Wavenumbers; 1.7 1/Å is near the first S(q) peak.")
    average: Literal["isotropic", "box_vectors"] = Field(
        "isotropic", description="sin(qr)/(qr), or cos(q·r) over reciprocal-lattice vectors with |q| near q.")
    q_shell_width_per_A: float = Field(0.05, gt=0, le=10, description="box_vectors: half-width of the |q| shell.")
    max_q_vectors: int = Field(48, ge=1, le=10_000, description="box_vectors: at most this many vectors per shell.")
    lags_per_decade: int = Field(10, ge=1, le=100, description="Log-spaced lags per decade.")
    max_origins: int = Field(200, ge=1, le=10**6, description="Origins per lag, spread evenly over the trajectory.")


def box_q_vectors(cell_A: np.ndarray, q: float, width: float, limit: int) -> np.ndarray:
    """Reciprocal-lattice vectors of the cell with |q| within ``width`` of ``q``, one of each ±pair."""
    recip = 2 * np.pi * np.linalg.inv(cell_A).T
    # G = n·B gives n_i = G·a_i / 2π, so |n_i| <= (q + width)|a_i| / 2π bounds every axis, however tilted the cell.
    n_max = np.floor((q + width) * np.linalg.norm(cell_A, axis=1) / (2 * np.pi)).astype(int)
    if np.prod(2 * n_max.astype(float) + 1) > 1e9:
        raise InputError(f"isf: q = {q} 1/Å in this box spans {np.prod(2 * n_max + 1):.2g} reciprocal-lattice points; "
                         "use average: isotropic")
    n2, n3 = (g.ravel() for g in np.meshgrid(np.arange(-n_max[1], n_max[1] + 1), np.arange(-n_max[2], n_max[2] + 1),
                                             indexing="ij"))
    upper = (n2 > 0) | ((n2 == 0) & (n3 > 0))  # with n1 = 0, one of each ±pair
    found = []
    for n1 in range(0, n_max[0] + 1):  # one plane at a time keeps memory to a slice of the grid
        keep = slice(None) if n1 > 0 else upper
        vectors = n1 * recip[0] + np.outer(n2[keep], recip[1]) + np.outer(n3[keep], recip[2])
        found.append(vectors[np.abs(np.linalg.norm(vectors, axis=1) - q) <= width])
    vectors = np.concatenate(found)
    if len(vectors) == 0:
        raise InputError(f"isf: no reciprocal vector of this box has |q| within {width} of {q} 1/Å; "
                         "widen q_shell_width_per_A or use average: isotropic")
    return vectors[np.linspace(0, len(vectors) - 1, min(limit, len(vectors))).round().astype(int)]


TAU_METHOD = "block bootstrap over time origins (blocks at least tau_alpha long)"


def crossing_time(t: np.ndarray, f: np.ndarray, level: float) -> float:
    """First time f falls to ``level``, interpolated linearly in log t between the sampled lags (t > 0, f finite).
    NaN if it never does, or already has at the first lag: then there is nothing to interpolate from."""
    keep = (t > 0) & np.isfinite(f)
    t, f = t[keep], f[keep]
    below = np.flatnonzero(f <= level)
    if len(below) == 0 or below[0] == 0:
        return float("nan")
    k = below[0]
    x0, x1 = np.log(t[k - 1]), np.log(t[k])
    return float(np.exp(x0 + (level - f[k - 1]) * (x1 - x0) / (f[k] - f[k - 1])))


def tau_alpha(t: np.ndarray, f: np.ndarray, crossings: np.ndarray, n_blocks: int, q: float) -> Estimate:
    """τα of one F_s curve (t > 0) as a value with its bootstrap error, or the bound the sampled lags give.

    ``crossings`` are the bootstrap resamples' τα (NaN where one does not cross) over ``n_blocks`` blocks."""
    level = 1 / np.e
    if f[0] <= level:
        return Estimate.upper(t[0], f"F_s(q={q:g}) at the first lag ({t[0]:g} ps) is already {f[0]:.3g} < 1/e: "
                                    "tau_alpha is shorter than the first lag; sample shorter lags to measure it")
    if np.all(f > level):
        return Estimate.lower(t[-1], f"F_s(q={q:g}) is still {f[-1]:.3g} > 1/e at the longest lag ({t[-1]:g} ps): "
                                     "tau_alpha is longer than the trajectory resolves; run longer to measure it")
    value = crossing_time(t, f, level)
    stderr = bootstrap_std(crossings, n_blocks)
    notes = []
    missed = np.mean(~np.isfinite(crossings))
    if missed > 0.05:
        notes.append(f"{100 * missed:.0f}% of bootstrap resamples put tau_alpha outside the sampled lags: the "
                     "standard error is from the others and too small")
    if n_blocks < 4:
        notes.append(f"tau_alpha is long for the trajectory: its error rests on only {independent_blocks(n_blocks)} of "
                     "origins and is rough")
    return Estimate(value, stderr, note="; ".join(notes), method=TAU_METHOD)


class ISF(Observable):
    def __init__(self, params: ISFParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        p = self.params
        self.info = info
        self.samples: list[LagSample] = sample_lags(plan_lags(info), p.lags_per_decade, p.max_origins)
        self.q = np.array(p.q_per_A)
        self.vectors = ([box_q_vectors(info.cell_A, q, p.q_shell_width_per_A, p.max_q_vectors) for q in self.q]
                        if p.average == "box_vectors" else None)
        # Sums over atoms and origins per lag and time block of origins; the counts of (origin, atom) pairs behind
        # them are the block's origins times the species' atoms, so only the atoms are counted.
        self.blocks = [origin_blocks(info, x.origins) for x in self.samples]
        self.origins_per_block = np.stack([np.bincount(b, minlength=BOOTSTRAP_BLOCKS) for b in self.blocks])
        self.sums = {s: np.zeros((len(self.q), len(self.samples), BOOTSTRAP_BLOCKS)) for s in info.species}
        self.counts = dict.fromkeys(info.species, 0)

    def process(self, block: AtomBlock) -> None:
        for k, sample in enumerate(self.samples):
            self._accumulate(k, block.displacements(sample.origins, sample.targets), block)
        for s in self.counts:
            self.counts[s] += int(block.mask(s).sum())

    def _accumulate(self, k: int, d: np.ndarray, block: AtomBlock) -> None:
        # A method of its own so that one lag's displacements are released before the next lag's are made.
        if self.vectors is None:
            # |r| once for every atom, sin(qr)/(qr) per q, and each species' sum per origin as one product with
            # the block's species indicator (origins, atoms) @ (atoms, species).
            r = np.sqrt(np.einsum("oai,oai->oa", d, d))
            indicator = np.stack([block.mask(s) for s in self.sums], axis=1).astype(float)
            for iq, q in enumerate(self.q):
                qr = q * r
                per_species = np.divide(np.sin(qr), qr, out=np.ones_like(qr), where=qr > 0) @ indicator
                for m, s in enumerate(self.sums):
                    self.sums[s][iq, k] += np.bincount(self.blocks[k], weights=per_species[:, m],
                                                       minlength=BOOTSTRAP_BLOCKS)
            return
        for s in self.sums:
            ds = d[:, block.mask(s)]
            if ds.shape[1] == 0:
                continue
            for iq in range(len(self.q)):
                value = np.cos(ds @ self.vectors[iq].T).mean(axis=2).sum(axis=1)
                self.sums[s][iq, k] += np.bincount(self.blocks[k], weights=value, minlength=BOOTSTRAP_BLOCKS)

    def memory(self) -> tuple[int, int]:
        """One lag at a time: its displacements (two arrays of 3 numbers per pair while they are made), a species'
        copy of them, and q·r with its cosine (one per box vector, or |r|-based for the isotropic average). Held: the
        sums per lag and time block, each origin's block, and the bootstrap's resampled curves in conclude."""
        vectors = max((len(v) for v in self.vectors), default=1) if self.vectors is not None else 1
        lags = len(self.samples)
        held = (samples_bytes(self.samples) + 8 * len(self.q) * (lags * BOOTSTRAP_BLOCKS * len(self.sums) + 3 * vectors)
                + sum(b.nbytes for b in self.blocks) + self.origins_per_block.nbytes
                + bootstrap_bytes(lags, 3))
        return held, (3 + 3 + 2 * vectors) * largest_sample(self.samples) * 8

    def conclude(self) -> dict[str, ResultArray]:
        lag = np.array([0.0] + [x.lag_steps * self.info.timestep_ps for x in self.samples])
        fs, taus = [], []
        for s, total in self.sums.items():
            pairs = self.origins_per_block * self.counts[s]  # (lags, blocks)
            f = np.concatenate([np.ones((len(self.q), 1)), total.sum(axis=2) / pairs.sum(axis=1)], axis=1)
            fs.append(f)
            taus.append([self._tau(lag[1:], f[iq, 1:], total[iq], pairs, q) for iq, q in enumerate(self.q)])
        return {"species": species_coordinate(list(self.sums)),
                "q": coordinate("q", self.q, "1/angstrom", "wavenumbers"),
                "lag": coordinate("lag", lag, "ps", "time lag"),
                "Fs": ResultArray(np.array(fs), "1", ("species", "q", "lag"), "self intermediate scattering function"),
                **estimate_arrays("tau_alpha", taus, "ps", ("species", "q"), "time at which F_s = 1/e")}

    def _tau(self, t: np.ndarray, f: np.ndarray, sums: np.ndarray, pairs: np.ndarray, q: float) -> Estimate:
        """τα at one q from its F_s and the per-block sums (lags, blocks) behind it, bootstrapped over blocks at
        least as long as the first estimate of τα."""
        guess = crossing_time(t, f, 1 / np.e)
        sums, pairs = merge_blocks(sums, self.info, guess), merge_blocks(pairs.astype(float), self.info, guess)

        def crossings(weights: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):  # a resample may miss every origin of a long lag
                curves = (weights @ sums.T) / (weights @ pairs.T)
            return np.array([crossing_time(t, c, 1 / np.e) for c in curves])

        k = np.searchsorted(t, guess) if np.isfinite(guess) else len(t) - 1
        return tau_alpha(t, f, bootstrap_replicates(crossings, sums.shape[1]),
                         int(np.count_nonzero(pairs[min(k, len(t) - 1)])), q)

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        return Summary({"tau_alpha": Reported(TAU_METHOD, "time")})

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        lag = results["lag"].values
        for s in results["species"].values.tolist():
            for q in results["q"].values.tolist():
                (line,) = ax.semilogx(lag[1:], select(results, "Fs", species=s, q=q)[1:],
                                      label=f"{s}, q={q:g} Å$^{{-1}}$")
                tau = float(select(results, "tau_alpha", species=s, q=q))
                if str(select(results, "tau_alpha_kind", species=s, q=q)) == "value" and np.isfinite(tau):
                    ax.plot(tau, 1 / np.e, "o", color=line.get_color(), ms=4)  # τα, where F_s crosses 1/e
        ax.axhline(1 / np.e, color="grey", lw=0.5)
        ax.set(xlabel="t (ps)", ylabel="$F_s(q,t)$")
        return True


def _example(workdir: Path) -> dict[str, Any]:
    return {"q_per_A": [1.0, 2.5], "average": "box_vectors", "q_shell_width_per_A": 0.3}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("isf", "observable", ISFParams, ISF,
                      "self intermediate scattering function F_s(q,t) per species and tau_alpha", example=_example)]
