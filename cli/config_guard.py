"""Checks of experiment configs after jsonargparse has parsed them.

The model's mel bands and hop are linked from ``data.features`` and its step count from
``sampler`` (:func:`vocfw.core.components.linked_arguments` says which, for the classes named);
a config that sets them to something else is refused instead of silently overridden, with the
check of :func:`vocfw.core.components.check_linked_value`. (Which classes a config may name is
enforced where jsonargparse resolves them: see :mod:`vocfw.core.config_safety`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jsonargparse import Namespace

from vocfw.cli.parser import FEATURES
from vocfw.core.components import check_linked_value, linked_arguments
from vocfw.core.config_safety import load_yaml
from vocfw.core.registry import Registry

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


def _explicit_model_values(argv: list[str], keys: list[str]) -> dict[str, tuple[Any, str]]:
    """The model arguments among ``keys`` given explicitly, with where (the last one wins)."""
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


def _value(cfg: Namespace, key: str) -> Any:
    """The parsed config's value of a dotted ``key``, or ``None`` where it has none."""
    value: Any = cfg
    for part in key.split("."):
        if isinstance(value, Namespace | dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def check_linked_values(argv: list[str], cfg: Namespace, registry: Registry) -> None:
    """Refuse a model argument given explicitly that differs from the value it is linked from
    (mel bands and hop from ``data.features``, the step count from the sampler).

    Raises:
        SpecError: naming where the model's value was given, both keys and both values.
    """
    model, sampler = _value(cfg, "model.class_path"), _value(cfg, "sampler.class_path")
    if model is None or sampler is None:
        return  # no model to link
    linked = linked_arguments(registry.resolve("models", model, "model.class_path"),
                              registry.resolve("samplers", sampler, "sampler.class_path"), FEATURES)
    for key, (value, where) in _explicit_model_values(argv, list(linked)).items():
        check_linked_value(key, value, linked[key], _value(cfg, linked[key]), where)
