"""Training examples: aligned crops, padding, seeded offsets and order, clear data errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.data.config import DataConfig
from vocfw.core.data.dataset import (
    CropDataset,
    EpochSampler,
    eval_items,
    list_items,
)
from vocfw.core.data.layout import TrainingDataError
from vocfw.core.testing.processed import write_processed_dataset

FEATURES = MelConfig(n_mels=20)
CROP = 8


@pytest.fixture
def data(tmp_path: Path) -> DataConfig:
    for k, name in enumerate(("alpha", "beta")):
        write_processed_dataset(
            tmp_path, name, FEATURES, {"train": [0.6, 0.05, 0.3], "test": [0.2, 0.3]}, seed=k
        )
    return DataConfig(datasets={"alpha": "a", "beta": "b"}, processed_dir=str(tmp_path),
                      features=FEATURES)


def test_items_cover_every_dataset_and_split(data: DataConfig) -> None:
    train = list_items(data, "train", FEATURES, FEATURES.n_mels)
    valid = list_items(data, "validation", FEATURES, FEATURES.n_mels)
    assert [i.uid for i in train] == [f"{d}_train_{k}" for d in ("alpha", "beta") for k in range(3)]
    assert {i.dataset for i in valid} == {"alpha", "beta"} and len(valid) == 4
    chosen = eval_items(valid, seed=3)
    assert [i.dataset for i in chosen] == ["alpha", "beta"]
    assert chosen == eval_items(valid, seed=3)


def test_crops_are_aligned_mel_and_audio(data: DataConfig) -> None:
    items = list_items(data, "train", FEATURES, FEATURES.n_mels)
    dataset = CropDataset(items, FEATURES, CROP, seed=1)
    hop = FEATURES.hop_length
    full_mel = np.load(items[0].mel_path)
    full_audio = np.load(items[0].audio_path)
    starts = set()
    for epoch in range(4):
        dataset.set_epoch(epoch)
        example = dataset[0]
        assert example["mel"].shape == (FEATURES.n_mels, CROP)
        assert example["audio"].shape == (CROP * hop,)
        matches = [s for s in range(full_mel.shape[1] - CROP + 1)
                   if np.array_equal(full_mel[:, s:s + CROP], example["mel"].numpy())]
        assert matches, "the mel crop is not a window of the utterance's mel"
        start = matches[0]
        np.testing.assert_array_equal(example["audio"].numpy(),
                                      full_audio[start * hop:(start + CROP) * hop])
        starts.add(start)
        again = dataset[0]
        assert torch.equal(again["mel"], example["mel"])
    assert len(starts) > 1, "crop offsets should change from epoch to epoch"


def test_short_clips_are_padded_with_silence(data: DataConfig) -> None:
    items = list_items(data, "train", FEATURES, FEATURES.n_mels)
    example = CropDataset(items, FEATURES, CROP, seed=1)[1]  # 0.05 s: 4 frames
    frames = np.load(items[1].mel_path).shape[1]
    samples = np.load(items[1].audio_path).shape[0]
    assert frames < CROP
    assert torch.all(example["mel"][:, frames:] == FEATURES.log_floor)
    assert torch.all(example["audio"][samples:] == 0)
    np.testing.assert_array_equal(example["audio"][:samples].numpy(), np.load(items[1].audio_path))


def test_epoch_sampler_reshuffles_and_skips() -> None:
    sampler = EpochSampler(10, seed=5)
    orders = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
        assert sorted(orders[-1]) == list(range(10))
    assert orders[0] != orders[1] != orders[2]
    sampler.set_epoch(1)
    sampler.start = 4
    assert list(sampler) == orders[1][4:] and len(sampler) == 6
    assert list(EpochSampler(4, seed=5, shuffle=False)) == [0, 1, 2, 3]


def test_missing_dataset_names_folder_and_command(data: DataConfig, tmp_path: Path) -> None:
    data.datasets["gamma"] = "c"
    with pytest.raises(TrainingDataError) as error:
        list_items(data, "train", FEATURES, FEATURES.n_mels)
    assert str(tmp_path / "gamma") in str(error.value)
    assert "vocfw preprocess --config" in str(error.value)
    (tmp_path / "gamma").mkdir()
    with pytest.raises(TrainingDataError, match="train.json is missing"):
        list_items(data, "train", FEATURES, FEATURES.n_mels)


def test_band_count_mismatch_names_file_and_numbers(data: DataConfig, tmp_path: Path) -> None:
    mel = tmp_path / "alpha" / "mels" / "alpha_train_0.npy"
    np.save(mel, np.zeros((80, 40), np.float32))
    with pytest.raises(TrainingDataError) as error:
        list_items(data, "train", FEATURES, FEATURES.n_mels)
    message = str(error.value)
    assert str(mel) in message and "80" in message and "20" in message


def test_features_json_mismatch_is_refused(data: DataConfig, tmp_path: Path) -> None:
    path = tmp_path / "beta" / "features.json"
    path.write_text(json.dumps({**FEATURES.to_dict(), "n_mels": 100}), encoding="utf-8")
    with pytest.raises(TrainingDataError) as error:
        list_items(data, "train", FEATURES, FEATURES.n_mels)
    assert str(path) in str(error.value) and "n_mels: data 100 vs config 20" in str(error.value)


def test_min_duration_above_max_duration_is_refused_naming_both_keys() -> None:
    expected = r"data\.min_duration \(5\.0\).*data\.max_duration \(2\.0\)"
    with pytest.raises(ValueError, match=expected):
        DataConfig(min_duration=5.0, max_duration=2.0)
    assert DataConfig(min_duration=1.0, max_duration=1.0).max_duration == 1.0
