"""The SpecGrad sampler: its filter against a float64 restatement, the noise it shapes against
the mel it follows, its whitened loss, chunking, features it refuses, and end to end."""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.components import SpecError, build_components
from vocfw.core.demo_audio import speechlike
from vocfw.core.evaluate.metrics import log_mel_l1
from vocfw.core.testing.processed import write_processed_dataset
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.priorgrad import PriorGrad
from vocfw.plugins.samplers.specgrad import SpecGrad

FEATURES = MelConfig()
SILENCE = float(np.log(1e-5))


def speech_mel(seconds: float = 1.0, seed: int = 0) -> tuple[np.ndarray, torch.Tensor]:
    """Speech-like audio at the default features' rate and its (1, M, T) log-mel."""
    audio = speechlike(seconds, FEATURES.sample_rate, seed)
    return audio, MelSpectrogram(FEATURES)(torch.from_numpy(audio))[None]


def reference_filter(mel: np.ndarray, lifter: int | None, gain_min: float,
                     level_max: float) -> np.ndarray:
    """The filter in float64 numpy, frame by frame, with a full complex FFT: (M, T) -> (F, T)."""
    n_fft, bins = FEATURES.n_fft, FEATURES.n_fft // 2 + 1
    filters = librosa.filters.mel(sr=FEATURES.sample_rate, n_fft=n_fft, n_mels=FEATURES.n_mels,
                                  fmin=FEATURES.f_min, fmax=FEATURES.f_max).astype(np.float64)
    level = np.exp(mel.astype(np.float64)) / filters.sum(axis=1, keepdims=True)  # (M, T)
    coverage = filters.sum(axis=0)
    white = np.sqrt(np.sum(np.hanning(n_fft + 1)[:-1] ** 2))  # RMS bin of unit white noise
    keep = n_fft // 2 if lifter is None else lifter
    out = np.empty((bins, mel.shape[1]), dtype=np.complex128)
    for t in range(mel.shape[1]):
        spectrum = np.array([filters[:, k] @ level[:, t] / coverage[k] if coverage[k] > 0
                             else level[np.argmax(filters[:, k]), t] for k in range(bins)])
        log_spectrum = np.log(spectrum)
        cepstrum = np.fft.ifft(np.concatenate([log_spectrum, log_spectrum[-2:0:-1]])).real
        causal = np.zeros(n_fft)  # Oppenheim & Schafer's minimum-phase cepstrum, liftered
        causal[0] = cepstrum[0]
        causal[1:keep] = 2 * cepstrum[1:keep]
        if keep == n_fft // 2:
            causal[keep] = cepstrum[keep]
        response = np.exp(np.fft.fft(causal))[:bins]
        gain = np.clip(np.abs(response) / (white * level_max), gain_min, 1.0)
        out[:, t] = response / np.abs(response) * gain
    return out


@pytest.mark.parametrize("lifter", [24, None])
def test_the_filter_matches_a_float64_restatement(lifter: int | None) -> None:
    _, mel = speech_mel(0.3)
    sampler = SpecGrad(lifter=lifter, gain_min=0.01, level_max=0.2)
    ours = sampler.filter(mel)[0].numpy()
    expected = reference_filter(mel[0].numpy(), lifter, 0.01, 0.2)
    np.testing.assert_allclose(np.abs(ours), np.abs(expected), rtol=2e-3, atol=1e-6)
    loud = np.abs(expected) > 0.05  # the phase of the bins that carry the noise
    np.testing.assert_allclose(np.angle(ours[loud] / expected[loud]), 0.0, atol=2e-2)


def test_white_noise_maps_to_its_standard_deviation_over_level_max() -> None:
    """A mel holds mean bin magnitudes: sqrt(pi) / 2 of white noise's RMS bin magnitude."""
    noise = 0.02 * torch.randn(FEATURES.sample_rate, generator=torch.Generator().manual_seed(0))
    mel = MelSpectrogram(FEATURES)(noise)[None]
    gain = SpecGrad(gain_min=1e-6, level_max=0.1).filter(mel).abs()  # (1, F, T)
    assert abs(float(gain[:, 5:400].median()) - 0.2 * np.sqrt(np.pi) / 2) < 0.02
    assert float(SpecGrad().filter(torch.full((1, 100, 4), SILENCE)).abs().max()) == \
        pytest.approx(SpecGrad().gain_min)  # digital silence gets the floor


def test_the_shaped_noise_follows_the_mel_it_is_shaped_by() -> None:
    audio, mel = speech_mel(1.5)
    sampler = SpecGrad(lifter=None, gain_min=1e-4, level_max=1.0)
    z = torch.randn((1, audio.size), generator=torch.Generator().manual_seed(1))
    shaped = sampler.prior(mel, FEATURES.hop_length)(z)[0].numpy()
    white = z[0].numpy() * np.sqrt(np.mean(shaped**2))  # the same energy, flat spectrum
    follows = log_mel_l1(audio, shaped, FEATURES.sample_rate)
    assert follows < 1.0 and follows < 0.5 * log_mel_l1(audio, white, FEATURES.sample_rate)


def test_the_loss_is_the_whitened_noise_prediction_error() -> None:
    torch.manual_seed(0)
    model = DiffWave(n_mels=100, residual_layers=2, residual_channels=8)
    torch.nn.init.normal_(model.output_projection.weight, std=0.5)
    audio, mel = speech_mel(0.5)
    audio = torch.from_numpy(audio[: mel.shape[-1] * 256])[None]  # (1, N)
    sampler = SpecGrad(gain_min=0.05)
    loss = sampler.training_loss(model, audio, mel, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)  # the same draws, in the same order
    step = torch.randint(0, 50, (1,), generator=generator)
    z = torch.randn(audio.shape, generator=generator)
    response = sampler.filter(mel)
    noise = sampler._apply(z, response)
    level = sampler.alpha_bar[step]
    noisy = level**0.5 * audio + (1 - level) ** 0.5 * noise
    error = model(noisy, step, mel) - noise
    torch.testing.assert_close(loss, sampler._apply(error, 1 / response).square().mean())
    # the inverse filter undoes the shaping: the true noise whitens back to about z
    back = sampler._apply(noise, 1 / response)
    assert float((back - z).square().mean()) < 0.05 * float(z.square().mean())


def test_a_chunks_filter_is_the_slice_of_the_whole_inputs() -> None:
    _, mel = speech_mel(1.0)
    sampler = SpecGrad()
    whole = sampler.filter(mel)
    for start, stop in [(0, 24), (20, 44), (40, mel.shape[-1])]:
        torch.testing.assert_close(sampler.filter(mel[..., start:stop]),
                                   whole[..., start:stop])


def components(style: str = "recipe", sampler: str = "SpecGrad"):
    return build_components({
        "features": {"n_mels": 20, "style": style},
        "model": {"class_path": "DiffWave",
                  "init_args": {"n_mels": 20, "residual_layers": 2, "residual_channels": 8}},
        "sampler": {"class_path": sampler, "init_args": {"inference_schedule": "fast"}},
    })


def test_the_sampler_takes_the_vocoders_features_and_refuses_lmnt_mels() -> None:
    built = components()
    assert built.sampler.filter(torch.full((1, 20, 3), SILENCE)).shape == (1, 513, 3)
    with pytest.raises(ValueError, match="expected 20 mel bands"):
        built.sampler.filter(torch.zeros(1, 100, 3))
    with pytest.raises(SpecError, match="sampler SpecGrad cannot be used with these features: "
                                        "SpecGrad reads natural-log mel magnitudes"):
        components("lmnt")
    assert components("lmnt", "DDPM").sampler.inference_betas.size == 6


def test_a_model_is_sampled_with_the_prior_it_was_trained_with() -> None:
    assert SpecGrad(inference_schedule="fast").incompatibility(SpecGrad()) is None
    for trained in (DDPM(), PriorGrad()):
        reason = SpecGrad().incompatibility(trained)
        assert reason is not None and "specgrad process" in reason
    assert "specgrad noise process" in DDPM().incompatibility(SpecGrad())
    assert "lifter" in SpecGrad(lifter=12).incompatibility(SpecGrad())


@pytest.mark.parametrize(("args", "message"), [
    ({"lifter": 0}, "lifter must be at least 1"), ({"gain_min": 0.0}, "gain_min must lie in"),
    ({"gain_min": 2.0}, "gain_min must lie in"), ({"level_max": 0.0}, "level_max must be"),
    ({"lifter": 512}, "lifter .512. must be below n_fft / 2"),
])
def test_bad_prior_settings_are_refused(args: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpecGrad(**args)


@pytest.mark.slow
def test_fit_and_predict_with_specgrad(tmp_path: Path, capsys) -> None:
    features = MelConfig(n_mels=20)
    write_processed_dataset(tmp_path / "data", "alpha", features,
                            {"train": [0.3, 0.4], "test": [0.2]})
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"alpha": "a"}, "processed_dir": str(tmp_path / "data"),
                 "features": features.to_dict()},
        "model": {"class_path": "DiffWave",
                  "init_args": {"residual_layers": 2, "residual_channels": 8}},
        "sampler": {"class_path": "SpecGrad", "init_args": {"inference_schedule": "fast"}},
        "trainer": {"log_dir": str(tmp_path / "runs"), "max_steps": 2, "batch_size": 2,
                    "crop_frames": 8, "eval_audio": False},
    }))
    assert main(["fit", "--config", str(config), "--name", "spec"]) == 0
    run = tmp_path / "runs" / "spec"
    stored = sorted(run.glob("checkpoint/*/components.json"))[-1]
    sampler = json.loads(stored.read_text())["sampler"]
    assert sampler["class_path"].endswith(".SpecGrad")
    assert sampler["init_args"]["lifter"] == 24 and sampler["init_args"]["gain_min"] == 0.1
    base = ["predict", "--run", str(run), "--mode", "feature", "--feature_dir",
            str(tmp_path / "data" / "alpha"), "--progress", "false"]
    assert main([*base, "--output", str(tmp_path / "out"),
                 "--sampler.inference_schedule", "fast12", "--chunk_seconds", "0.1"]) == 0
    waves = sorted((tmp_path / "out" / "pred").glob("*.wav"))
    assert len(waves) == 3 and all(sf.info(str(w)).frames > 0 for w in waves)
    capsys.readouterr()
    assert main([*base, "--output", str(tmp_path / "ddpm"), "--sampler", "DDPM"]) == 1
    assert "the model was trained with SpecGrad (specgrad noise process)" in \
        capsys.readouterr().err
