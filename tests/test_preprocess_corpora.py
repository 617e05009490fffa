"""Preprocessing every built-in corpus, through the real registry, from its synthetic tree."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from vocfw.core.data.config import DataConfig
from vocfw.core.data.preprocess import preprocess
from vocfw.core.registry import build_registry
from vocfw.core.testing.fixture import CorpusFixture
from vocfw.core.testing.segmented_trees import BUILDERS as SEGMENTED
from vocfw.core.testing.whole_file_trees import BUILDERS as WHOLE_FILE

RECIPE_CORPORA = {
    "csd", "kising", "m4singer", "nus48e", "opencpop", "opensinger", "opera", "pjs", "popbutfy",
    "popcs", "ljspeech", "vctk", "libritts",
}
BUILDERS: dict[str, Callable[[Path], CorpusFixture]] = {**SEGMENTED, **WHOLE_FILE}


def snapshot(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path below ``root`` with (is_dir, mtime_ns, size)."""
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_mtime_ns, p.stat().st_size)
            for p in root.rglob("*")}


def entries_of(out: Path, splits: list[str]) -> list[dict]:
    """The entries of the given split lists of a processed dataset folder."""
    return [entry for split in splits
            for entry in json.loads((out / f"{split}.json").read_text(encoding="utf-8"))]


def test_every_recipe_corpus_has_a_builder() -> None:
    assert RECIPE_CORPORA <= set(BUILDERS)
    assert not set(SEGMENTED) & set(WHOLE_FILE)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_preprocess_corpus(name: str, tmp_path: Path) -> None:
    built = BUILDERS[name](tmp_path / "raw")
    before = snapshot(built.root)
    data = DataConfig(datasets={built.name: str(built.root)}, processed_dir=str(tmp_path / "out"))
    summary = preprocess(data, build_registry(), progress=False)
    assert snapshot(built.root) == before

    out = tmp_path / "out" / built.name
    splits = ["train", "test"] + (["valid"] if (out / "valid.json").exists() else [])
    found: dict[str, tuple[str, str]] = {}
    for split in splits:
        entries = entries_of(out, [split])
        assert [e["Duration"] for e in entries] == sorted(e["Duration"] for e in entries)
        for entry in entries:
            assert entry["Dataset"] == built.name
            found[entry["Uid"]] = (entry["Singer"], split)
    assert found == built.expected
    assert ("valid" in splits) == any(split == "valid" for _, split in built.expected.values())

    singers = json.loads((out / "singers.json").read_text(encoding="utf-8"))
    assert set(singers) == {f"{built.name}_{singer}" for singer, _ in built.expected.values()}
    for entry in entries_of(out, splits):
        audio = np.load(out / "audios" / f"{entry['Uid']}.npy")
        mel = np.load(out / "mels" / f"{entry['Uid']}.npy")
        assert audio.dtype == mel.dtype == np.float32
        assert mel.shape == (100, audio.size // 256)
        if "Start" in entry:  # a segment, cut in memory: its own length at 24 kHz
            assert entry["Duration"] == pytest.approx(entry["End"] - entry["Start"])
            assert abs(audio.size - entry["Duration"] * 24000) <= 2
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["skipped"] == []
    counts = {split: s.utterances for split, s in summary.datasets[built.name].splits.items()}
    assert sum(counts.values()) == len(built.expected)
