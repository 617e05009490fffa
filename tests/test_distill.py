"""``vocfw distill``: progressive distillation's and reflow's targets against float64
restatements, DDPM's deterministic update against DDIM's, exact resume, refusals naming the
teacher, and the student as an ordinary run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import Components, build_components, normalise_spec
from vocfw.core.data.config import DataConfig
from vocfw.core.diffusion import align_steps
from vocfw.core.runs.checkpoint import WEIGHTS_FILE, load_weights, resolve_checkpoint
from vocfw.core.testing.processed import (
    tiny_diffwave_spec,
    write_processed_dataset,
    write_tiny_run,
)
from vocfw.core.train.distill import DistillError, distill
from vocfw.core.train.trainer import Trainer
from vocfw.plugins.distillers.progressive import (
    ProgressiveDistillation,
    distillation_schedules,
)
from vocfw.plugins.distillers.reflow import Reflow
from vocfw.plugins.samplers.ddim import DDIM
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.priorgrad import PriorGrad

FEATURES = MelConfig(n_mels=20)
HOP = FEATURES.hop_length
SETTINGS = {"batch_size": 2, "crop_frames": 8, "log_every_steps": 1, "eval_audio": False,
            "ema_decay": 0.9, "save_checkpoint_stride": 1, "device": "cpu"}


def flow_spec(noise_prior: str = "normal") -> dict:
    """A tiny FrameWave trained by flow matching in 3 Euler steps from ``noise_prior``."""
    return {"features": FEATURES.to_dict(),
            "model": {"class_path": "FrameWave", "init_args": {
                "n_mels": 20, "hop_length": HOP, "channels": 8, "hidden": 8, "layers": 1}},
            "sampler": {"class_path": "FlowMatching",
                        "init_args": {"steps": 3, "noise_prior": noise_prior}}}


def ddpm_spec(sampler: str = "DDPM") -> dict:
    spec = tiny_diffwave_spec(FEATURES)
    return {**spec, "sampler": {"class_path": sampler, "init_args": {}}}


def randomised(spec: dict, seed: int = 0) -> Components:
    """``spec``'s components with every weight drawn at random (a tiny trained teacher's
    stand-in: DiffWave's zero-initialised output would predict no noise at all)."""
    components = build_components(normalise_spec(spec))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in components.model.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    components.model.eval().requires_grad_(False)
    return components


def student_of(teacher: Components, sampler: dict) -> Components:
    return build_components(normalise_spec({**teacher.spec, "sampler": sampler}))


@pytest.fixture
def data(tmp_path: Path) -> DataConfig:
    write_processed_dataset(tmp_path / "data", "alpha", FEATURES,
                            {"train": [0.3, 0.4, 0.2, 0.25], "validation": [0.2],
                             "test": [0.2, 0.3]})
    return DataConfig(datasets={"alpha": "a"}, processed_dir=str(tmp_path / "data"),
                      features=FEATURES)


def test_the_student_levels_are_every_second_teacher_level_inside_the_trained_range() -> None:
    train = DDPM().train_betas
    teacher, student = distillation_schedules(train, 3)
    levels = np.cumprod(1.0 - teacher)  # (6,)
    np.testing.assert_allclose(np.cumprod(1.0 - student), levels[1::2], rtol=1e-12)
    assert levels[-1] >= np.cumprod(1.0 - train)[-1] and teacher[0] == train[0]
    assert np.allclose(np.diff(np.log(teacher)), np.log(teacher[1] / teacher[0]))  # log-spaced
    DDPM(inference_schedule=student.tolist(), eta=0.0)  # the student's schedule aligns


@pytest.mark.parametrize("sampler", ["DDPM", "PriorGrad"])
@pytest.mark.parametrize("index", [0, 2])
def test_progressive_target_equals_a_float64_restatement_of_two_teacher_steps(
        sampler: str, index: int) -> None:
    teacher = randomised(ddpm_spec(sampler))
    method = ProgressiveDistillation()
    assert method.teacher_incompatibility(teacher) is None
    student = student_of(teacher, method.student_sampler(teacher, 3)).sampler
    generator = torch.Generator().manual_seed(1)
    mel = torch.randn(2, 20, 4, generator=generator) - 3.0  # (B, M, T)
    noisy = 0.5 * torch.randn(2, 4 * HOP, generator=generator)  # (B, N)
    target = method.target(teacher, student, noisy, mel, index)

    train = teacher.sampler.training_betas
    teacher_betas, student_betas = distillation_schedules(train, 3)
    np.testing.assert_allclose(student.inference_betas, student_betas)
    levels = np.cumprod(1.0 - student_betas)
    start, end = levels[index], levels[index - 1] if index > 0 else 1.0
    middle = np.cumprod(1.0 - teacher_betas)[2 * index]
    model = teacher.model.double()
    x = noisy.double()
    state = x
    for step, level, after in ((student.aligned_steps[index], start, middle),
                               (align_steps(train, teacher_betas)[2 * index], middle, end)):
        time = torch.tensor([step], dtype=torch.float64)
        if model.time_input == "noise_level":
            time = torch.tensor([level**0.5], dtype=torch.float64)
        eps = model(state, time, mel.double())
        clean = ((state - np.sqrt(1 - level) * eps) / np.sqrt(level)).clamp(-1.0, 1.0)
        state = np.sqrt(after) * clean + np.sqrt(1 - after) * eps
    a = np.sqrt(end / start)
    expected = (state - a * x) / (np.sqrt(1 - end) - a * np.sqrt(1 - start))
    one_update = np.sqrt(end) * (x - np.sqrt(1 - start) * expected) / np.sqrt(start) + np.sqrt(
        1 - end) * expected  # the student's unclipped update with the target lands there
    torch.testing.assert_close(one_update, state, rtol=1e-9, atol=1e-9)
    assert expected.abs().max() > 0.1  # the random teacher does predict noise
    torch.testing.assert_close(target.double(), expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("noise_prior", ["normal", "energy"])
def test_reflow_target_equals_a_float64_restatement_of_the_teacher_flow(noise_prior: str
                                                                         ) -> None:
    teacher = randomised(flow_spec(noise_prior))
    method = Reflow()
    student = student_of(teacher, method.student_sampler(teacher, 1))
    assert student.sampler.num_inference_steps == 1
    mel = torch.randn(2, 20, 4, generator=torch.Generator().manual_seed(2)) - 3.0
    audio = torch.zeros(2, 4 * HOP)
    torch.manual_seed(0)
    loss = method.loss(student.model, student.sampler, teacher, audio, mel,
                       torch.Generator().manual_seed(5))
    pair = method.pair(teacher, mel, torch.ones(2, 4 * HOP))  # (B, N)

    draws = torch.Generator().manual_seed(5)  # the same draws: times, then noise
    time = torch.sigmoid(torch.randn(2, generator=draws)).double()  # logit-normal
    noise = torch.randn(audio.shape, generator=draws).double()
    if noise_prior == "energy":  # PriorGrad's deviations, the student starts where it will
        noise = noise * PriorGrad().noise_std(mel, HOP).double()
    model = teacher.model.double()
    state = noise
    for begin in (0.0, 1 / 3, 2 / 3):
        state = state + (1 / 3) * model(state, torch.tensor([begin], dtype=torch.float64),
                                        mel.double())
    ones = torch.ones(2, 4 * HOP, dtype=torch.float64)
    for begin in (0.0, 1 / 3, 2 / 3):
        ones = ones + (1 / 3) * model(ones, torch.tensor([begin], dtype=torch.float64),
                                      mel.double())
    torch.testing.assert_close(pair.double(), ones, rtol=1e-4, atol=1e-5)
    t = time.unsqueeze(1)
    with torch.no_grad():
        velocity = student.model.double()((1 - t) * noise + t * state, time, mel.double())
    expected = (velocity - (state - noise)).square().mean()
    assert float(expected) > 0.0
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-4)


def test_ddpm_at_eta_zero_takes_ddims_deterministic_update() -> None:
    spec = tiny_diffwave_spec(FEATURES)
    spec["model"]["init_args"]["num_steps"] = 8
    spec["sampler"]["init_args"] = {"num_steps": 8, "inference_schedule": "full", "eta": 0.0}
    components = randomised(spec)
    mel = torch.randn(1, 20, 3, generator=torch.Generator().manual_seed(4)) - 3.0
    ddpm = components.sampler.sample(components.model, mel, torch.Generator().manual_seed(9))
    ddim = DDIM(num_steps=8, inference_steps=8, eta=0.0).sample(
        components.model, mel, torch.Generator().manual_seed(9))
    torch.testing.assert_close(ddpm, ddim, rtol=1e-5, atol=1e-5)
    ancestral = DDPM(num_steps=8).sample(components.model, mel, torch.Generator().manual_seed(9))
    assert not torch.allclose(ancestral, ddpm)  # eta 1 stays DDPM's own sampling


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return {name: load_weights(folder / name) for name in ("model.safetensors",
                                                            "ema.safetensors")}


def test_an_interrupted_distillation_resumes_bit_exactly(tmp_path: Path, data: DataConfig
                                                         ) -> None:
    teacher = write_tiny_run(tmp_path / "teacher", ddpm_spec("SpecGrad"))
    log = {"log_dir": str(tmp_path / "runs")}
    straight = distill(Trainer(max_steps=4, **SETTINGS, **log), data, teacher, 1, "straight",
                       seed=3)
    distill(Trainer(max_steps=2, **SETTINGS, **log), data, teacher, 1, "split", seed=3)
    resumed = distill(Trainer(max_steps=4, **SETTINGS, **log), data, teacher, 1, "split",
                      seed=3, resume=True)
    assert resumed.name == straight.name
    for name, tensors in _weights(straight).items():
        other = _weights(resumed)[name]
        assert all(torch.equal(tensors[key], other[key]) for key in tensors), name
    start = load_weights(resolve_checkpoint(teacher) / WEIGHTS_FILE)
    assert any(not torch.equal(start[key], tensors[key]) for key in start)  # it trained


def test_refusals_are_one_line_naming_the_teacher(tmp_path: Path, data: DataConfig) -> None:
    trainer = Trainer(max_steps=1, **SETTINGS, log_dir=str(tmp_path / "runs"))
    flow = write_tiny_run(tmp_path / "flow", flow_spec())
    ddpm = write_tiny_run(tmp_path / "ddpm", ddpm_spec())
    damaged = write_tiny_run(tmp_path / "damaged", ddpm_spec())
    (resolve_checkpoint(damaged) / WEIGHTS_FILE).write_bytes(b"not safetensors")
    unknown = write_tiny_run(tmp_path / "unknown", ddpm_spec())
    stored = resolve_checkpoint(unknown) / "components.json"
    spec = json.loads(stored.read_text())
    spec["sampler"]["class_path"] = "NoSuchSampler"
    stored.write_text(json.dumps(spec))
    cases = [
        (flow, {"class_path": "ProgressiveDistillation"}, "not of the DDPM family"),
        (ddpm, {"class_path": "Reflow"}, "not a flow-matching sampler"),
        (tmp_path / "missing", None, "no checkpoint found"),
        (damaged, None, "not a readable safetensors"),
        (unknown, None, "'NoSuchSampler' is not a registered sampler"),
    ]
    for teacher, method, reason in cases:
        with pytest.raises(DistillError) as error:
            distill(trainer, data, teacher, 2, "student", method=method)
        message = str(error.value)
        assert "\n" not in message and str(teacher) in message and reason in message, message
    assert not (tmp_path / "runs").exists()
