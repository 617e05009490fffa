"""The command-line parser, built by jsonargparse from the plugins' and engines' signatures.

The registry is built before the parser so that every plugin class is imported and can be
named in a config by its short class name (``DiffWave``, ``DDPM``).
"""

from __future__ import annotations

from typing import Literal

from jsonargparse import ActionConfigFile, ArgumentParser

from vocfw.core import __version__
from vocfw.core.convert import export_lmnt, import_amphion, import_lmnt
from vocfw.core.data_config import DataConfig
from vocfw.core.demo import demo
from vocfw.core.engine import Trainer
from vocfw.core.evaluate import evaluate
from vocfw.core.model import Vocoder
from vocfw.core.predict import predict
from vocfw.core.sampler import Sampler
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.samplers.ddpm import DDPM

DEFAULT_MODEL = {"class_path": f"{DiffWave.__module__}.{DiffWave.__name__}"}
DEFAULT_SAMPLER = {"class_path": f"{DDPM.__module__}.{DDPM.__name__}"}
SHARED_FEATURES = ("n_mels", "hop_length")


def _new_parser(description: str) -> ArgumentParser:
    return ArgumentParser(description=description, exit_on_error=True, env_prefix="VOCFW")


def bare_flags(parser: ArgumentParser) -> ArgumentParser:
    """Let every ``bool`` option be given alone (``--overwrite``) as well as with a value
    (``--overwrite true``, ``--use_ema false``)."""
    for action in parser._actions:
        if getattr(action, "_typehint", None) is bool:
            action.nargs, action.const = "?", True
    return parser


def experiment_parser(description: str) -> ArgumentParser:
    """The experiment schema shared by ``preprocess`` and ``fit``, so one file serves both.

    Sections: ``data`` (corpora and features), ``model``, ``sampler``, ``trainer``, plus
    ``seed``, ``name``, ``resume_type``, ``checkpoint``, ``overwrite`` (used by ``fit``) and
    ``num_workers`` (used by ``preprocess``). The model's mel bands and hop are linked from
    ``data.features``, so they are set once (a config setting them otherwise is refused).
    """
    parser = _new_parser(description)
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="experiment config file")
    parser.add_class_arguments(DataConfig, "data")
    parser.add_subclass_arguments(Vocoder, "model", required=True)
    parser.add_subclass_arguments(Sampler, "sampler", required=True)
    parser.add_class_arguments(Trainer, "trainer")
    parser.set_defaults(model=DEFAULT_MODEL, sampler=DEFAULT_SAMPLER)
    for key in SHARED_FEATURES:
        parser.link_arguments(f"data.features.{key}", f"model.init_args.{key}")
    parser.add_argument("--seed", type=int, default=114514, help="random seed")
    parser.add_argument("--name", type=str | None, default=None, help="run name (fit)")
    parser.add_argument(
        "--resume_type", type=Literal["resume", "finetune"] | None, default=None,
        help="fit: 'resume' continues a run exactly; 'finetune' starts from its weights only",
    )
    parser.add_argument(
        "--checkpoint", type=str | None, default=None,
        help="fit: checkpoint folder, checkpoint/ folder or run directory to resume or finetune",
    )
    parser.add_argument(
        "--overwrite", type=bool, default=False,
        help="fit: replace the run already in {trainer.log_dir}/{name} instead of refusing",
    )
    parser.add_argument(
        "--num_workers", type=int, default=1, help="preprocess: feature-extraction processes"
    )
    parser.add_argument(
        "--device", type=str, default="cpu", help="preprocess: device for mel extraction"
    )
    return bare_flags(parser)


def function_parser(function, description: str) -> ArgumentParser:
    """A subcommand whose options are one function's documented parameters."""
    parser = _new_parser(description)
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="options file")
    parser.add_function_arguments(function, as_group=False)
    return bare_flags(parser)


def build_parser() -> tuple[ArgumentParser, dict[str, ArgumentParser]]:
    """The ``vocfw`` parser with all subcommands, and the subcommand parsers by name."""
    parser = _new_parser("vocfw: train and run diffusion neural vocoders")
    parser.add_argument("--version", action="version", version=f"vocfw {__version__}")
    commands = parser.add_subcommands(dest="command")
    experiments = {
        "preprocess": experiment_parser("Corpora as downloaded -> training-ready features"),
        "fit": experiment_parser("Train a vocoder"),
    }
    commands.add_subcommand(
        "preprocess", experiments["preprocess"],
        help="extract features from the corpora in data.datasets",
    )
    commands.add_subcommand("fit", experiments["fit"], help="train (or resume) a vocoder")
    commands.add_subcommand(
        "predict", function_parser(predict, "Vocode mel spectrograms or audio"),
        help="vocode a dataset's test split, a folder of mels, or a folder of audio",
    )
    commands.add_subcommand(
        "evaluate", function_parser(evaluate, "Objective metrics of generated audio"),
        help="compare generated audio with references (PESQ, STOI, MCD, ...)",
    )
    convert = _new_parser("Import and export checkpoints of other implementations")
    commands.add_subcommand("convert", convert, help="import or export peer checkpoints")
    formats = convert.add_subcommands(dest="format")
    formats.add_subcommand("lmnt", function_parser(import_lmnt, "Import an lmnt checkpoint"),
                           help="lmnt-com/diffwave weights.pt -> vocfw run directory")
    formats.add_subcommand("amphion", function_parser(import_amphion, "Import Amphion"),
                           help="Amphion DiffWave checkpoint folder -> vocfw run directory")
    formats.add_subcommand("export-lmnt", function_parser(export_lmnt, "Export to lmnt"),
                           help="vocfw run or checkpoint -> lmnt-com/diffwave weights.pt")
    commands.add_subcommand(
        "demo", function_parser(demo, "The whole job on a generated demo corpus"),
        help="generate a demo corpus, then preprocess, fit, predict and evaluate",
    )
    plugins = _new_parser("List the discovered plugins and what they registered")
    plugins.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands.add_subcommand("plugins", plugins, help="list plugins, corpora, models, samplers")
    return parser, experiments
