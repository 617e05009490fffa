"""``vocfw``: build the registry, then the parser, then dispatch to a subcommand.

The registry is built once per process (:func:`vocfw.core.registry.current_registry`) and is
the one every part of the command uses. Input vocfw cannot use (a
:class:`~vocfw.core.errors.VocfwError`) and a file system failure (``OSError``) are shown as
one line; any other exception is a bug, shown with its traceback and a line saying so.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import yaml
from jsonargparse import ArgumentError, ArgumentParser, Namespace

from vocfw.cli import commands
from vocfw.cli.config_guard import check_linked_values
from vocfw.cli.parse_errors import describe_error
from vocfw.cli.parser import build_parser, parse
from vocfw.core.config_safety import registered_imports_only
from vocfw.core.errors import VocfwError
from vocfw.core.registry import Registry, current_registry

# Errors that describe bad input or state (OSError: unreadable or unwritable files, a full
# disk); shown as one message line, not a traceback, exiting with 1 (a command line the parser
# refuses exits with 2).
USER_ERRORS = (VocfwError, OSError)
BUG_STATUS = 70  # EX_SOFTWARE: an internal error
BUG_LINE = ("this is a bug in vocfw or in one of its plugins (vocfw plugins lists them): "
            "please report it with the traceback above")
EXPERIMENTS = ("preprocess", "fit")

LIST_OPTIONS = ("--datasets", "--metrics")


def gather_list_options(argv: list[str]) -> list[str]:
    """Accept ``--datasets a b`` as well as jsonargparse's ``--datasets [a,b]``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        out.append(argv[i])
        if argv[i] in LIST_OPTIONS:
            values = []
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                values.append(argv[i + 1])
                i += 1
            single_list = len(values) == 1 and values[0].startswith("[")
            out.append(values[0] if single_list else "[" + ",".join(values) + "]")
        i += 1
    return out


def _option_value(text: str) -> Any:
    """A command-line value as JSON where it is JSON (numbers, lists), else as YAML."""
    try:
        return json.loads(text)
    except ValueError:
        return yaml.safe_load(text)


def gather_sampler_options(argv: list[str]) -> list[str]:
    """``predict`` and ``export onnx``: turn ``--sampler.KEY VALUE`` (or
    ``--sampler.init_args.KEY``, or ``KEY=VALUE``) into one ``--sampler_args`` mapping of the
    keys actually given."""
    if argv[:1] != ["predict"] and argv[:2] != ["export", "onnx"]:
        return argv
    out: list[str] = []
    given: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        name, equals, value = argv[i].partition("=")
        if name.startswith("--sampler."):
            if not equals:
                i += 1
                value = argv[i] if i < len(argv) else ""
            given[name.removeprefix("--sampler.").removeprefix("init_args.")] = (
                _option_value(value))
        else:
            out.append(argv[i])
        i += 1
    return [*out, "--sampler_args", json.dumps(given)] if given else out


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = gather_list_options(sys.argv[1:] if argv is None else list(argv))
    argv = gather_sampler_options(argv)
    registry = current_registry()
    commands.report_failures(registry)
    parser, experiments = build_parser(registry)
    command = argv[0] if argv else ""
    prog = f"vocfw {command}".rstrip()
    try:
        with registered_imports_only(registry):
            cfg = parse(parser, experiments, argv)
            if command in EXPERIMENTS:
                check_linked_values(argv, cfg[command], registry)
            return dispatch(cfg, experiments, registry)
    except (ArgumentError, *USER_ERRORS) as exc:
        print(f"{prog}: error: {describe_error(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, ArgumentError) else 1
    except Exception:
        traceback.print_exc()
        print(f"{prog}: internal error: {BUG_LINE}", file=sys.stderr)
        return BUG_STATUS


def dispatch(cfg: Namespace, experiments: dict[str, ArgumentParser], registry: Registry) -> int:
    """Run the parsed subcommand; returns its exit status."""
    command = cfg.command
    sub = cfg[command]
    if command == "preprocess":
        return commands.run_preprocess(experiments[command], sub, registry)
    if command == "fit":
        return commands.run_fit(experiments[command], sub, registry)
    if command == "distill":
        return commands.run_distill(experiments[command], sub, registry)
    if command == "import-mels":
        return commands.run_import_mels(experiments[command], sub)
    if command == "predict":
        return commands.run_predict(sub)
    if command == "search-schedule":
        return commands.run_search_schedule(sub)
    if command == "evaluate":
        return commands.run_evaluate(sub)
    if command == "convert":
        return commands.run_convert(sub, registry)
    if command == "export":
        return commands.run_export(sub)
    if command == "demo":
        return commands.run_demo(sub, main)
    return commands.run_plugins(sub, registry)


if __name__ == "__main__":
    sys.exit(main())
