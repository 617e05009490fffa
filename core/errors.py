"""The base of vocfw's named errors about what it reads: a file, folder or setting that is not
as expected. Every such error derives from :class:`VocfwError` and from the built-in error it
refines (``ValueError``, ``FileNotFoundError``, ...), so either can be caught. The command line
prints a :class:`VocfwError` as one line; any other exception is a bug, shown with its traceback.

The one exception is :class:`vocfw.core.testing.contracts.ContractError`, an ``AssertionError``:
it reports a plugin that fails the contract kit's tests, not input vocfw cannot use.
"""

from __future__ import annotations


class VocfwError(Exception):
    """Input vocfw cannot use; the message names the file or key and what was expected."""


class MetadataError(VocfwError, ValueError):
    """A metadata file (``features.json``, a split list) is not valid JSON of the expected form."""


class SpecError(VocfwError, ValueError):
    """A component spec is malformed, names a class that is not registered, or asks for sizes
    beyond its classes' limits."""
