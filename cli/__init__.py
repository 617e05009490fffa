"""The ``vocfw`` command line."""

from vocfw.cli.main import main

__all__ = ["main"]
