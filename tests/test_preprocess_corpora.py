"""Preprocessing every built-in corpus, through the real registry, from its synthetic tree."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from corpus_trees import CorpusFixture
from corpus_trees.segmented_trees import BUILDERS as SEGMENTED
from corpus_trees.whole_file_trees import BUILDERS as WHOLE_FILE

from vocfw.core.data.config import DataConfig
from vocfw.core.data.preprocess import preprocess
from vocfw.core.registry import build_registry

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


@pytest.mark.slow
def test_corpus_option_set_in_yaml_reaches_the_corpus(tmp_path: Path, capsys) -> None:
    import yaml

    from vocfw.cli.main import main

    fixture = WHOLE_FILE["folder"](tmp_path / "raw", test_percent=60)
    assert {split for _, split in fixture.expected.values()} == {"train", "test"}
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"data": {
        "datasets": {"mine": {"class_path": "folder",
                              "init_args": {"root": str(fixture.root), "test_percent": 60}}},
        "processed_dir": str(tmp_path / "data"),
    }}))
    assert main(["preprocess", "--config", str(config)]) == 0
    out = tmp_path / "data" / "mine"
    test = {entry["Uid"] for entry in entries_of(out, ["test"])}
    assert test == {uid for uid, (_, split) in fixture.expected.items() if split == "test"}
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["preprocess", "--config", str(config), "--print_config"])
    assert stop.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["datasets"]["mine"]["init_args"]["test_percent"] == 60


@pytest.mark.parametrize(("value", "message"), [
    ({"class_path": "folder", "init_args": {"root": "x", "tset_percent": 5}},
     "data.datasets.mine.init_args: .*tset_percent.*AudioFolder takes root, dataset, "
     "test_percent"),
    ({"class_path": "os.system", "init_args": {"root": "x"}},
     "data.datasets.mine.class_path: 'os.system' is not a registered corpus"),
    ({"class_path": "folder"}, r"data.datasets.mine.init_args.root: expected the corpus folder"),
    ({"class_path": "folder", "extra": 1}, "data.datasets.mine: expected a corpus folder or"),
])
def test_corpus_spec_errors_name_the_key(value: dict, message: str, tmp_path: Path) -> None:
    from vocfw.core.data.config import build_corpus

    with pytest.raises(ValueError, match=message):
        data = DataConfig(datasets={"mine": value}, processed_dir=str(tmp_path))
        build_corpus("mine", data.datasets["mine"], build_registry())
