"""Contract checks a plugin author runs over their own model, sampler or corpus class.

Each ``check_*`` function exercises the contract of the class's base and raises
:class:`ContractError` (an ``AssertionError``, so pytest reports it as a failed test) naming
the class and what it broke. A model or sampler is built the way users build it: from a
features/model/sampler spec through :func:`vocfw.core.components.build_components` (so it
must be registered, i.e. its plugin installed), saved as a checkpoint and loaded back. Its
partners are vocfw's built-in samplers or models and the other classes of its own
distribution, built small (:data:`PARTNER_ARGS`); an unrelated installed plugin is paired
with it only when named in ``partners``::

    from vocfw.core.testing.contracts import check_model

    def test_my_model_honours_the_contract():
        check_model(WaveMini, {"channels": 8})

Shapes: B batch, M mel bands, T frames, N = T * hop_length samples.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from vocfw.core.components import Components, SpecError, build_components
from vocfw.core.corpus import Corpus, CorpusLayoutError, uid_problem
from vocfw.core.model import Vocoder
from vocfw.core.plugins import OWN_DISTRIBUTION
from vocfw.core.registry import Registry, current_registry
from vocfw.core.sampler import Sampler
from vocfw.core.testing.contract_checks import (
    ContractError,
    check_chunking,
    check_denoise,
    check_pair,
    check_reload,
    check_rows,
    expect,
    perturb,
    random_mel,
    saved_and_reloaded,
)

__all__ = ["PARTNER_ARGS", "ContractError", "check_corpus", "check_model", "check_sampler"]

Args = Mapping[str, Any] | None
PartnerArgs = Mapping[str, Mapping[str, Any]] | None
PARTNER_ARGS: dict[str, dict[str, Any]] = {
    "DiffWave": {"residual_layers": 2, "residual_channels": 8},
    "WaveGrad": {"base_channels": 2},
    "FrameWave": {"channels": 8, "hidden": 16, "layers": 2},
    "DDPM": {"inference_schedule": "fast"},
    "DDIM": {"inference_steps": 3, "eta": 1.0},
    "PriorGrad": {"inference_schedule": "fast"},
    "SpecGrad": {"inference_schedule": "fast"},
    "WaveGradDiffusion": {"beta_start": 1e-4, "beta_end": 0.05, "num_steps": 50},
    "FlowMatching": {"steps": 2},
}
"""Small constructor arguments of vocfw's built-ins, used when they are partners (or checked
themselves); other classes are built with their defaults unless given arguments."""


def _features(n_mels: int, hop_length: int) -> dict[str, int]:
    n_fft = 4 * hop_length if hop_length % 2 == 0 else 3 * hop_length  # n_fft - hop even
    return {"n_mels": n_mels, "hop_length": hop_length, "n_fft": n_fft, "win_length": n_fft}


def _steps(sampler: type[Sampler], args: Mapping[str, Any]) -> Any:
    """The training step count ``sampler`` is built with (``None``: it fixes none)."""
    parameter = inspect.signature(sampler).parameters.get(sampler.steps_argument or "")
    if parameter is None:
        return None
    return args.get(parameter.name, parameter.default)


def build(model: type[Vocoder], model_args: Args, sampler: type[Sampler], sampler_args: Args,
          n_mels: int, hop_length: int) -> Components:
    """Build a model and sampler from a spec, as a config is built, the sampler's training
    step count linked into a step-embedding model (see ``steps_argument``) and the feature
    sizes into the model."""
    model_args = {**dict(model_args or {}), "n_mels": n_mels, "hop_length": hop_length}
    sampler_args = dict(sampler_args or {})
    steps = _steps(sampler, sampler_args)
    if model.steps_argument is not None and steps is not None:
        model_args[model.steps_argument] = steps
    spec = {"features": _features(n_mels, hop_length),
            "model": {"class_path": f"{model.__module__}.{model.__qualname__}",
                      "init_args": model_args},
            "sampler": {"class_path": f"{sampler.__module__}.{sampler.__qualname__}",
                        "init_args": sampler_args}}
    torch.manual_seed(0)
    try:
        components = build_components(spec, "contract kit")
    except SpecError as error:
        raise ContractError(f"building model {model.__name__} with sampler "
                            f"{sampler.__name__} from a spec failed: {error}") from None
    return components


def _partners(registry: Registry, cls: type, kind: str, partners: Collection[str],
              partner_args: PartnerArgs) -> list[tuple[type, dict]]:
    """The built-in classes of ``kind``, those of ``cls``'s own distribution and those named
    in ``partners``, each with its arguments."""
    own = [e.distribution for e in registry.entries[_kind_of(cls)].values() if e.cls is cls]
    expect(bool(own), cls, "is not registered: install its plugin (the kit builds it from a "
           "spec, as users do)")
    unknown = sorted(set(partners) - set(registry.entries[kind]))
    expect(not unknown, cls, f"partners {unknown} are not registered {kind}")
    args = {**PARTNER_ARGS, **(partner_args or {})}
    return [(entry.cls, dict(args.get(name, {})))
            for name, entry in registry.entries[kind].items()
            if entry.distribution in (OWN_DISTRIBUTION, own[0]) or name in partners]


def _kind_of(cls: type) -> str:
    return "models" if issubclass(cls, Vocoder) else "samplers"


def _check_arguments(cls: type, *names: str) -> None:
    """Each ``*_argument`` the class sets names a constructor parameter (or is ``None``); an
    inherited default its constructor lacks means that it takes none, as the linking reads it."""
    parameters = inspect.signature(cls).parameters
    base = Vocoder if issubclass(cls, Vocoder) else Sampler
    for name in names:
        value = getattr(cls, name)
        expect(value in (None, getattr(base, name)) or value in parameters, cls,
               f"{name} is {value!r}, which is not one of its constructor arguments")


def check_model(
    cls: type[Vocoder],
    init_args: Args = None,
    *,
    n_mels: int = 20,
    hop_length: int = 256,
    frames: int = 3,
    partners: Collection[str] = (),
    sampler_args: PartnerArgs = None,
) -> None:
    """Check a registered model class against the :class:`~vocfw.core.model.Vocoder` contract.

    Built from a spec with each partner sampler that supplies its time input: shapes,
    condition/denoise agreement, every kind of time input, a checkpoint saved with nothing but
    safetensors and JSON that loads back to the same outputs, a stated receptive field that
    covers the measured one, chunked vocoding equal to whole-input vocoding past it, and one
    training step and one sample with every partner.

    Args:
        cls: the model class (its plugin installed).
        init_args: constructor arguments besides ``n_mels`` and ``hop_length`` (keep it small).
        n_mels: mel bands to build it with.
        hop_length: samples per frame to build it with.
        frames: mel frames of the test input.
        partners: other registered samplers to pair it with, by class name, besides vocfw's
            built-ins and the samplers of its own distribution.
        sampler_args: constructor arguments per sampler class name (default:
            :data:`PARTNER_ARGS`, else its defaults).

    Raises:
        ContractError: what the class broke.
    """
    _check_arguments(cls, "steps_argument")
    mel = random_mel(n_mels, frames)
    pairs = [(sampler, args) for sampler, args in
             _partners(current_registry(), cls, "samplers", partners, sampler_args)
             if cls.time_input in sampler.time_inputs]
    expect(bool(pairs), cls, f"no partner sampler supplies its time input {cls.time_input!r}")
    for index, (sampler, args) in enumerate(pairs):
        components = build(cls, init_args, sampler, args, n_mels, hop_length)
        if index == 0:
            perturb(components.model)
            check_denoise(components.model, mel)
            with tempfile.TemporaryDirectory() as folder:
                check_reload(components, saved_and_reloaded(components, Path(folder)), mel)
            check_chunking(components)
        check_pair(components.model, components.sampler, mel)


def check_sampler(
    cls: type[Sampler],
    init_args: Args = None,
    *,
    n_mels: int = 20,
    hop_length: int = 256,
    frames: int = 3,
    partners: Collection[str] = (),
    model_args: PartnerArgs = None,
) -> None:
    """Check a registered sampler class against the :class:`~vocfw.core.sampler.Sampler`
    contract.

    Built from a spec with each partner model whose time input it supplies: declared
    arguments that name constructor parameters, a finite scalar training loss (the same
    through a distributed-training wrapper), samples of shape (B, T * hop_length) within
    [-1, 1], the same output for the same seed and after a checkpoint round trip, rows that
    depend only on their own generator, and its own run accepted by :meth:`incompatibility`.

    Args:
        cls: the sampler class (its plugin installed).
        init_args: its constructor arguments.
        n_mels: mel bands of the test models.
        hop_length: samples per frame of the test models.
        frames: mel frames of the test input.
        partners: other registered models to pair it with, by class name, besides vocfw's
            built-ins and the models of its own distribution.
        model_args: constructor arguments per model class name (default:
            :data:`PARTNER_ARGS`, else its defaults).

    Raises:
        ContractError: what the class broke.
    """
    _check_arguments(cls, "steps_argument", "schedule_argument")
    mel = random_mel(n_mels, frames)
    pairs = [(model, args) for model, args in
             _partners(current_registry(), cls, "models", partners, model_args)
             if model.time_input in cls.time_inputs]
    expect(bool(pairs), cls, "no partner model takes a time input it supplies")
    for index, (model, args) in enumerate(pairs):
        components = build(model, args, cls, init_args, n_mels, hop_length)
        reason = components.sampler.incompatibility(components.sampler)
        expect(reason is None, cls, f"incompatibility refuses its own training: {reason}")
        if index == 0:
            with tempfile.TemporaryDirectory() as folder:
                check_reload(components, saved_and_reloaded(components, Path(folder)), mel)
        check_pair(components.model, components.sampler, mel)
        check_rows(components.sampler, components.model.eval(), mel)


def _tree_state(root: Path) -> dict[str, tuple[int, str]]:
    """Every folder and file under ``root``: relative path -> (mode, content hash)."""
    state = {}
    for folder, _, files in os.walk(root):
        state[str(Path(folder).relative_to(root))] = (Path(folder).stat().st_mode, "")
        for name in files:
            path = Path(folder) / name
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path.relative_to(root))] = (path.stat().st_mode, digest)
    return state


def check_corpus(cls: type[Corpus], root: Path | str, init_args: Args = None) -> None:
    """Check a corpus class over a tree laid out as the corpus documents.

    Args:
        cls: the corpus class.
        root: a (small, synthetic) corpus tree to read, for example a pytest ``tmp_path``
            fixture the test filled.
        init_args: constructor arguments besides ``root``.

    Raises:
        ContractError: what the class broke.
    """
    root = Path(root)
    args = dict(init_args or {})
    before = _tree_state(root)
    corpus = cls(root=root, **args)
    first = corpus.utterances()
    expect(bool(first), cls, f"no utterances read from {root}")
    expect(first == cls(root=root, **args).utterances(), cls,
            "two readings of the same tree give different utterances or order")
    uids = [u.uid for u in first]
    expect(len(set(uids)) == len(uids), cls, "uids are not unique")
    for utt in first:
        expect(uid_problem(utt.uid) is None, cls, f"{uid_problem(utt.uid)}")
        expect(utt.dataset == corpus.dataset, cls,
                f"utterance {utt.uid!r} names dataset {utt.dataset!r}, not {corpus.dataset!r}")
        expect(Path(utt.path).is_absolute() and Path(utt.path).is_file(), cls,
                f"utterance {utt.uid!r}: {utt.path} is not an existing absolute file path")
    expect(_tree_state(root) == before, cls, f"reading the corpus changed files under {root}")
    missing = root.parent / f"{root.name}-missing"
    expect(not missing.exists(), cls, f"{missing} exists; cannot check a missing root")
    try:
        cls(root=missing, **args).utterances()
    except CorpusLayoutError as exc:
        expect(str(missing) in str(exc), cls, f"the missing-root error does not name it: {exc}")
        return
    expect(False, cls, f"a missing root {missing} raised no CorpusLayoutError")
