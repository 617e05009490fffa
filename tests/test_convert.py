"""Checkpoint conversion: lmnt and Amphion checkpoints in, lmnt checkpoints out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vocfw.core.runs.checkpoint import load_components, save_weights
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_convert import (
    ConversionError,
    export_lmnt,
    import_amphion,
    import_lmnt,
)

SMALL = {"residual_layers": 3, "residual_channels": 8, "dilation_cycle_length": 2}


def small_state(n_mels: int = 80, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return DiffWave(n_mels=n_mels, **SMALL).state_dict()


def lmnt_params(**overrides: object) -> dict:
    params = {
        "sample_rate": 16000, "n_mels": 80, "n_fft": 1024, "hop_samples": 256,
        "residual_layers": 3, "residual_channels": 8, "dilation_cycle_length": 2,
        "noise_schedule": np.linspace(1e-4, 0.02, 40).tolist(),
        "inference_noise_schedule": [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5],
    }
    return {**params, **overrides}


def write_lmnt(path: Path, state: dict, params: dict | None = None, step: int = 1234) -> Path:
    payload = {"step": step, "model": state}
    if params is not None:
        payload["params"] = params
    torch.save(payload, path)
    return path


def assert_same_state(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert set(got) == set(want)
    assert all(torch.equal(got[key], want[key]) for key in want)


def test_import_lmnt_builds_a_loadable_run(tmp_path: Path) -> None:
    state = small_state()
    source = write_lmnt(tmp_path / "weights-1234.pt", state, lmnt_params())
    folder = import_lmnt(source, tmp_path / "run")
    assert folder == tmp_path / "run" / "checkpoint" / "epoch-0000_step-0001234_loss-0.000000"
    components, used = load_components(tmp_path / "run")
    assert used == folder
    assert_same_state(components.model.state_dict(), state)
    features = components.features
    assert (features.style, features.sample_rate, features.n_mels) == ("lmnt", 16000, 80)
    assert (features.f_min, features.f_max, features.win_length) == (20.0, None, 1024)
    sampler = components.sampler
    np.testing.assert_allclose(sampler.train_betas, np.linspace(1e-4, 0.02, 40))
    assert components.model.diffusion_embedding.embedding.shape == (40, 128)


def test_import_lmnt_without_params_uses_lmnt_defaults(tmp_path: Path) -> None:
    state = small_state()
    folder = import_lmnt(write_lmnt(tmp_path / "w.pt", state, step=7), tmp_path / "run",
                         features="recipe")
    components, _ = load_components(folder)
    assert folder.name == "epoch-0000_step-0000007_loss-0.000000"
    assert (components.features.style, components.features.n_mels) == ("recipe", 80)
    assert components.sampler.num_inference_steps == 50
    assert_same_state(components.model.state_dict(), state)


def test_import_lmnt_accepts_the_model_directory(tmp_path: Path) -> None:
    write_lmnt(tmp_path / "weights.pt", small_state(), lmnt_params())
    assert import_lmnt(tmp_path, tmp_path / "run").is_dir()


def test_export_round_trips_exactly(tmp_path: Path) -> None:
    state = small_state()
    params = lmnt_params()
    folder = import_lmnt(write_lmnt(tmp_path / "w.pt", state, params), tmp_path / "run")
    (tmp_path / "out").mkdir()
    written = export_lmnt(tmp_path / "run", tmp_path / "out")
    assert written == tmp_path / "out" / "weights.pt"
    data = torch.load(written, weights_only=True)
    assert data["step"] == 1234
    assert_same_state(data["model"], state)
    for key, value in params.items():
        assert data["params"][key] == pytest.approx(value), key
    again = import_lmnt(written, tmp_path / "again")
    assert (again / "components.json").read_text() == (folder / "components.json").read_text()


@pytest.mark.parametrize("prefix", ["", "module.", "model.generator."])
@pytest.mark.parametrize("weights", ["model.safetensors", "pytorch_model.bin"])
def test_import_amphion_strips_prefixes_and_keeps_the_name(
    tmp_path: Path, prefix: str, weights: str
) -> None:
    state = small_state(n_mels=100)
    folder = tmp_path / "epoch-0020_step-0004567_loss-0.123456"
    folder.mkdir()
    prefixed = {prefix + key: value for key, value in state.items()}
    if weights.endswith(".bin"):
        torch.save(prefixed, folder / weights)
    else:
        save_weights(folder / weights, prefixed)
    written = import_amphion(folder, tmp_path / "run")
    assert written == tmp_path / "run" / "checkpoint" / folder.name
    components, _ = load_components(written)
    assert (components.features.style, components.features.sample_rate) == ("recipe", 24000)
    assert_same_state(components.model.state_dict(), state)


def test_missing_and_unexpected_keys_are_named(tmp_path: Path) -> None:
    state = small_state()
    del state["residual_layers.1.output_projection.bias"]
    state["residual_layers.0.extra.weight"] = torch.zeros(1)
    source = write_lmnt(tmp_path / "w.pt", state, lmnt_params())
    with pytest.raises(ConversionError) as error:
        import_lmnt(source, tmp_path / "run")
    assert "residual_layers.1.output_projection.bias" in str(error.value)
    assert "residual_layers.0.extra.weight" in str(error.value)
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_wrong_shapes_and_foreign_layouts_are_refused(tmp_path: Path) -> None:
    state = small_state()
    state["skip_projection.weight"] = torch.zeros(8, 8, 3)
    with pytest.raises(ConversionError, match=r"skip_projection.weight \(8, 8, 3\)"):
        import_lmnt(write_lmnt(tmp_path / "a.pt", state), tmp_path / "a")
    with pytest.raises(ConversionError, match="input_projection.weight"):
        import_lmnt(write_lmnt(tmp_path / "b.pt", {"conv.weight": torch.zeros(2)}), tmp_path / "b")
    with pytest.raises(ConversionError, match="'model' state dict"):
        torch.save({"weights": 1}, tmp_path / "c.pt")
        import_lmnt(tmp_path / "c.pt", tmp_path / "c")
    with pytest.raises(ConversionError, match="neither model.safetensors nor pytorch_model.bin"):
        import_amphion(tmp_path, tmp_path / "d")


def test_code_in_a_checkpoint_is_never_run(tmp_path: Path) -> None:
    torch.save({"model": small_state(), "params": {"hop_samples": 256, "x": Path("a")}},
               tmp_path / "evil.pt")
    with pytest.raises(ConversionError, match="weights-only"):
        import_lmnt(tmp_path / "evil.pt", tmp_path / "run")


def test_non_linear_schedules_and_existing_targets_are_refused(tmp_path: Path) -> None:
    params = lmnt_params(noise_schedule=[1e-4, 1e-3, 0.05])
    with pytest.raises(ConversionError, match="not a linear schedule"):
        import_lmnt(write_lmnt(tmp_path / "a.pt", small_state(), params), tmp_path / "a")
    source = write_lmnt(tmp_path / "b.pt", small_state(), lmnt_params())
    import_lmnt(source, tmp_path / "run")
    with pytest.raises(FileExistsError, match="already exists"):
        import_lmnt(source, tmp_path / "run")
