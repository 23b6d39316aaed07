"""meltdyn: ML interatomic potentials, long MD of oxide melts and dynamic-heterogeneity analysis."""

from meltdyn.analysis.standalone import analyse_trajectory
from meltdyn.base.version import __version__
from meltdyn.study.runner import Run, Study, load_study

__all__ = ["Run", "Study", "analyse_trajectory", "load_study", "__version__"]
