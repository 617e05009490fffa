"""The FlowMatching sampler: its loss against a float64 restatement, its ODE solvers on fields
with known solutions, sampling with a perfect velocity oracle, its energy prior, its options and
the pairs it refuses."""

from __future__ import annotations

import pytest
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import SpecError, pair_up
from vocfw.core.model import Vocoder
from vocfw.core.sampler import time_for
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.framewave import FrameWave
from vocfw.plugins.models.wavegrad import WaveGrad
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.flow_matching import FlowMatching
from vocfw.plugins.samplers.priorgrad import PriorGrad

HOP, N_MELS = 16, 8


class Field(Vocoder):
    """Stands in for a flow network: a fixed velocity field v(x, t; mel).

    Args:
        kind: ``constant`` (v = c, c from the mel), ``time`` (v = a + b t), ``oracle`` (the
            exact velocity (x* - x) / (1 - t) of the straight paths to the point x*, the data
            for this mel) or ``affine`` (a smooth, learnable-looking field for the loss).
    """

    time_input = "flow_time"

    def __init__(self, kind: str, n_mels: int = N_MELS, hop_length: int = HOP) -> None:
        super().__init__()
        self.n_mels, self.hop_length, self.kind = n_mels, hop_length, kind
        self.weight = torch.nn.Parameter(torch.tensor([0.7, -0.3, 0.2]))
        self.times: list[torch.Tensor] = []

    def condition(self, mel: torch.Tensor) -> torch.Tensor:
        self.check_mel(mel)
        return 0.5 * torch.tanh(mel[:, 0]).repeat_interleave(self.hop_length, dim=1)  # (B, N)

    def denoise(self, audio: torch.Tensor, time: torch.Tensor,
                condition: torch.Tensor) -> torch.Tensor:
        self.times.append(time.detach().clone())
        t = time.to(audio.dtype).reshape(-1, 1)  # (B or 1, 1)
        if self.kind == "constant":
            return condition.expand_as(audio)
        if self.kind == "time":
            return condition + 0.8 * t * condition.flip(-1)
        if self.kind == "oracle":
            return (condition - audio) / (1.0 - t)
        w = self.weight.to(audio.dtype)
        return w[0] * audio + w[1] * t * condition + w[2] * torch.sin(3.0 * audio)


def mel(batch: int = 2, frames: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, N_MELS, frames, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("distribution", ["uniform", "logit_normal"])
@pytest.mark.parametrize(("spectral", "prior"), [(0.0, "normal"), (0.5, "normal"),
                                                 (0.0, "energy")])
def test_the_loss_equals_a_float64_restatement(distribution: str, spectral: float,
                                               prior: str) -> None:
    sampler = FlowMatching(time_distribution=distribution, spectral_weight=spectral,
                           noise_prior=prior)
    sampler.use_features(MelConfig(n_mels=N_MELS, hop_length=HOP, n_fft=64, win_length=64,
                                   sample_rate=16000, f_max=8000.0))
    model, spec = Field("affine"), mel()
    audio = torch.rand(2, 5 * HOP, generator=torch.Generator().manual_seed(3)) - 0.5  # (B, N)
    loss = sampler.training_loss(model, audio, spec, torch.Generator().manual_seed(9))

    draws = torch.Generator().manual_seed(9)  # times, then noise, as documented
    if distribution == "uniform":
        t = torch.rand(2, generator=draws).double()
    else:
        t = torch.sigmoid(torch.randn(2, generator=draws).double())
    z = torch.randn(audio.shape, generator=draws).double()
    if prior == "energy":
        z = z * PriorGrad().noise_std(spec, HOP).double()
    x = audio.double()
    x_t = (1 - t[:, None]) * z + t[:, None] * x
    v = model.double()(x_t, t, spec.double())
    want = ((v - (x - z)) ** 2).mean()
    if spectral:
        estimate = (x_t + (1 - t[:, None]) * v).float()
        log_mel = [sampler.extractor(w).double() for w in (estimate, audio)]
        want = want + spectral * (log_mel[0] - log_mel[1]).abs().mean()
    torch.testing.assert_close(loss.double(), want, rtol=1e-5, atol=0)
    assert loss.requires_grad


@pytest.mark.parametrize("solver", ["euler", "midpoint"])
@pytest.mark.parametrize("steps", [1, 3, [0.0, 0.1, 0.5, 1.0]])
def test_the_solvers_reach_the_exact_end_of_fields_they_integrate_exactly(
        solver: str, steps: int | list[float]) -> None:
    spec, start = mel(), torch.randn(2, 5 * HOP)
    sampler = FlowMatching(steps=steps, solver=solver)
    constant = Field("constant")
    c = constant.condition(spec)
    # v = c: x(1) = x(0) + c, exact for both solvers
    torch.testing.assert_close(sampler.integrate(constant, spec, start), start + c,
                               rtol=0, atol=1e-6)
    # v = a + b t: x(1) = x(0) + a + b / 2, exact for the midpoint rule only
    linear = Field("time")
    end = sampler.integrate(linear, spec, start)
    exact = start + c + 0.4 * c.flip(-1)
    if solver == "midpoint":
        torch.testing.assert_close(end, exact, rtol=0, atol=1e-6)
    else:
        times = sampler.times  # Euler takes b t at each step's start: sum(b t_i h_i)
        taken = sum(a * (b - a) for a, b in zip(times[:-1], times[1:], strict=True))
        torch.testing.assert_close(end, start + c + 0.8 * taken * c.flip(-1), rtol=0, atol=1e-6)
        assert (end - exact).abs().max() > 1e-3


def test_the_network_is_asked_at_the_solvers_times() -> None:
    for solver, expected in (("euler", [0.0, 0.25, 0.5, 0.75]),
                             ("midpoint", [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875])):
        model, sampler = Field("constant"), FlowMatching(steps=4, solver=solver)
        sampler.sample(model, mel(), torch.Generator().manual_seed(0))
        assert torch.cat(model.times).tolist() == expected
        assert sampler.num_inference_steps == len(expected)


@pytest.mark.parametrize("solver", ["euler", "midpoint"])
@pytest.mark.parametrize("steps", [1, 2, 6])
def test_a_perfect_velocity_oracle_samples_the_data(solver: str, steps: int) -> None:
    model, spec = Field("oracle"), mel(batch=3, frames=7)
    data = model.condition(spec)  # (B, N) the point each mel's data distribution sits on
    sampler = FlowMatching(steps=steps, solver=solver)
    generators = [torch.Generator().manual_seed(s) for s in range(3)]
    torch.testing.assert_close(sampler.sample(model, spec, generators), data, rtol=0, atol=1e-5)


def test_sampling_is_deterministic_given_the_noise_and_rows_are_independent() -> None:
    model, spec, sampler = Field("affine").eval(), mel(batch=3), FlowMatching(steps=3)
    first = sampler.sample(model, spec, [torch.Generator().manual_seed(s) for s in (1, 2, 3)])
    again = sampler.sample(model, spec[2:], [torch.Generator().manual_seed(3)])
    torch.testing.assert_close(first[2:], again, rtol=0, atol=1e-6)
    noise = torch.randn(1, 5 * HOP, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(again, sampler.integrate(model, spec[2:], noise).clamp(-1, 1))
    assert first.abs().max() <= 1.0


def test_the_energy_prior_is_priorgrads_and_sampling_starts_from_it() -> None:
    spec = mel(batch=2, frames=6) + torch.linspace(-8.0, 1.0, 6)  # near silence to loud
    sampler = FlowMatching(steps=2, noise_prior="energy")
    std = sampler.prior(spec, HOP)(torch.ones(2, 6 * HOP))  # (B, N)
    torch.testing.assert_close(std, PriorGrad().noise_std(spec, HOP), rtol=0, atol=0)
    assert std.min() < 0.5 < std.max() and std.min() >= 0.1
    whole = sampler.prior(spec, HOP)(torch.ones(2, 6 * HOP))
    torch.testing.assert_close(sampler.prior(spec[..., 2:5], HOP)(torch.ones(2, 3 * HOP)),
                               whole[:, 2 * HOP: 5 * HOP], rtol=0, atol=0)  # chunks: slices
    model = Field("affine").eval()
    noise = torch.randn(2, 6 * HOP, generator=torch.Generator().manual_seed(4))
    sampled = sampler.sample(model, spec, torch.Generator().manual_seed(4))
    torch.testing.assert_close(sampled, sampler.integrate(model, spec, noise * std).clamp(-1, 1))
    plain = FlowMatching(steps=2).sample(model, spec, torch.Generator().manual_seed(4))
    assert (plain - sampled).abs().max() > 1e-3


def test_bad_options_are_refused_naming_them() -> None:
    for kwargs, match in (({"steps": 0}, "steps"), ({"steps": [0.0, 0.7, 0.5, 1.0]}, "rise"),
                          ({"steps": [0.1, 1.0]}, "rise"), ({"solver": "rk4"}, "solver"),
                          ({"time_distribution": "beta"}, "time_distribution"),
                          ({"spectral_weight": -1.0}, "spectral_weight"),
                          ({"noise_prior": "pink"}, "noise_prior")):
        with pytest.raises(ValueError, match=match):
            FlowMatching(**kwargs)


def test_a_run_trained_with_another_process_is_refused() -> None:
    reason = FlowMatching().incompatibility(DDPM())
    assert reason is not None and "DDPM" in reason
    trained = FlowMatching(time_distribution="uniform", spectral_weight=1.0)
    assert FlowMatching(steps=2, solver="midpoint").incompatibility(trained) is None
    assert DDPM().incompatibility(FlowMatching()) is not None
    reason = FlowMatching().incompatibility(FlowMatching(noise_prior="energy"))
    assert reason is not None and "noise_prior" in reason and "'energy'" in reason


def test_pairs_that_disagree_on_the_time_input_are_refused_with_a_reason() -> None:
    diffwave = DiffWave(residual_layers=2, residual_channels=4)
    reason = FlowMatching().model_incompatibility(diffwave)
    assert reason is not None and "DiffWave takes a step" in reason and "flow_time" in reason
    reason = FlowMatching().model_incompatibility(WaveGrad(base_channels=2))
    assert reason is not None and "WaveGrad takes a noise level" in reason
    framewave = FrameWave(channels=8, hidden=8, layers=1)
    reason = DDPM().model_incompatibility(framewave)
    assert reason is not None and "FrameWave takes a flow time" in reason
    assert FlowMatching().model_incompatibility(framewave) is None
    with pytest.raises(SpecError, match="FlowMatching cannot be used with model DiffWave"):
        pair_up(MelConfig(), diffwave, FlowMatching(), "exp.yaml")
    with pytest.raises(ValueError, match="flow time"):
        time_for(framewave, torch.tensor([1]), torch.tensor([0.5]))
