"""Synthetic preprocessed datasets, laid out as ``vocfw preprocess`` writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.components import build_components, normalise_spec
from vocfw.core.data.layout import (
    AUDIOS_DIR,
    FEATURES_FILE,
    MELS_DIR,
    audio_path,
    mel_path,
    split_file,
)
from vocfw.core.runs.checkpoint import (
    CHECKPOINT_DIR,
    WEIGHTS_FILE,
    checkpoint_dirname,
    save_weights,
    write_components,
)
from vocfw.core.testing.fixture import tone


def write_processed_dataset(
    processed_dir: Path,
    dataset: str,
    features: MelConfig,
    durations: dict[str, list[float]],
    seed: int = 0,
) -> Path:
    """Write ``{processed_dir}/{dataset}/`` with tones, their real mels and the split files.

    Args:
        processed_dir: the processed-data root.
        dataset: the dataset name; uids are ``{dataset}_{split}_{i}``.
        features: mel settings (also written to ``features.json``).
        durations: split (``train``, ``test``) -> one duration in seconds per utterance.
        seed: varies the tones' pitch and noise.

    Returns:
        The dataset folder.
    """
    folder = processed_dir / dataset
    for sub in (MELS_DIR, AUDIOS_DIR):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    extractor = MelSpectrogram(features)
    index = 0
    for split, seconds_list in durations.items():
        records = []
        for i, seconds in enumerate(seconds_list):
            uid = f"{dataset}_{split}_{i}"
            audio = tone(seconds, features.sample_rate, freq=150.0 + 37.0 * (seed + i),
                         seed=seed + i)
            mel = extractor(torch.from_numpy(audio)).numpy()  # (M, T)
            np.save(mel_path(folder, uid), mel.astype(np.float32))
            np.save(audio_path(folder, uid), audio)
            records.append({"Dataset": dataset, "Singer": f"{dataset}_singer", "Uid": uid,
                            "Path": f"{uid}.wav", "Duration": seconds, "index": index})
            index += 1
        (folder / split_file(split)).write_text(json.dumps(records, indent=4), encoding="utf-8")
    (folder / FEATURES_FILE).write_text(json.dumps(features.to_dict()), encoding="utf-8")
    return folder


def tiny_diffwave_spec(features: MelConfig, layers: int = 2, channels: int = 8) -> dict:
    """A component spec with a tiny DiffWave and the default DDPM, for fast tests."""
    return {
        "features": features.to_dict(),
        "model": {
            "class_path": "vocfw.plugins.models.diffwave.DiffWave",
            "init_args": {"n_mels": features.n_mels, "hop_length": features.hop_length,
                          "residual_layers": layers, "residual_channels": channels},
        },
        "sampler": {"class_path": "vocfw.plugins.samplers.ddpm.DDPM", "init_args": {}},
    }


def write_tiny_run(run: Path, spec: dict, seed: int = 0) -> Path:
    """A run directory holding one checkpoint of ``spec``'s components, randomly initialised
    from ``seed``, as ``vocfw fit`` would leave it after one step; returns ``run``."""
    torch.manual_seed(seed)
    spec = normalise_spec(spec)
    components = build_components(spec)
    folder = run / CHECKPOINT_DIR / checkpoint_dirname(epoch=0, step=1, loss=0.1)
    save_weights(folder / WEIGHTS_FILE, components.model.state_dict())
    write_components(folder, spec)
    return run
