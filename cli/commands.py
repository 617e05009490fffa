"""Thin bodies of the subcommands: turn parsed options into calls of the core engines."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from inspect import signature
from pathlib import Path

from jsonargparse import ArgumentParser, Namespace

from vocfw.cli.demo import demo
from vocfw.core.data.given_mels import import_given_mels
from vocfw.core.data.preprocess import preprocess
from vocfw.core.evaluate.score import evaluate
from vocfw.core.export.onnx import export_onnx
from vocfw.core.infer.predict import predict
from vocfw.core.infer.schedule_search import search_schedule
from vocfw.core.plugin_listing import plugin_listing, plugin_table
from vocfw.core.registry import Registry
from vocfw.core.runs.run_dir import run_path
from vocfw.core.train.distill import distill


def _options(cfg: Namespace) -> dict:
    options = cfg.as_dict()
    options.pop("config", None)
    options.pop("__path__", None)
    return options


def run_preprocess(parser: ArgumentParser, cfg: Namespace, registry: Registry) -> int:
    """``vocfw preprocess``: features for every dataset in ``data.datasets``."""
    init = parser.instantiate(cfg)
    if not init.data.datasets:
        parser.error("data.datasets is empty: name at least one corpus and its folder")
    preprocess(init.data, registry, num_workers=cfg.num_workers, device=cfg.device)
    return 0


def run_import_mels(parser: ArgumentParser, cfg: Namespace) -> int:
    """``vocfw import-mels``: each given mel left out is one line on standard error; exit
    status 1 when any was."""
    init = parser.instantiate(cfg)
    options = {name: cfg[name] for name in signature(import_given_mels).parameters
               if name != "data"}
    summary = import_given_mels(init.data, **options)
    for skip in summary.skipped:
        print(f"vocfw import-mels: skipped {skip.uid}: {skip.path}: {skip.reason}",
              file=sys.stderr)
    print(summary)
    return 1 if summary.skipped else 0


def run_fit(parser: ArgumentParser, cfg: Namespace, registry: Registry) -> int:
    """``vocfw fit``: train, resume or finetune into ``{trainer.log_dir}/{name}``.

    Exit status 130 when stopped by Ctrl-C (a checkpoint was saved), 0 otherwise.
    """
    if not cfg.name:
        parser.error("fit needs --name NAME: the run is written to {trainer.log_dir}/NAME")
    if cfg.resume_type and not cfg.checkpoint:
        parser.error(f"--resume_type {cfg.resume_type} needs --checkpoint PATH")
    run_dir = run_path(cfg.trainer.log_dir, cfg.name)
    spec = {"features": cfg.data.features.as_dict(), "model": cfg.model.as_dict(),
            "sampler": cfg.sampler.as_dict()}  # built once, by the trainer, after seeding
    config_text = parser.dump(cfg)
    settings = cfg.clone()
    for part in ("model", "sampler"):
        del settings[part]
    init = parser.instantiate(settings)
    init.trainer.fit(
        run_dir=run_dir, data=init.data, spec=spec, config_text=config_text,
        resume_type=cfg.resume_type, checkpoint=Path(cfg.checkpoint) if cfg.checkpoint else None,
        seed=cfg.seed, overwrite=cfg.overwrite,
    )
    return 128 + signal.SIGINT if init.trainer.stop_signal == signal.SIGINT else 0


def run_distill(parser: ArgumentParser, cfg: Namespace, registry: Registry) -> int:
    """``vocfw distill``: a student of ``--teacher`` into ``{trainer.log_dir}/{name}``.

    Exit status 130 when stopped by Ctrl-C (a checkpoint was saved), 0 otherwise.
    """
    for key, meaning in (("teacher", "RUN: the trained run to distill"),
                         ("steps", "K: the student's sampling steps"),
                         ("name", "NAME: the student run is written to {trainer.log_dir}/NAME")):
        if cfg[key] is None:
            parser.error(f"distill needs --{key} {meaning}")
    method = cfg.method.as_dict() if cfg.method else None
    config_text = parser.dump(cfg)
    settings = cfg.clone()
    del settings["method"]
    init = parser.instantiate(settings)
    distill(init.trainer, init.data, Path(cfg.teacher), cfg.steps, cfg.name, config_text,
            method, seed=cfg.seed, resume=cfg.resume, overwrite=cfg.overwrite, registry=registry)
    return 128 + signal.SIGINT if init.trainer.stop_signal == signal.SIGINT else 0


def run_predict(cfg: Namespace) -> int:
    """``vocfw predict``: exit status 1 when some inputs failed."""
    summary = predict(**_options(cfg))
    return 1 if summary.failed else 0


def run_search_schedule(cfg: Namespace) -> int:
    """``vocfw search-schedule``: search a schedule and store it with the run."""
    search_schedule(**_options(cfg))
    return 0


def run_evaluate(cfg: Namespace) -> int:
    """``vocfw evaluate``: exit status 1 when some pairs could not be read."""
    return 1 if evaluate(**_options(cfg)).failed else 0


def run_convert(cfg: Namespace, registry: Registry) -> int:
    """``vocfw convert NAME``: run the registered converter of that name."""
    converter = registry.converters[cfg.format].converter
    written = converter.function(**_options(cfg[cfg.format]))
    print(f"wrote {written}")
    return 0


def run_export(cfg: Namespace) -> int:
    """``vocfw export onnx``: write the export folder."""
    print(f"wrote {export_onnx(**_options(cfg[cfg.format]))}")
    return 0


def run_demo(cfg: Namespace, command: Callable[[list[str]], int]) -> int:
    """``vocfw demo``, running each stage through ``command`` (the ``vocfw`` entry point)."""
    return demo(command, **_options(cfg))


def run_plugins(cfg: Namespace, registry: Registry) -> int:
    """``vocfw plugins``: what was discovered, as a table or JSON."""
    listing = plugin_listing(registry)
    print(json.dumps(listing, indent=2) if cfg.json else plugin_table(listing))
    return 0


def report_failures(registry: Registry) -> None:
    """Warn on standard error about plugins that failed to load or register."""
    for failure in registry.failures:
        print(f"vocfw: warning: {failure}", file=sys.stderr)
