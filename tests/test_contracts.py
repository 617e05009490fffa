"""The contract kit run over every plugin class in the live registry.

The cases are parametrised from the registry, so a newly registered built-in (or an installed
third-party plugin) is checked without a new test; a corpus without a synthetic tree fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import SpecError, pair_up
from vocfw.core.corpus import Corpus, Utterance
from vocfw.core.model import Vocoder
from vocfw.core.registry import build_registry
from vocfw.core.sampler import Sampler
from vocfw.core.testing import segmented_trees, whole_file_trees
from vocfw.core.testing.contracts import (
    ContractError,
    check_corpus,
    check_model,
    check_sampler,
)
from vocfw.plugins.samplers.ddpm import DDPM, FAST_SCHEDULE

REGISTRY = build_registry()
TREES = {**segmented_trees.BUILDERS, **whole_file_trees.BUILDERS}
# small constructor arguments for the built-ins; other classes are built with their defaults
SMALL = {"DiffWave": {"residual_layers": 2, "residual_channels": 8},
         "WaveGrad": {"base_channels": 2},
         "DDPM": {"inference_schedule": "fast"}, "DDIM": {"inference_steps": 3, "eta": 1.0},
         "PriorGrad": {"inference_schedule": "fast"},
         # DDPM's training schedule, so that the DiffWave built with its default 50 steps fits
         "WaveGradDiffusion": {"beta_start": 1e-4, "beta_end": 0.05, "num_steps": 50}}


@pytest.mark.parametrize("name", sorted(REGISTRY.entries["models"]))
def test_every_registered_model_honours_the_contract(name: str) -> None:
    check_model(REGISTRY.get("models", name), SMALL.get(name), registry=REGISTRY,
                sampler_args=SMALL)


@pytest.mark.parametrize("name", sorted(REGISTRY.entries["samplers"]))
def test_every_registered_sampler_honours_the_contract(name: str) -> None:
    check_sampler(REGISTRY.get("samplers", name), SMALL.get(name), registry=REGISTRY,
                  model_args=SMALL)


@pytest.mark.parametrize("name", sorted(REGISTRY.entries["corpora"]))
def test_every_registered_corpus_honours_the_contract(name: str, tmp_path: Path) -> None:
    assert name in TREES, f"corpus {name!r} has no synthetic tree in vocfw.core.testing"
    fixture = TREES[name](tmp_path / "raw")
    check_corpus(REGISTRY.get("corpora", name), fixture.root)


class FrameBlind(Vocoder):
    """Accepts a mel of any number of bands: breaks the condition contract."""

    def __init__(self, n_mels: int = 20, hop_length: int = 256) -> None:
        super().__init__()
        self.n_mels, self.hop_length = n_mels, hop_length
        self.gain = torch.nn.Parameter(torch.ones(1))

    def condition(self, mel: torch.Tensor) -> torch.Tensor:
        return mel.mean(dim=(1, 2))  # (B,), accepts any number of bands

    def denoise(self, audio: torch.Tensor, step: torch.Tensor, condition: torch.Tensor):
        return audio * self.gain + condition[:, None]  # (B, N)


class Writer(Corpus):
    """Writes into the tree it reads."""

    name = "writer"

    def utterances(self) -> list[Utterance]:
        cache = self.root / "cache.wav"
        cache.write_bytes(b"")
        return [Utterance(self.dataset, "s", "cache", cache, "train")]


class Empty(Corpus):
    """Finds nothing."""

    name = "empty"

    def utterances(self) -> list[Utterance]:
        return []


def test_the_kit_names_a_model_that_breaks_the_contract() -> None:
    with pytest.raises(ContractError, match="FrameBlind: condition accepted 19 mel bands"):
        check_model(FrameBlind, registry=REGISTRY, sampler_args=SMALL)


def test_the_kit_names_a_corpus_that_writes_or_yields_nothing(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(ContractError, match="Writer: reading the corpus changed files"):
        check_corpus(Writer, tmp_path / "raw")
    with pytest.raises(ContractError, match="Empty: no utterances"):
        check_corpus(Empty, tmp_path / "raw")


class LevelOnly(Vocoder):
    """A well-behaved model that takes the noise level, not a step, as its time input."""

    time_input = "noise_level"

    def __init__(self, n_mels: int = 20, hop_length: int = 256) -> None:
        super().__init__()
        self.n_mels, self.hop_length = n_mels, hop_length
        self.proj = torch.nn.Conv1d(n_mels, 1, 1)
        self.seen: list[torch.Tensor] = []

    def condition(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.shape[1] != self.n_mels:
            raise ValueError(f"expected {self.n_mels} mel bands, got {mel.shape[1]}")
        return self.proj(mel).repeat_interleave(self.hop_length, dim=-1)[:, 0]  # (B, N)

    def denoise(self, audio: torch.Tensor, time: torch.Tensor, condition: torch.Tensor):
        self.seen.append(time.detach().clone())
        return torch.tanh(audio * time[:, None] + condition)  # (B, N)


class StepOnly(Sampler):
    """Supplies only training steps (the default ``time_inputs``)."""

    def training_loss(self, model, audio, mel, generator=None):
        return model(audio, torch.zeros(audio.shape[0]), mel).abs().mean()

    def sample(self, model, mel, generator=None):
        return torch.zeros(mel.shape[0], mel.shape[-1] * model.hop_length)


def test_a_sampler_feeds_a_noise_level_model_noise_levels() -> None:
    model = LevelOnly()
    check_model(LevelOnly, registry=REGISTRY, sampler_args=SMALL)
    ddpm = DDPM(inference_schedule="fast")
    ddpm.sample(model.eval(), torch.zeros(1, 20, 2) - 4.0, torch.Generator().manual_seed(0))
    expected = np.sqrt(np.cumprod(1.0 - np.asarray(FAST_SCHEDULE)))[::-1]
    assert torch.allclose(torch.cat(model.seen), torch.tensor(expected.copy()).float())


def test_a_pair_that_cannot_agree_on_the_time_input_is_refused_at_build() -> None:
    reason = StepOnly().model_incompatibility(LevelOnly())
    assert reason is not None and "noise level" in reason and "step" in reason
    assert StepOnly().model_incompatibility(REGISTRY.get("models", "DiffWave")()) is None
    with pytest.raises(SpecError, match="sampler StepOnly cannot be used with model LevelOnly"):
        pair_up(MelConfig(n_mels=20), LevelOnly(), StepOnly(), "exp.yaml")


class ReadsHop(StepOnly):
    """Reads the network's hop length off the module it is handed, which distributed training
    wraps."""

    def training_loss(self, model, audio, mel, generator=None):
        return model(audio, torch.zeros(audio.shape[0]), mel).abs().mean() * model.hop_length


def test_the_kit_names_a_sampler_that_cannot_train_a_wrapped_network() -> None:
    with pytest.raises(ContractError, match="ReadsHop: training_loss failed on a network "
                       "wrapped for distributed training .*network_of"):
        check_sampler(ReadsHop, registry=REGISTRY, model_args=SMALL)
