"""vocfw core: plugin contracts, feature extraction and the training and inference engines."""

from importlib.metadata import PackageNotFoundError, version

from vocfw.core.hookspecs import hookimpl

try:
    __version__ = version("vocfw")
except PackageNotFoundError:  # running from a source tree without metadata
    __version__ = "0.0.0"

__all__ = ["__version__", "hookimpl"]
