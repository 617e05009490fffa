"""vocfw core: plugin contracts, feature extraction and the training and inference engines."""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from vocfw.core.hookspecs import hookimpl

try:
    __version__ = version("vocfw")
except PackageNotFoundError:  # running from a source tree without metadata
    __version__ = "0.0.0"

__all__ = ["LoadedVocoder", "__version__", "hookimpl", "load"]


def __getattr__(name: str) -> object:
    """``load`` and ``LoadedVocoder`` (the Python API), imported on first use so that importing
    any core module does not pull in the inference stack."""
    if name in ("load", "LoadedVocoder"):
        return getattr(import_module("vocfw.core.infer.api"), name)
    raise AttributeError(f"module 'vocfw.core' has no attribute {name!r}")
