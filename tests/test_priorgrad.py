"""The PriorGrad sampler: the energy prior, its loss and sampling against PriorGrad's formulas,
the std floor, chunking, and which trained runs it may sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.components import build_components
from vocfw.core.demo_audio import speechlike
from vocfw.core.diffusion import FAST_SCHEDULE
from vocfw.core.infer.vocode import vocode
from vocfw.core.testing.processed import write_processed_dataset
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.samplers.ddim import DDIM
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.priorgrad import PriorGrad

HOP = 256
SILENCE = float(np.log(1e-5))  # the recipe mel of digital silence


def tiny() -> DiffWave:
    torch.manual_seed(0)
    model = DiffWave(n_mels=20, residual_layers=2, residual_channels=8,
                     dilation_cycle_length=2).eval()
    torch.nn.init.normal_(model.output_projection.weight, std=0.5)  # a live output
    return model


def official_std(mel: np.ndarray, energy_min: float, energy_max: float,
                 std_min: float) -> np.ndarray:
    """PriorGrad's dataset code in float64: energy = sqrt(sum over bands of exp(log-mel)),
    clipped above at max_energy_override, normalised by (min, override), floored at std_min."""
    energy = np.sqrt(np.exp(mel.astype(np.float64)).sum(axis=1))  # (B, T)
    energy = np.minimum(energy, energy_max)
    return np.maximum((energy - energy_min) / (energy_max - energy_min), std_min)


def mel_of_energies(energies: list[float], bands: int = 20) -> torch.Tensor:
    """(1, bands, T) log-mels whose frames have the given energies, spread unevenly."""
    weights = np.linspace(1.0, 3.0, bands)
    weights /= weights.sum()
    magnitudes = np.outer(weights, np.square(energies))  # each column sums to energy^2
    return torch.from_numpy(np.log(magnitudes)).float()[None]


def test_the_prior_is_priorgrads() -> None:
    energies = [0.02, 0.05, 0.3, 1.0, 2.5, 3.99, 4.0, 7.0]
    mel = mel_of_energies(energies)
    sampler = PriorGrad(energy_min=0.05, energy_max=4.0, std_min=0.1)
    ours = sampler.frame_std(mel)
    expected = official_std(mel.numpy(), 0.05, 4.0, 0.1)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(expected[0], np.maximum(
        (np.minimum(energies, 4.0) - 0.05) / 3.95, 0.1), rtol=1e-5)
    torch.testing.assert_close(sampler.noise_std(mel, HOP),
                               ours.repeat_interleave(HOP, dim=1), rtol=0, atol=0)


def test_the_std_floor_holds_and_silence_gets_it() -> None:
    audio = torch.from_numpy(speechlike(1.0, 24000))
    mel = MelSpectrogram(MelConfig())(audio)[None]  # (1, 100, T)
    mel[..., :10] = SILENCE  # a stretch of digital silence
    for sampler in (PriorGrad(), PriorGrad(std_min=0.3, energy_min=0.5, energy_max=2.0)):
        std = sampler.frame_std(mel)
        assert std.min() >= sampler.std_min and std.max() <= 1.0
        assert torch.all(std[..., :10] == sampler.std_min)
        assert std.max() > 0.5  # speech frames are not floored
    default = PriorGrad().frame_std(torch.full((2, 20, 3), SILENCE))
    assert torch.all(default == 0.1)  # the default energy_min is silence's energy


def test_the_loss_is_priorgrads_scaled_mse() -> None:
    model, sampler = tiny(), PriorGrad()
    audio = torch.from_numpy(speechlike(1024 / 24000, 24000)).repeat(2, 1)  # (2, 1024)
    audio[1] *= 0.1
    mel = MelSpectrogram(MelConfig(n_mels=20, f_max=12000.0))(audio)  # (2, 20, 4)
    loss = sampler.training_loss(model, audio, mel, torch.Generator().manual_seed(5))

    generator = torch.Generator().manual_seed(5)
    std = torch.from_numpy(official_std(mel.numpy(), np.sqrt(20e-5), 4.0, 0.1))
    std = std.repeat_interleave(HOP, dim=1)  # (2, 1024) float64
    t = torch.randint(0, 50, (2,), generator=generator)
    noise = torch.randn(2, 1024, generator=generator).double() * std
    level = torch.from_numpy(np.cumprod(1 - np.linspace(1e-4, 0.05, 50)))[t][:, None]
    noisy = level.sqrt() * audio.double() + (1 - level).sqrt() * noise
    predicted = model(noisy.float(), t, mel).double()
    expected = (((predicted - noise) / std) ** 2).sum() / predicted.numel()
    assert std.min() < 0.5  # the quiet item really is weighted differently
    torch.testing.assert_close(loss.double(), expected, rtol=2e-5, atol=0)


def official_predict(model: DiffWave, mel: torch.Tensor, std: torch.Tensor,
                     noise: list[torch.Tensor]) -> torch.Tensor:
    """PriorGrad's fast sampling loop (float64 coefficients), noise scaled by the prior."""
    train = np.cumprod(1 - np.linspace(1e-4, 0.05, 50))
    beta = np.asarray(FAST_SCHEDULE)
    alpha, alpha_cum = 1 - beta, np.cumprod(1 - beta)
    steps = [t + (train[t] ** 0.5 - alpha_cum[s] ** 0.5) / (train[t] ** 0.5 - train[t + 1] ** 0.5)
             for s in range(6) for t in range(49) if train[t + 1] <= alpha_cum[s] <= train[t]]
    draws = iter(noise)
    audio = next(draws) * std
    for n in range(5, -1, -1):
        step = torch.tensor([steps[n]], dtype=torch.float32)
        audio = (audio - beta[n] / (1 - alpha_cum[n]) ** 0.5 * model(audio, step, mel)) \
            / alpha[n] ** 0.5
        if n > 0:
            audio += ((1 - alpha_cum[n - 1]) / (1 - alpha_cum[n]) * beta[n]) ** 0.5 \
                * next(draws) * std
        audio = audio.clamp(-1.0, 1.0)
    return audio


def test_sampling_scales_every_draw_by_the_prior() -> None:
    model, sampler = tiny(), PriorGrad(inference_schedule="fast")
    mel = mel_of_energies([0.01, 0.5, 3.0, 0.01])  # (1, 20, 4)
    generator = torch.Generator().manual_seed(2)
    noise = [torch.randn(1, 4 * HOP, generator=generator) for _ in range(6)]
    with torch.no_grad():
        ours = sampler._reverse(model, mel, noise=noise)
        expected = official_predict(model, mel, sampler.noise_std(mel, HOP), noise)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)
    with torch.no_grad():
        plain = DDPM(inference_schedule="fast")._reverse(model, mel, noise=noise)
    assert (ours - plain).abs().max() > 0.01


def test_a_chunks_prior_is_the_slice_of_the_whole_inputs() -> None:
    audio = torch.from_numpy(speechlike(2.0, 24000))
    mel = MelSpectrogram(MelConfig())(audio)[None]  # (1, 100, T)
    sampler = PriorGrad()
    whole, samples = sampler.frame_std(mel), sampler.noise_std(mel, HOP)
    exact = {"rtol": 1e-6, "atol": 0.0}  # the band sum's rounding may follow the layout
    for start, stop in ((0, 24), (20, 44), (150, mel.shape[-1])):
        torch.testing.assert_close(sampler.frame_std(mel[..., start:stop]),
                                   whole[..., start:stop], **exact)
        torch.testing.assert_close(sampler.noise_std(mel[..., start:stop], HOP),
                                   samples[..., start * HOP:stop * HOP], **exact)


def frame_rms(wave: np.ndarray, frames: int = 4) -> np.ndarray:
    """RMS over blocks of ``frames`` frames."""
    blocks = wave[: wave.size // (frames * HOP) * frames * HOP].reshape(-1, frames * HOP)
    return np.sqrt(np.mean(blocks**2, axis=1))


def test_chunked_vocoding_keeps_the_priors_envelope() -> None:
    """A DiffWave whose output projection is zero predicts zero noise, so its samples are the
    prior's noise alone: chunked and whole inputs must share its envelope (deviations kept
    small, so that clipping to [-1, 1] does not flatten it)."""
    prior = {"inference_schedule": "fast", "std_min": 0.01, "energy_max": 40.0}
    torch.manual_seed(0)
    components = build_components({
        "features": {"n_mels": 20},
        "model": {"class_path": "DiffWave",
                  "init_args": {"n_mels": 20, "residual_layers": 2, "residual_channels": 8}},
        "sampler": {"class_path": "PriorGrad", "init_args": prior},
    })
    torch.nn.init.zeros_(components.model.output_projection.bias)  # the weight starts at zero
    energies = np.concatenate([np.full(40, 0.02), np.full(40, 2.0), np.full(40, 1.0),
                               np.linspace(0.02, 2.4, 40)])
    mel = mel_of_energies(list(energies))[0].numpy()  # (20, 160)
    (whole,) = vocode(components, [mel], seed=1)
    (chunked,) = vocode(components, [mel], seed=1, chunk_frames=24, overlap_frames=4)
    assert not np.array_equal(whole, chunked)  # other noise, same prior
    expected = frame_rms(np.repeat(PriorGrad(**prior).frame_std(torch.from_numpy(mel)[None])[0]
                                   .numpy(), HOP))
    for wave in (whole, chunked):
        envelope = frame_rms(wave)
        assert np.corrcoef(envelope, expected)[0, 1] > 0.98
        ratio = envelope / expected
        assert ratio.max() / ratio.min() < 1.3, ratio  # one gain for the whole input
    np.testing.assert_allclose(frame_rms(chunked), frame_rms(whole), rtol=0.15)


def test_a_model_is_sampled_with_the_prior_it_was_trained_with() -> None:
    assert PriorGrad(inference_schedule="fast12").incompatibility(PriorGrad()) is None
    assert PriorGrad(inference_schedule="fast12").num_inference_steps == 12
    for trained in (DDPM(), DDIM()):
        reason = PriorGrad().incompatibility(trained)
        assert reason is not None and "ddpm noise process" in reason
    reason = PriorGrad(energy_max=3.0).incompatibility(PriorGrad())
    assert reason is not None and "energy_max" in reason
    assert "training noise schedule" in PriorGrad(num_steps=60).incompatibility(PriorGrad())


@pytest.mark.parametrize(("args", "message"), [
    ({"std_min": 0.0}, "std_min must lie in"), ({"std_min": 1.5}, "std_min must lie in"),
    ({"energy_min": 2.0, "energy_max": 1.0}, "energy_max .* must exceed energy_min"),
    ({"energy_max": -1.0}, "energy_max .* must exceed"),
    ({"inference_schedule": "fast7"}, "inference_schedule"),
])
def test_bad_prior_settings_are_refused(args: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PriorGrad(**args)


@pytest.mark.slow
def test_fit_and_predict_with_priorgrad(tmp_path: Path, capsys) -> None:
    features = MelConfig(n_mels=20)
    write_processed_dataset(tmp_path / "data", "alpha", features,
                            {"train": [0.3, 0.4], "test": [0.2]})
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"alpha": "a"}, "processed_dir": str(tmp_path / "data"),
                 "features": features.to_dict()},
        "model": {"class_path": "DiffWave",
                  "init_args": {"residual_layers": 2, "residual_channels": 8}},
        "sampler": {"class_path": "PriorGrad", "init_args": {"inference_schedule": "fast"}},
        "trainer": {"log_dir": str(tmp_path / "runs"), "max_steps": 2, "batch_size": 2,
                    "crop_frames": 8, "eval_audio": False},
    }))
    assert main(["fit", "--config", str(config), "--name", "prior"]) == 0
    run = tmp_path / "runs" / "prior"
    stored = sorted(run.glob("checkpoint/*/components.json"))[-1]
    sampler = json.loads(stored.read_text())["sampler"]
    assert sampler["class_path"].endswith(".PriorGrad")
    assert sampler["init_args"] == {"beta_start": 1e-4, "beta_end": 0.05, "num_steps": 50,
                                    "inference_schedule": "fast", "eta": 1.0, "std_min": 0.1,
                                    "energy_min": None, "energy_max": 4.0}
    base = ["predict", "--run", str(run), "--mode", "feature", "--feature_dir",
            str(tmp_path / "data" / "alpha"), "--progress", "false"]
    assert main([*base, "--output", str(tmp_path / "out"),
                 "--sampler.inference_schedule", "fast12"]) == 0
    waves = sorted((tmp_path / "out" / "pred").glob("*.wav"))
    assert len(waves) == 3 and all(sf.info(str(w)).frames > 0 for w in waves)
    capsys.readouterr()
    assert main([*base, "--output", str(tmp_path / "ddim"), "--sampler", "DDIM"]) == 1
    assert "the model was trained with PriorGrad (priorgrad noise process)" in \
        capsys.readouterr().err
