"""Pairs of atoms within a cutoff under periodic boundaries, in any cell: what structure observables share.

With the cutoff at most half the cell's smallest width, the image of a pair that lies within the cutoff has every
fractional coordinate in [−½, ½] (|f_k| ≤ |d| / width_k), so it is the one that rounding the fractional separation
gives: the minimum image is exact for triclinic cells too, and no pair has two images within the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from meltdyn.hooks.data import min_width_A

ROW_BLOCK = 256
"""Atoms whose separations from every other atom are taken at once in a triclinic cell: (256 × atoms × 3) floats."""


@dataclass(frozen=True)
class Pairs:
    """Pairs i < j closer than a cutoff: the atoms, the minimum-image separation r_j − r_i (Å, kept as three
    contiguous components: the per-axis arithmetic is what makes the search fast) and its length."""

    i: np.ndarray
    j: np.ndarray
    components_A: np.ndarray
    """(3, pairs): x, y and z of each separation."""
    distances_A: np.ndarray

    @property
    def vectors_A(self) -> np.ndarray:
        """(pairs, 3) separations (a view)."""
        return self.components_A.T

    def __len__(self) -> int:
        return len(self.i)


def _orthorhombic(cell_A: np.ndarray) -> bool:
    return bool(np.all(np.abs(cell_A - np.diag(np.diag(cell_A))) <= 1e-12 * np.abs(cell_A).max()))


def pairs_within(positions_A: np.ndarray, cell_A: np.ndarray, cutoff_A: float) -> Pairs:
    """Every pair of atoms closer than ``cutoff_A`` (at most half the cell's smallest width) in the periodic cell
    with rows a, b, c. Orthorhombic cells use a k-d tree; others blocks of atoms against all of them."""
    cell_A = np.asarray(cell_A, dtype=float)
    x = np.asarray(positions_A, dtype=float)
    if cutoff_A > min_width_A(cell_A) / 2 * (1 + 1e-12):
        raise ValueError(f"cutoff {cutoff_A:g} Å is more than half the cell's smallest width "
                         f"({min_width_A(cell_A) / 2:.4g} Å): the minimum image would not be unique")
    inverse = np.linalg.inv(cell_A)
    if _orthorhombic(cell_A):
        box = np.diag(cell_A).copy()
        wrapped = np.mod(x, box)
        wrapped[wrapped >= box] = 0.0  # np.mod can round up to the box length itself
        found = cKDTree(wrapped, boxsize=box).query_pairs(cutoff_A, output_type="ndarray")
        i, j = np.ascontiguousarray(found[:, 0], dtype=np.int64), np.ascontiguousarray(found[:, 1], dtype=np.int64)
        del found
        axes = np.ascontiguousarray(wrapped.T)
        components = np.empty((3, len(i)))
        for k in range(3):  # one axis at a time: four times faster than on (pairs, 3) arrays
            c = components[k]
            np.subtract(axes[k][j], axes[k][i], out=c)
            c[c > box[k] / 2] -= box[k]
            c[c < -box[k] / 2] += box[k]
        return Pairs(i, j, components, np.sqrt(np.einsum("kp,kp->p", components, components)))
    else:
        parts_i, parts_j, parts_d = [], [], []
        for start in range(0, len(x), ROW_BLOCK):
            rows = np.arange(start, min(start + ROW_BLOCK, len(x)))
            frac = (x[None, :, :] - x[rows, None, :]) @ inverse
            frac -= np.rint(frac)
            d = frac @ cell_A
            del frac
            near = (np.einsum("abk,abk->ab", d, d) < cutoff_A**2) & (np.arange(len(x))[None, :] > rows[:, None])
            a, b = np.nonzero(near)
            parts_i.append(rows[a]), parts_j.append(b), parts_d.append(d[a, b])
            del d
        i, j = np.concatenate(parts_i).astype(np.int64), np.concatenate(parts_j).astype(np.int64)
        components = np.ascontiguousarray((np.concatenate(parts_d) if parts_d else np.zeros((0, 3))).T)
    return Pairs(i, j, components, np.sqrt(np.einsum("kp,kp->p", components, components)))


def pairs_bytes(atoms: int, cutoff_A: float, density_per_A3: float) -> int:
    """Bytes :func:`pairs_within` needs for one frame: the pairs it finds (about N·(4/3)πr³ρ/2, each two indices,
    a vector and a length, and the temporaries that make them) and the k-d tree or one block's separations."""
    expected = atoms * 4 / 3 * np.pi * cutoff_A**3 * density_per_A3 / 2
    per_pair = 8 * (2 + 3 + 1) * 3
    tree_or_block = max(atoms * 8 * 12, ROW_BLOCK * atoms * 8 * 8)
    return int(1.5 * expected * per_pair + tree_or_block)


__all__ = ["Pairs", "pairs_bytes", "pairs_within"]
