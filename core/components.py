"""The parts of a trained vocoder (features, model, sampler) as plain, storable specs.

A spec is what a config holds for a part: ``{"class_path": ..., "init_args": {...}}`` for the
model and sampler, a mapping of :class:`MelConfig` fields for the features. Specs are stored
in every run directory and checkpoint, and parts are rebuilt from them with jsonargparse, the
same machinery that parses configs: no pickled objects, nothing that runs code from disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonargparse import ArgumentParser, Namespace

from vocfw.core.features import MelConfig
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Sampler


@dataclass
class Components:
    """A vocoder's features, network and diffusion process, built together."""

    features: MelConfig
    model: Vocoder
    sampler: Sampler


def _plain(value: Any) -> Any:
    """Namespaces and tuples to dicts and lists, for JSON and YAML."""
    if isinstance(value, Namespace):
        value = value.as_dict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _parser() -> ArgumentParser:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(MelConfig, "features")
    parser.add_subclass_arguments(Vocoder, "model", required=True)
    parser.add_subclass_arguments(Sampler, "sampler", required=True)
    return parser


def normalise_spec(spec: dict) -> dict:
    """Validate a ``{"features", "model", "sampler"}`` spec and fill in every default.

    Raises:
        ValueError: an unknown class, argument or value, with jsonargparse's message.
    """
    parser = _parser()
    try:
        cfg = parser.parse_object(spec)
    except Exception as exc:  # jsonargparse raises its own error types
        raise ValueError(f"invalid model/sampler/features spec: {exc}") from None
    return _plain({key: cfg[key] for key in ("features", "model", "sampler")})


def build_components(spec: dict) -> Components:
    """Instantiate features, model and sampler from a spec (see :func:`normalise_spec`)."""
    parser = _parser()
    try:
        cfg = parser.instantiate(parser.parse_object(spec))
    except Exception as exc:
        raise ValueError(f"cannot build the model/sampler/features spec: {exc}") from None
    features = cfg.features if isinstance(cfg.features, MelConfig) else MelConfig(**cfg.features)
    model, sampler = cfg.model, cfg.sampler
    if model.n_mels != features.n_mels or model.hop_length != features.hop_length:
        raise ValueError(
            f"model {type(model).__name__} expects {model.n_mels} mel bands and hop "
            f"{model.hop_length}, but the features have {features.n_mels} bands and hop "
            f"{features.hop_length}"
        )
    return Components(features, model, sampler)
