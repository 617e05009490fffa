"""The training engine: a tiny DiffWave trained on two mixed datasets, its run directory,
TensorBoard logs, checkpoint pruning and divergence handling."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import normalise_spec
from vocfw.core.data import dataset as training_data
from vocfw.core.data.config import DataConfig
from vocfw.core.runs.checkpoint import load_components, resolve_checkpoint
from vocfw.core.runs.train_state import STATE_FILE, prune_checkpoints
from vocfw.core.testing.processed import tiny_diffwave_spec, write_processed_dataset
from vocfw.core.train.trainer import Trainer, TrainingDivergedError
from vocfw.plugins.samplers.ddpm import DDPM

FEATURES = MelConfig(n_mels=20)
SPEC = normalise_spec(tiny_diffwave_spec(FEATURES))
SMALL = {"batch_size": 2, "crop_frames": 8, "log_every_steps": 1, "eval_seconds": 0.1}


@pytest.fixture
def data(tmp_path: Path) -> DataConfig:
    for k, name in enumerate(("alpha", "beta")):
        write_processed_dataset(tmp_path / "data", name, FEATURES,
                                {"train": [0.3, 0.4, 0.2], "test": [0.2, 0.3]}, seed=10 * k)
    return DataConfig(datasets={"alpha": "a", "beta": "b"},
                      processed_dir=str(tmp_path / "data"), features=FEATURES)


@pytest.mark.slow
def test_fit_writes_run_directory_logs_and_audio(
    data: DataConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original = training_data.CropDataset.__getitem__

    def record(self: training_data.CropDataset, index: int) -> dict:
        seen.append(self.items[index].dataset)
        return original(self, index)

    monkeypatch.setattr(training_data.CropDataset, "__getitem__", record)
    run = tmp_path / "run"
    trainer = Trainer(max_steps=5, save_checkpoint_stride=1, **SMALL)
    last = trainer.fit(run, data, SPEC, "trainer:\n  batch_size: 2\n", seed=7)

    assert trainer.stop_signal is None
    assert (run / "config.yaml").read_text() == "trainer:\n  batch_size: 2\n"
    assert {"alpha", "beta"} <= set(seen)
    # 6 items in batches of 2: 3 steps per epoch, so step 5 lies in epoch 1
    assert last == resolve_checkpoint(run) and last.name.startswith("epoch-0001_step-0000005_")
    names = {p.name for p in last.iterdir()}
    assert {"model.safetensors", "components.json", STATE_FILE, "optimizer.pt",
            "scheduler.pt", "rng_state.pt"} <= names
    state = json.loads((last / STATE_FILE).read_text())
    assert (state["epoch"], state["step"], state["samples_in_epoch"]) == (1, 5, 4)
    optimizer = torch.load(last / "optimizer.pt", weights_only=True)
    assert optimizer["param_groups"][0]["lr"] == pytest.approx(2e-4 * 0.999)  # one epoch ended
    for dataset in ("alpha", "beta"):
        assert (run / "checkpoint" / f"{last.name}_eval_audio_{dataset}.wav").is_file()
        assert (run / "checkpoint" / f"{last.name}_eval_audio_{dataset}_gt.wav").is_file()
        assert (run / "checkpoint" / f"{last.name}_eval_audio_{dataset}_mel.png").is_file()
    page = (run / "checkpoint" / f"{last.name}_eval_audio_report.html").read_text()
    assert page.count("<audio ") == 4 and "alpha: " in page and "beta: " in page
    assert f"src='{last.name}_eval_audio_alpha_gt_mel.png'" in page
    components, _ = load_components(run)
    assert components.model.n_mels == 20

    events = EventAccumulator(str(run / "log"), size_guidance={"scalars": 0, "audio": 0,
                                                              "images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "train/samples_per_second",
            "epoch/train_loss", "epoch/valid_loss", "valid/loss"} <= set(tags["scalars"])
    assert len(events.Scalars("train/loss")) == 5
    assert all(math.isfinite(e.value) for e in events.Scalars("train/loss"))
    assert {"eval/alpha/vocoded", "eval/alpha/ground_truth", "eval/beta/vocoded"} <= set(
        tags["audio"])
    assert {"eval/alpha/mel", "eval/beta/mel"} <= set(tags["images"])


def _fake_checkpoint(folder: Path, name: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "model.safetensors").write_bytes(b"x")
    (folder / name / "components.json").write_text("{}")
    for suffix in ("alpha.wav", "alpha_mel.png", "report.html"):
        (folder / f"{name}_eval_audio_{suffix}").write_bytes(b"x")


def test_pruning_keeps_newest_and_best(tmp_path: Path) -> None:
    names = [f"epoch-{e:04d}_step-{10 * e:07d}_loss-0.5{e}0000" for e in range(6)]
    for name in names:
        _fake_checkpoint(tmp_path, name)
    removed = prune_checkpoints(tmp_path, keep_last=2, protect={names[1]})
    assert {p.name for p in removed} == {names[0], names[2], names[3]}
    left = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert left == [names[1], names[4], names[5]]
    assert not list(tmp_path.glob(f"{names[0]}_eval_audio_*"))
    assert (tmp_path / f"{names[1]}_eval_audio_report.html").is_file()
    assert prune_checkpoints(tmp_path, keep_last=None, protect=set()) == []


@pytest.mark.slow
def test_fit_prunes_to_keep_last(data: DataConfig, tmp_path: Path) -> None:
    trainer = Trainer(max_steps=6, save_every_steps=1, keep_last=2, eval_audio=False, **SMALL)
    last = trainer.fit(tmp_path / "run", data, SPEC, "", seed=1)
    left = [p for p in (tmp_path / "run" / "checkpoint").iterdir() if p.is_dir()]
    state = json.loads((last / STATE_FILE).read_text())
    expected = {last.name, state["best_checkpoint"]}
    assert {p.name for p in left} >= expected and len(left) <= 3


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_last_good_checkpoint(
    data: DataConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    good = Trainer(max_steps=2, eval_audio=False, **SMALL).fit(run, data, SPEC, "", seed=1)
    before = sorted(p.name for p in (run / "checkpoint").iterdir())

    def nan_loss(self: DDPM, model: torch.nn.Module, audio: torch.Tensor, mel: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        return model(audio, torch.zeros(audio.shape[0], dtype=torch.long), mel).mean() * math.nan

    monkeypatch.setattr(DDPM, "training_loss", nan_loss)
    trainer = Trainer(max_steps=6, eval_audio=False, **SMALL)
    with pytest.raises(TrainingDivergedError) as error:
        trainer.fit(run, data, SPEC, "", resume_type="resume", checkpoint=run, seed=1)
    assert "step 3" in str(error.value) and good.name in str(error.value)
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == before
    assert resolve_checkpoint(run) == good


@pytest.mark.slow
def test_finetune_loads_weights_and_restarts_counters(data: DataConfig, tmp_path: Path) -> None:
    source = Trainer(max_steps=2, eval_audio=False, **SMALL).fit(
        tmp_path / "a", data, SPEC, "", seed=1)
    trainer = Trainer(max_steps=1, eval_audio=False, learning_rate=1e-12, **SMALL)
    tuned = trainer.fit(tmp_path / "b", data, SPEC, "", resume_type="finetune",
                        checkpoint=source.parent, seed=2)
    assert "_step-0000001_" in tuned.name
    original, _ = load_components(source)
    result, _ = load_components(tuned)
    for key, value in original.model.state_dict().items():
        assert torch.allclose(value, result.model.state_dict()[key], atol=1e-6)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="trainer.batch_size"):
        Trainer(batch_size=0)
    with pytest.raises(ValueError, match="trainer.lr_decay"):
        Trainer(lr_decay=1.5)
    with pytest.raises(ValueError, match="needs a checkpoint"):
        Trainer().fit(Path("unused"), DataConfig(), SPEC, "", resume_type="resume")
