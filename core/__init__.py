"""meltdyn: ML interatomic potentials, long MD of oxide melts and dynamic-heterogeneity analysis."""

from importlib import metadata

try:
    __version__ = metadata.version("meltdyn")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from meltdyn.standalone import analyse_trajectory  # noqa: E402
from meltdyn.study import Run, Study, load_study  # noqa: E402

__all__ = ["Run", "Study", "analyse_trajectory", "load_study", "__version__"]
