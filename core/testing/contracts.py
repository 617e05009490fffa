"""Contract checks a plugin author runs over their own model, sampler or corpus class.

Each ``check_*`` function builds the class, exercises the contract of its base class and
raises :class:`ContractError` (an ``AssertionError``, so pytest reports it as a failed test)
naming the class and what it broke. The model and sampler checks pair the class with every
model or sampler in the live registry, so a plugin is checked against vocfw's built-ins and
every other installed plugin::

    from vocfw.core.testing.contracts import check_model

    def test_my_model_honours_the_contract():
        check_model(WaveMini, {"channels": 8})

Shapes: B batch, M mel bands, T frames, N = T * hop_length samples.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_weights
from safetensors.torch import save as save_weights

from vocfw.core.audio.mel import MelConfig
from vocfw.core.corpus import Corpus, CorpusLayoutError, uid_problem
from vocfw.core.model import Vocoder
from vocfw.core.registry import Registry, build_registry
from vocfw.core.sampler import Sampler

Args = Mapping[str, Any] | None
PartnerArgs = Mapping[str, Mapping[str, Any]] | None
BATCH = 2


class ContractError(AssertionError):
    """A plugin class does not honour the contract of its base class."""


def _expect(condition: bool, cls: type, message: str) -> None:
    if not condition:
        raise ContractError(f"{cls.__module__}.{cls.__qualname__}: {message}")


def _model(cls: type[Vocoder], init_args: Args, n_mels: int, hop_length: int) -> Vocoder:
    torch.manual_seed(0)
    model = cls(**{"n_mels": n_mels, "hop_length": hop_length, **dict(init_args or {})})
    _expect(model.n_mels == n_mels and model.hop_length == hop_length, cls,
            "n_mels and hop_length must be kept as attributes of the same names")
    return model


def _sampler(cls: type[Sampler], init_args: Args, n_mels: int, hop_length: int) -> Sampler:
    """A sampler given the features of the test mels, as building it with a model does."""
    sampler = cls(**dict(init_args or {}))
    n_fft = 4 * hop_length if hop_length % 2 == 0 else 3 * hop_length  # n_fft - hop even
    sampler.use_features(MelConfig(n_mels=n_mels, hop_length=hop_length, n_fft=n_fft,
                                   win_length=n_fft))
    return sampler


def _mel(n_mels: int, frames: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((BATCH, n_mels, frames), generator=generator) - 4.0  # (B, M, T)


def _times(model: Vocoder) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Time inputs of the model's kind: per-row integers and fractions, then one shared value
    (noise levels sqrt(alpha_bar) in (0, 1] for a noise-level model)."""
    if model.time_input == "noise_level":
        return torch.tensor([1.0, 0.5]), torch.tensor([0.05, 0.93]), torch.tensor([0.7])
    return torch.tensor([0, 1]), torch.tensor([0.5, 1.25]), torch.tensor([1])


def _check_denoise(model: Vocoder, mel: torch.Tensor) -> None:
    """Shapes, condition/denoise agreement, every kind of time input, a wrong mel size."""
    cls = type(model)
    samples = mel.shape[-1] * model.hop_length
    audio = torch.randn((BATCH, samples), generator=torch.Generator().manual_seed(1))  # (B, N)
    _expect(model.time_input in ("step", "noise_level"), cls,
            f"time_input must be 'step' or 'noise_level', got {model.time_input!r}")
    model.eval()
    with torch.no_grad():
        condition = model.condition(mel)
        for time in _times(model):
            out = model.denoise(audio, time, condition)  # (B, N)
            _expect(tuple(out.shape) == (BATCH, samples), cls,
                    f"denoise returned shape {tuple(out.shape)} for times {time.tolist()}, "
                    f"expected {(BATCH, samples)}")
            _expect(bool(torch.isfinite(out).all()), cls,
                    f"denoise returned non-finite values for times {time.tolist()}")
        time = _times(model)[0]
        again = model(audio, time, mel)
        _expect(torch.allclose(again, model.denoise(audio, time, condition)),
                cls, "forward(audio, time, mel) differs from denoise(audio, time, condition(mel))")
    try:
        model.condition(mel[:, :-1])
    except ValueError:
        return
    _expect(False, cls, f"condition accepted {mel.shape[1] - 1} mel bands instead of "
            f"{model.n_mels} without raising ValueError")


def _check_round_trip(model: Vocoder, cls: type[Vocoder], init_args: Args,
                      mel: torch.Tensor) -> None:
    """The weights survive a safetensors round trip into a fresh instance."""
    blob = save_weights({k: v.contiguous() for k, v in model.state_dict().items()})
    torch.manual_seed(1)
    fresh = cls(**{"n_mels": model.n_mels, "hop_length": model.hop_length,
                   **dict(init_args or {})}).eval()
    fresh.load_state_dict(load_weights(blob), strict=True)
    audio = torch.randn((BATCH, mel.shape[-1] * model.hop_length))  # (B, N)
    time = _times(model)[0]
    with torch.no_grad():
        same = torch.equal(fresh(audio, time, mel), model.eval()(audio, time, mel))
    _expect(same, cls, "a fresh instance loaded with the saved state dict computes differently")


def _refused(model: Vocoder, sampler: Sampler) -> bool:
    """Whether ``sampler`` refuses ``model`` (then with a reason in words)."""
    reason = sampler.model_incompatibility(model)
    _expect(reason is None or (isinstance(reason, str) and bool(reason.strip())), type(sampler),
            f"model_incompatibility must return None or a reason, got {reason!r}")
    return reason is not None


class _Wrapper(torch.nn.Module):
    """What distributed training hands a sampler: the network held as ``.module``, calls
    forwarded, attributes not (as DistributedDataParallel does)."""

    def __init__(self, module: Vocoder) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.module(*args)


def _wrapped_loss(model: Vocoder, sampler: Sampler, audio: torch.Tensor, mel: torch.Tensor,
                  names: str) -> torch.Tensor:
    """The training loss through a distributed-training wrapper, which must equal the bare
    network's loss from the same draws."""
    try:
        loss = sampler.training_loss(_Wrapper(model), audio, mel,
                                     torch.Generator().manual_seed(0))
    except AttributeError as error:
        raise ContractError(
            f"{names}: training_loss failed on a network wrapped for distributed training "
            f"({error}); read the network's attributes through "
            f"vocfw.core.sampler.network_of(model)") from error
    bare = sampler.training_loss(model, audio, mel, torch.Generator().manual_seed(0))
    _expect(torch.equal(loss.detach(), bare.detach()), type(sampler),
            f"{names}: training_loss differs through a distributed-training wrapper")
    return loss


def _check_pair(model: Vocoder, sampler: Sampler, mel: torch.Tensor) -> None:
    """One training step and one sample of ``model`` with ``sampler``, unless it refuses it."""
    if _refused(model, sampler):
        return
    names = f"model {type(model).__name__} with sampler {type(sampler).__name__}"
    cls = type(model)
    model.train()
    audio = torch.rand((BATCH, mel.shape[-1] * model.hop_length)) * 1.6 - 0.8  # (B, N)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    loss = _wrapped_loss(model, sampler, audio, mel, names)
    _expect(loss.dim() == 0 and bool(torch.isfinite(loss)), type(sampler),
            f"{names}: training_loss must be a finite scalar, got {loss!r}")
    _expect(loss.requires_grad, cls, f"{names}: the loss does not depend on the parameters")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)  # as training does: a loss's scale is its own
    torch.optim.SGD(params, lr=1e-2).step()
    _expect(any(not torch.equal(b, p) for b, p in zip(before, params, strict=True)), cls,
            f"{names}: one training step changed no parameter")
    model.eval()
    waves = sampler.sample(model, mel, torch.Generator().manual_seed(0))
    expected = (BATCH, mel.shape[-1] * model.hop_length)
    _expect(tuple(waves.shape) == expected, type(sampler),
            f"{names}: sample returned shape {tuple(waves.shape)}, expected {expected}")
    _expect(bool(torch.isfinite(waves).all()) and float(waves.abs().max()) <= 1.0,
            type(sampler), f"{names}: samples must be finite and within [-1, 1]")


def _partners(registry: Registry | None, kind: str, partner_args: PartnerArgs) -> list:
    registry = registry or build_registry()
    args = partner_args or {}
    return [(entry.cls, args.get(name, {})) for name, entry in registry.entries[kind].items()]


def check_model(
    cls: type[Vocoder],
    init_args: Args = None,
    *,
    n_mels: int = 20,
    hop_length: int = 256,
    frames: int = 3,
    registry: Registry | None = None,
    sampler_args: PartnerArgs = None,
) -> None:
    """Check a model class against the :class:`~vocfw.core.model.Vocoder` contract.

    Args:
        cls: the model class.
        init_args: constructor arguments besides ``n_mels`` and ``hop_length`` (keep it small).
        n_mels: mel bands to build it with.
        hop_length: samples per frame to build it with.
        frames: mel frames of the test input.
        registry: the samplers to pair it with (default: every installed plugin).
        sampler_args: constructor arguments per sampler class name (default: its defaults).

    Raises:
        ContractError: what the class broke.
    """
    model = _model(cls, init_args, n_mels, hop_length)
    mel = _mel(n_mels, frames)
    _check_denoise(model, mel)
    _check_round_trip(model, cls, init_args, mel)
    for sampler_cls, args in _partners(registry, "samplers", sampler_args):
        _check_pair(_model(cls, init_args, n_mels, hop_length),
                    _sampler(sampler_cls, args, n_mels, hop_length), mel)


def _check_rows(sampler: Sampler, model: Vocoder, mel: torch.Tensor) -> None:
    """Seeded output repeats, and with one generator per row a row ignores the others."""
    cls = type(sampler)

    def rows(seeds: list[int], batch: torch.Tensor) -> torch.Tensor:
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        return sampler.sample(model, batch, generators)

    first = sampler.sample(model, mel, torch.Generator().manual_seed(5))
    _expect(torch.equal(first, sampler.sample(model, mel, torch.Generator().manual_seed(5))),
            cls, "sample gives different output for the same seeded generator")
    pair = rows([7, 8], mel)
    # equal up to float rounding, which batch size may change (outputs lie in [-1, 1])
    _expect(torch.allclose(pair[1:], rows([8], mel[1:]), atol=1e-4), cls,
            "with one generator per row, a row's output depends on the other rows")


def check_sampler(
    cls: type[Sampler],
    init_args: Args = None,
    *,
    n_mels: int = 20,
    hop_length: int = 256,
    frames: int = 3,
    registry: Registry | None = None,
    model_args: PartnerArgs = None,
) -> None:
    """Check a sampler class against the :class:`~vocfw.core.sampler.Sampler` contract.

    Pairs it with every registered model it does not refuse (see
    :meth:`~vocfw.core.sampler.Sampler.model_incompatibility`): a finite scalar training
    loss, samples of shape (B, T * hop_length) within [-1, 1], the same output for the same seed,
    and rows that depend only on their own generator.

    Args:
        cls: the sampler class.
        init_args: its constructor arguments.
        n_mels: mel bands of the test models.
        hop_length: samples per frame of the test models.
        frames: mel frames of the test input.
        registry: the models to pair it with (default: every installed plugin).
        model_args: constructor arguments per model class name (default: its defaults).

    Raises:
        ContractError: what the class broke.
    """
    mel = _mel(n_mels, frames)
    for model_cls, args in _partners(registry, "models", model_args):
        model = _model(model_cls, args, n_mels, hop_length)
        _check_pair(model, _sampler(cls, init_args, n_mels, hop_length), mel)
        if not _refused(model, _sampler(cls, init_args, n_mels, hop_length)):
            _check_rows(_sampler(cls, init_args, n_mels, hop_length), model.eval(), mel)


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
    _expect(bool(first), cls, f"no utterances read from {root}")
    _expect(first == cls(root=root, **args).utterances(), cls,
            "two readings of the same tree give different utterances or order")
    uids = [u.uid for u in first]
    _expect(len(set(uids)) == len(uids), cls, "uids are not unique")
    for utt in first:
        _expect(uid_problem(utt.uid) is None, cls, f"{uid_problem(utt.uid)}")
        _expect(utt.dataset == corpus.dataset, cls,
                f"utterance {utt.uid!r} names dataset {utt.dataset!r}, not {corpus.dataset!r}")
        _expect(Path(utt.path).is_absolute() and Path(utt.path).is_file(), cls,
                f"utterance {utt.uid!r}: {utt.path} is not an existing absolute file path")
    _expect(_tree_state(root) == before, cls, f"reading the corpus changed files under {root}")
    missing = root.parent / f"{root.name}-missing"
    _expect(not missing.exists(), cls, f"{missing} exists; cannot check a missing root")
    try:
        cls(root=missing, **args).utterances()
    except CorpusLayoutError as exc:
        _expect(str(missing) in str(exc), cls, f"the missing-root error does not name it: {exc}")
        return
    _expect(False, cls, f"a missing root {missing} raised no CorpusLayoutError")
