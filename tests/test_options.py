"""Inference options set once: one options object behind ``load`` and ``predict``, their defaults
read from it, and one device convention for every command."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.errors import VocfwError
from vocfw.core.infer.api import load, load_vocoder
from vocfw.core.infer.options import VocodeOptions
from vocfw.core.infer.predict import predict
from vocfw.core.settings import SettingError, resolve_device
from vocfw.core.testing.processed import tiny_diffwave_spec, write_tiny_run

ROOT = Path(__file__).resolve().parents[1]
FIELDS = [field.name for field in dataclasses.fields(VocodeOptions)]


@pytest.mark.parametrize("function", [load, predict], ids=lambda f: f.__name__)
def test_every_option_has_the_options_objects_default(function) -> None:
    parameters = inspect.signature(function).parameters
    defaults = VocodeOptions()
    for name in FIELDS:
        assert parameters[name].default == getattr(defaults, name), (function.__name__, name)


def test_load_is_load_vocoder_with_its_options(tmp_path: Path) -> None:
    features = MelConfig(sample_rate=16000, n_mels=20, f_max=8000.0)
    run = write_tiny_run(tmp_path / "run", tiny_diffwave_spec(features))
    options = VocodeOptions(device="cpu", precision="fp32", chunk_seconds=0.5, batch_size=2,
                            sampler_args={"inference_schedule": "fast"})
    loaded = load(run, **{name: getattr(options, name) for name in FIELDS})
    direct = load_vocoder(run, options)
    assert loaded.options == direct.options == options
    assert (loaded.chunk_frames, loaded.batch_size, loaded.steps) == (
        direct.chunk_frames, direct.batch_size, direct.steps)
    mel = torch.full((20, 40), -4.0)
    assert torch.equal(loaded(mel, seed=1), direct(mel, seed=1))


def test_options_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        VocodeOptions().batch_size = 8  # type: ignore[misc]


def test_devices_resolve_auto_cpu_and_cuda() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("device", ["gpu", "cuda:99", "cpu:x"],
                         ids=["unknown-name", "absent-index", "bad-index"])
def test_an_unavailable_device_is_one_line_naming_the_setting(device: str) -> None:
    with pytest.raises(SettingError) as refused:
        resolve_device(device, setting="trainer.device")
    message = str(refused.value)
    assert isinstance(refused.value, VocfwError) and isinstance(refused.value, ValueError)
    assert "\n" not in message and message.startswith(f"trainer.device {device!r}: "), message
    assert "expected auto, cpu or an available CUDA device" in message


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]


def test_the_cli_and_core_use_no_test_support() -> None:
    sources = [path for folder in ("cli", "core") for path in (ROOT / folder).rglob("*.py")
               if "testing" not in path.parts]
    for path in sources:
        used = [module for module in _imports(path) if module.startswith("vocfw.core.testing")]
        assert not used, f"{path.relative_to(ROOT)} imports {used}"


def test_core_testing_holds_only_what_plugin_authors_use() -> None:
    modules = {path.stem for path in (ROOT / "core" / "testing").glob("*.py")}
    assert modules <= {"__init__", "contracts", "contract_checks", "fixture", "processed"}
