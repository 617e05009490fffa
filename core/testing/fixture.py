"""Building blocks for synthetic corpus trees: generated audio and the expected records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf


@dataclass
class CorpusFixture:
    """A synthetic corpus tree and what a correct loader must make of it.

    Attributes:
        name: the corpus key (``vctk``, ``csd``, ...).
        root: the folder to configure as the dataset path.
        expected: uid -> (singer, split) for every utterance the loader must yield.
    """

    name: str
    root: Path
    expected: dict[str, tuple[str, str]] = field(default_factory=dict)


def tone(seconds: float, sample_rate: int, freq: float = 220.0, seed: int = 0) -> np.ndarray:
    """A voiced-sounding test signal: a harmonic tone with vibrato and a little noise, (L,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    f0 = freq * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 6))
    wave = 0.3 * wave / np.max(np.abs(wave)) + 0.003 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


def phrases(
    durations: list[float], gap: float, sample_rate: int, lead: float = 0.2, seed: int = 0
) -> np.ndarray:
    """Tone phrases separated by digital silence of ``gap`` seconds, with ``lead`` s of silence
    before the first and after the last phrase, (L,)."""
    silence = np.zeros(int(round(gap * sample_rate)), np.float32)
    edge = np.zeros(int(round(lead * sample_rate)), np.float32)
    parts = [edge]
    for i, seconds in enumerate(durations):
        if i:
            parts.append(silence)
        parts.append(tone(seconds, sample_rate, freq=180.0 + 40 * i, seed=seed + i))
    parts.append(edge)
    return np.concatenate(parts)


def write_audio(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write ``audio`` in the format its suffix names (wav/flac: 16-bit PCM; mp3, ogg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = None if path.suffix.lower() in (".mp3", ".ogg") else "PCM_16"
    sf.write(str(path), audio, sample_rate, subtype=subtype)
    return path
