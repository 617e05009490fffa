"""Synthetic corpus trees for vocfw's own corpus-loader tests: a tree per built-in corpus, in
its real layout (``segmented_trees``, ``whole_file_trees``), and what a correct loader must make
of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vocfw.core.testing.fixture import tone


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
