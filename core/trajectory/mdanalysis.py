"""MDAnalysis reads meltdyn's trajectories: ``import meltdyn.trajectory.mdanalysis`` and ``mda.Universe("trajectory.h5")``.

MDAnalysis reads H5MD coordinates (positions, boxes, times, with their units) but has no topology parser for the
format, so a Universe needs a second file, and it takes only the ``.h5md`` suffix for H5MD. Importing this module
registers a topology parser for H5MD files — atom names and elements from the file's ``particles/all/species`` and
the species names meltdyn stores beside them, masses from ASE's table; files without species get names ``X``, as
MDAnalysis' minimal parser would — and MDAnalysis' own H5MD reader for meltdyn's ``.h5`` suffix.
"""

from __future__ import annotations

import h5py
import numpy as np
from MDAnalysis.coordinates.H5MD import H5MDReader
from MDAnalysis.core.topology import Topology
from MDAnalysis.core.topologyattrs import Atomids, Atomnames, Atomtypes, Elements, Masses, Resids, Resnums, Segids
from MDAnalysis.topology.base import TopologyReaderBase

from meltdyn.base import elements

SPECIES = "particles/all/species"
SPECIES_NAMES = "parameters/meltdyn/species_names"


class MeltdynH5MDParser(TopologyReaderBase):
    """Atoms of an H5MD file written by meltdyn (or converted by ``meltdyn analyse``)."""

    format = ["H5MD", "H5"]  # defining the class registers it as the parser of both suffixes

    def parse(self, **kwargs: object) -> Topology:
        with h5py.File(self.filename, "r") as f:
            n_atoms = f["particles/all/position/value"].shape[1]
            if SPECIES in f and SPECIES_NAMES in f:
                table = np.array([s.decode() for s in f[SPECIES_NAMES][()]], dtype=object)
                symbols = table[f[SPECIES][()]]
            else:
                symbols = np.full(n_atoms, "X", dtype=object)
        masses = np.array([elements.mass_u(s) if s != "X" else 0.0 for s in symbols])
        attrs = [Atomnames(symbols), Atomtypes(symbols), Elements(symbols), Masses(masses),
                 Atomids(np.arange(1, n_atoms + 1)), Resids(np.array([1])), Resnums(np.array([1])),
                 Segids(np.array(["SYSTEM"], dtype=object))]
        return Topology(n_atoms, 1, 1, attrs=attrs)


class MeltdynH5Reader(H5MDReader):
    """MDAnalysis' H5MD reader for files named ``.h5`` as meltdyn names its trajectories, with ``dt`` from the
    file's times when its frames are evenly spaced (MDAnalysis' reader never reads one). With log-spaced frames
    between the linear ones (``log_frames_per_interval``) no single dt exists: use each frame's ``ts.time``."""

    format = "H5"

    def __init__(self, filename: str, **kwargs: object):
        if "dt" not in kwargs:
            with h5py.File(filename, "r") as f:
                times = f["particles/all/position/time"][()]
            steps = np.diff(times)
            if len(steps) and np.allclose(steps, steps[0], rtol=1e-9, atol=0):
                kwargs["dt"] = float(steps[0])
        super().__init__(filename, **kwargs)
