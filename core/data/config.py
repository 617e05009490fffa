"""The ``data`` section of a config: which corpora, where their features go, which features."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vocfw.core.audio.mel import MelConfig


@dataclass
class DataConfig:
    """Corpora to use and how their features are made.

    Args:
        datasets: dataset name -> corpus folder as downloaded. The name selects the loader
            (``ljspeech``, ``vctk``, ...); a name that starts with a loader's name uses that
            loader (``opencpop_v2``, ``folder_mine``).
        processed_dir: where preprocessing writes ``{processed_dir}/{dataset}/``.
        features: mel-spectrogram settings, shared by preprocessing, the model and inference.
        min_duration: drop utterances shorter than this many seconds (``None``: keep all).
        max_duration: drop utterances longer than this many seconds (``None``: keep all).

    Raises:
        ValueError: ``min_duration`` is greater than ``max_duration``.
    """

    datasets: dict[str, str] = field(default_factory=dict)
    processed_dir: str = "data"
    features: MelConfig = field(default_factory=MelConfig)
    min_duration: float | None = None
    max_duration: float | None = None

    def __post_init__(self) -> None:
        low, high = self.min_duration, self.max_duration
        if low is not None and high is not None and low > high:
            raise ValueError(
                f"data.min_duration ({low}) is greater than data.max_duration ({high}): every "
                f"utterance would be dropped"
            )

    def dataset_dir(self, dataset: str) -> Path:
        """``{processed_dir}/{dataset}``."""
        return Path(self.processed_dir) / dataset
