"""``predict`` in its three modes: outputs, ground truth, skipping, overwriting, bad inputs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.infer.predict import REPORT_FILE, predict
from vocfw.core.runs.checkpoint import save_weights
from vocfw.core.testing.fixture import tone, write_audio
from vocfw.core.testing.processed import write_tiny_run

RATE = 16000
HOP = 256
N_MELS = 20
FEATURES = MelConfig(sample_rate=RATE, n_mels=N_MELS, f_max=8000.0)
SPEC = {
    "features": FEATURES.to_dict(),
    "model": {"class_path": "vocfw.plugins.models.diffwave.DiffWave",
              "init_args": {"n_mels": N_MELS, "residual_layers": 2, "residual_channels": 8}},
    "sampler": {"class_path": "vocfw.plugins.samplers.ddpm.DDPM",
                "init_args": {"inference_schedule": "fast"}},
}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run directory with one checkpoint of a tiny DiffWave and fast DDPM sampling."""
    return write_tiny_run(tmp_path / "run", SPEC)


def waveform(seconds: float, seed: int = 0) -> np.ndarray:
    return tone(seconds, RATE, freq=150.0 + 30 * seed, seed=seed)


def write_features(folder: Path, uid: str, audio: np.ndarray, with_audio: bool = True) -> int:
    """Save the mel (and the waveform) of ``audio`` as npy files; return the frame count."""
    mel = MelSpectrogram(FEATURES)(torch.from_numpy(audio)).numpy()  # (M, T)
    (folder / "mels").mkdir(parents=True, exist_ok=True)
    np.save(folder / "mels" / f"{uid}.npy", mel)
    if with_audio:
        (folder / "audios").mkdir(exist_ok=True)
        np.save(folder / "audios" / f"{uid}.npy", audio)
    return mel.shape[1]


def frames_of(path: Path) -> int:
    info = sf.info(str(path))
    assert info.samplerate == RATE and info.subtype == "PCM_16"
    return info.frames


def test_dataset_mode_writes_pred_and_gt_for_the_test_split(run: Path, tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    frames = {}
    for i, uid in enumerate(("f1#a", "m2#b")):
        frames[uid] = write_features(processed / "vctk", uid, waveform(0.3 + 0.2 * i, i))
    (processed / "vctk" / "test.json").write_text(json.dumps([{"Uid": u} for u in frames]))
    (run / "config.yaml").write_text(f"data:\n  processed_dir: {processed}\n")
    summary = predict(run, "dataset", datasets=["vctk", "absent"], progress=False)
    out = run / "result"
    for uid, count in frames.items():
        assert frames_of(out / "pred" / f"{uid}.wav") == count * HOP
        assert frames_of(out / "gt" / f"{uid}.wav") == count * HOP
    assert summary.written == 4 and summary.skipped == 0
    assert [item.path for item in summary.failed] == [processed / "absent" / "test.json"]
    report = json.loads((out / REPORT_FILE).read_text())
    assert report["written"] == 4 and report["failed"][0]["file"].endswith("test.json")
    assert report["sampler_steps"] == 6 and summary.audio_seconds > 0
    assert report["precision"] == summary.precision == "fp32"  # auto, no native bf16 here


def test_feature_mode_writes_gt_only_where_audio_exists(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    with_audio = write_features(features, "kept", waveform(0.4))
    without = write_features(features, "bare", waveform(0.25, 1), with_audio=False)
    (features / "mels" / "bare.npy").rename(features / "mels" / "bare.v2.npy")
    out = tmp_path / "out"
    summary = predict(run, "feature", output=out, feature_dir=features, progress=False)
    assert frames_of(out / "pred" / "kept.wav") == with_audio * HOP
    assert frames_of(out / "gt" / "kept.wav") == with_audio * HOP
    assert frames_of(out / "pred" / "bare.wav") == without * HOP
    assert not (out / "gt" / "bare.wav").exists()
    assert summary.written == 3 and not summary.failed


def test_audio_mode_resamples_and_writes_copy_synthesis_pairs(run: Path, tmp_path: Path) -> None:
    audio_dir = tmp_path / "audio"
    write_audio(audio_dir / "a.wav", tone(0.5, 22050, seed=1), 22050)
    write_audio(audio_dir / "b.take1.flac", waveform(0.3, 2), RATE)
    (audio_dir / "notes.txt").write_text("not audio")
    out = tmp_path / "out"
    summary = predict(run, "audio", output=out, audio_dir=audio_dir, progress=False,
                      sampler_args={"inference_schedule": [1e-4, 0.01, 0.3]})
    expected = {"a": int(round(0.5 * RATE)) // HOP, "b": int(round(0.3 * RATE)) // HOP}
    for uid, count in expected.items():
        assert frames_of(out / "pred" / f"{uid}.wav") == count * HOP
        assert frames_of(out / "gt" / f"{uid}.wav") == count * HOP
    assert summary.written == 4 and not summary.failed
    assert json.loads((out / REPORT_FILE).read_text())["sampler_steps"] == 3


@pytest.mark.slow
def test_existing_outputs_are_kept_unless_overwrite(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    count = write_features(features, "u", waveform(0.3))
    out = tmp_path / "out"
    predict(run, "feature", output=out, feature_dir=features, progress=False)
    marker = np.full(100, 0.25, np.float32)
    sf.write(str(out / "pred" / "u.wav"), marker, RATE, subtype="PCM_16")
    (out / "pred" / "mine.txt").write_text("keep me")
    (out / "gt" / "u.wav").unlink()
    summary = predict(run, "feature", output=out, feature_dir=features, progress=False)
    assert summary.written == 1 and summary.skipped == 0
    assert frames_of(out / "pred" / "u.wav") == 100
    assert frames_of(out / "gt" / "u.wav") == count * HOP
    summary = predict(run, "feature", output=out, feature_dir=features, progress=False)
    assert summary.written == 0 and summary.skipped == 1
    summary = predict(run, "feature", output=out, feature_dir=features, progress=False,
                      overwrite=True)
    assert summary.written == 2
    assert frames_of(out / "pred" / "u.wav") == count * HOP
    assert (out / "pred" / "mine.txt").read_text() == "keep me"


def test_bad_features_are_reported_and_the_rest_written(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    count = write_features(features, "good", waveform(0.3))
    mels = features / "mels"
    bad = {
        "bands": np.zeros((N_MELS + 5, 10), np.float32),
        "nan": np.full((N_MELS, 10), np.nan, np.float32),
        "flat": np.zeros(40, np.float32),
        "empty": np.zeros((N_MELS, 0), np.float32),
    }
    for uid, array in bad.items():
        np.save(mels / f"{uid}.npy", array)
    (mels / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    out = tmp_path / "out"
    summary = predict(run, "feature", output=out, feature_dir=features, progress=False)
    assert frames_of(out / "pred" / "good.wav") == count * HOP
    reasons = {item.path.name: item.reason for item in summary.failed}
    assert set(reasons) == {"bands.npy", "nan.npy", "flat.npy", "empty.npy", "corrupt.npy"}
    assert "25 mel bands" in reasons["bands.npy"] and "expects 20" in reasons["bands.npy"]
    assert "NaN" in reasons["nan.npy"] and "2-D" in reasons["flat.npy"]
    assert "no frames" in reasons["empty.npy"]
    assert sorted(p.name for p in (out / "pred").iterdir()) == ["good.wav"]
    report = json.loads((out / REPORT_FILE).read_text())
    assert len(report["failed"]) == 5


def test_bad_audio_files_are_reported_and_the_rest_written(run: Path, tmp_path: Path) -> None:
    audio_dir = tmp_path / "audio"
    write_audio(audio_dir / "good.wav", waveform(0.3), RATE)
    (audio_dir / "empty.wav").write_bytes(b"")
    (audio_dir / "broken.flac").write_bytes(b"fLaC not really")
    sf.write(str(audio_dir / "silent.wav"), np.zeros(0, np.float32), RATE)
    summary = predict(run, "audio", output=tmp_path / "out", audio_dir=audio_dir, progress=False)
    assert (tmp_path / "out" / "pred" / "good.wav").is_file()
    assert {item.path.name for item in summary.failed} == {"empty.wav", "broken.flac",
                                                            "silent.wav"}
    assert all(item.reason for item in summary.failed)


def test_sampler_override_and_missing_inputs_are_checked(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    write_features(features, "u", waveform(0.3))
    with pytest.raises(ValueError, match="'quick' is not a registered sampler"):
        predict(run, "feature", feature_dir=features, sampler="quick", progress=False)
    with pytest.raises(ValueError, match="--datasets"):
        predict(run, "dataset", progress=False)
    with pytest.raises(ValueError, match="mels/"):
        predict(run, "feature", feature_dir=tmp_path / "nowhere", progress=False)


@pytest.mark.slow
def test_same_seed_gives_the_same_audio(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    write_features(features, "u", waveform(0.3))
    predict(run, "feature", output=tmp_path / "a", feature_dir=features, progress=False, seed=1)
    predict(run, "feature", output=tmp_path / "b", feature_dir=features, progress=False, seed=1)
    first, _ = sf.read(str(tmp_path / "a" / "pred" / "u.wav"))
    second, _ = sf.read(str(tmp_path / "b" / "pred" / "u.wav"))
    assert np.array_equal(first, second)


@pytest.mark.slow
def test_long_inputs_are_chunked_to_the_same_length(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    count = write_features(features, "long", waveform(2.0))
    out = tmp_path / "out"
    summary = predict(run, "feature", output=out, feature_dir=features, progress=False,
                      chunk_seconds=0.4, batch_size=3)
    assert frames_of(out / "pred" / "long.wav") == count * HOP and not summary.failed


def test_any_registered_sampler_can_be_chosen(run: Path, tmp_path: Path,
                                              fake_distribution) -> None:
    toys = Path(__file__).parent / "fake_plugins" / "toys.py"
    fake_distribution("vocfw-toys", toys.read_text(encoding="utf-8"))
    features = tmp_path / "features"
    write_features(features, "u", waveform(0.3))
    out = tmp_path / "toy"
    summary = predict(run, "feature", output=out, feature_dir=features, sampler="ToySampler",
                      progress=False)
    assert summary.written == 2 and not summary.failed
    audio, _ = sf.read(out / "pred" / "u.wav")
    assert audio.size > 0 and not audio.any()  # ToySampler returns silence


def read(path: Path) -> np.ndarray:
    return sf.read(str(path), dtype="int16")[0].astype(np.int32)


def same_audio(first: np.ndarray, second: np.ndarray) -> bool:
    """Equal up to one 16-bit step (batched kernels round differently in the last float bit)."""
    return first.shape == second.shape and int(np.abs(first - second).max()) <= 1


def test_predict_output_does_not_depend_on_the_other_inputs(run: Path, tmp_path: Path) -> None:
    both, one = tmp_path / "both", tmp_path / "one"
    write_features(both, "a", waveform(0.3, 1))
    write_features(both, "b", waveform(0.5, 2))
    write_features(one, "a", waveform(0.3, 1))
    predict(run, "feature", output=tmp_path / "o1", feature_dir=both, progress=False)
    predict(run, "feature", output=tmp_path / "o2", feature_dir=one, progress=False)
    predict(run, "feature", output=tmp_path / "o3", feature_dir=both, batch_size=1,
            progress=False)
    first = read(tmp_path / "o1" / "pred" / "a.wav")
    assert same_audio(first, read(tmp_path / "o2" / "pred" / "a.wav"))
    assert same_audio(first, read(tmp_path / "o3" / "pred" / "a.wav"))
    assert same_audio(read(tmp_path / "o1" / "pred" / "b.wav"),
                      read(tmp_path / "o3" / "pred" / "b.wav"))


def test_an_interrupted_predict_resumes_to_the_same_audio(run: Path, tmp_path: Path) -> None:
    for i, uid in enumerate(("a", "b", "c")):
        write_features(tmp_path / "feats", uid, waveform(0.3, i))
    out = tmp_path / "out"
    predict(run, "feature", output=out, feature_dir=tmp_path / "feats", progress=False)
    whole = {uid: read(out / "pred" / f"{uid}.wav") for uid in "abc"}
    for uid in "bc":  # as if the first run had been killed after writing a.wav
        (out / "pred" / f"{uid}.wav").unlink()
    predict(run, "feature", output=out, feature_dir=tmp_path / "feats", progress=False)
    for uid in "abc":
        assert same_audio(whole[uid], read(out / "pred" / f"{uid}.wav"))


def test_string_and_complex_mels_are_reported_and_the_rest_written(
    run: Path, tmp_path: Path
) -> None:
    features = tmp_path / "features"
    write_features(features, "good", waveform(0.3))
    np.save(features / "mels" / "text.npy", np.full((N_MELS, 5), "1.5"))
    np.save(features / "mels" / "complex.npy", np.ones((N_MELS, 5), np.complex64))
    out = tmp_path / "out"
    summary = predict(run, "feature", output=out, feature_dir=features, progress=False)
    assert sorted(item.uid for item in summary.failed) == ["complex", "text"]
    assert all("dtype" in item.reason for item in summary.failed)
    assert (out / "pred" / "good.wav").is_file() and not (out / "pred" / "complex.wav").exists()
    assert len(json.loads((out / REPORT_FILE).read_text())["failed"]) == 2


def test_audio_mode_searches_sub_folders_and_keeps_their_layout(
    run: Path, tmp_path: Path
) -> None:
    audio_dir = tmp_path / "audio"
    write_audio(audio_dir / "top.wav", waveform(0.3, 1), RATE)
    write_audio(audio_dir / "spk1" / "take" / "x.flac", waveform(0.3, 2), RATE)
    out = audio_dir / "out"  # the output folder inside the input folder is not an input
    for _ in range(2):
        summary = predict(run, "audio", output=out, audio_dir=audio_dir, progress=False)
        assert not summary.failed
    for side in ("pred", "gt"):
        assert frames_of(out / side / "top.wav") == frames_of(out / side / "spk1/take/x.wav")
    assert summary.skipped == 2


def test_a_folder_without_inputs_is_an_error(run: Path, tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "notes.txt").write_text("no audio here")
    with pytest.raises(ValueError, match=r"found no inputs.*audio"):
        predict(run, "audio", audio_dir=tmp_path / "audio", progress=False)


def test_non_finite_output_is_reported_not_written(run: Path, tmp_path: Path) -> None:
    folder = next((run / "checkpoint").iterdir())
    weights = load_file(folder / "model.safetensors")
    save_weights(folder / "model.safetensors",
                 {name: torch.full_like(value, math.nan) for name, value in weights.items()})
    features = tmp_path / "features"
    write_features(features, "u", waveform(0.3), with_audio=False)
    out = tmp_path / "out"
    summary = predict(run, "feature", output=out, feature_dir=features, progress=False)
    assert [item.uid for item in summary.failed] == ["u"]
    assert "NaN or infinite" in summary.failed[0].reason
    assert not (out / "pred" / "u.wav").exists()


def test_an_existing_report_is_kept_without_overwrite(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    write_features(features, "u", waveform(0.3))
    out = tmp_path / "out"
    out.mkdir()
    (out / REPORT_FILE).write_text('{"mine": true}')
    predict(run, "feature", output=out, feature_dir=features, progress=False)
    assert json.loads((out / REPORT_FILE).read_text()) == {"mine": True}
    assert json.loads((out / "predict_report.1.json").read_text())["written"] == 2
    predict(run, "feature", output=out, feature_dir=features, progress=False)
    assert not (out / "predict_report.2.json").exists()
    predict(run, "feature", output=out, feature_dir=features, progress=False, overwrite=True)
    assert json.loads((out / REPORT_FILE).read_text())["written"] == 2


def test_short_ground_truth_is_padded_to_frames_times_hop(run: Path, tmp_path: Path) -> None:
    features = tmp_path / "features"
    count = write_features(features, "u", waveform(0.3))
    np.save(features / "audios" / "u.npy", waveform(0.3)[: count * HOP - 100])
    out = tmp_path / "out"
    predict(run, "feature", output=out, feature_dir=features, progress=False)
    assert frames_of(out / "gt" / "u.wav") == frames_of(out / "pred" / "u.wav") == count * HOP
    assert np.all(read(out / "gt" / "u.wav")[-100:] == 0)


def test_sampler_options_at_inference_belong_to_the_sampler(
    run: Path, tmp_path: Path, capsys, fake_distribution
) -> None:
    from vocfw.cli.main import main

    fake_distribution("vocfw-toys", (Path(__file__).parent / "fake_plugins" / "toys.py")
                      .read_text(encoding="utf-8"))
    features = tmp_path / "features"
    write_features(features, "u", waveform(0.3))
    base = ["predict", "--run", str(run), "--mode", "feature", "--feature_dir", str(features),
            "--progress", "false", "--overwrite"]

    def report(*extra: str) -> dict:
        out = tmp_path / "out"
        assert main([*base, "--output", str(out), *extra]) == 0, capsys.readouterr().err
        return json.loads((out / REPORT_FILE).read_text())

    full = report("--sampler.inference_schedule", "full")  # the run's DDPM, one arg changed
    assert full["sampler_steps"] == 50
    assert full["sampler"]["init_args"]["inference_schedule"] == "full"
    fast = report("--sampler", "DDPM", "--sampler.inference_schedule=fast")
    assert fast["sampler_steps"] == 6
    betas = report("--sampler.init_args.inference_schedule", "[1e-4,0.01,0.3]")
    assert betas["sampler"]["init_args"]["inference_schedule"] == [1e-4, 0.01, 0.3]
    ddim = report("--sampler", "DDIM", "--sampler.eta", "0", "--sampler.inference_steps", "4")
    assert ddim["sampler_steps"] == 4 and ddim["sampler"]["init_args"]["eta"] == 0
    toy = report("--sampler", "ToySampler", "--sampler.steps", "7")  # an outside sampler
    assert toy["sampler"]["class_path"].endswith("ToySampler")
    assert toy["sampler"]["init_args"] == {"steps": 7}


@pytest.mark.parametrize(("extra", "message"), [
    (["--sampler.beta_end", "0.06"], "DDPM cannot vocode with this model: its training noise "
     "schedule .* differs from the one the model was trained with"),
    (["--sampler.beta_end", "0.02"], "outside the trained range"),
    (["--sampler.num_steps", "20"], "model.init_args.num_steps is 50 but "
     "sampler.init_args.num_steps is 20"),
    (["--sampler.steps", "3"], "--sampler.steps: DDPM takes no such argument"),
    (["--sampler.inference_schedule", "quick"], "inference_schedule"),
    (["--sampler", "PriorGrad"], "PriorGrad cannot vocode with this model: the model was "
     "trained with DDPM \\(ddpm noise process\\)"),
    (["--sampler", "DDIM", "--sampler.inference_steps", "[20, 3]"], "inference_steps"),
])
def test_an_incompatible_predict_sampler_is_refused_saying_why(
    run: Path, tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    from vocfw.cli.main import main

    features = tmp_path / "features"
    write_features(features, "u", waveform(0.3))
    code = main(["predict", "--run", str(run), "--mode", "feature", "--feature_dir",
                 str(features), "--progress", "false", *extra])
    assert code == 1
    assert re.search(message, capsys.readouterr().err)
    assert not (run / "result" / "pred").exists()
