"""The example plugin checked with vocfw's contract kit, against vocfw's built-ins."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf
from vocfw_plugin_example import CosineDiffusion, SpeakerClips, TinyWave

from vocfw.core.registry import build_registry
from vocfw.core.testing.contracts import check_corpus, check_model, check_sampler
from vocfw.core.testing.fixture import tone


def write_clips(root: Path) -> Path:
    """A tiny corpus: two speakers, four 0.25 s clips each, and a file to ignore."""
    (root / "wavs").mkdir(parents=True)
    for speaker in ("anna", "ben"):
        for take in range(4):
            audio = tone(0.25, 24000, freq=180.0 + 20 * take, seed=take)
            sf.write(root / "wavs" / f"{speaker}_{take:02d}.wav", audio, 24000)
    (root / "wavs" / "readme.txt").write_text("not audio\n")
    return root


def test_the_plugin_is_registered() -> None:
    registry = build_registry()
    assert registry.get("models", "TinyWave") is TinyWave
    assert registry.get("samplers", "CosineDiffusion") is CosineDiffusion
    assert registry.get("corpora", "speakerclips") is SpeakerClips
    assert registry.entries["models"]["TinyWave"].distribution == "vocfw-plugin-example"


def test_model_contract() -> None:
    check_model(TinyWave, {"channels": 8})


def test_sampler_contract() -> None:
    check_sampler(CosineDiffusion, {"inference_steps": 4})


def test_corpus_contract(tmp_path: Path) -> None:
    check_corpus(SpeakerClips, write_clips(tmp_path / "clips"), {"test_every": 2})


def test_corpus_splits(tmp_path: Path) -> None:
    records = SpeakerClips(write_clips(tmp_path / "clips")).utterances()
    assert [r.uid for r in records if r.split == "test"] == ["anna_03", "ben_03"]
    assert {r.singer for r in records} == {"anna", "ben"}
