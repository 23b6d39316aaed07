"""Import OpenMM the one way that works with openmm-torch: torch first."""

from __future__ import annotations

from types import ModuleType


def load_openmm() -> ModuleType:
    # openmmtorch's plugin library links against libtorch; OpenMM loads its plugins on import and fails
    # to load that one unless torch's libraries are already in the process.
    import torch  # noqa: F401
    import openmm

    return openmm
