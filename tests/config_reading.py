"""Configs read and built exactly as the command line reads and builds them (shared by the
tests of the recipes and of the documentation's examples)."""

from __future__ import annotations

import functools
from pathlib import Path

from jsonargparse import ArgumentParser, Namespace

from vocfw.cli.parser import build_parser, parse
from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import Components, build_components


@functools.cache
def parsers() -> tuple[ArgumentParser, dict[str, ArgumentParser]]:
    """The ``vocfw`` parser and its experiment subcommands, built once."""
    return build_parser()


@functools.cache
def read_config(path: Path) -> tuple[Namespace, dict[str, str], MelConfig]:
    """A config as the command line reads it.

    Returns:
        What ``vocfw fit`` parses from it; the ``data.datasets`` and features ``vocfw
        preprocess`` reads from the same file.
    """
    parser, experiments = parsers()
    fit = parse(parser, experiments, ["fit", "--config", str(path)]).fit
    cfg = parse(parser, experiments, ["preprocess", "--config", str(path)])
    data = parser.instantiate(cfg).preprocess.data
    return fit, data.datasets, data.features


def build_config(path: Path) -> Components:
    """The features, model and sampler of a config, built as ``vocfw fit`` builds them."""
    fit = read_config(path)[0]
    spec = {"features": fit.data.features.as_dict(), "model": fit.model.as_dict(),
            "sampler": fit.sampler.as_dict()}
    return build_components(spec, str(path))
