"""``evaluate``: ideal scores against itself, monotonic degradation with noise, bad files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocfw.core.evaluate import METRICS, evaluate
from vocfw.core.testing.fixture import phrases, write_audio

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


def test_a_folder_against_itself_scores_ideally(reference: Path) -> None:
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
