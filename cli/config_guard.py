"""Checks of experiment configs after jsonargparse has parsed them.

The model's mel bands and hop are linked from ``data.features`` and its step count from
``sampler``; a config that sets them to something else is refused instead of silently
overridden. (Which classes a config may name is enforced where jsonargparse resolves them:
see :mod:`vocfw.core.config_safety`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jsonargparse import Namespace

from vocfw.cli.parser import LINKS
from vocfw.core.components import SpecError
from vocfw.core.config_safety import load_yaml

CONFIG_OPTIONS = ("-c", "--config")


def config_files(argv: list[str]) -> list[Path]:
    """The config files named on a command line, in the order given."""
    values = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in CONFIG_OPTIONS]
    values += [arg.split("=", 1)[1] for arg in argv if arg.startswith("--config=")]
    return [Path(value) for value in values if Path(value).is_file()]


def _load(path: Path) -> dict:
    """A config file's mapping, read within the YAML bounds (``{}`` if it is not one)."""
    try:
        config = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}  # jsonargparse reports unreadable files with its own message
    return config if isinstance(config, dict) else {}


def _explicit_model_values(argv: list[str]) -> dict[str, tuple[Any, str]]:
    """Linked keys given for the model, with where (the last one given wins)."""
    keys = [key for _, key in LINKS]
    found: dict[str, tuple[Any, str]] = {}
    for path in config_files(argv):
        model = _load(path).get("model")
        init_args = model.get("init_args") if isinstance(model, dict) else None
        for key in keys:
            if isinstance(init_args, dict) and key in init_args:
                found[key] = (init_args[key], str(path))
    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        for key in keys:
            if name in (f"--model.init_args.{key}", f"--model.{key}"):
                given = value if value else (argv[i + 1] if i + 1 < len(argv) else "")
                found[key] = (load_yaml(given, f"{name} on the command line"), "the command line")
    return found


def _linked_source(cfg: Namespace, source: str, key: str) -> Any:
    """``{source}.{key}`` of the parsed config, or ``None`` where it has no such value."""
    value: Any = cfg
    for part in [*source.split("."), key]:
        if isinstance(value, Namespace | dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def check_linked_values(argv: list[str], cfg: Namespace) -> None:
    """Refuse a model ``n_mels``/``hop_length``/``num_steps`` that differs from the value it is
    linked from (``data.features``, ``sampler.init_args``).

    Raises:
        SpecError: naming the key, both values and where the model's value was given.
    """
    sources = {key: source for source, key in LINKS}
    for key, (value, where) in _explicit_model_values(argv).items():
        linked = _linked_source(cfg, sources[key], key)
        if linked is not None and value != linked:
            raise SpecError(
                f"{where}: model.init_args.{key} is {value!r} but {sources[key]}.{key} is "
                f"{linked!r}: set {key} once, under {sources[key]} (the model takes it from there)"
            )
