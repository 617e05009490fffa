"""One registry per command: built once, then handed to every part of it, and the register
hooks called through pluggy's hook caller."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from vocfw.cli.main import main
from vocfw.core import registry as registries
from vocfw.core.audio.mel import MelConfig
from vocfw.core.plugins import get_plugin_manager
from vocfw.core.testing.processed import (
    tiny_diffwave_spec,
    write_processed_dataset,
    write_tiny_run,
)

FEATURES = MelConfig(sample_rate=16000, n_mels=20, f_max=8000.0)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts registry builds from now on, starting with no registry in the process."""
    counted: list[int] = []
    build = registries.build_registry

    def counting(*args, **kwargs) -> registries.Registry:
        counted.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(registries, "build_registry", counting)
    monkeypatch.setattr(registries, "_current", None)
    return counted


def test_predict_builds_the_registry_once(tmp_path: Path, builds: list[int], capsys) -> None:
    spec = tiny_diffwave_spec(FEATURES)
    spec["sampler"]["init_args"] = {"inference_schedule": "fast"}
    run = write_tiny_run(tmp_path / "run", spec)
    features = tmp_path / "features"
    (features / "mels").mkdir(parents=True)
    np.save(features / "mels" / "u.npy", np.zeros((20, 8), dtype=np.float32))
    code = main(["predict", "--run", str(run), "--mode", "feature", "--feature_dir",
                 str(features), "--output", str(tmp_path / "out"), "--progress", "false",
                 "--sampler", "DDPM"])
    assert code == 0, capsys.readouterr().err
    assert len(builds) == 1


def test_fit_builds_the_registry_once(tmp_path: Path, builds: list[int], capsys) -> None:
    write_processed_dataset(tmp_path / "data", "alpha", FEATURES,
                            {"train": [0.3, 0.4], "test": [0.2]})
    spec = tiny_diffwave_spec(FEATURES)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"alpha": "unused"}, "processed_dir": str(tmp_path / "data"),
                 "features": FEATURES.to_dict()},
        "model": spec["model"],
        "trainer": {"max_steps": 2, "batch_size": 2, "crop_frames": 8, "eval_seconds": 0.1,
                    "log_dir": str(tmp_path / "runs")},
    }))
    code = main(["fit", "--config", str(config), "--name", "tiny"])
    assert code == 0, capsys.readouterr().err
    assert len(builds) == 1


def test_the_registry_is_rebuilt_when_a_plugin_is_installed(
    builds: list[int], fake_distribution
) -> None:
    first = registries.current_registry()
    assert registries.current_registry() is first and len(builds) == 1
    fake_distribution("vocfw-toys", (Path(__file__).parent / "fake_plugins" / "toys.py")
                      .read_text(encoding="utf-8"))
    assert "ToyVocoder" in registries.current_registry().entries["models"]
    assert len(builds) == 2


def test_register_hooks_are_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCFW_TRACE_PLUGINS", "1")
    pm = get_plugin_manager()
    calls: list[str] = []
    pm.add_hookcall_monitoring(lambda name, impls, kwargs: calls.append(name),
                               lambda outcome, name, impls, kwargs: None)
    registry = registries.build_registry(pm)
    assert "DiffWave" in registry.entries["models"]
    assert {"vocfw_register_models", "vocfw_register_samplers", "vocfw_register_corpora",
            "vocfw_register_converters"} <= set(calls)


def test_one_resolver_names_corpora_models_and_samplers() -> None:
    registry = registries.current_registry()
    diffwave = registry.get("models", "DiffWave")
    assert registry.resolve("models", "DiffWave", "x") is diffwave
    assert registry.resolve("models", f"{diffwave.__module__}.DiffWave", "x") is diffwave
    assert registry.resolve("corpora", "folder", "x") is registry.get("corpora", "folder")
    with pytest.raises(ValueError, match="x: 'os.system' is not a registered sampler"):
        registry.resolve("samplers", "os.system", "x")
    assert json.dumps(sorted(registry.import_paths()))
