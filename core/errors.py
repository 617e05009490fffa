"""The base of vocfw's named errors about what it reads: a file, folder or setting that is not
as expected. Every such error derives from :class:`VocfwError` and from the built-in error it
refines (``ValueError``, ``FileNotFoundError``), so either can be caught."""

from __future__ import annotations


class VocfwError(Exception):
    """Input vocfw cannot use; the message names the file or key and what was expected."""


class MetadataError(VocfwError, ValueError):
    """A metadata file (``features.json``, a split list) is not valid JSON of the expected form."""
