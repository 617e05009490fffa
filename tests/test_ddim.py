"""The DDIM sampler: step choice, the update against a float64 reference, noise use, and which
trained runs it may sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocfw.core.model import Vocoder
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.samplers.ddim import DDIM, spaced_steps
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.priorgrad import PriorGrad

ALPHA_BAR = np.cumprod(1.0 - np.linspace(1e-4, 0.05, 50))  # float64, the default schedule


def tiny() -> DiffWave:
    torch.manual_seed(0)
    model = DiffWave(n_mels=20, residual_layers=2, residual_channels=8,
                     dilation_cycle_length=2).eval()
    torch.nn.init.normal_(model.output_projection.weight, std=0.5)  # a live output
    return model


def reference_ddim(model: Vocoder, mel: torch.Tensor, steps: list[int], eta: float,
                   noise: list[torch.Tensor]) -> torch.Tensor:
    """Song et al. (2021) eq. 12 in float64 (the network itself runs in float32), the
    predicted clean signal clipped to [-1, 1] and alpha_bar = 1 after the last step."""
    x = noise[0].double()
    extra = iter(noise[1:])
    for i, t in enumerate(steps):
        a = ALPHA_BAR[t]
        a_prev = ALPHA_BAR[steps[i + 1]] if i + 1 < len(steps) else 1.0
        eps = model(x.float(), torch.tensor([t]), mel).double()
        x0 = ((x - np.sqrt(1 - a) * eps) / np.sqrt(a)).clamp(-1.0, 1.0)
        sigma = eta * np.sqrt((1 - a_prev) / (1 - a)) * np.sqrt(1 - a / a_prev)
        x = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev - sigma**2) * eps
        if sigma > 0:
            x = x + sigma * next(extra).double()
    return x


def test_evenly_spaced_steps_start_at_the_last_training_step() -> None:
    assert spaced_steps(50, 50) == list(range(49, -1, -1))
    assert spaced_steps(50, 1) == [49]
    assert spaced_steps(50, 10) == [49, 44, 39, 34, 29, 24, 19, 14, 9, 4]
    for count in range(1, 51):
        steps = spaced_steps(50, count)
        assert len(set(steps)) == count and steps == sorted(steps, reverse=True)
        assert steps[0] == 49 and steps[-1] >= 0
    assert DDIM(inference_steps=[0, 49, 20]).steps == [49, 20, 0]


@pytest.mark.parametrize("steps", [0, 51, [48, 0], [49, 49, 0], [49, -1], [49, 50], [],
                                   [49, 2.5]])
def test_bad_steps_are_refused(steps: object) -> None:
    with pytest.raises(ValueError, match="inference_steps"):
        DDIM(inference_steps=steps)


def test_negative_eta_is_refused() -> None:
    with pytest.raises(ValueError, match="eta must be at least 0"):
        DDIM(eta=-0.1)


@pytest.mark.parametrize(("steps", "eta"), [(50, 0.0), (5, 0.0), ([49, 30, 7], 0.5), (4, 1.0)])
def test_the_update_matches_a_float64_reference(steps: int | list[int], eta: float) -> None:
    model, sampler = tiny(), DDIM(inference_steps=steps, eta=eta)
    mel = torch.randn(2, 20, 3) - 4.0
    generator = torch.Generator().manual_seed(3)
    draws = 1 + (len(sampler.steps) - 1 if eta > 0 else 0)
    noise = [torch.randn(2, 768, generator=generator) for _ in range(draws)]
    with torch.no_grad():
        ours = sampler._reverse(model, mel, noise=noise)
        expected = reference_ddim(model, mel, sampler.steps, eta, noise)
    assert ours.abs().max() <= 1.0 and expected.abs().max() > 0.05  # a live, bounded output
    torch.testing.assert_close(ours.double(), expected, rtol=0, atol=2e-5)


def test_eta_zero_draws_only_the_initial_noise() -> None:
    model, sampler = tiny(), DDIM(inference_steps=6, eta=0.0)
    mel = torch.randn(1, 20, 3) - 4.0
    generator = torch.Generator().manual_seed(4)
    drawn = sampler.sample(model, mel, generator)
    fresh = torch.Generator().manual_seed(4)
    initial = torch.randn(1, 768, generator=fresh)
    assert torch.equal(generator.get_state(), fresh.get_state())  # one draw, nothing else
    torch.manual_seed(99)  # torch's global RNG plays no part
    with torch.no_grad():
        assert torch.equal(sampler._reverse(model, mel, noise=[initial]), drawn)
    with pytest.raises(ValueError, match="expected 1 tensors, got 2"):
        sampler._reverse(model, mel, noise=[initial, initial])


def test_eta_above_zero_draws_noise_at_every_step_but_the_last() -> None:
    model, sampler = tiny(), DDIM(inference_steps=4, eta=1.0)
    mel = torch.randn(1, 20, 3) - 4.0
    drawn = sampler.sample(model, mel, torch.Generator().manual_seed(4))
    fresh = torch.Generator().manual_seed(4)
    noise = [torch.randn(1, 768, generator=fresh) for _ in range(4)]
    with torch.no_grad():
        assert torch.equal(sampler._reverse(model, mel, noise=noise), drawn)
        deterministic = DDIM(inference_steps=4)._reverse(model, mel, noise=noise[:1])
    assert (drawn - deterministic).abs().max() > 0.01


def test_rows_depend_only_on_their_own_generator_with_per_step_noise() -> None:
    model, sampler = tiny(), DDIM(inference_steps=4, eta=1.0)
    mel = torch.randn(3, 20, 4) - 4.0
    rows = sampler.sample(model, mel, [torch.Generator().manual_seed(s) for s in (7, 8, 9)])
    alone = sampler.sample(model, mel[1:2], [torch.Generator().manual_seed(8)])
    torch.testing.assert_close(rows[1], alone[0], rtol=0, atol=1e-5)
    assert (rows[0] - rows[1]).abs().max() > 0.1


class LevelRecorder(Vocoder):
    """A noise-level model that records the time inputs it is given."""

    time_input = "noise_level"

    def __init__(self) -> None:
        super().__init__()
        self.n_mels, self.hop_length = 20, 256
        self.seen: list[float] = []

    def condition(self, mel: torch.Tensor) -> torch.Tensor:
        return mel

    def denoise(self, audio: torch.Tensor, time: torch.Tensor, condition: torch.Tensor):
        self.seen.append(float(time))
        return torch.zeros_like(audio)  # (B, N)


def test_both_time_inputs_are_supplied() -> None:
    sampler = DDIM(inference_steps=[49, 20, 3])
    model = LevelRecorder()
    sampler.sample(model, torch.zeros(1, 20, 2), torch.Generator().manual_seed(0))
    np.testing.assert_allclose(model.seen, np.sqrt(ALPHA_BAR[[49, 20, 3]]), rtol=1e-6)
    steps: list[torch.Tensor] = []
    diffwave = tiny()
    denoise = diffwave.denoise
    diffwave.denoise = lambda audio, time, cond: steps.append(time) or denoise(audio, time, cond)
    sampler.sample(diffwave, torch.zeros(1, 20, 2), torch.Generator().manual_seed(0))
    assert [int(t) for t in steps] == [49, 20, 3]
    assert all(not t.is_floating_point() for t in steps)  # whole steps index the embedding


def test_training_is_ddpms() -> None:
    model = tiny()
    audio, mel = torch.rand(3, 1024) * 2 - 1, torch.randn(3, 20, 4)
    ours = DDIM().training_loss(model, audio, mel, torch.Generator().manual_seed(5))
    theirs = DDPM().training_loss(model, audio, mel, torch.Generator().manual_seed(5))
    assert torch.equal(ours, theirs)


def test_ddpm_and_ddim_sample_each_others_runs_but_not_priorgrads() -> None:
    assert DDIM(eta=0.3).incompatibility(DDPM(inference_schedule="fast")) is None
    assert DDPM().incompatibility(DDIM(inference_steps=3)) is None
    assert "training noise schedule" in DDIM(beta_end=0.06).incompatibility(DDPM())
    for sampler in (DDIM(), DDPM()):
        reason = sampler.incompatibility(PriorGrad())
        assert reason is not None and "priorgrad noise process" in reason
