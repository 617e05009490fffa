"""``vocfw distill`` on the command line: a student run that ``predict`` and the Python API use
unchanged, refusals as one line, and the distiller plugin kind (built-in and outside)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from cli_running import run

from vocfw.core import load
from vocfw.core.audio.mel import MelConfig
from vocfw.core.registry import build_registry
from vocfw.core.runs.checkpoint import resolve_checkpoint
from vocfw.core.testing.processed import (
    tiny_diffwave_spec,
    write_processed_dataset,
    write_tiny_run,
)

FEATURES = MelConfig(n_mels=20)


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    """A fit experiment file (its model and sampler sections are ignored by distill)."""
    write_processed_dataset(tmp_path / "data", "alpha", FEATURES,
                            {"train": [0.3, 0.2], "validation": [0.2], "test": [0.2, 0.3]})
    spec = tiny_diffwave_spec(FEATURES)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"alpha": "a"}, "processed_dir": str(tmp_path / "data"),
                 "features": FEATURES.to_dict()},
        "model": spec["model"], "sampler": spec["sampler"],
        "trainer": {"log_dir": str(tmp_path / "runs"), "batch_size": 2, "crop_frames": 8,
                    "max_steps": 2, "eval_audio": False, "device": "cpu"},
    }))
    return config


def test_the_student_is_an_ordinary_run_that_samples_in_k_steps(
        tmp_path: Path, experiment: Path, capsys: pytest.CaptureFixture) -> None:
    teacher = write_tiny_run(tmp_path / "teacher", tiny_diffwave_spec(FEATURES))
    code, _, err = run(["distill", "--config", str(experiment), "--teacher", str(teacher),
                        "--steps", "2", "--name", "student"], capsys)
    assert code == 0, err
    student = tmp_path / "runs" / "student"
    assert (student / "config.yaml").is_file() and list((student / "log").iterdir())
    folder = resolve_checkpoint(teacher)
    record = json.loads((resolve_checkpoint(student) / "components.json").read_text())[
        "distillation"]
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert record["teacher"] == str(folder.resolve()) and record["sha256"] == digest
    assert record["method"]["class_path"].endswith(".ProgressiveDistillation")
    assert record["steps"] == 2

    vocoder = load(student, device="cpu")
    assert vocoder.components.spec["distillation"] == record
    assert vocoder.components.sampler.eta == 0.0
    assert vocoder.components.sampler.num_inference_steps == 2
    out = tmp_path / "out"
    code, _, err = run(["predict", "--run", str(student), "--mode", "feature", "--feature_dir",
                        str(tmp_path / "data" / "alpha"), "--output", str(out),
                        "--progress", "false"], capsys)
    assert code == 0, err
    assert len(list((out / "pred").glob("*.wav"))) == 5  # every mel of the dataset


def test_the_command_line_refuses_in_one_line(
        tmp_path: Path, experiment: Path, capsys: pytest.CaptureFixture) -> None:
    teacher = write_tiny_run(tmp_path / "teacher", tiny_diffwave_spec(FEATURES))
    base = ["distill", "--config", str(experiment), "--teacher", str(teacher), "--name", "s"]
    code, _, err = run([*base, "--steps", "1", "--method", "Reflow"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert str(teacher) in err and "Reflow cannot distill it" in err
    code, _, err = run(base, capsys)
    assert code == 2 and "distill needs --steps" in err
    code, _, err = run([*base, "--steps", "0"], capsys)
    assert code == 1 and "at least 1" in err
    assert not (tmp_path / "runs").exists()


ECHO = """
    from vocfw.core import hookimpl
    from vocfw.core.distiller import Distiller

    class Echo(Distiller):
        \"\"\"Trains the student with the teacher's own loss.

        Args:
            scale: multiplies the loss.
        \"\"\"

        def __init__(self, scale: float = 1.0) -> None:
            self.scale = scale

        def teacher_incompatibility(self, teacher):
            return None

        def student_sampler(self, teacher, steps):
            return {"class_path": type(teacher.sampler).__name__,
                    "init_args": teacher.spec["sampler"]["init_args"]}

        def loss(self, student, student_sampler, teacher, audio, mel, generator=None):
            return self.scale * student_sampler.training_loss(student, audio, mel, generator)

    @hookimpl
    def vocfw_register_distillers():
        return [Echo]
"""


def test_an_outside_distiller_registers_through_an_entry_point(
        fake_distribution, tmp_path: Path, experiment: Path,
        capsys: pytest.CaptureFixture) -> None:
    module = fake_distribution("vocfw-echo", ECHO)
    registry = build_registry()
    assert registry.failures == []
    assert registry.get("distillers", "Echo").__module__ == module
    assert list(registry.entries["distillers"])[:2] == ["ProgressiveDistillation", "Reflow"]
    code, out, _ = run(["plugins", "--json"], capsys)
    by_name = {p["distribution"]: p for p in json.loads(out)["plugins"]}
    assert [d["name"] for d in by_name["vocfw-echo"]["distillers"]] == ["Echo"]
    builtin = [p for p in json.loads(out)["plugins"] if p["distribution"] == "vocfw"]
    assert {d["name"] for p in builtin for d in p["distillers"]} == {
        "ProgressiveDistillation", "Reflow"}
    code, text, _ = run(["plugins"], capsys)
    assert "distiller Echo" in text and "distiller ProgressiveDistillation" in text

    teacher = write_tiny_run(tmp_path / "teacher", tiny_diffwave_spec(FEATURES))
    code, _, err = run(["distill", "--config", str(experiment), "--teacher", str(teacher),
                        "--steps", "1", "--name", "echo", "--method", "Echo",
                        "--method.scale", "2.0", "--trainer.max_steps", "1"], capsys)
    assert code == 0, err
    record = json.loads((resolve_checkpoint(tmp_path / "runs" / "echo") /
                         "components.json").read_text())["distillation"]
    assert record["method"] == {"class_path": f"{module}.Echo", "init_args": {"scale": 2.0}}
