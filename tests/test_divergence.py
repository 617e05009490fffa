"""Divergence never passes for health: a checkpoint with a non-finite loss or weights is never
saved, never "last good" and never "best"; every checkpoint name carries a finite loss."""

from __future__ import annotations

import json
import math
import re
import signal
from pathlib import Path

import pytest
import torch
from tiny_runs import SMALL, SPEC, tiny_data

from vocfw.core.data.config import DataConfig
from vocfw.core.errors import VocfwError
from vocfw.core.runs.checkpoint import list_checkpoints, load_weights
from vocfw.core.runs.train_state import STATE_FILE, TrainState
from vocfw.core.train import loop
from vocfw.core.train.trainer import Trainer, TrainingDivergedError


@pytest.fixture
def data(tmp_path: Path) -> DataConfig:
    return tiny_data(tmp_path, {"train": [0.3, 0.4, 0.2, 0.25], "test": [0.2, 0.3]})


def finite_weights(folder: Path) -> bool:
    return all(torch.isfinite(t).all() for t in load_weights(folder / "model.safetensors")
               .values())


def test_diverged_error_is_a_vocfw_error() -> None:
    assert issubclass(TrainingDivergedError, VocfwError)
    assert issubclass(TrainingDivergedError, RuntimeError)


def test_a_non_finite_validation_loss_is_never_the_best() -> None:
    state = TrainState()
    state.record_validation(math.nan, "a")
    assert (state.best_valid_loss, state.best_checkpoint) == (None, None)
    state.record_validation(0.5, "b")
    state.record_validation(math.inf, "c")
    assert (state.best_valid_loss, state.best_checkpoint) == (0.5, "b")


@pytest.mark.slow
@pytest.mark.parametrize("learning_rate", [1e8, 1e12])  # NaN validation at step 2 / at step 1
def test_a_diverging_run_keeps_only_healthy_checkpoints(
    data: DataConfig, tmp_path: Path, learning_rate: float
) -> None:
    run = tmp_path / "run"
    trainer = Trainer(max_steps=50, save_every_steps=1, learning_rate=learning_rate, **SMALL)
    with pytest.raises(TrainingDivergedError) as error:
        trainer.fit(run, data, SPEC, "", seed=1)
    message = str(error.value)
    saved = list_checkpoints(run / "checkpoint")
    for folder in saved:
        assert re.search(r"_loss-\d+\.\d{6}$", folder.name), folder.name
        assert finite_weights(folder), folder.name
        state = json.loads((folder / STATE_FILE).read_text())
        assert state["best_valid_loss"] is None or math.isfinite(state["best_valid_loss"])
        assert state["best_checkpoint"] in (None, *(p.name for p in saved))
    kept = f"the last good checkpoint is {saved[-1] if saved else 'none was saved yet'}. "
    assert kept in message


@pytest.mark.slow
def test_a_checkpoint_saved_on_sigterm_carries_the_last_finite_loss(
    data: DataConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = loop.TrainingRun._step

    def step_then_terminate(self: loop.TrainingRun, batch: dict, stop: bool) -> bool:
        if self.state.step == 2:  # seen when epoch 1 (4 items in batches of 2) takes its last step
            signal.raise_signal(signal.SIGTERM)
        return original(self, batch, stop)

    monkeypatch.setattr(loop.TrainingRun, "_step", step_then_terminate)
    trainer = Trainer(max_steps=100, save_checkpoint_stride=1000, log_every_steps=1, **SMALL)
    last = trainer.fit(tmp_path / "run", data, SPEC, "", seed=1)
    assert trainer.stop_signal == signal.SIGTERM
    assert last.name.startswith("epoch-0001_step-0000004_loss-")
    assert re.search(r"_loss-\d+\.\d{6}$", last.name), last.name
    assert float(last.name.rsplit("-", 1)[1]) > 0
