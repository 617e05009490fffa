"""The contract kit run over every plugin class in the live registry.

The cases are parametrised from the registry, so a newly registered built-in (or an installed
third-party plugin) is checked without a new test; a corpus without a synthetic tree fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vocfw.core.corpus import Corpus, Utterance
from vocfw.core.model import Vocoder
from vocfw.core.registry import build_registry
from vocfw.core.testing import segmented_trees, whole_file_trees
from vocfw.core.testing.contracts import (
    ContractError,
    check_corpus,
    check_model,
    check_sampler,
)

REGISTRY = build_registry()
TREES = {**segmented_trees.BUILDERS, **whole_file_trees.BUILDERS}
# small constructor arguments for the built-ins; other classes are built with their defaults
SMALL = {"DiffWave": {"residual_layers": 2, "residual_channels": 8},
         "DDPM": {"inference_schedule": "fast"}}


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
