"""Synthetic audio for plugin tests: a voiced-sounding tone, and writing it as a corpus file
(for a tree to check a corpus loader on with :func:`vocfw.core.testing.contracts.check_corpus`).
"""

from __future__ import annotations

import numpy as np

from vocfw.core.demo_audio import write_audio

__all__ = ["tone", "write_audio"]


def tone(seconds: float, sample_rate: int, freq: float = 220.0, seed: int = 0) -> np.ndarray:
    """A voiced-sounding test signal: a harmonic tone with vibrato and a little noise, (L,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    f0 = freq * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 6))
    wave = 0.3 * wave / np.max(np.abs(wave)) + 0.003 * rng.standard_normal(t.size)
    return wave.astype(np.float32)
