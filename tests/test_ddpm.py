"""The DDPM sampler: schedules, step alignment, the training loss and the reverse process."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.diffusion import align_steps
from vocfw.core.testing.fixture import tone
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.samplers.ddpm import DDPM


def tiny(n_mels: int = 20) -> DiffWave:
    torch.manual_seed(0)
    model = DiffWave(n_mels=n_mels, residual_layers=2, residual_channels=8,
                     dilation_cycle_length=2).eval()
    torch.nn.init.normal_(model.output_projection.weight, std=0.5)
    return model


def test_training_schedule_is_the_recipes() -> None:
    sampler = DDPM()
    np.testing.assert_allclose(sampler.train_betas, 1e-4 + np.arange(50) * (0.05 - 1e-4) / 49)
    assert sampler.alpha_bar.dtype == torch.float32 and sampler.alpha_bar.shape == (50,)
    assert sampler.alpha_bar[0].item() == pytest.approx(0.9999, abs=1e-7)
    assert sampler.alpha_bar[49].item() == pytest.approx(0.279673, abs=1e-6)


def test_full_schedule_aligns_to_the_integer_steps() -> None:
    sampler = DDPM()
    assert sampler.aligned_steps == list(range(50))
    assert sampler.num_inference_steps == 50


def test_fast_schedule_aligns_to_the_published_steps() -> None:
    sampler = DDPM(inference_schedule="fast")
    assert sampler.num_inference_steps == 6
    np.testing.assert_allclose(
        sampler.aligned_steps, [0, 0.894, 4.087, 10.452, 22.992, 42.919], atol=6e-4
    )


def test_aligned_steps_reproduce_the_noise_level_by_sqrt_alpha_bar_interpolation() -> None:
    train = np.linspace(1e-4, 0.05, 50)
    schedule = [1e-4, 5e-4, 3e-3, 0.02, 0.1, 0.3, 0.35]
    steps = align_steps(train, schedule)
    root = np.sqrt(np.cumprod(1 - train))
    levels = np.interp(steps, np.arange(50), root)
    np.testing.assert_allclose(levels, np.sqrt(np.cumprod(1 - np.asarray(schedule))), rtol=1e-5)
    assert steps == sorted(steps)


@pytest.mark.parametrize("schedule", [[5e-5], [1e-4, 0.5, 0.5], [0.9]])
def test_schedule_outside_the_trained_range_is_refused(schedule: list[float]) -> None:
    with pytest.raises(ValueError, match=r"outside the trained range \[0\.27967\d*, 0\.9999\]"):
        DDPM(inference_schedule=schedule)


@pytest.mark.parametrize("schedule", ["slow", [], [0.1, 1.5]])
def test_malformed_schedule_is_refused(schedule: object) -> None:
    with pytest.raises(ValueError, match="inference_schedule"):
        DDPM(inference_schedule=schedule)


def test_training_loss_is_the_l1_noise_prediction_error() -> None:
    model, sampler = tiny(), DDPM()
    audio = torch.rand(3, 1024) * 2 - 1
    mel = torch.randn(3, 20, 4)
    loss = sampler.training_loss(model, audio, mel, torch.Generator().manual_seed(5))

    generator = torch.Generator().manual_seed(5)
    t = torch.randint(0, 50, (3,), generator=generator)
    noise = torch.randn(3, 1024, generator=generator)
    alpha_bar = torch.tensor(np.cumprod(1 - np.linspace(1e-4, 0.05, 50)), dtype=torch.float32)
    level = alpha_bar[t][:, None]
    noisy = torch.sqrt(level) * audio + torch.sqrt(1 - level) * noise
    expected = (model(noisy, t, mel) - noise).abs().mean()
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-7)


def test_sampling_conditions_once_and_calls_the_network_once_per_step() -> None:
    model, sampler = tiny(), DDPM(inference_schedule="fast")
    calls = {"condition": 0, "denoise": []}
    condition, denoise = model.condition, model.denoise

    def count_condition(mel: torch.Tensor) -> object:
        calls["condition"] += 1
        return condition(mel)

    def record_denoise(audio: torch.Tensor, step: torch.Tensor, cond: object) -> torch.Tensor:
        calls["denoise"].append(float(step))
        return denoise(audio, step, cond)

    model.condition, model.denoise = count_condition, record_denoise
    audio = sampler.sample(model, torch.randn(2, 20, 3), torch.Generator().manual_seed(0))
    assert audio.shape == (2, 3 * 256)
    assert audio.abs().max() <= 1.0
    assert calls["condition"] == 1
    assert calls["denoise"] == sampler.aligned_steps[::-1]


def test_sampling_is_reproducible_and_uses_only_the_generator() -> None:
    model, sampler = tiny(), DDPM(inference_schedule="fast")
    mel = torch.randn(1, 20, 3)
    first = sampler.sample(model, mel, torch.Generator().manual_seed(1))
    torch.manual_seed(123)
    again = sampler.sample(model, mel, torch.Generator().manual_seed(1))
    other = sampler.sample(model, mel, torch.Generator().manual_seed(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_explicit_noise_replaces_the_generator() -> None:
    model, sampler = tiny(), DDPM(inference_schedule=[1e-4, 0.01, 0.3])
    mel = torch.randn(2, 20, 3)
    generator = torch.Generator().manual_seed(9)
    noise = [torch.randn(2, 768, generator=generator) for _ in range(3)]
    with torch.no_grad():
        given = sampler._reverse(model, mel, noise=noise)
    drawn = sampler.sample(model, mel, torch.Generator().manual_seed(9))
    assert torch.equal(given, drawn)
    with pytest.raises(ValueError, match="expected 3 tensors, got 2"):
        sampler._reverse(model, mel, noise=noise[:2])


def test_sampling_refuses_mels_with_the_wrong_band_count() -> None:
    with pytest.raises(ValueError, match="mel bands instead of 20"):
        DDPM().sample(tiny(), torch.randn(1, 80, 3))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models train faster on one thread than on contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_a_tiny_diffwave_overfits_one_clip(one_thread: None) -> None:
    torch.manual_seed(0)
    model = DiffWave(residual_layers=2, residual_channels=8, dilation_cycle_length=2)
    sampler = DDPM()
    audio = torch.from_numpy(tone(2048 / 24000, 24000)).repeat(4, 1)  # (4, 2048)
    mel = MelSpectrogram(MelConfig())(audio)  # (4, 100, 8)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(200):
        loss = sampler.training_loss(model, audio, mel, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    start, end = np.mean(losses[:10]), np.mean(losses[-10:])
    assert end < 0.6 * start, (start, end)


def test_sampler_rows_depend_only_on_their_own_generator() -> None:
    model, sampler = tiny(), DDPM(inference_schedule="fast")
    mel = torch.randn(3, 20, 4)
    rows = sampler.sample(model, mel, [torch.Generator().manual_seed(s) for s in (7, 8, 9)])
    alone = sampler.sample(model, mel[1:2], [torch.Generator().manual_seed(8)])
    torch.testing.assert_close(rows[1], alone[0], rtol=0, atol=1e-5)  # kernels' rounding only
    assert (rows[0] - rows[1]).abs().max() > 0.1
