"""``vocfw``: build the registry, then the parser, then dispatch to a subcommand."""

from __future__ import annotations

import sys

from vocfw.cli import commands
from vocfw.cli.parser import build_parser
from vocfw.core.registry import build_registry


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    registry = build_registry()
    commands.report_failures(registry)
    parser, experiments = build_parser()
    cfg = parser.parse_args(argv)
    command = cfg.command
    sub = cfg[command]
    if command == "preprocess":
        return commands.run_preprocess(experiments[command], sub, registry)
    if command == "fit":
        return commands.run_fit(experiments[command], sub, registry)
    if command == "predict":
        return commands.run_predict(sub)
    if command == "evaluate":
        return commands.run_evaluate(sub)
    if command == "convert":
        return commands.run_convert(sub)
    return commands.run_plugins(sub, registry)


if __name__ == "__main__":
    sys.exit(main())
