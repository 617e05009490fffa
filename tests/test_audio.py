"""Audio reading: resampling as the recipe's loader does it, segments, mono mixdown, errors."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from vocfw.core.audio.io import AudioError, load_audio, resample


@pytest.mark.parametrize(
    ("length", "source", "target"),
    [(44100, 44100, 24000), (12345, 22050, 24000), (48000, 48000, 24000), (999, 16000, 24000)],
)
def test_resample_equals_librosa_default(length: int, source: int, target: int) -> None:
    audio = (0.1 * np.random.default_rng(length).standard_normal(length)).astype(np.float32)
    expected = librosa.resample(audio, orig_sr=source, target_sr=target)
    assert np.array_equal(resample(audio, source, target), expected)


def test_segment_mixdown_and_resampling(tmp_path: Path) -> None:
    rate = 16000
    left = np.linspace(-0.5, 0.5, 2 * rate, dtype=np.float32)
    stereo = np.stack([left, -left / 2], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, rate, subtype="FLOAT")
    audio = load_audio(path, rate, start=0.5, end=1.5)
    assert audio.shape == (rate,)
    np.testing.assert_allclose(audio, (left / 4)[rate // 2: rate // 2 + rate], atol=1e-6)
    assert load_audio(path, 24000).shape == (48000,)


def test_integer_range_float_data_is_rescaled(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    sf.write(path, np.full(800, 16384.0, np.float32), 8000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path, 8000), 16384.0 / (2**15 + 1), rtol=1e-6)


@pytest.mark.parametrize("content", [b"", b"RIFF not really a wave file"])
def test_unreadable_audio_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="bad.wav"):
        load_audio(path, 24000)
