"""Checkpoint converters: plugin-contributed import from and export to outside formats.

A plugin returns :class:`Converter` records from its ``vocfw_register_converters`` hook;
``vocfw convert NAME`` builds its options from the function's typed, documented signature and
runs it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vocfw.core.errors import VocfwError

DIRECTIONS = ("import", "export")


class ConverterError(VocfwError, ValueError):
    """A converter record is malformed: its name, direction or function cannot be offered as a
    ``vocfw convert`` subcommand."""


@dataclass(frozen=True)
class Converter:
    """One checkpoint conversion.

    Attributes:
        name: the ``vocfw convert`` subcommand (unique across plugins).
        direction: ``import`` (outside format -> vocfw run directory) or ``export``
            (vocfw run or checkpoint -> outside format).
        function: does the conversion and returns the path it wrote; its parameters are
            typed and documented, since they become the subcommand's options. An export
            refuses an existing output unless its ``overwrite`` parameter is true, and never
            writes into a run's checkpoint folders
            (:func:`vocfw.core.runs.convert_toolkit.export_target` does both); an import
            checks the sizes a checkpoint declares before reading its tensors
            (:func:`vocfw.core.runs.convert_toolkit.check_architecture`).
        help: one line for ``vocfw convert --help``.

    Raises:
        ConverterError: a name that is not letters, digits, ``-`` or ``_``, another
            direction, or a function that is not callable or has untyped parameters.
    """

    name: str
    direction: Literal["import", "export"]
    function: Callable[..., Path]
    help: str = ""

    def __post_init__(self) -> None:
        text = self.name if isinstance(self.name, str) else ""
        if not text.replace("-", "").replace("_", "").isalnum():
            raise ConverterError(f"converter name {self.name!r} must be letters, digits, - or _")
        if self.direction not in DIRECTIONS:
            raise ConverterError(f"converter {self.name!r}: direction must be one of "
                                 f"{DIRECTIONS}, got {self.direction!r}")
        if not callable(self.function):
            raise ConverterError(f"converter {self.name!r}: function {self.function!r} is not "
                                 "callable")
        try:
            parameters = inspect.signature(self.function).parameters
        except (TypeError, ValueError) as exc:
            raise ConverterError(f"converter {self.name!r}: function {self.function!r} has no "
                                 f"signature to build options from ({exc})") from None
        missing = [name for name, p in parameters.items()
                   if p.annotation is inspect.Parameter.empty]
        if missing:
            raise ConverterError(f"converter {self.name!r}: parameters {missing} of "
                                 f"{self.function.__qualname__} have no type annotation")
