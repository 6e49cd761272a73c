"""The installed package's version, from its metadata (so the CLI and the records agree with pip)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neuroemu")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
