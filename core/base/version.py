"""meltdyn's version, in a module of its own so any module can import it without importing meltdyn's API."""

from importlib import metadata

try:
    __version__ = metadata.version("meltdyn")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
