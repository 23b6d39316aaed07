"""Seeds derived from a study's one seed, so that every random choice is reproducible and recorded.

Each seed is a function of the root seed and a path naming the choice (``"NS2_T3000K_r0", "stage", 2``): stable
across machines and versions, different for different paths, and unchanged when other runs join a study.
"""

from __future__ import annotations

import hashlib
import json

SEED_LIMIT = 900_000_000
"""Seeds lie in [1, SEED_LIMIT): LAMMPS refuses larger ones, and OpenMM takes 0 to mean 'pick one at random'."""


def derive_seed(root: int, *path: str | int | float) -> int:
    digest = hashlib.sha256(json.dumps([int(root), *path]).encode()).digest()
    return 1 + int.from_bytes(digest[:8], "little") % (SEED_LIMIT - 1)


class SeedBook:
    """The seeds of one run: derived on request and remembered, so provenance can list every one used."""

    def __init__(self, root: int, *path: str | int | float):
        self.root = int(root)
        self.path = path
        self.used: dict[str, int] = {}

    def seed(self, *name: str | int) -> int:
        value = derive_seed(self.root, *self.path, *name)
        self.used["/".join(str(n) for n in name)] = value
        return value
