"""The command-line parser, built by jsonargparse from the plugins' and engines' signatures.

The registry is built before the parser so that every plugin class is imported and can be
named in a config by its short class name (``DiffWave``, ``DDPM``); the defaults are named so
too, and the command line imports no plugin. Every YAML jsonargparse
reads is held to the bounds of :mod:`vocfw.core.config_safety`, and options are never
abbreviated (``--conf`` is not ``--config``).
"""

from __future__ import annotations

from argparse import SUPPRESS
from collections.abc import Callable
from typing import Any, Literal

from jsonargparse import ArgumentParser, Namespace, set_parsing_settings

from vocfw.cli.demo import demo
from vocfw.cli.parse_errors import ConfigFileAction
from vocfw.core import __version__
from vocfw.core.components import add_component_arguments, linked_arguments
from vocfw.core.config_safety import bound_config_yaml
from vocfw.core.data.config import DataConfig
from vocfw.core.data.given_mels import import_given_mels
from vocfw.core.distiller import Distiller
from vocfw.core.evaluate.score import evaluate
from vocfw.core.export.onnx import export_onnx
from vocfw.core.infer.predict import predict
from vocfw.core.infer.schedule_search import search_schedule
from vocfw.core.registry import Registry, current_registry
from vocfw.core.seed import DEFAULT_SEED
from vocfw.core.train.trainer import Trainer

# the classes ``fit`` trains when a config names none, by registered name
DEFAULT_MODEL = {"class_path": "DiffWave"}
DEFAULT_SAMPLER = {"class_path": "DDPM"}
FEATURES = "data.features"  # where an experiment config holds the mel settings
PARSER_KEYS = {"help", "config", "print_config"}

# A section one command only carries for another (``accept_sections_of``) is kept as parsed
# values: a class named there is never imported or instantiated by the command that ignores it.
set_parsing_settings(instantiate_subclass_spec_in_any=False)
bound_config_yaml()


def _new_parser(description: str) -> ArgumentParser:
    """A parser that raises its errors (``vocfw`` prints them as one line) and takes no
    abbreviated option (``--conf`` is not ``--config``)."""
    return ArgumentParser(description=description, exit_on_error=False, allow_abbrev=False,
                          env_prefix="VOCFW")


def bare_flags(parser: ArgumentParser) -> ArgumentParser:
    """Let every ``bool`` option be given alone (``--overwrite``) as well as with a value
    (``--overwrite true``, ``--use_ema false``)."""
    for action in parser._actions:
        if getattr(action, "_typehint", None) is bool:
            action.nargs, action.const = "?", True
    return parser


def _experiment_base(description: str) -> ArgumentParser:
    parser = _new_parser(description)
    parser.add_argument("-c", "--config", action=ConfigFileAction, help="experiment config file")
    parser.add_class_arguments(DataConfig, "data")
    return parser


def _top_level_keys(parser: ArgumentParser) -> set[str]:
    return {action.dest.split(".")[0] for action in parser._actions} - PARSER_KEYS


def accept_sections_of(parser: ArgumentParser, other: ArgumentParser) -> ArgumentParser:
    """Let ``parser`` read an experiment file written for ``other`` too: the sections only
    ``other`` reads are accepted and ignored, and neither listed in help nor printed."""
    for key in sorted(_top_level_keys(other) - _top_level_keys(parser)):
        parser.add_argument(f"--{key}", type=Any, default=None, help=SUPPRESS)
    return parser


def fit_parser(registry: Registry | None = None) -> ArgumentParser:
    """The schema of ``fit``: ``data``, ``model``, ``sampler``, ``trainer``, ``seed``, ``name``,
    ``resume_type``, ``checkpoint`` and ``overwrite``.

    The model's mel bands and hop are linked from ``data.features`` and its diffusion step count
    from ``sampler`` (:func:`~vocfw.core.components.linked_arguments` of the default classes,
    resolved in ``registry``), so each is set once (a config setting them otherwise is refused).
    """
    registry = registry or current_registry()
    parser = _experiment_base("Train a vocoder")
    add_component_arguments(parser, ("model", "sampler"))
    parser.add_class_arguments(Trainer, "trainer")
    parser.set_defaults(model=DEFAULT_MODEL, sampler=DEFAULT_SAMPLER)
    linked = linked_arguments(registry.resolve("models", DEFAULT_MODEL["class_path"], "fit"),
                              registry.resolve("samplers", DEFAULT_SAMPLER["class_path"], "fit"),
                              FEATURES)
    for key, source in linked.items():
        parser.link_arguments(source, f"model.init_args.{key}")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--name", type=str | None, default=None, help="run name")
    parser.add_argument(
        "--resume_type", type=Literal["resume", "finetune"] | None, default=None,
        help="'resume' continues a run exactly; 'finetune' starts from its weights only",
    )
    parser.add_argument(
        "--checkpoint", type=str | None, default=None,
        help="checkpoint folder, checkpoint/ folder or run directory to resume or finetune",
    )
    parser.add_argument(
        "--overwrite", type=bool, default=False,
        help="replace the run already in {trainer.log_dir}/{name} instead of refusing",
    )
    return bare_flags(parser)


def preprocess_parser() -> ArgumentParser:
    """The schema of ``preprocess``: ``data``, ``num_workers`` and ``device``."""
    parser = _experiment_base("Corpora as downloaded -> training-ready features")
    parser.add_argument("--num_workers", type=int, default=1, help="feature-extraction processes")
    parser.add_argument("--device", type=str, default="cpu", help="device for mel extraction")
    return bare_flags(parser)


def import_mels_parser(fit: ArgumentParser) -> ArgumentParser:
    """The schema of ``import-mels``: ``data`` and the options of
    :func:`~vocfw.core.data.given_mels.import_given_mels`; it reads ``fit``'s experiment file."""
    parser = _experiment_base("Given mels + a processed dataset's audio -> a dataset for fit")
    parser.add_function_arguments(import_given_mels, as_group=False, skip={"data"})
    return bare_flags(accept_sections_of(parser, fit))


def distill_parser(fit: ArgumentParser) -> ArgumentParser:
    """The schema of ``distill``: ``data``, ``trainer``, ``teacher``, ``method``, ``steps``,
    ``seed``, ``name``, ``resume`` and ``overwrite``; it reads ``fit``'s experiment file."""
    parser = _experiment_base("Distill a trained run into a student that samples in K steps")
    parser.add_class_arguments(Trainer, "trainer")
    parser.add_argument("--teacher", type=str | None, default=None,
                        help="the teacher: a run directory, checkpoint/ folder or checkpoint")
    parser.add_subclass_arguments(Distiller, "method", required=False, help=(
        "the distillation method (default: the first registered one that accepts the teacher)"))
    parser.add_argument("--steps", type=int | None, default=None,
                        help="K: the student's sampling steps")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--name", type=str | None, default=None, help="student run name")
    parser.add_argument("--resume", type=bool, default=False,
                        help="continue the student run {trainer.log_dir}/{name} exactly")
    parser.add_argument("--overwrite", type=bool, default=False,
                        help="replace the run already in {trainer.log_dir}/{name}")
    return bare_flags(accept_sections_of(parser, fit))


def experiment_parsers(registry: Registry | None = None) -> dict[str, ArgumentParser]:
    """``preprocess`` and ``fit``, each reading only its own options but accepting the whole
    experiment file, so one file serves both."""
    preprocess, fit = preprocess_parser(), fit_parser(registry)
    accept_sections_of(fit, preprocess)
    accept_sections_of(preprocess, fit)
    return {"preprocess": preprocess, "fit": fit}


def function_parser(
    function: Callable, description: str, skip: set[str] | None = None
) -> ArgumentParser:
    """A subcommand whose options are one function's documented parameters (but ``skip``)."""
    parser = _new_parser(description)
    parser.add_argument("-c", "--config", action=ConfigFileAction, help="options file")
    parser.add_function_arguments(function, as_group=False, skip=skip)
    return bare_flags(parser)


def add_converters(convert: ArgumentParser, registry: Registry) -> None:
    """``vocfw convert``: one subcommand per registered converter, options from its signature."""
    formats = convert.add_subcommands(dest="format")
    for name, entry in sorted(registry.converters.items()):
        converter = entry.converter
        origin = f"{converter.direction}, from {entry.distribution}"
        formats.add_subcommand(
            name, function_parser(converter.function, converter.help or name),
            help=f"{converter.help} ({origin})" if converter.help else origin,
        )


def build_parser(
    registry: Registry | None = None,
) -> tuple[ArgumentParser, dict[str, ArgumentParser]]:
    """The ``vocfw`` parser with all subcommands, and the subcommand parsers by name.

    Args:
        registry: the plugins whose classes configs name and whose converters
            ``vocfw convert`` offers (default: the process's registry).
    """
    registry = registry or current_registry()
    parser = _new_parser("vocfw: train and run diffusion neural vocoders")
    parser.add_argument("--version", action="version", version=f"vocfw {__version__}")
    commands = parser.add_subcommands(dest="command")
    experiments = experiment_parsers(registry)
    commands.add_subcommand(
        "preprocess", experiments["preprocess"],
        help="extract features from the corpora in data.datasets",
    )
    commands.add_subcommand("fit", experiments["fit"], help="train (or resume) a vocoder")
    experiments["import-mels"] = import_mels_parser(experiments["fit"])
    experiments["distill"] = distill_parser(experiments["fit"])
    commands.add_subcommand("distill", experiments["distill"],
                            help="train a student that samples in K steps from a trained run")
    commands.add_subcommand(
        "import-mels", experiments["import-mels"],
        help="pair given mels (an acoustic model's) with a processed dataset's audio, for fit",
    )
    commands.add_subcommand(
        "predict", function_parser(predict, "Vocode mel spectrograms or audio"),
        help="vocode a dataset's test split, a folder of mels, or a folder of audio",
    )
    commands.add_subcommand(
        "search-schedule",
        function_parser(search_schedule, "Search an inference noise schedule for a trained run"),
        help="search an N-step beta schedule for predict --schedule (log-mel L1 on test audio)",
    )
    commands.add_subcommand(
        "evaluate", function_parser(evaluate, "Objective metrics of generated audio"),
        help="compare generated audio with references (PESQ, STOI, MCD, ...)",
    )
    convert = _new_parser("Import and export checkpoints of other implementations")
    commands.add_subcommand("convert", convert,
                            help="import or export checkpoints with the registered converters")
    add_converters(convert, registry)
    export = _new_parser("Export a trained vocoder for running without vocfw")
    commands.add_subcommand("export", export,
                            help="export a trained vocoder to run without vocfw or torch")
    export.add_subcommands(dest="format").add_subcommand(
        "onnx", function_parser(export_onnx, "ONNX graphs and a numpy/onnxruntime runtime"),
        help="ONNX graphs, the sampler's schedule and a runtime needing only numpy and "
             "onnxruntime")
    commands.add_subcommand(
        "demo", function_parser(demo, "The whole job on a generated demo corpus", {"command"}),
        help="generate a demo corpus, then preprocess, fit, predict and evaluate",
    )
    plugins = _new_parser("List the discovered plugins and what they registered")
    plugins.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands.add_subcommand("plugins", plugins, help="list plugins, corpora, models, samplers")
    return parser, experiments


def parse(parser: ArgumentParser, experiments: dict[str, ArgumentParser],
          argv: list[str]) -> Namespace:
    """Parse ``argv``; a ``fit`` that names a model or sampler class other than the default
    gets that class's own defaults for the arguments it does not set.

    jsonargparse keeps the default class's values for the arguments a newly named class shares
    with it (``num_steps`` of DDPM for ``WaveGradDiffusion``), so the line is parsed again
    with the named classes as the defaults.
    """
    cfg = parser.parse_args(argv)
    if cfg.command != "fit":
        return cfg
    chosen = {part: {"class_path": cfg.fit[part].class_path} for part in ("model", "sampler")}
    experiments["fit"].set_defaults(**chosen)
    try:
        return parser.parse_args(argv)
    finally:
        experiments["fit"].set_defaults(model=DEFAULT_MODEL, sampler=DEFAULT_SAMPLER)
