"""Given mels paired with a processed dataset's audio (``vocfw import-mels``): the frame rule,
per-file reports and exit status, and training on exactly the given mels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig
from vocfw.core.data.config import DataConfig
from vocfw.core.data.dataset import CropDataset, list_items
from vocfw.core.data.given_mels import (
    GivenMelProblem,
    GivenMelsError,
    conform_frames,
    import_given_mels,
)
from vocfw.core.data.layout import audio_path, mel_path
from vocfw.core.testing.processed import write_processed_dataset

FEATURES = MelConfig(n_mels=20)
SPLITS = {"train": [0.3, 0.25, 0.4, 0.2, 0.35, 0.3, 0.25], "test": [0.3, 0.2]}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A processed dataset ``tones`` of 7 train and 2 test tones with their true mels."""
    return write_processed_dataset(tmp_path / "data", "tones", FEATURES, SPLITS)


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"data": {"processed_dir": str(tmp_path / "data"),
                                               "features": FEATURES.to_dict()}}))
    return config


def _uids(folder: Path, split: str) -> list[str]:
    return [r["Uid"] for r in json.loads((folder / f"{split}.json").read_text())]


def _given(source: Path, out: Path, change: dict[str, object] | None = None) -> dict[str, Path]:
    """Write each utterance's true mel + 0.5 (so given and true differ) to ``out``; ``change``
    maps a uid to a replacement array, raw bytes, or ``None`` (no file)."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for split in SPLITS:
        for uid in _uids(source, split):
            value = (change or {}).get(uid, np.load(mel_path(source, uid)) + 0.5)
            if value is None:
                continue
            path = out / f"{uid}.npy"
            if isinstance(value, bytes):
                path.write_bytes(value)
            else:
                np.save(path, value)
            written[uid] = path
    return written


def _import(tmp_path: Path, mels: Path, *extra: str) -> int:
    return main(["import-mels", "--config", str(_config(tmp_path)), "--dataset", "tones",
                 "--mels", str(mels), "--output_dir", str(tmp_path / "given"), *extra])


def test_frames_within_the_tolerance_are_cut_or_padded_to_the_audio() -> None:
    mel = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)  # (M, T)
    assert np.array_equal(conform_frames(mel, 10, 0), mel)
    longer = conform_frames(mel, 9, 1)
    assert longer.shape == (2, 9) and np.array_equal(longer, mel[:, :9])
    shorter = conform_frames(mel, 11, 1)
    assert shorter.shape == (2, 11) and np.array_equal(shorter[:, :10], mel)
    assert np.array_equal(shorter[:, 10], mel[:, 9])  # the last frame repeated
    for frames, tolerance in ((8, 1), (12, 1), (9, 0), (11, 0)):
        with pytest.raises(GivenMelProblem, match=f"has 10 frames but its audio has {frames}"):
            conform_frames(mel, frames, tolerance)
    assert conform_frames(mel, 13, 3).shape == (2, 13)


def test_the_frame_rule_is_the_extractors(source: Path, tmp_path: Path) -> None:
    """True mels are num_frames(L) long; one frame more or less is accepted and fitted."""
    uid = _uids(source, "train")[0]
    true = np.load(mel_path(source, uid))
    samples = np.load(audio_path(source, uid)).size
    assert true.shape[1] == FEATURES.num_frames(samples)
    extra = np.concatenate([true, true[:, -1:]], axis=1) + 0.5
    _given(source, tmp_path / "mels", {uid: extra})
    assert _import(tmp_path, tmp_path / "mels") == 0
    imported = np.load(mel_path(tmp_path / "given" / "tones", uid))
    assert np.array_equal(imported, true + 0.5)


def test_bad_files_are_reported_one_by_one_and_the_rest_imported(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = _uids(source, "train")
    true = {uid: np.load(mel_path(source, uid)) for uid in train}
    nan = true[train[3]].copy()
    nan[0, 0] = np.nan
    bad = {
        train[0]: None,  # missing
        train[1]: true[train[1]][:10],  # 10 bands instead of 20
        train[2]: np.pad(true[train[2]], ((0, 0), (0, 3))),  # 3 frames too many
        train[3]: nan,
        train[4]: b"not a numpy file",
    }
    mels = tmp_path / "mels"
    _given(source, mels, bad)
    np.save(mels / "stranger.npy", true[train[1]])  # no such utterance
    assert _import(tmp_path, mels) == 1
    err = capsys.readouterr().err
    reasons = {
        train[0]: "no given mel", train[1]: "has shape (10,", train[2]: "frames but its audio has",
        train[3]: "NaN", train[4]: "not a readable .npy", "stranger": "no utterance",
    }
    for uid, reason in reasons.items():
        lines = [line for line in err.splitlines() if f"skipped {uid}:" in line]
        assert len(lines) == 1 and reason in lines[0], (uid, err)
    out = tmp_path / "given" / "tones"
    assert sorted(_uids(out, "train")) == sorted(train[5:])
    assert sorted(_uids(out, "test")) == sorted(_uids(source, "test"))
    report = json.loads((out / "report.json").read_text())
    assert len(report["skipped"]) == 6
    for uid in _uids(out, "test"):
        assert np.array_equal(np.load(mel_path(out, uid)), np.load(mel_path(source, uid)) + 0.5)
        assert np.array_equal(np.load(audio_path(out, uid)), np.load(audio_path(source, uid)))


def test_nothing_usable_is_an_error_and_writes_nothing(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    every = [uid for split in SPLITS for uid in _uids(source, split)]
    _given(source, tmp_path / "mels", {uid: np.zeros((FEATURES.n_mels + 1, 30)) for uid in every})
    assert _import(tmp_path, tmp_path / "mels") == 1
    assert "no usable given mel" in capsys.readouterr().err
    assert not (tmp_path / "given" / "tones").exists()
    assert not list((tmp_path / "given").glob(".tmp-*"))
    data = DataConfig(processed_dir=str(tmp_path / "data"), features=FEATURES)
    with pytest.raises(GivenMelsError, match="no usable given mel"):
        import_given_mels(data, "tones", tmp_path / "mels", tmp_path / "given")


def test_an_existing_output_or_the_source_itself_is_refused(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _given(source, tmp_path / "mels")
    assert _import(tmp_path, tmp_path / "mels") == 0
    assert _import(tmp_path, tmp_path / "mels") == 1
    assert "--overwrite" in capsys.readouterr().err
    assert _import(tmp_path, tmp_path / "mels", "--overwrite") == 0
    assert main(["import-mels", "--config", str(_config(tmp_path)), "--dataset", "tones",
                 "--mels", str(tmp_path / "mels"), "--output_dir", str(tmp_path / "data"),
                 "--overwrite"]) == 1
    assert "neither the source dataset" in capsys.readouterr().err
    assert (source / "train.json").is_file()


def test_training_crops_hold_the_given_mels_not_recomputed_ones(
    source: Path, tmp_path: Path
) -> None:
    given = _given(source, tmp_path / "mels")
    assert _import(tmp_path, tmp_path / "mels") == 0
    data = DataConfig(datasets={"tones": "unused"}, processed_dir=str(tmp_path / "given"),
                      features=FEATURES)
    items = list_items(data, "train", FEATURES, FEATURES.n_mels)
    assert len(items) == len(SPLITS["train"])
    crops = CropDataset(items, FEATURES, crop_frames=8, seed=0)
    for index, item in enumerate(items):
        example = crops[index]
        mel, audio = example["mel"].numpy(), example["audio"].numpy()  # (M, 8), (8 * hop,)
        full = np.load(given[item.uid])
        starts = [s for s in range(full.shape[1] - 7)
                  if np.array_equal(full[:, s : s + 8], mel)]
        assert starts, item.uid
        true_audio = np.load(audio_path(source, item.uid))
        hop = FEATURES.hop_length
        assert np.array_equal(audio, true_audio[starts[0] * hop : (starts[0] + 8) * hop])


def predicted(mel: np.ndarray) -> np.ndarray:
    """A stand-in for an acoustic model's mel: the true (M, T) mel averaged over 5 frames and
    moved up by 2 bands (the lowest band repeated below)."""
    padded = np.pad(mel, ((0, 0), (2, 2)), mode="edge")  # (M, T + 4)
    smooth = np.mean([padded[:, k : k + mel.shape[1]] for k in range(5)], axis=0)  # (M, T)
    return np.concatenate([np.repeat(smooth[:1], 2, axis=0), smooth[:-2]]).astype(np.float32)


def _scores(run: Path, processed: Path, out: Path) -> dict[str, float]:
    """log-mel L1 and STOI of ``run`` vocoding the test split's mels in ``processed``."""
    assert main(["predict", "--run", str(run), "--mode", "dataset", "--datasets", "tones",
                 "--processed_dir", str(processed), "--output", str(out)]) == 0
    assert main(["evaluate", "--reference", str(out / "gt"), "--generated", str(out / "pred"),
                 "--metrics", "mel_l1", "stoi"]) == 0
    return json.loads((out / "eval" / "summary.json").read_text())["means"]


@pytest.mark.slow
def test_finetuning_on_given_mels_vocodes_them_better(tmp_path: Path) -> None:
    from vocfw.core.demo_audio import speechlike, write_audio

    rate = 8000
    for i in range(12):
        write_audio(tmp_path / "corpus" / f"clip{i:02d}.wav", speechlike(1.0, rate, i), rate)
    features = {"sample_rate": rate, "n_fft": 512, "hop_length": 128, "win_length": 512,
                "n_mels": 20, "f_max": rate / 2}
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"tones": {"class_path": "folder", "init_args": {
            "root": str(tmp_path / "corpus"), "test_percent": 25}}},
            "processed_dir": str(tmp_path / "data"), "features": features},
        "model": {"class_path": "FrameWave",
                  "init_args": {"channels": 32, "hidden": 64, "layers": 2}},
        "sampler": {"class_path": "FlowMatching", "init_args": {"steps": 4}},
        "trainer": {"log_dir": str(tmp_path / "runs"), "batch_size": 6, "crop_frames": 32,
                    "learning_rate": 1e-3, "max_steps": 300, "eval_audio": False,
                    "log_every_steps": 100, "device": "cpu"},
    }))
    assert main(["preprocess", "--config", str(config)]) == 0
    processed = tmp_path / "data" / "tones"
    assert _uids(processed, "test")
    for path in (processed / "mels").glob("*.npy"):
        mels = tmp_path / "acoustic" / "mels"
        mels.mkdir(parents=True, exist_ok=True)
        np.save(mels / path.name, predicted(np.load(path)))
    assert main(["fit", "--config", str(config), "--name", "base"]) == 0
    assert main(["import-mels", "--config", str(config), "--dataset", "tones", "--mels",
                 str(tmp_path / "acoustic" / "mels"), "--output_dir", str(tmp_path / "given")]) == 0
    assert main(["fit", "--config", str(config), "--name", "tuned", "--data.processed_dir",
                 str(tmp_path / "given"), "--trainer.max_steps", "200", "--resume_type",
                 "finetune", "--checkpoint", str(tmp_path / "runs" / "base")]) == 0
    scores = {(run, mels): _scores(tmp_path / "runs" / run, tmp_path / mels,
                                   tmp_path / "out" / f"{run}-{mels}")
              for run in ("base", "tuned") for mels in ("given", "data")}
    print("\n" + "\n".join(f"{run} on {mels}: {means}" for (run, mels), means in scores.items()))
    gain_given = scores["base", "given"]["mel_l1"] - scores["tuned", "given"]["mel_l1"]
    gain_true = scores["base", "data"]["mel_l1"] - scores["tuned", "data"]["mel_l1"]
    assert gain_given > 0.1  # the fine-tuned run vocodes the given mels better
    assert gain_given > gain_true  # because it learnt them, not only from more training
