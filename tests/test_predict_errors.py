"""``predict``'s errors: bad options refused in one line before anything is written, failures
reported against the file that caused them, leftovers of a killed run cleaned, and a rerun with
nothing to do saying so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.infer.predict import REPORT_FILE, predict
from vocfw.core.testing.fixture import tone, write_audio
from vocfw.core.testing.processed import tiny_diffwave_spec, write_tiny_run

RATE = 16000
FEATURES = MelConfig(sample_rate=RATE, n_mels=20, f_max=8000.0)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    spec = tiny_diffwave_spec(FEATURES)
    spec["sampler"]["init_args"]["inference_schedule"] = "fast"
    return write_tiny_run(tmp_path / "run", spec)


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    for name in ("a.wav", "b.wav"):
        write_audio(tmp_path / "audio" / name, tone(0.4, RATE, seed=len(name)), RATE)
    return tmp_path / "audio"


def cli_predict(run: Path, audio_dir: Path, out: Path, *extra: str) -> int:
    return main(["predict", "--run", str(run), "--mode", "audio", "--audio_dir", str(audio_dir),
                 "--output", str(out), "--progress", "false", *extra])


@pytest.mark.parametrize(("extra", "needles"), [
    (["--chunk_seconds", "0.01"], ["chunk_seconds=0.01:", "at least 0.128 s"]),
    (["--chunk_seconds", "-1"], ["chunk_seconds=-1:", "at least 0.128 s"]),
    (["--chunk_seconds", "0"], ["chunk_seconds=0:", "at least 0.128 s"]),
    (["--device", "gpu"], ["device 'gpu'"]),
    pytest.param(["--device", "cuda"], ["device 'cuda'", "CUDA"], marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="CUDA is available here")),
])
def test_bad_options_are_one_line_before_anything_is_written(
    run: Path, audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    extra: list[str], needles: list[str],
) -> None:
    out = tmp_path / "out"
    assert cli_predict(run, audio_dir, out, *extra) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and all(needle in lines[0] for needle in needles), lines
    assert not out.exists()


def test_chunk_seconds_at_the_minimum_is_accepted(run: Path, audio_dir: Path,
                                                  tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"at least (\d+\.\d+) s") as refused:
        predict(run, "audio", audio_dir=audio_dir, chunk_seconds=0.01, progress=False)
    least = float(refused.value.args[0].split("at least ")[1].split(" s")[0])
    summary = predict(run, "audio", audio_dir=audio_dir, output=tmp_path / "out",
                      chunk_seconds=least, progress=False)
    assert summary.written == 4 and not summary.failed


def test_a_bad_ground_truth_is_reported_as_itself(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    (features / "mels").mkdir(parents=True)
    (features / "audios").mkdir()
    mel = MelSpectrogram(FEATURES)(torch.from_numpy(tone(0.4, RATE))).numpy()
    np.save(features / "mels" / "x.npy", mel)
    (features / "audios" / "x.npy").write_bytes(b"\x93NUMPY garbage")
    summary = predict(run, "feature", output=tmp_path / "out", feature_dir=features,
                      progress=False)
    assert [item.path for item in summary.failed] == [features / "audios" / "x.npy"]
    assert "not a readable .npy array" in summary.failed[0].reason


def test_a_folder_in_the_way_of_an_output_is_a_failed_item(
    run: Path, audio_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "pred" / "a.wav").mkdir(parents=True)
    (out / "gt" / "b.wav").mkdir(parents=True)
    assert cli_predict(run, audio_dir, out) == 1
    failed = json.loads((out / REPORT_FILE).read_text())["failed"]
    assert sorted(item["file"] for item in failed) == [str(out / "gt" / "b.wav"),
                                                       str(out / "pred" / "a.wav")]
    assert all("a folder, not a regular file" in item["reason"] for item in failed)
    assert (out / "pred" / "a.wav").is_dir() and not (out / "pred" / "b.wav").exists()


def test_leftovers_of_a_killed_predict_are_removed_by_the_next(
    run: Path, audio_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    stale = [out / "pred" / ".tmp-k1ll3d_x.wav", out / "gt" / "spk" / ".tmp-00000000.wav",
             out / ".tmp-abcdefgh.json"]
    kept = [out / "pred" / ".tmp-mine.wav", out / "pred" / "notes.txt"]
    for path in [*stale, *kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    summary = predict(run, "audio", audio_dir=audio_dir, output=out, progress=False)
    assert summary.written == 4
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)


def test_a_rerun_with_nothing_to_do_says_so_and_writes_no_report(
    run: Path, audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert cli_predict(run, audio_dir, out) == 0
    capsys.readouterr()
    for _ in range(2):
        assert cli_predict(run, audio_dir, out) == 0
        printed = capsys.readouterr().out
        assert "nothing to do: every input (2) has its outputs" in printed, printed
    assert sorted(p.name for p in out.glob("*.json")) == [REPORT_FILE]
