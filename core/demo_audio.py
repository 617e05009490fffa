"""The demo's audio: speech-like synthesis (voiced syllables with moving pitch and formants,
fricative noise bursts and pauses) for the demo corpus, and writing clips as corpora hold them.
Tests and benchmarks that need realistic spectra use it too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

FORMANTS = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480],
                     [640, 1190, 2390]], dtype=np.float64)  # (vowels, 3) Hz


def _voiced(seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = rng.uniform(100, 240) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 3) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate  # (n,)
    formants = FORMANTS[rng.integers(len(FORMANTS))]
    out = np.zeros(n)
    for k in range(1, int(sample_rate / 2 / f0.max())):
        freq = k * f0  # (n,) harmonic frequency
        gain = sum(np.exp(-(((freq - f) / (80 + 0.1 * f)) ** 2)) for f in formants) + 0.02
        out += gain * np.sin(k * phase) / k**0.5
    envelope = np.sin(np.pi * np.linspace(0, 1, n)) ** 0.5
    return out * envelope / (np.abs(out).max() + 1e-9)


def _fricative(seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * sample_rate)
    noise = np.diff(rng.standard_normal(n + 1))  # high-passed white noise
    return 0.3 * noise * np.hanning(n) / (np.abs(noise).max() + 1e-9)


def speechlike(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """About ``seconds`` of speech-like audio at ``sample_rate``, peak 0.5, float32 (L,)."""
    rng = np.random.default_rng(seed)
    parts = [np.zeros(int(0.1 * sample_rate))]
    total = len(parts[0])
    target = int(seconds * sample_rate)
    while total < target - int(0.1 * sample_rate):
        kind = rng.random()
        if kind < 0.65:
            part = _voiced(rng.uniform(0.12, 0.35), sample_rate, rng)
        elif kind < 0.85:
            part = _fricative(rng.uniform(0.05, 0.15), sample_rate, rng)
        else:
            part = np.zeros(int(rng.uniform(0.05, 0.2) * sample_rate))
        parts.append(part)
        total += len(part)
    audio = np.concatenate(parts)[:target]
    audio = np.pad(audio, (0, target - len(audio)))
    return (0.5 * audio / (np.abs(audio).max() + 1e-9)).astype(np.float32)


def write_audio(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write ``audio`` in the format its suffix names (wav/flac: 16-bit PCM; mp3, ogg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = None if path.suffix.lower() in (".mp3", ".ogg") else "PCM_16"
    sf.write(str(path), audio, sample_rate, subtype=subtype)
    return path
