"""``meltdyn init``: a commented study file to start from, sized to pass validation and to run in minutes on a CPU."""

from __future__ import annotations

import importlib.util

TEMPLATE = """\
# A meltdyn study: every composition x temperature x replica of the sweep is one run that is built, simulated
# and analysed. `meltdyn validate {file}` checks it (and shows each run's system); `meltdyn run {file}` runs it;
# `meltdyn results {file}` prints what was measured. Every key is in the file reference (docs/reference/
# study-file.md in meltdyn's sources, or `meltdyn schema --markdown`).
name: {name}
output_dir: runs/{name}      # one directory per run below it; never overwritten
seed: 1                      # every random choice derives from it (packing, velocities, thermostat noise)
system:
  plugin: sodium_silicate
  atoms: 650                 # rounded to whole formula units (648 for NS2); SHIK's 10 A cutoffs need a box at
                             # least 20 A wide, which at melt density is about 600 atoms or more
sweep:
  compositions: [NS2]        # NSk (Na2O.kSiO2) or a Na2O mole fraction, e.g. [NS2, NS4, 0.2]
  temperatures_K: [3000]
  replicas: 1                # independent runs per state point, for errors between runs
potential:
  plugin: shik               # the SHIK pair potential for Na-Si-O (Sundararaman et al.); or painn with a model_dir
engine:
{engine}
protocol:
  timestep_fs: 1.0
  stages:
    - {{stage: minimise, max_iterations: 200}}
    - {{stage: nvt, temperature_K: 4000, duration_ps: 1.0}}      # melt: forget the packing
    # at the sweep's temperature, coupled strongly so that the melt sheds its 4000 K heat within the stage
    - {{stage: nvt, duration_ps: 5.0, friction_per_ps: 10.0}}
    # - {{stage: npt, duration_ps: 10.0, pressure_bar: 1.0}}    # to let the density find itself
    - stage: production
      duration_ps: 4.0         # lags up to this; longer runs for slower dynamics (D, tau_alpha at lower T)
      sampling: {{interval_ps: 0.1, log_frames_per_interval: 6}}
observables:
  - plugin: msd                # mean squared displacement and D per species
  - plugin: isf                # self intermediate scattering function F_s(q, t) and tau_alpha
    q_per_A: [1.7]
  - plugin: van_hove           # G_s(r, t) and sodium's hops
    lags_ps: [0.1, 1.0, 2.0]
  - plugin: alpha2             # non-Gaussian parameters alpha2(t), gamma(t)
  # - plugin: structure        # g(r), coordination, S(q); network (Qn, angles); chi4; mobility (clusters)
"""

OPENMM = """\
  plugin: openmm
  platform: auto             # CUDA or OpenCL where there is a GPU, else CPU"""

LAMMPS = """\
  plugin: lammps             # the fastest CPU engine for SHIK here; openmm runs it too
  threads: 1                 # one thread is fastest for a few hundred atoms; more for thousands"""


def study_template(name: str, file: str) -> str:
    """The template, with the ``lammps`` engine where LAMMPS' Python module is installed, else ``openmm``."""
    engine = LAMMPS if importlib.util.find_spec("lammps") is not None else OPENMM
    return TEMPLATE.format(name=name, file=file, engine=engine)
