"""Histograms of pair distances by species pair in a periodic cell, without a list of pairs: what g(r) needs.

A cell list in fractional coordinates: the cell is cut into n_k ≥ 1 slabs per axis, each at least r_max/2 thick
(face to face), so a pair within r_max lies within two slabs of each other on every axis (|Δf_k| ≤ r/width_k, as
in :mod:`.neighbours`); each candidate's separation is taken under the minimum image, exact in any cell for
r_max ≤ half its smallest width. Each unordered pair of slab cells is visited once, and within a cell each pair
once, so every pair within r_max is binned exactly once, in any cell shape, with no image counted twice when there
are fewer than five slabs on an axis (the neighbour cells are taken without repeats).

Compiled with numba and run over runs of cells in parallel (``NUMBA_NUM_THREADS`` threads; each run fills a histogram
of its own). Where numba cannot be imported (a NumPy newer than numba supports) the same counts come from scipy's
k-d tree or blocks of separations (:func:`.neighbours.pairs_within`), slower: :data:`BACKEND` says which.
"""

from __future__ import annotations

import threading

import numpy as np

from meltdyn.analysis.neighbours import pairs_within
from meltdyn.hooks.data import min_width_A

SLABS_PER_CUTOFF = 2
"""Slabs per r_max on each axis: finer slabs visit fewer candidates (5³ slabs of r/2 hold 2.3× the sphere's
volume, 3³ of r 6.4×) at the cost of more, emptier cells."""

try:
    from numba import get_num_threads, njit, prange
except ImportError:  # a NumPy release numba does not support yet, or numba absent
    njit = None

BACKEND = "numba" if njit is not None else "scipy"
"""Which implementation :func:`pair_histogram` uses here."""

CHUNKS_PER_THREAD = 4
"""Runs of cells per thread, each with a histogram of its own: enough for an even load."""

_LAUNCH = threading.Lock()
"""numba's default thread pool does not take two parallel launches at once (threads of a Dask worker, say)."""


def _kernel(frac, cart, cell, types, n_types, r_max, bins, slabs, starts, neighbours, shifted, chunks
            ):  # pragma: no cover
    # Compiled below. Atoms sorted by cell (cell c holds starts[c]:starts[c+1], so neighbours in memory are
    # neighbours in space): fractional coordinates in [0, 1) and the same positions in Å. ``neighbours[k]`` are the
    # distinct slab offsets of axis k, as non-negative ones modulo the slab count, padded with −1. With ``shifted``
    # (every axis has at least 2·SLABS_PER_CUTOFF + 1 slabs) each pair of cells meets at one image, whose lattice
    # shift is added once per pair of cells; otherwise each pair's minimum image is rounded out of its fractional
    # separation. Cells are dealt out in ``chunks`` runs, each filling a histogram of its own.
    n_cells = slabs[0] * slabs[1] * slabs[2]
    hist = np.zeros((chunks, n_types, n_types, bins), dtype=np.int64)
    scale = bins / r_max
    r2_max = r_max * r_max
    for t in prange(chunks):
        for c in range(t * n_cells // chunks, (t + 1) * n_cells // chunks):
            cell_of = (c // (slabs[1] * slabs[2]), (c // slabs[2]) % slabs[1], c % slabs[2])
            for ox in neighbours[0]:
                if ox < 0:
                    continue
                for oy in neighbours[1]:
                    if oy < 0:
                        continue
                    for oz in neighbours[2]:
                        if oz < 0:
                            continue
                        c2 = ((((cell_of[0] + ox) % slabs[0]) * slabs[1] + (cell_of[1] + oy) % slabs[1]) * slabs[2]
                              + (cell_of[2] + oz) % slabs[2])
                        if c2 < c:
                            continue  # the pair of cells is visited from the lower one
                        s0 = s1 = s2 = 0.0
                        if shifted:  # the image of cell c2 beside c: a whole lattice vector per axis that wraps
                            for k, o in ((0, ox), (1, oy), (2, oz)):
                                signed = o if o <= SLABS_PER_CUTOFF else o - slabs[k]
                                wrap = (cell_of[k] + signed) // slabs[k]
                                s0 += wrap * cell[k, 0]
                                s1 += wrap * cell[k, 1]
                                s2 += wrap * cell[k, 2]
                        for i in range(starts[c], starts[c + 1]):
                            first = i + 1 if c2 == c else starts[c2]
                            for j in range(first, starts[c2 + 1]):
                                if shifted:
                                    dx = cart[j, 0] + s0 - cart[i, 0]
                                    dy = cart[j, 1] + s1 - cart[i, 1]
                                    dz = cart[j, 2] + s2 - cart[i, 2]
                                else:
                                    f0 = frac[j, 0] - frac[i, 0]
                                    f1 = frac[j, 1] - frac[i, 1]
                                    f2 = frac[j, 2] - frac[i, 2]
                                    f0 -= np.rint(f0)
                                    f1 -= np.rint(f1)
                                    f2 -= np.rint(f2)
                                    dx = f0 * cell[0, 0] + f1 * cell[1, 0] + f2 * cell[2, 0]
                                    dy = f0 * cell[0, 1] + f1 * cell[1, 1] + f2 * cell[2, 1]
                                    dz = f0 * cell[0, 2] + f1 * cell[1, 2] + f2 * cell[2, 2]
                                r2 = dx * dx + dy * dy + dz * dz
                                if r2 <= r2_max:
                                    k = min(int(np.sqrt(r2) * scale), bins - 1)
                                    hist[t, types[i], types[j], k] += 1
    return hist.sum(axis=0)


if njit is not None:
    _kernel = njit(parallel=True, cache=True, nogil=True)(_kernel)


def _axis_offsets(slabs: np.ndarray) -> np.ndarray:
    """Per axis, the distinct slab offsets −2 … 2 modulo the slab count (fewer than five slabs repeat them), as
    non-negative offsets padded with −1."""
    out = np.full((3, 2 * SLABS_PER_CUTOFF + 1), -1, dtype=np.int64)
    for k, n in enumerate(slabs):
        distinct = sorted({o % int(n) for o in range(-SLABS_PER_CUTOFF, SLABS_PER_CUTOFF + 1)})
        out[k, :len(distinct)] = distinct
    return out


def slab_counts(cell_A: np.ndarray, r_max_A: float) -> np.ndarray:
    """Slabs per axis, each at least r_max / SLABS_PER_CUTOFF thick face to face (at least one)."""
    volume = abs(float(np.linalg.det(cell_A)))
    widths = volume / np.linalg.norm(np.cross(cell_A[[1, 2, 0]], cell_A[[2, 0, 1]]), axis=1)
    return np.maximum(1, np.floor(widths * SLABS_PER_CUTOFF / r_max_A)).astype(np.int64)


def pair_histogram(positions_A: np.ndarray, cell_A: np.ndarray, types: np.ndarray, n_types: int, r_max_A: float,
                   bins: int) -> np.ndarray:
    """Counts of pairs within ``r_max_A`` (at most half the cell's smallest width) in ``bins`` equal distance bins
    from 0, by the species indices of their two atoms: (n_types, n_types, bins), pairs of unlike species split
    between [a, b] and [b, a] as they come (sum the two), like pairs on the diagonal, each pair once. A distance of
    exactly r_max falls in the last bin."""
    cell_A = np.asarray(cell_A, dtype=float)
    types = np.asarray(types, dtype=np.int64)
    if r_max_A > min_width_A(cell_A) / 2 * (1 + 1e-12):
        raise ValueError(f"cutoff {r_max_A:g} Å is more than half the cell's smallest width "
                         f"({min_width_A(cell_A) / 2:.4g} Å): the minimum image would not be unique")
    if njit is None:
        return _histogram_from_pairs(positions_A, cell_A, types, n_types, r_max_A, bins)
    frac = np.asarray(positions_A, dtype=float) @ np.linalg.inv(cell_A)
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0  # floor can leave 1 − ε round to 1
    slabs = slab_counts(cell_A, r_max_A)
    index = np.minimum((frac * slabs).astype(np.int64), slabs - 1)
    flat = (index[:, 0] * slabs[1] + index[:, 1]) * slabs[2] + index[:, 2]
    order = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[order], np.arange(int(slabs.prod()) + 1))
    with _LAUNCH:
        chunks = min(int(slabs.prod()), CHUNKS_PER_THREAD * get_num_threads())
        frac = np.ascontiguousarray(frac[order])
        shifted = bool(np.all(slabs >= 2 * SLABS_PER_CUTOFF + 1))
        return _kernel(frac, frac @ cell_A, np.ascontiguousarray(cell_A), types[order], n_types, float(r_max_A),
                       bins, slabs, starts, _axis_offsets(slabs), shifted, chunks)


def _histogram_from_pairs(positions_A: np.ndarray, cell_A: np.ndarray, types: np.ndarray, n_types: int,
                          r_max_A: float, bins: int) -> np.ndarray:
    pairs = pairs_within(positions_A, cell_A, r_max_A)
    bin_ = np.minimum((pairs.distances_A * (bins / r_max_A)).astype(np.int64), bins - 1)
    flat = (types[pairs.i] * n_types + types[pairs.j]) * bins + bin_
    return np.bincount(flat, minlength=n_types * n_types * bins).reshape(n_types, n_types, bins)


def pair_histogram_bytes(atoms: int, n_types: int, bins: int) -> int:
    """Bytes :func:`pair_histogram` needs for one frame with numba: the fractional coordinates (twice, sorted),
    Cartesian ones, cell indices and order, and a histogram per run of cells (the scipy path needs :func:`.neighbours.pairs_bytes` instead)."""
    chunks = CHUNKS_PER_THREAD * get_num_threads() if njit is not None else 1
    return atoms * 8 * (3 + 3 + 3 + 3) + (chunks + 1) * n_types * n_types * bins * 8


__all__ = ["BACKEND", "pair_histogram", "pair_histogram_bytes"]
