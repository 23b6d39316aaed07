"""Labelled frames and a training spec for `meltdyn train` tests: small, good, and any part replaceable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BOX = 8.0
SYMBOLS = ["Na", "Si", "O", "O"]
LATTICE = f'Lattice="{BOX} 0.0 0.0 0.0 {BOX} 0.0 0.0 0.0 {BOX}"'
PROPERTIES = "Properties=species:S:1:pos:R:3:forces:R:3"
STRESS = '"0.01 0.0 0.0 0.0 0.02 0.0 0.0 0.0 0.03"'


def frame_text(k: int = 0, *, n: str | None = None, lattice: str = LATTICE, properties: str = PROPERTIES,
               energy: str | None = "-10.5", stress: str | None = STRESS, symbols: list[str] | None = None,
               rows: list[str] | None = None, force: str | None = None, position: str | None = None) -> str:
    """One good extxyz frame of 4 atoms, any part replaceable (``force``/``position``: atom 0's x component)."""
    symbols = symbols or SYMBOLS
    rng = np.random.default_rng(k)
    p = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0], [5.0, 5.0, 5.0], [6.5, 2.0, 4.0]]) + 0.1 * rng.random((4, 3))
    f = rng.normal(size=(4, 3))
    default_rows = []
    for i, s in enumerate(symbols):
        x = position if (position is not None and i == 0) else f"{p[i, 0]:.6f}"
        fx = force if (force is not None and i == 0) else f"{f[i, 0]:.6f}"
        default_rows.append(f"{s} {x} {p[i, 1]:.6f} {p[i, 2]:.6f} {fx} {f[i, 1]:.6f} {f[i, 2]:.6f}")
    header = [lattice, properties]
    if energy is not None:
        header.append(f"energy={energy}")
    if stress is not None:
        header.append(f"stress={stress}")
    header.append('pbc="T T T"')
    body = rows if rows is not None else default_rows
    return "\n".join([n if n is not None else str(len(symbols)), " ".join(header), *body]) + "\n"


def good_frames(count: int = 6) -> str:
    return "".join(frame_text(k) for k in range(count))


def base_spec(out: Path, data: Path) -> dict[str, Any]:
    return {"name": "hostile", "output_dir": str(out),
            "reference_data": {"plugin": "ase_file", "paths": [str(data)]},
            "model": {"cutoff_A": 3.0, "features": 4, "interactions": 1, "radial_basis": 4},
            "training": {"max_epochs": 1, "batch_size": 2, "device": "cpu"}}
