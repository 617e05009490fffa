"""Resume states what it restores: a setting the checkpoint decides (optimizer hyperparameters,
features, model, sampler) given with another value is refused in one line naming the key and
both values; ``config.yaml`` records what the run uses; a damaged training state is one line
naming the file and the key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml
from tiny_runs import FEATURES, SMALL, SPEC, tiny_data

from vocfw.cli.main import main
from vocfw.core.components import normalise_spec
from vocfw.core.data.config import DataConfig
from vocfw.core.errors import VocfwError
from vocfw.core.runs.checkpoint import CheckpointError, resolve_checkpoint
from vocfw.core.runs.train_state import (
    RNG_FILE,
    STATE_FILE,
    TrainStateError,
    load_training_state,
)
from vocfw.core.train.resume import ResumeSettingsError
from vocfw.core.train.trainer import Trainer


@pytest.fixture
def data(tmp_path: Path) -> DataConfig:
    return tiny_data(tmp_path)


@pytest.fixture
def run(data: DataConfig, tmp_path: Path) -> Path:
    Trainer(max_steps=1, **SMALL).fit(tmp_path / "run", data, SPEC, "old", seed=1)
    return tmp_path / "run"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def changed_spec(part: str, key: str, value: object) -> dict:
    spec = copy.deepcopy(SPEC)
    target = spec[part] if part == "features" else spec[part]["init_args"]
    target[key] = value
    return spec


# ------------------------------------------------------------------------ changed settings


@pytest.mark.parametrize("setting, value, given, stored", [
    ("learning_rate", 1e-2, "0.01", "0.0002"),
    ("adam_betas", (0.9, 0.999), "(0.9, 0.999)", "(0.8, 0.99)"),
    ("weight_decay", 0.0, "0.0", "0.01"),
    ("lr_decay", 0.5, "0.5", "0.999"),
])
def test_resume_refuses_a_changed_optimizer_setting(
    data: DataConfig, run: Path, setting: str, value: object, given: str, stored: str
) -> None:
    before = snapshot(run)
    trainer = Trainer(max_steps=2, **{setting: value}, **SMALL)
    with pytest.raises(ResumeSettingsError) as error:
        trainer.fit(run, data, SPEC, "new", resume_type="resume", checkpoint=run, seed=1)
    message = str(error.value)
    assert isinstance(error.value, VocfwError) and isinstance(error.value, ValueError)
    assert f"trainer.{setting}" in message and given in message and stored in message
    assert "\n" not in message and "finetune" in message
    assert snapshot(run) == before


@pytest.mark.parametrize("part, key, value, name", [
    ("sampler", "beta_end", 0.06, "sampler.init_args.beta_end"),
    ("model", "residual_channels", 16, "model.init_args.residual_channels"),
])
def test_resume_refuses_another_model_or_sampler(
    data: DataConfig, run: Path, part: str, key: str, value: object, name: str
) -> None:
    before = snapshot(run)
    spec = normalise_spec(changed_spec(part, key, value))
    stored = SPEC[part]["init_args"][key]
    with pytest.raises(ResumeSettingsError) as error:
        Trainer(max_steps=2, **SMALL).fit(run, data, spec, "new", resume_type="resume",
                                         checkpoint=run, seed=1)
    message = str(error.value)
    assert name in message and str(value) in message and str(stored) in message
    assert "\n" not in message
    assert snapshot(run) == before


def test_finetune_may_change_the_optimizer_and_sampler(data: DataConfig, run: Path,
                                                       tmp_path: Path) -> None:
    spec = normalise_spec(changed_spec("sampler", "beta_end", 0.06))
    last = Trainer(max_steps=1, learning_rate=1e-3, **SMALL).fit(
        tmp_path / "tuned", data, spec, "", resume_type="finetune", checkpoint=run, seed=1)
    optimizer = torch.load(last / "optimizer.pt", weights_only=True)
    assert optimizer["param_groups"][0]["initial_lr"] == 1e-3


@pytest.mark.slow
def test_cli_resume_with_another_learning_rate_is_one_line_and_config_stays_true(
    data: DataConfig, tmp_path: Path, capsys
) -> None:
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"alpha": "a"}, "processed_dir": str(tmp_path / "data"),
                 "features": FEATURES.to_dict()},
        "model": {"class_path": "DiffWave",
                  "init_args": {"residual_layers": 2, "residual_channels": 8}},
        "trainer": {"log_dir": str(tmp_path / "runs"), "max_steps": 1, **SMALL},
    }))
    assert main(["fit", "--config", str(config), "--name", "r"]) == 0
    run = tmp_path / "runs" / "r"
    resume = ["fit", "--config", str(config), "--name", "r", "--resume_type", "resume",
              "--checkpoint", str(run), "--trainer.max_steps", "2"]
    before = snapshot(run)
    capsys.readouterr()
    assert main([*resume, "--trainer.learning_rate", "1e-2"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "trainer.learning_rate" in err and "0.01" in err and "0.0002" in err
    assert snapshot(run) == before
    assert main(resume) == 0
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["trainer"]["learning_rate"] == 2e-4
    assert recorded["trainer"]["max_steps"] == 2


# ------------------------------------------------------------------- damaged training state


@pytest.mark.parametrize("key, value", [
    ("epoch", "abc"),
    ("step", -1),
    ("samples_in_epoch", 1.5),
    ("best_valid_loss", "low"),
    ("best_checkpoint", 3),
    ("rng", {"numpy": "MT19937", "python": [3, [1, 2], None]}),
    ("rng", "none"),
])
def test_a_malformed_training_state_names_the_file_and_key(
    run: Path, key: str, value: object
) -> None:
    folder = resolve_checkpoint(run)
    path = folder / STATE_FILE
    raw = json.loads(path.read_text())
    raw[key] = value
    path.write_text(json.dumps(raw))
    with pytest.raises(TrainStateError) as error:
        load_training_state(folder)
    message = str(error.value)
    assert isinstance(error.value, VocfwError) and isinstance(error.value, CheckpointError)
    assert str(path) in message and f"'{key}" in message and "\n" not in message


@pytest.mark.parametrize("part", ["numpy", "python"])
def test_a_malformed_rng_entry_names_the_file_and_entry(run: Path, part: str) -> None:
    folder = resolve_checkpoint(run)
    path = folder / STATE_FILE
    raw = json.loads(path.read_text())
    raw["rng"][part][1] = raw["rng"][part][1][:5]  # a state vector cut short
    path.write_text(json.dumps(raw))
    with pytest.raises(TrainStateError) as error:
        load_training_state(folder)
    assert str(path) in str(error.value) and f"rng.{part}" in str(error.value)


def test_a_malformed_torch_rng_state_names_the_file(run: Path) -> None:
    folder = resolve_checkpoint(run)
    torch.save({"cpu": torch.zeros(3, dtype=torch.uint8)}, folder / RNG_FILE)
    with pytest.raises(TrainStateError) as error:
        load_training_state(folder)
    assert str(folder / RNG_FILE) in str(error.value) and "'cpu'" in str(error.value)


@pytest.mark.slow
def test_cli_resume_from_a_damaged_state_is_one_line(
    data: DataConfig, run: Path, tmp_path: Path, capsys
) -> None:
    folder = resolve_checkpoint(run)
    raw = json.loads((folder / STATE_FILE).read_text())
    (folder / STATE_FILE).write_text(json.dumps({**raw, "epoch": "abc"}))
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"alpha": "a"}, "processed_dir": str(tmp_path / "data"),
                 "features": FEATURES.to_dict()},
        "model": {"class_path": "DiffWave",
                  "init_args": {"residual_layers": 2, "residual_channels": 8}},
        "trainer": {"log_dir": str(tmp_path), "max_steps": 2, **SMALL},
    }))
    capsys.readouterr()
    assert main(["fit", "--config", str(config), "--name", "run", "--resume_type", "resume",
                 "--checkpoint", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(folder / STATE_FILE) in err and "'epoch'" in err
