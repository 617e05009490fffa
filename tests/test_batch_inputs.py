"""What batch jobs read: symbolic-link loops, named pipes and folders among the inputs are
skipped with a reason without being opened; leftovers of killed writes are never inputs and are
cleaned by the next run; float WAV files are read as floats."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vocfw.cli.main import main
from vocfw.core.audio.io import AudioError, audio_info, list_audio_files, load_audio
from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.audio.npy import NpyError, read_npy
from vocfw.core.evaluate.score import evaluate
from vocfw.core.infer.predict import predict
from vocfw.core.testing.fixture import tone, write_audio
from vocfw.core.testing.processed import tiny_diffwave_spec, write_tiny_run

RATE = 16000
FEATURES = MelConfig(sample_rate=RATE, n_mels=20, f_max=8000.0)
STALE = ".tmp-ab12_xyz.wav"  # a temporary name of vocfw.core.atomic, left by a killed write


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """Fail a test that blocks (opening a named pipe waits for a writer) instead of hanging."""
    def expire(*_: object) -> None:
        raise TimeoutError("blocked for 60 s (a named pipe was opened?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    spec = tiny_diffwave_spec(FEATURES)
    spec["sampler"]["init_args"]["inference_schedule"] = "fast"
    return write_tiny_run(tmp_path / "run", spec)


def bad_entries(folder: Path, suffix: str) -> dict[str, str]:
    """A self-looping link, a named pipe and a dangling link in ``folder``; name -> reason."""
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(f"loop{suffix}", folder / f"loop{suffix}")
    os.mkfifo(folder / f"pipe{suffix}")
    os.symlink("nowhere", folder / f"gone{suffix}")
    return {f"loop{suffix}": "symbolic links", f"pipe{suffix}": "named pipe",
            f"gone{suffix}": "No such file"}


def test_readers_refuse_non_regular_files_without_opening_them(tmp_path: Path) -> None:
    expected = bad_entries(tmp_path, ".wav")
    (tmp_path / "dir.wav").mkdir()
    expected["dir.wav"] = "a folder"
    for name, reason in expected.items():
        with pytest.raises(AudioError, match=reason):
            audio_info(tmp_path / name)
    os.mkfifo(tmp_path / "pipe.npy")
    with pytest.raises(NpyError, match="named pipe, not a regular file"):
        read_npy(tmp_path / "pipe.npy")


def test_predict_skips_links_pipes_and_finishes_the_rest(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio_dir = tmp_path / "audio"
    write_audio(audio_dir / "good.wav", tone(0.4, RATE), RATE)
    expected = bad_entries(audio_dir, ".wav")
    out = tmp_path / "out"
    code = main(["predict", "--run", str(run), "--mode", "audio", "--audio_dir", str(audio_dir),
                 "--output", str(out), "--progress", "false"])
    assert code == 1
    assert sorted(p.name for p in (out / "pred").iterdir()) == ["good.wav"]
    failed = json.loads((out / "predict_report.json").read_text())["failed"]
    assert {Path(item["file"]).name for item in failed} == set(expected)
    for item in failed:
        assert expected[Path(item["file"]).name] in item["reason"], item
    assert "Traceback" not in capsys.readouterr().err


def test_predict_skips_pipes_among_mels_and_ground_truth(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    mel = MelSpectrogram(FEATURES)(torch.from_numpy(tone(0.4, RATE))).numpy()
    (features / "audios").mkdir(parents=True)
    for uid in ("good", "truth"):
        (features / "mels").mkdir(exist_ok=True)
        np.save(features / "mels" / f"{uid}.npy", mel)
    os.mkfifo(features / "mels" / "pipe.npy")
    os.mkfifo(features / "audios" / "truth.npy")
    (features / "mels" / ".tmp-abcd1234.npy").write_bytes(b"\x93NUMPY partial")  # no input
    summary = predict(run, "feature", output=tmp_path / "out", feature_dir=features,
                      progress=False)
    failed = {item.path.relative_to(features).as_posix(): item.reason for item in summary.failed}
    assert set(failed) == {"mels/pipe.npy", "audios/truth.npy"}
    assert all("named pipe" in reason for reason in failed.values())
    assert (tmp_path / "out" / "pred" / "good.wav").is_file()


def test_evaluate_skips_links_and_pipes_among_the_generated_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for side in ("gt", "pred"):
        write_audio(tmp_path / side / "good.wav", tone(1.0, RATE), RATE)
    expected = bad_entries(tmp_path / "pred", ".wav")
    for name in expected:
        write_audio(tmp_path / "gt" / name, tone(1.0, RATE), RATE)
    code = main(["evaluate", "--reference", str(tmp_path / "gt"), "--generated",
                 str(tmp_path / "pred"), "--metrics", "[mel_l1]"])
    assert code == 1
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["files"] == 1
    failed = {Path(item["file"]).name: item["reason"] for item in summary["failed"]}
    assert set(failed) == set(expected)
    for name, reason in expected.items():
        assert reason in failed[name]
    assert "Traceback" not in capsys.readouterr().err


def test_leftovers_of_killed_writes_are_no_inputs_and_are_cleaned(tmp_path: Path) -> None:
    for side in ("gt", "pred"):
        write_audio(tmp_path / side / "a.wav", tone(1.0, RATE), RATE)
    write_audio(tmp_path / "pred" / STALE, tone(1.0, RATE), RATE)
    assert [p.name for p in list_audio_files(tmp_path / "pred", recursive=True)] == ["a.wav"]
    out = tmp_path / "eval"
    stale = [out / ".tmp-0123abcd.csv", out / "report_files" / "sub" / ".tmp-q_q_q_q_.png"]
    mine = out / ".tmp-notes.wav"  # not a name vocfw makes: kept
    for path in [*stale, mine]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    summary = evaluate(tmp_path / "gt", tmp_path / "pred", output=out, metrics=["mel_l1"])
    assert summary.files == 1 and not summary.unpaired_generated
    assert not any(path.exists() for path in stale) and mine.exists()


def test_a_float_wav_is_read_as_floats_and_peak_normalised(tmp_path: Path) -> None:
    wave = tone(0.5, RATE)
    loud = tmp_path / "loud.wav"
    sf.write(str(loud), 5 * wave, RATE, subtype="FLOAT")  # peaks at 1.5
    audio = load_audio(loud, RATE)
    assert np.max(np.abs(audio)) == pytest.approx(1.0)
    np.testing.assert_allclose(audio, wave / np.max(np.abs(wave)), atol=1e-6)
    for name, peak in (("quiet.wav", 0.3), ("overshoot.wav", 1.005)):  # kept as they are
        sf.write(str(tmp_path / name), wave * (peak / np.max(np.abs(wave))), RATE,
                 subtype="FLOAT")
        assert np.max(np.abs(load_audio(tmp_path / name, RATE))) == pytest.approx(peak)
    pcm = tmp_path / "pcm_as_float.wav"  # 16-bit sample values stored as floats: the recipe's fix
    sf.write(str(pcm), np.round(wave * 32767), RATE, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(pcm, RATE), np.round(wave * 32767) / 32769, atol=1e-7)
