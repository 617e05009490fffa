"""The contract kit run over every plugin class in the live registry.

The cases are parametrised from the registry, so a newly registered built-in (or an installed
third-party plugin) is checked without a new test, each against vocfw's built-ins; a corpus
without a synthetic tree fails.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from corpus_trees import segmented_trees, whole_file_trees

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import SpecError, pair_up
from vocfw.core.corpus import Corpus, Utterance
from vocfw.core.diffusion import FAST_SCHEDULE
from vocfw.core.infer.vocode import SettingError, vocode
from vocfw.core.model import Vocoder
from vocfw.core.registry import build_registry
from vocfw.core.sampler import Sampler
from vocfw.core.testing.contracts import (
    PARTNER_ARGS,
    ContractError,
    build,
    check_corpus,
    check_model,
    check_sampler,
)
from vocfw.plugins.samplers.ddpm import DDPM

REGISTRY = build_registry()
TREES = {**segmented_trees.BUILDERS, **whole_file_trees.BUILDERS}


@pytest.mark.parametrize("name", sorted(REGISTRY.entries["models"]))
def test_every_registered_model_honours_the_contract(name: str) -> None:
    check_model(REGISTRY.get("models", name), PARTNER_ARGS.get(name))


@pytest.mark.parametrize("name", sorted(REGISTRY.entries["samplers"]))
def test_every_registered_sampler_honours_the_contract(name: str) -> None:
    check_sampler(REGISTRY.get("samplers", name), PARTNER_ARGS.get(name))


@pytest.mark.parametrize("name", sorted(REGISTRY.entries["corpora"]))
def test_every_registered_corpus_honours_the_contract(name: str, tmp_path: Path) -> None:
    assert name in TREES, f"corpus {name!r} has no synthetic tree in tests/corpus_trees"
    fixture = TREES[name](tmp_path / "raw")
    check_corpus(REGISTRY.get("corpora", name), fixture.root)


# Plugin classes the kit is run over: the kit builds classes from specs, as users do, so each
# is installed as a plugin of its own distribution (see the fake_distribution fixture).
MODELS = """
import torch

from vocfw.core import hookimpl
from vocfw.core.model import Vocoder


class FrameBlind(Vocoder):
    \"\"\"Accepts a mel of any number of bands: breaks the condition contract.\"\"\"

    receptive_field = 1

    def __init__(self, n_mels: int = 20, hop_length: int = 256) -> None:
        super().__init__()
        self.n_mels, self.hop_length = n_mels, hop_length
        self.gain = torch.nn.Parameter(torch.ones(1))

    def condition(self, mel):
        return mel.mean(dim=(1, 2))  # (B,), accepts any number of bands

    def denoise(self, audio, step, condition):
        return audio * self.gain + condition[:, None]  # (B, N)


class PerFrame(Vocoder):
    \"\"\"Each sample from its own frame's mel and its own noisy sample.\"\"\"

    def __init__(self, n_mels: int = 20, hop_length: int = 256) -> None:
        super().__init__()
        self.n_mels, self.hop_length = n_mels, hop_length
        self.proj = torch.nn.Conv1d(n_mels, 1, 1)
        self.seen = []

    @property
    def receptive_field(self) -> int:
        return self.hop_length  # one frame

    def condition(self, mel):
        self.check_mel(mel)
        return self.proj(mel).repeat_interleave(self.hop_length, dim=-1)[:, 0]  # (B, N)

    def denoise(self, audio, time, condition):
        self.seen.append(time.detach().clone())
        return torch.tanh(audio * (1.0 + time.float()[:, None]) + condition)  # (B, N)


class LevelOnly(PerFrame):
    \"\"\"Takes the noise level, not a step, as its time input.\"\"\"

    time_input = "noise_level"


class Unstated(PerFrame):
    \"\"\"States no receptive field (the default).\"\"\"

    receptive_field = None


class Understated(PerFrame):
    \"\"\"Reads its neighbour frames but states a receptive field of one frame.\"\"\"

    receptive_field = 256

    def condition(self, mel):
        return super().condition(torch.nn.functional.avg_pool1d(mel, 3, 1, 1))  # (B, N)


class GlobalLevel(LevelOnly):
    \"\"\"Adds the mel's mean over the whole input, out of sight of gradients.\"\"\"

    def condition(self, mel):
        return super().condition(mel) + mel.detach().mean(dim=(1, 2))[:, None]  # (B, N)


@hookimpl
def vocfw_register_models():
    return [FrameBlind, PerFrame, LevelOnly, Unstated, Understated, GlobalLevel]
"""
SAMPLERS = """
import torch

from vocfw.core import hookimpl
from vocfw.core.sampler import Sampler


class StepOnly(Sampler):
    \"\"\"Supplies only training steps (the default time_inputs).\"\"\"

    def training_loss(self, model, audio, mel, generator=None):
        return model(audio, torch.zeros(audio.shape[0]), mel).abs().mean()

    def sample(self, model, mel, generator=None):
        return torch.zeros(mel.shape[0], mel.shape[-1] * model.hop_length)


class ReadsHop(StepOnly):
    \"\"\"Reads the network's hop length off the module it is handed, which distributed
    training wraps.\"\"\"

    def training_loss(self, model, audio, mel, generator=None):
        return model(audio, torch.zeros(audio.shape[0]), mel).abs().mean() * model.hop_length


class NanLoss(StepOnly):
    \"\"\"An unrelated, broken plugin: its loss is not finite.\"\"\"

    def training_loss(self, model, audio, mel, generator=None):
        return super().training_loss(model, audio, mel) * float("nan")


@hookimpl
def vocfw_register_samplers():
    return [StepOnly, ReadsHop, NanLoss]
"""


@pytest.fixture
def plugins(fake_distribution) -> SimpleNamespace:
    """The test models and samplers above, installed as two distributions."""
    models = importlib.import_module(fake_distribution("kit-models", MODELS))
    samplers = importlib.import_module(fake_distribution("kit-samplers", SAMPLERS))
    build_registry()  # loads both through their entry points
    return SimpleNamespace(**{name: getattr(module, name) for module in (models, samplers)
                              for name in dir(module) if not name.startswith("_")})


def test_the_kit_names_a_model_that_breaks_the_contract(plugins: SimpleNamespace) -> None:
    with pytest.raises(ContractError, match="FrameBlind: condition accepted 19 mel bands"):
        check_model(plugins.FrameBlind)


def test_the_kit_refuses_a_class_that_is_not_installed() -> None:
    class Loose(Vocoder):
        def condition(self, mel: torch.Tensor) -> torch.Tensor:
            return mel

        def denoise(self, audio, time, condition):
            return audio

    with pytest.raises(ContractError, match="Loose: is not registered: install its plugin"):
        check_model(Loose)


def test_the_kit_measures_a_receptive_field_that_is_not_stated(plugins) -> None:
    with pytest.raises(ContractError, match="Unstated: receptive_field is not stated; an "
                       "output sample was measured to depend on 256 samples"):
        check_model(plugins.Unstated)
    with pytest.raises(ContractError, match="Understated: receptive_field states 256 samples, "
                       "but an output sample was measured to depend on 768"):
        check_model(plugins.Understated)


def test_the_kit_compares_chunked_with_whole_input_vocoding(plugins) -> None:
    check_model(plugins.LevelOnly)
    with pytest.raises(ContractError, match="GlobalLevel: chunked vocoding differs from "
                       "whole-input vocoding more than 256 samples"):
        check_model(plugins.GlobalLevel)


def test_an_unrelated_broken_plugin_fails_only_when_named(plugins) -> None:
    check_sampler(plugins.StepOnly)  # NanLoss is installed beside it
    with pytest.raises(ContractError, match="NanLoss: model PerFrame with sampler NanLoss: "
                       "training_loss"):
        check_model(plugins.PerFrame, partners=["NanLoss"])


def test_a_model_without_a_receptive_field_is_vocoded_whole_but_never_chunked(plugins) -> None:
    components = build(plugins.Unstated, None, DDPM, {"inference_schedule": "fast"}, 20, 256)
    mel = np.full((20, 40), -4.0, dtype=np.float32)
    assert vocode(components, [mel])[0].shape == (40 * 256,)
    with pytest.raises(SettingError, match="Unstated states no receptive_field"):
        vocode(components, [mel], chunk_frames=16)


def test_a_sampler_refuses_a_run_another_class_trained(plugins) -> None:
    reason = plugins.StepOnly().incompatibility(DDPM())
    assert reason is not None and "trained with DDPM" in reason
    assert plugins.StepOnly().incompatibility(plugins.StepOnly()) is None
    assert (Sampler.steps_argument, Vocoder.steps_argument) == ("num_steps", None)
    assert plugins.StepOnly.schedule_argument is None
    assert plugins.StepOnly().training_betas is None


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


def test_the_kit_names_a_corpus_that_writes_or_yields_nothing(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(ContractError, match="Writer: reading the corpus changed files"):
        check_corpus(Writer, tmp_path / "raw")
    with pytest.raises(ContractError, match="Empty: no utterances"):
        check_corpus(Empty, tmp_path / "raw")


def test_a_sampler_feeds_a_noise_level_model_noise_levels(plugins: SimpleNamespace) -> None:
    model = plugins.LevelOnly()
    ddpm = DDPM(inference_schedule="fast")
    ddpm.sample(model.eval(), torch.zeros(1, 20, 2) - 4.0, torch.Generator().manual_seed(0))
    expected = np.sqrt(np.cumprod(1.0 - np.asarray(FAST_SCHEDULE)))[::-1]
    assert torch.allclose(torch.cat(model.seen), torch.tensor(expected.copy()).float())


def test_a_pair_that_cannot_agree_on_the_time_input_is_refused_at_build(plugins) -> None:
    step_only, level_only = plugins.StepOnly(), plugins.LevelOnly()
    reason = step_only.model_incompatibility(level_only)
    assert reason is not None and "noise level" in reason and "step" in reason
    assert step_only.model_incompatibility(REGISTRY.get("models", "DiffWave")()) is None
    with pytest.raises(SpecError, match="sampler StepOnly cannot be used with model LevelOnly"):
        pair_up(MelConfig(n_mels=20), level_only, step_only, "exp.yaml")


def test_the_kit_names_a_sampler_that_cannot_train_a_wrapped_network(plugins) -> None:
    with pytest.raises(ContractError, match="ReadsHop: training_loss failed on a network "
                       "wrapped for distributed training .*network_of"):
        check_sampler(plugins.ReadsHop)
