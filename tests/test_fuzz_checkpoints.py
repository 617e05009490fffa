"""Fuzzing the readers of stored components and converted checkpoints: any input gives a result
or one of vocfw's named errors, never another exception and never a hang.

Integers are drawn small so that a spec which happens to be valid builds a small network.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import SpecError, normalise_spec
from vocfw.core.runs.checkpoint import (
    COMPONENTS_FILE,
    CheckpointError,
    load_components,
    save_weights,
)
from vocfw.core.testing.processed import tiny_diffwave_spec
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_convert import ConversionError, import_amphion, import_lmnt

NAMED_ERRORS = (CheckpointError, SpecError, ConversionError)
FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SPEC = normalise_spec(tiny_diffwave_spec(MelConfig(n_mels=20)))
SMALL = {"n_mels": 20, "residual_layers": 2, "residual_channels": 4, "dilation_cycle_length": 1}

scalars = (st.none() | st.booleans() | st.integers(-4, 64) | st.floats(allow_nan=True)
           | st.text(max_size=12)
           | st.sampled_from(["DiffWave", "DDPM", "this.X", "fast", "lmnt", "/etc/passwd"]))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8) | st.sampled_from(["class_path", "init_args", "n_mels"]),
        inner, max_size=4),
    max_leaves=12,
)


def mutate(value: Any, data: st.DataObject) -> Any:
    """``value`` with some of its entries (at any depth) replaced, dropped or added."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            action = data.draw(st.sampled_from(["keep", "keep", "keep", "mutate", "drop", "junk"]))
            if action == "mutate":
                out[key] = mutate(item, data)
            elif action == "junk":
                out[key] = data.draw(json_values)
            elif action == "keep":
                out[key] = item
        if data.draw(st.booleans()):
            out[data.draw(st.text(max_size=8))] = data.draw(json_values)
        return out
    return data.draw(json_values) if data.draw(st.booleans()) else value


def write_checkpoint(root: Path, text: str) -> Path:
    folder = root / "checkpoint" / "epoch-0000_step-0000001_loss-0.100000"
    folder.mkdir(parents=True)
    save_weights(folder / "model.safetensors", DiffWave(**SPEC["model"]["init_args"]).state_dict())
    (folder / COMPONENTS_FILE).write_text(text, encoding="utf-8")
    return folder


def assert_reads_or_names_the_error(read: Any) -> None:
    try:
        read()
    except NAMED_ERRORS as exc:
        assert str(exc)


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_components_json_gives_components_or_a_named_error(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["mutated", "json", "text"]))
    if kind == "mutated":
        text = json.dumps(mutate(SPEC, data))
    elif kind == "json":
        text = json.dumps(data.draw(json_values))
    else:
        text = data.draw(st.text(max_size=60))
    with tempfile.TemporaryDirectory() as root:
        folder = write_checkpoint(Path(root), text)
        assert_reads_or_names_the_error(lambda: load_components(folder))


def lmnt_payload(data: st.DataObject) -> Any:
    state: dict[str, Any] = DiffWave(**SMALL).state_dict()
    for key in data.draw(st.lists(st.sampled_from(sorted(state)), max_size=2, unique=True)):
        change = data.draw(st.sampled_from(["drop", "nan", "shape", "list", "int"]))
        if change == "drop":
            del state[key]
        elif change == "nan":
            state[key] = torch.full_like(state[key], float("nan"))
        elif change == "shape":
            state[key] = torch.zeros(data.draw(st.lists(st.integers(0, 3), max_size=3)))
        elif change == "list":
            state[key] = [1.0, 2.0]
        else:
            state[key] = state[key].to(torch.int64)
    params = {key: data.draw(scalars | st.lists(st.floats(0, 1), max_size=4))
              for key in data.draw(st.lists(st.sampled_from(
                  ["hop_samples", "n_fft", "sample_rate", "dilation_cycle_length",
                   "noise_schedule"]), max_size=3))}
    payload = {"model": state, "params": params, "step": data.draw(scalars)}
    return mutate(payload, data) if data.draw(st.booleans()) else payload


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_lmnt_checkpoints_give_a_run_or_a_named_error(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as root:
        source = Path(root) / "weights.pt"
        if data.draw(st.booleans()):
            torch.save(lmnt_payload(data), source)
        else:
            source.write_bytes(data.draw(st.binary(max_size=200)))
        features = data.draw(st.sampled_from(["lmnt", "recipe"]))
        assert_reads_or_names_the_error(
            lambda: import_lmnt(source, Path(root) / "run", features=features))


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_amphion_folders_give_a_run_or_a_named_error(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / data.draw(st.sampled_from(
            ["epoch-0001_step-0000010_loss-0.500000", "other"]))
        folder.mkdir()
        weights = data.draw(st.sampled_from(["model.safetensors", "pytorch_model.bin"]))
        if data.draw(st.booleans()):
            state = {f"model.{key}": value for key, value in DiffWave(**SMALL).state_dict().items()}
            if weights.endswith(".bin"):
                torch.save(mutate(state, data), folder / weights)
            else:
                save_weights(folder / weights, state)
        else:
            (folder / weights).write_bytes(data.draw(st.binary(max_size=200)))
        assert_reads_or_names_the_error(lambda: import_amphion(folder, Path(root) / "run"))
