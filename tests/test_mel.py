"""The recipe mel spectrogram against an independent NumPy + librosa computation."""

import librosa
import numpy as np
import pytest
import torch
from scipy.signal import get_window

from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.data.extract import batched_mels
from vocfw.core.testing.fixture import tone


def reference_mel(y: np.ndarray, sr: int = 24000) -> np.ndarray:
    """The recipe's formula, written out with NumPy: (100, floor(L / 256))."""
    n_fft, hop = 1024, 256
    padded = np.pad(y.astype(np.float64), (384, 384), mode="reflect")
    window = get_window("hann", n_fft, fftbins=True)  # periodic Hann
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]  # (T, n_fft)
    spec = np.fft.rfft(frames * window, axis=1)  # (T, 513)
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=100, fmin=0, fmax=12000, norm="slaney")
    return np.log(np.maximum(fb @ mag.T, 1e-5))  # (100, T)


def signal(length: int, seed: int) -> np.ndarray:
    wave = tone(length / 24000, 24000, freq=150.0 + 30 * seed, seed=seed)
    return wave[:length]


@pytest.mark.parametrize("length", [8192, 8292, 13055, 24000])
def test_recipe_mel_matches_numpy_formula(length: int) -> None:
    y = signal(length, seed=length % 7)
    ours = MelSpectrogram(MelConfig())(torch.from_numpy(y)).numpy()
    expected = reference_mel(y)
    assert ours.shape == (100, length // 256) == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


def test_silence_is_log_floor() -> None:
    ours = MelSpectrogram(MelConfig())(torch.zeros(4096)).numpy()
    np.testing.assert_allclose(ours, np.log(1e-5), atol=1e-5)


def test_batch_equals_per_item() -> None:
    extractor = MelSpectrogram(MelConfig())
    waves = torch.stack([torch.from_numpy(signal(9000, seed)) for seed in range(3)])  # (3, L)
    batch = extractor(waves)  # (3, 100, T)
    for i in range(3):
        np.testing.assert_allclose(batch[i].numpy(), extractor(waves[i]).numpy(), atol=1e-5)


@pytest.mark.parametrize("config", [MelConfig(), MelConfig.lmnt()], ids=["recipe", "lmnt"])
def test_variable_length_batch_equals_per_item(config: MelConfig) -> None:
    extractor = MelSpectrogram(config)
    lengths = [600, 1024, 1100, 8192, 8292, 13055, 24000]
    waves = [signal(length, seed) for seed, length in enumerate(lengths)]
    mels = batched_mels(extractor, waves)
    for wave, mel in zip(waves, mels, strict=True):
        single = extractor(torch.from_numpy(wave)).numpy()
        assert mel.dtype == np.float32
        assert mel.shape == single.shape == (config.n_mels, config.num_frames(wave.size))
        np.testing.assert_allclose(mel, single, atol=1e-5, rtol=0)
