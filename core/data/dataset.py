"""Training and validation examples from preprocessed corpora: aligned random mel/audio crops.

Reads the processed folders (see :mod:`vocfw.core.data.layout`). Crop offsets depend only on
(seed, epoch, item index), so an epoch's examples are the same whichever process, worker or
resumed run draws them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data import Sampler as IndexSampler

from vocfw.core.audio.mel import MelConfig
from vocfw.core.audio.npy import read_npy
from vocfw.core.data.config import DataConfig
from vocfw.core.data.layout import (
    FEATURES_FILE,
    TEST_SPLIT,
    TRAIN_SPLIT,
    TrainingDataError,
    audio_path,
    feature_differences,
    mel_path,
    preprocess_hint,
    read_split,
)
from vocfw.core.settings import SettingError

SPLIT_FILES = {"train": TRAIN_SPLIT, "validation": TEST_SPLIT}


@dataclass(frozen=True)
class Item:
    """One preprocessed utterance."""

    dataset: str
    uid: str
    mel_path: Path
    audio_path: Path


def check_features(folder: Path, features: MelConfig, n_mels: int) -> None:
    """Refuse data made with other mel settings than the model and config expect.

    Raises:
        TrainingDataError: ``{folder}/features.json`` records other settings than ``features``
            (naming each and both values), or ``features.n_mels`` is not ``n_mels``.
    """
    differences = feature_differences(folder, features)
    if differences:
        detail = ", ".join(f"{k}: data {a!r} vs config {b!r}" for k, (a, b) in differences.items())
        raise TrainingDataError(
            f"{folder / FEATURES_FILE}: features differ from the config ({detail}); "
            f"re-run preprocessing"
        )
    if features.n_mels != n_mels:
        raise TrainingDataError(
            f"features.n_mels is {features.n_mels} but the model expects {n_mels} mel bands"
        )


def _check_mel_file(path: Path, n_mels: int) -> None:
    """Header-only check of one mel file's band count."""
    if not path.is_file():
        raise TrainingDataError(f"{path} is missing. {preprocess_hint(path.parent.parent)}")
    shape = read_npy(path, mmap_mode="r").shape
    if len(shape) != 2 or shape[0] != n_mels:
        raise TrainingDataError(
            f"{path}: mel has shape {tuple(shape)}, i.e. {shape[0] if shape else 0} bands, but "
            f"the model expects {n_mels} mel bands (n_mels, T); preprocess with matching features"
        )


def list_items(
    data: DataConfig, split: Literal["train", "validation"], features: MelConfig, n_mels: int
) -> list[Item]:
    """Every utterance of ``split`` over all datasets of ``data``, checked against the model.

    Args:
        data: the datasets and their processed folder.
        split: ``train`` (``train.json``) or ``validation`` (each dataset's ``test.json``).
        features: the mel settings the model is trained with.
        n_mels: the model's mel band count.

    Returns:
        Items in dataset order, then file order.

    Raises:
        TrainingDataError: a folder, split file or mel file is missing, or the features do
            not match (names the file and both values).
    """
    items: list[Item] = []
    for dataset in data.datasets:
        folder = data.dataset_dir(dataset)
        records = read_split(folder, SPLIT_FILES[split])
        check_features(folder, features, n_mels)
        found = [
            Item(dataset, str(r["Uid"]), mel_path(folder, str(r["Uid"])),
                 audio_path(folder, str(r["Uid"])))
            for r in records
        ]
        if found:
            _check_mel_file(found[0].mel_path, n_mels)
        items.extend(found)
    return items


def load_item(item: Item, n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """Full (n_mels, T) mel and (L,) audio of one item, float32.

    Raises:
        TrainingDataError: a file is missing or the mel has the wrong band count.
        NpyError: a file is not a readable ``.npy`` array of real numbers.
    """
    _check_mel_file(item.mel_path, n_mels)
    if not item.audio_path.is_file():
        raise TrainingDataError(
            f"{item.audio_path} is missing. {preprocess_hint(item.audio_path.parent.parent)}"
        )
    mel = read_npy(item.mel_path).astype(np.float32, copy=False)
    audio = read_npy(item.audio_path).astype(np.float32, copy=False).reshape(-1)
    return mel, audio


class CropDataset(Dataset):
    """Aligned random crops: ``crop_frames`` mel frames and their ``crop_frames * hop`` samples.

    Clips shorter than the crop are padded: the mel with the log floor (silence), the audio
    with zeros. Crop ``i`` in epoch ``e`` starts at a frame drawn from a generator seeded with
    ``(seed, e, i)``.

    Args:
        items: the utterances (see :func:`list_items`).
        features: mel settings (hop length and padding value).
        crop_frames: frames per example.
        seed: base seed of the crop offsets.

    Raises:
        SettingError: ``crop_frames`` is not positive.
    """

    def __init__(self, items: list[Item], features: MelConfig, crop_frames: int, seed: int) -> None:
        if crop_frames <= 0:
            raise SettingError(f"trainer.crop_frames must be positive, got {crop_frames}")
        self.items, self.features = items, features
        self.crop_frames, self.seed, self.epoch = crop_frames, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose crop offsets ``__getitem__`` uses."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        hop, frames = self.features.hop_length, self.crop_frames
        mel, audio = load_item(self.items[index], self.features.n_mels)  # (M, T), (L,)
        total = mel.shape[1]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        start = int(rng.integers(0, total - frames + 1)) if total > frames else 0
        mel = mel[:, start : start + frames]
        audio = audio[start * hop : (start + frames) * hop]
        mel_out = np.full((mel.shape[0], frames), self.features.log_floor, np.float32)
        mel_out[:, : mel.shape[1]] = mel  # (M, crop_frames)
        audio_out = np.zeros(frames * hop, np.float32)
        audio_out[: audio.shape[0]] = audio  # (crop_frames * hop,)
        return {
            "mel": torch.from_numpy(mel_out),
            "audio": torch.from_numpy(audio_out),
            "index": torch.tensor(index),
        }


class EpochSampler(IndexSampler[int]):
    """Indices in a fresh random order each epoch (seeded by ``(seed, epoch)``), or in order.

    ``start`` skips the first indices of the current epoch's order (resuming mid-epoch).

    Args:
        size: number of items.
        seed: base seed of the order.
        shuffle: draw a new permutation every epoch.
    """

    def __init__(self, size: int, seed: int, shuffle: bool = True) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order ``__iter__`` yields."""
        self.epoch = epoch

    def order(self) -> list[int]:
        """The current epoch's full index order."""
        if not self.shuffle:
            return list(range(self.size))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.size, generator=generator).tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.start :])

    def __len__(self) -> int:
        return max(0, self.size - self.start)


def eval_items(items: list[Item], seed: int) -> list[Item]:
    """One validation utterance per dataset, chosen by ``seed`` (the same in every run)."""
    by_dataset: dict[str, list[Item]] = {}
    for item in items:
        by_dataset.setdefault(item.dataset, []).append(item)
    chosen = []
    for group in by_dataset.values():
        rng = np.random.default_rng([seed, len(group)])
        chosen.append(sorted(group, key=lambda i: i.uid)[int(rng.integers(len(group)))])
    return chosen
