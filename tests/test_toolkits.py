"""The public toolkits in core that plugins share: the DDPM family's schedule math
(:mod:`vocfw.core.diffusion`) and checkpoint conversion (:mod:`vocfw.core.runs.convert_toolkit`)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from vocfw.core import diffusion
from vocfw.core.diffusion import (
    BETA_END,
    BETA_START,
    NAMED_SCHEDULES,
    NUM_STEPS,
    DiffusionProcess,
    align_steps,
    inference_betas,
)
from vocfw.core.runs import convert_toolkit
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.samplers.ddim import DDIM
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.priorgrad import PriorGrad
from vocfw.plugins.samplers.specgrad import SpecGrad


@pytest.mark.parametrize("cls", [DiffusionProcess, DDPM, DDIM, PriorGrad, SpecGrad])
def test_the_ddpm_family_defaults_to_the_one_training_schedule(cls: type) -> None:
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()}
    assert (defaults["beta_start"], defaults["beta_end"], defaults["num_steps"]) == (
        BETA_START, BETA_END, NUM_STEPS)
    assert issubclass(cls, DiffusionProcess)


def test_diffwave_embeds_the_default_training_steps() -> None:
    assert inspect.signature(DiffWave).parameters["num_steps"].default == NUM_STEPS


def test_an_outside_sampler_builds_on_the_core_process() -> None:
    class Outside(DiffusionProcess):
        def sample(self, model, mel, generator=None):  # noqa: ANN001, ANN202
            return torch.zeros(mel.shape[0], mel.shape[-1] * model.hop_length)

    sampler = Outside()
    np.testing.assert_allclose(sampler.train_betas, np.linspace(BETA_START, BETA_END, NUM_STEPS))
    assert sampler.incompatibility(DDPM()) is None
    assert "PriorGrad" in sampler.incompatibility(PriorGrad())


def test_named_schedules_resolve_and_align_inside_the_trained_range() -> None:
    train = np.linspace(BETA_START, BETA_END, NUM_STEPS)
    assert inference_betas("full", train) is train
    np.testing.assert_array_equal(inference_betas("fast", train), NAMED_SCHEDULES["fast"])
    steps = align_steps(train, inference_betas("fast12", train))
    assert len(steps) == 12 and all(0 <= s <= NUM_STEPS - 1 for s in steps)
    with pytest.raises(ValueError, match="outside the trained range"):
        align_steps(train, [0.9])
    with pytest.raises(ValueError, match="sampler.inference_schedule"):
        inference_betas("slow", train)
    with pytest.raises(ValueError, match="sampler.inference_schedule"):
        inference_betas([0.5, 1.5], train)


@pytest.mark.parametrize("module", [diffusion, convert_toolkit])
def test_the_toolkits_are_documented_for_plugin_authors(module: object) -> None:
    assert "plugin" in module.__doc__
    public = [value for name, value in vars(module).items() if not name.startswith("_")
              and callable(value) and getattr(value, "__module__", None) == module.__name__]
    assert public and all(inspect.getdoc(value) for value in public)
