"""``evaluate``: ideal scores against itself, monotonic degradation with noise, bad files."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from corpus_trees import phrases

from vocfw.core.evaluate import mos
from vocfw.core.evaluate.score import METRICS, evaluate
from vocfw.core.testing.fixture import write_audio

RATE = 16000


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    folder = tmp_path / "result" / "gt"
    for i in range(2):
        write_audio(folder / f"utt{i}.wav", phrases([0.5, 0.4], 0.15, RATE, seed=i), RATE)
    return folder


def noisy_copy(reference: Path, folder: Path, level: float) -> Path:
    rng = np.random.default_rng(7)
    for path in sorted(reference.glob("*.wav")):
        audio, rate = sf.read(str(path), dtype="float32")
        write_audio(folder / path.name, audio + level * rng.standard_normal(audio.size), rate)
    return folder


@pytest.mark.slow
def test_a_folder_against_itself_scores_ideally(
    reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = evaluate(reference, reference)
    assert summary.output == reference.parent / "eval"
    means = summary.means
    assert means["pesq"] == pytest.approx(4.64, abs=0.01)
    for name in ("stoi", "estoi", "vuv_f1"):
        assert means[name] == pytest.approx(1.0, abs=1e-6)
    for name in ("mstft", "mcd", "f0_rmse", "mel_l1"):
        assert means[name] == pytest.approx(0.0, abs=1e-6)
    assert summary.files == 2 and all(summary.counts[name] == 2 for name in METRICS)
    with open(summary.output / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["file"] for row in rows] == ["utt0.wav", "utt1.wav"]
    assert float(rows[0]["pesq"]) == pytest.approx(4.64, abs=0.01)
    stored = json.loads((summary.output / "summary.json").read_text())
    assert stored["files"] == 2 and stored["means"]["stoi"] == pytest.approx(1.0, abs=1e-6)
    page = summary.output / "report.html"
    assert summary.report == page.absolute().as_uri() == stored["report"]
    assert capsys.readouterr().out.splitlines()[-1] == f"report: {summary.report}"
    text = page.read_text()
    assert text.count("<td class='name'>") == 2 and text.count("<audio ") == 4
    for name in ("utt0.wav", "utt1.wav"):
        for kind in ("reference.wav", "generated.wav", "reference.png", "generated.png"):
            assert f"src='report_files/{name}.{kind}'" in text
            assert (summary.output / "report_files" / f"{name}.{kind}").is_file()
    if mos.available():
        assert all(summary.counts[name] == 2 for name in mos.METRICS)
        assert "dnsmos_ovrl" in rows[0]


def test_without_the_mos_extra_its_columns_are_absent_and_named(
    reference: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "speechmos.dnsmos", None)  # as if not installed
    summary = evaluate(reference, reference)
    assert not mos.available() and list(summary.means) == list(METRICS)
    header = (summary.output / "metrics.csv").read_text().splitlines()[0]
    assert "dnsmos" not in header and "dnsmos" not in (summary.output / "report.html").read_text()
    out = capsys.readouterr().out.splitlines()
    assert out[-3:] == [mos.INSTALL_HINT, f"2 files scored -> {summary.output}",
                        f"report: {summary.report}"]


@pytest.mark.slow
def test_scores_worsen_as_noise_grows(reference: Path, tmp_path: Path) -> None:
    results = [
        evaluate(reference, noisy_copy(reference, tmp_path / f"noise{i}", level),
                 output=tmp_path / f"eval{i}").means
        for i, level in enumerate((0.002, 0.01, 0.05))
    ]
    for name in ("pesq", "stoi", "estoi"):
        values = [means[name] for means in results]
        assert values[0] > values[1] > values[2], (name, values)
    for name in ("mstft", "mcd", "mel_l1"):
        values = [means[name] for means in results]
        assert 0 < values[0] < values[1] < values[2], (name, values)
    f0 = [means["f0_rmse"] for means in results]
    f1 = [means["vuv_f1"] for means in results]
    assert f0 == sorted(f0) and f1 == sorted(f1, reverse=True)


@pytest.mark.slow
def test_unpaired_unreadable_and_silent_files_are_reported(reference: Path, tmp_path: Path) -> None:
    generated = noisy_copy(reference, tmp_path / "gen", 0.001)
    write_audio(generated / "extra.wav", np.zeros(RATE // 2, np.float32), RATE)
    (generated / "utt1.wav").write_bytes(b"RIFF broken")
    write_audio(reference / "quiet.wav", np.zeros(RATE, np.float32), RATE)
    write_audio(generated / "quiet.wav", np.zeros(RATE, np.float32), RATE)
    summary = evaluate(reference, generated, sample_rate=8000)
    assert summary.unpaired_generated == ["extra.wav"] and summary.unpaired_reference == []
    assert [item.path.name for item in summary.failed] == ["utt1.wav"]
    assert summary.files == 2 and summary.counts["pesq"] == 1
    with open(summary.output / "metrics.csv", newline="") as f:
        rows = {row["file"]: row for row in csv.DictReader(f)}
    assert math.isnan(float(rows["quiet.wav"]["pesq"])) and "pesq:" in rows["quiet.wav"]["notes"]
    assert rows["utt0.wav"]["sample_rate"] == "8000"
    assert not math.isnan(summary.means["pesq"])


def test_no_pairs_is_an_error_and_writes_no_summary(reference: Path, tmp_path: Path) -> None:
    generated = tmp_path / "gen"
    write_audio(generated / "other.wav", phrases([0.5], 0.1, RATE), RATE)
    with pytest.raises(ValueError, match=r"no file of .*gen.* has a reference of the same name"):
        evaluate(reference, generated, output=tmp_path / "eval")
    assert not (tmp_path / "eval" / "summary.json").exists()


def test_only_unreadable_pairs_is_an_error(reference: Path, tmp_path: Path) -> None:
    generated = tmp_path / "gen"
    generated.mkdir()
    for name in ("utt0.wav", "utt1.wav"):
        (generated / name).write_bytes(b"RIFF broken")
    with pytest.raises(ValueError, match=r"none of the 2 pairs could be read.*utt0\.wav"):
        evaluate(reference, generated, output=tmp_path / "eval")
    assert not (tmp_path / "eval").exists()


@pytest.mark.slow
def test_sub_folders_are_paired_by_relative_path(tmp_path: Path) -> None:
    for side in ("gt", "pred"):
        write_audio(tmp_path / side / "spk1" / "a.wav", phrases([0.5], 0.1, RATE), RATE)
    summary = evaluate(tmp_path / "gt", tmp_path / "pred")
    assert summary.files == 1 and not summary.unpaired_reference
    with open(summary.output / "metrics.csv", newline="") as f:
        assert [row["file"] for row in csv.DictReader(f)] == ["spk1/a.wav"]
