"""Exact resume: N steps straight equal N/2 steps + resume + N/2 steps, bit for bit; SIGTERM
saves a checkpoint that resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import normalise_spec
from vocfw.core.data.config import DataConfig
from vocfw.core.runs.checkpoint import load_weights, resolve_checkpoint
from vocfw.core.runs.train_state import STATE_FILE
from vocfw.core.testing.processed import tiny_diffwave_spec, write_processed_dataset
from vocfw.core.train.trainer import Trainer

FEATURES = MelConfig(n_mels=20)
SPEC = normalise_spec(tiny_diffwave_spec(FEATURES))
SETTINGS = {"batch_size": 2, "crop_frames": 8, "log_every_steps": 1, "eval_audio": False,
            "ema_decay": 0.9, "save_checkpoint_stride": 1}


@pytest.fixture
def data(tmp_path: Path) -> DataConfig:
    for k, name in enumerate(("alpha", "beta")):
        write_processed_dataset(tmp_path / "data", name, FEATURES,
                                {"train": [0.3, 0.4, 0.2, 0.25, 0.1], "test": [0.2]}, seed=k)
    return DataConfig(datasets={"alpha": "a", "beta": "b"},
                      processed_dir=str(tmp_path / "data"), features=FEATURES)


def _assert_same_weights(a: Path, b: Path) -> None:
    for name in ("model.safetensors", "ema.safetensors"):
        left, right = load_weights(a / name), load_weights(b / name)
        assert left.keys() == right.keys()
        for key in left:
            assert torch.equal(left[key], right[key]), f"{name}:{key} differs"


@pytest.mark.slow
@pytest.mark.parametrize("half", [3, 5])  # mid-epoch, and exactly at the end of epoch 0
def test_resume_is_bitwise_identical(data: DataConfig, tmp_path: Path, half: int) -> None:
    straight = Trainer(max_steps=7, **SETTINGS).fit(tmp_path / "straight", data, SPEC, "", seed=3)
    Trainer(max_steps=half, **SETTINGS).fit(tmp_path / "split", data, SPEC, "", seed=3)
    resumed = Trainer(max_steps=7, **SETTINGS).fit(
        tmp_path / "split", data, SPEC, "", resume_type="resume",
        checkpoint=tmp_path / "split" / "checkpoint", seed=3,
    )
    assert resumed.name == straight.name
    _assert_same_weights(straight, resumed)
    for name in ("optimizer.pt", "scheduler.pt"):
        assert str(torch.load(straight / name, weights_only=True)) == str(
            torch.load(resumed / name, weights_only=True))


DRIVER = """
import json, sys
from pathlib import Path
from vocfw.core.data.config import DataConfig
from vocfw.core.train.trainer import Trainer
from vocfw.core.audio.mel import MelConfig

root = Path(sys.argv[1])
spec = json.loads((root / "spec.json").read_text())
data = DataConfig(datasets={"alpha": "a", "beta": "b"}, processed_dir=str(root / "data"),
                  features=MelConfig(**spec["features"]))
trainer = Trainer(max_steps=1_000_000, save_checkpoint_stride=1000, batch_size=2, crop_frames=8,
                  log_every_steps=1, eval_audio=False, device="cpu")
last = trainer.fit(root / "run", data, spec, "", seed=3)
print("STOPPED", trainer.stop_signal, last)
"""


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_that_resumes(data: DataConfig, tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER))
    process = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    logged = False
    while not logged and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        logged = any(b"train/loss" in f.read_bytes() for f in (tmp_path / "run").glob("log/*"))
    assert logged, "training never logged a step"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]
    assert f"STOPPED {int(signal.SIGTERM)}" in out
    last = resolve_checkpoint(tmp_path / "run")
    step = json.loads((last / STATE_FILE).read_text())["step"]
    assert step >= 1
    resumed = Trainer(max_steps=step + 1, batch_size=2, crop_frames=8, eval_audio=False).fit(
        tmp_path / "run", data, SPEC, "", resume_type="resume", checkpoint=last, seed=3)
    assert json.loads((resumed / STATE_FILE).read_text())["step"] == step + 1
