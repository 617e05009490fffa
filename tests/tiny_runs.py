"""A tiny processed dataset and a tiny DiffWave fit, shared by the tests of training runs."""

from __future__ import annotations

from pathlib import Path

import yaml

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import normalise_spec
from vocfw.core.data.config import DataConfig
from vocfw.core.testing.processed import tiny_diffwave_spec, write_processed_dataset

FEATURES = MelConfig(n_mels=20)
SPEC = normalise_spec(tiny_diffwave_spec(FEATURES))
SMALL = {"batch_size": 2, "crop_frames": 8, "eval_audio": False}  # Trainer settings
SPLITS = {"train": [0.3, 0.4], "test": [0.2]}  # seconds of each utterance


def tiny_data(root: Path, splits: dict[str, list[float]] = SPLITS) -> DataConfig:
    """Write the dataset ``alpha`` under ``root/data``; the data config that reads it."""
    write_processed_dataset(root / "data", "alpha", FEATURES, splits)
    return DataConfig(datasets={"alpha": "a"}, processed_dir=str(root / "data"),
                      features=FEATURES)


def fit_config(root: Path, **model_args: int) -> Path:
    """``root/fit.yaml``: ``vocfw fit`` of a tiny DiffWave on :func:`tiny_data`'s dataset for
    one step, runs under ``root/runs``."""
    config = root / "fit.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"alpha": "a"}, "processed_dir": str(root / "data"),
                 "features": FEATURES.to_dict()},
        "model": {"class_path": "DiffWave",
                  "init_args": {"residual_layers": 2, "residual_channels": 8, **model_args}},
        "trainer": {"log_dir": str(root / "runs"), "max_steps": 1, **SMALL},
    }))
    return config
