"""What a config may make vocfw do: import registered classes only, and YAML read within bounds.

jsonargparse imports the module that a ``class_path`` (or any other class-typed value) names,
wherever the value comes from: a config file in any spelling, a nested config file, standard
input, an environment variable or the command line. Inside :func:`registered_imports_only`,
jsonargparse's import path policy (its ``import_path_denylist``/``import_path_allowlist``
parsing settings) denies every path but those of the registered classes, so each such value is
checked where jsonargparse resolves it, before any module is imported.

A few hundred bytes of YAML aliases stand for gigabytes once expanded, and deep nesting
exhausts Python's stack. :func:`load_yaml` walks the YAML's event stream first, building
nothing, and refuses a document that nests deeper than :data:`MAX_DEPTH` or whose aliases
expand past :data:`MAX_EXPANDED_SIZE`; :func:`bound_config_yaml` makes jsonargparse read every
config through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from jsonargparse import _common as _jsonargparse_common
from jsonargparse import get_loader, set_loader, set_parsing_settings

from vocfw.core.errors import VocfwError
from vocfw.core.registry import Registry

MAX_DEPTH = 50
"""The deepest a config's mappings and lists may nest."""
MAX_EXPANDED_SIZE = 1_000_000
"""The most values and characters a config may hold with every alias expanded."""

_PARSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_JSONARGPARSE_YAML = get_loader("yaml")
# the parsing settings that make up jsonargparse's import path policy
_POLICY_SETTINGS = ("import_path_verdicts", "import_paths_enforced")


class ConfigBoundsError(VocfwError, ValueError):
    """YAML that nests too deeply, or whose aliases expand past the size budget."""


@contextmanager
def registered_imports_only(registry: Registry) -> Iterator[None]:
    """While inside, jsonargparse imports from parsed values only the import paths of
    ``registry``'s classes (short names resolve to these); any other path is refused before it
    is imported.

    The policy is a process-wide jsonargparse setting that jsonargparse offers no call to undo,
    so the settings in force before are saved and put back on leaving: outside, other users of
    jsonargparse (and classes registered later) are not affected.
    """
    settings = _jsonargparse_common.parsing_settings
    saved = {key: settings[key] for key in _POLICY_SETTINGS}
    set_parsing_settings(import_path_denylist=["*"],
                         import_path_allowlist=sorted(registry.import_paths()))
    try:
        yield
    finally:
        settings.update(saved)


def _at(where: str | None, event: yaml.Event) -> str:
    """Where ``event`` is, for a message: ``"FILE: line N"`` (or ``"line N"``)."""
    line = f"line {event.start_mark.line + 1}"
    return f"{where}: {line}" if where else line


def _expanded_size(event: yaml.Event, sizes: dict[str, int], where: str | None) -> int:
    """How many values and characters ``event`` adds once aliases are expanded."""
    if isinstance(event, yaml.AliasEvent):
        if event.anchor not in sizes:
            raise ConfigBoundsError(f"{_at(where, event)}: alias *{event.anchor} is undefined "
                                    "or refers to a node that contains it")
        return sizes[event.anchor]
    if isinstance(event, yaml.ScalarEvent):
        return 1 + len(event.value)
    return 1 if isinstance(event, yaml.CollectionStartEvent) else 0


def check_yaml_bounds(text: str, where: str | None = None) -> None:
    """Refuse YAML nesting deeper than :data:`MAX_DEPTH` or expanding past
    :data:`MAX_EXPANDED_SIZE`, from its event stream alone (nothing is built).

    Raises:
        ConfigBoundsError: naming ``where`` (the file, when the caller knows it) and the line
            where a bound was passed.
        yaml.YAMLError: ``text`` is not YAML.
    """
    sizes: dict[str, int] = {}  # anchor -> expanded size of the node it names
    starts: list[tuple[str | None, int]] = []  # open collections: anchor, total before them
    total = 0
    for event in yaml.parse(text, Loader=_PARSER):
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, before = starts.pop()
            if anchor is not None:
                sizes[anchor] = total - before
            continue
        size = _expanded_size(event, sizes, where)
        if isinstance(event, yaml.CollectionStartEvent):
            starts.append((event.anchor, total))
            if len(starts) > MAX_DEPTH:
                raise ConfigBoundsError(f"{_at(where, event)}: YAML nests deeper than "
                                        f"{MAX_DEPTH} levels")
        elif isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
            sizes[event.anchor] = size
        total += size
        if total > MAX_EXPANDED_SIZE:
            raise ConfigBoundsError(f"{_at(where, event)}: YAML aliases expand past "
                                    f"{MAX_EXPANDED_SIZE:,} values and characters")


def load_yaml(text: str, where: str | None = None) -> Any:
    """``text`` read as jsonargparse reads YAML, once :func:`check_yaml_bounds` passed.

    Raises:
        ConfigBoundsError: past a bound (naming ``where``).
        yaml.YAMLError: ``text`` is not YAML.
    """
    check_yaml_bounds(text, where)
    return _JSONARGPARSE_YAML(text)


def bound_config_yaml() -> None:
    """Make jsonargparse read every YAML config (file, standard input, nested file, environment
    variable, value given as YAML) with :func:`load_yaml`; whoever reads names the source."""
    set_loader("yaml", load_yaml, exceptions=(yaml.YAMLError,))
