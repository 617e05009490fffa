"""Conversion refuses what no reader could use, names the file for every bad input, and exports
runs trained by ``vocfw fit``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig
from vocfw.core.runs.checkpoint import (
    COMPONENTS_FILE,
    load_components,
    resolve_checkpoint,
    save_weights,
)
from vocfw.core.testing.processed import write_processed_dataset
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_convert import ConversionError, import_amphion, import_lmnt

SMALL = {"residual_layers": 3, "residual_channels": 8, "dilation_cycle_length": 2}


def small_state(n_mels: int = 80) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return DiffWave(n_mels=n_mels, **SMALL).state_dict()


def lmnt_file(path: Path, **payload: object) -> Path:
    torch.save({"model": small_state(), "step": 10, **payload}, path)
    return path


@pytest.mark.slow
def test_a_run_trained_by_fit_exports_to_lmnt(tmp_path: Path, capsys) -> None:
    features = MelConfig(n_mels=20)
    write_processed_dataset(tmp_path / "data", "alpha", features,
                            {"train": [0.3, 0.4], "test": [0.2]})
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"alpha": "a"}, "processed_dir": str(tmp_path / "data"),
                 "features": features.to_dict()},
        "model": {"class_path": "DiffWave",
                  "init_args": {"residual_layers": 2, "residual_channels": 8}},
        "trainer": {"log_dir": str(tmp_path), "max_steps": 2, "batch_size": 2,
                    "crop_frames": 8, "eval_audio": False},
    }))
    assert main(["fit", "--config", str(config), "--name", "run"]) == 0
    last = resolve_checkpoint(tmp_path / "run")
    assert main(["convert", "export-lmnt", "--run", str(tmp_path / "run"),
                 "--output", str(tmp_path / "weights.pt")]) == 0, capsys.readouterr().err
    payload = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert payload["step"] == 2 and payload["params"]["n_mels"] == 20
    trained, _ = load_components(last)
    for key, value in trained.model.state_dict().items():
        assert torch.equal(payload["model"][key], value), key


@pytest.mark.parametrize("payload, expected", [
    ({"step": -3}, "step"),
    ({"step": "ten"}, "step"),
    ({"step": 1.5}, "step"),
    ({"params": "x"}, "params"),
    ({"params": {"hop_samples": "abc"}}, "hop_samples"),
    ({"params": {"hop_samples": -256}}, "hop_samples"),
    ({"params": {"noise_schedule": "linear"}}, "noise_schedule"),
    ({"params": {"noise_schedule": [0.5, 5 / 6, 7 / 6, 1.5]}}, "noise_schedule"),
    ({"params": {"noise_schedule": [-0.1, 0.0, 0.1, 0.2]}}, "noise_schedule"),
    ({"params": {"noise_schedule": [0.0, 0.01, 0.02]}}, "noise_schedule"),
    ({"params": {"noise_schedule": [math.nan, 0.01]}}, "noise_schedule"),
    ({"params": {"sample_rate": None}}, "sample_rate"),
])
def test_malformed_lmnt_fields_are_refused_naming_file_and_key(
    tmp_path: Path, payload: dict, expected: str
) -> None:
    source = lmnt_file(tmp_path / "w.pt", **payload)
    with pytest.raises(ConversionError) as error:
        import_lmnt(source, tmp_path / "run")
    assert str(source) in str(error.value) and expected in str(error.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_weights_are_refused(tmp_path: Path, bad: float) -> None:
    state = small_state()
    state["input_projection.weight"][0, 0, 0] = bad
    source = tmp_path / "w.pt"
    torch.save({"model": state}, source)
    with pytest.raises(ConversionError, match="input_projection.weight"):
        import_lmnt(source, tmp_path / "run")
    folder = tmp_path / "epoch-0001_step-0000100_loss-0.100000"
    folder.mkdir()
    save_weights(folder / "model.safetensors", state)
    with pytest.raises(ConversionError, match="not finite"):
        import_amphion(folder, tmp_path / "run2")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run2").exists()


def test_non_tensor_values_are_refused(tmp_path: Path) -> None:
    state: dict = small_state()
    state["input_projection.bias"] = [1.0, 2.0]
    source = tmp_path / "w.pt"
    torch.save({"model": state}, source)
    with pytest.raises(ConversionError, match="input_projection.bias"):
        import_lmnt(source, tmp_path / "run")


def test_convert_errors_are_one_line_without_traceback(tmp_path: Path, capsys) -> None:
    source = lmnt_file(tmp_path / "w.pt", step=-1)
    assert main(["convert", "lmnt", "--checkpoint", str(source),
                 "--output", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(source) in err and "Traceback" not in err


def test_export_of_a_damaged_components_file_names_it(tmp_path: Path, capsys) -> None:
    folder = import_lmnt(lmnt_file(tmp_path / "w.pt"), tmp_path / "run")
    (folder / COMPONENTS_FILE).write_text('{"features":\n', encoding="utf-8")
    assert main(["convert", "export-lmnt", "--run", str(tmp_path / "run"),
                 "--output", str(tmp_path / "out.pt")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(folder / COMPONENTS_FILE) in err
    assert not (tmp_path / "out.pt").exists()
