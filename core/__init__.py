"""meltdyn: ML interatomic potentials, long MD of oxide melts and dynamic-heterogeneity analysis."""

from meltdyn.standalone import analyse_trajectory
from meltdyn.study import Run, Study, load_study
from meltdyn.version import __version__

__all__ = ["Run", "Study", "analyse_trajectory", "load_study", "__version__"]
