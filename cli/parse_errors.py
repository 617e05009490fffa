"""What the parser refuses, as one line: the config file it came from, the key, and why.

jsonargparse reports a refused value as several lines of nested alternatives; a class it did
not import (a path outside the registered classes, or a name that is no class's) is reported
here as the class that is not registered, and everything else folded onto one line.
"""

from __future__ import annotations

import re
from argparse import ArgumentError
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from vocfw.core.components import one_line
from vocfw.core.errors import VocfwError

# how jsonargparse words a key and a class path it did not import (refused, or no class name)
_KEY = re.compile(r'Parser key "([^"]+)"')
_NOT_IMPORTED = re.compile(r"Importing '([^']+)' is not allowed|Unexpected import path format: "
                           r"(\S+)|Expected a dot import path string: (\S+)")


class ConfigFileError(VocfwError, ValueError):
    """A config file (or standard input) whose content the parser refused."""


def describe_error(exc: BaseException) -> str:
    """``exc`` (a jsonargparse refusal) as one line naming the key and what was wrong."""
    text = one_line(exc)
    not_imported = _NOT_IMPORTED.search(text)
    if not_imported is None:
        return text
    name = next(group for group in not_imported.groups() if group)
    key = _KEY.search(text)
    return (f"{key[1] if key else 'class_path'}: {name!r} is not a registered class; nothing "
            "was imported (vocfw plugins lists the registered models and samplers)")


class ConfigFileAction(ActionConfigFile):
    """``--config``: a config file, ``-`` for standard input, or the config itself as YAML; a
    config the parser refuses is one :class:`ConfigFileError` naming it."""

    def __call__(self, parser: ArgumentParser, cfg: Namespace, values: Any,
                 option_string: str | None = None) -> None:
        try:
            super().__call__(parser, cfg, values, option_string)
        except (ArgumentError, TypeError, ValueError) as exc:
            source = "standard input" if values == "-" else values
            raise ConfigFileError(f"{source}: {describe_error(exc)}") from exc
