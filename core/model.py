"""The vocoder model contract: a denoising network conditioned on a mel spectrogram.

Shapes: B batch, N waveform samples, M mel bands, T mel frames, with N = T * hop_length.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn


class Vocoder(nn.Module, abc.ABC):
    """Base class of vocoder networks (plain ``nn.Module`` subclasses, no training logic).

    Subclasses set ``self.n_mels`` and ``self.hop_length`` in ``__init__``. The conditioning
    of a mel spectrogram does not depend on the diffusion step, so it is computed once per
    utterance by :meth:`condition` and reused at every step by :meth:`denoise`.
    """

    n_mels: int
    hop_length: int

    @abc.abstractmethod
    def condition(self, mel: torch.Tensor) -> Any:
        """Compute the step-independent conditioning.

        Args:
            mel: (B, M, T) log-mel spectrogram.

        Returns:
            An opaque value passed back to :meth:`denoise`.

        Raises:
            ValueError: ``M`` differs from the model's ``n_mels``.
        """

    @abc.abstractmethod
    def denoise(self, audio: torch.Tensor, step: torch.Tensor, condition: Any) -> torch.Tensor:
        """Predict the noise in ``audio``.

        Args:
            audio: (B, N) noisy waveform, N = T * hop_length.
            step: (B,) or (1,) diffusion step; integer or fractional (interpolated) values.
            condition: what :meth:`condition` returned for the matching mel.

        Returns:
            (B, N) predicted noise.
        """

    def forward(self, audio: torch.Tensor, step: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """(B, N) noisy audio, (B,) steps, (B, M, T) mel -> (B, N) predicted noise."""
        return self.denoise(audio, step, self.condition(mel))

    @property
    def receptive_field(self) -> int:
        """Samples of context one output sample depends on (used to overlap chunks)."""
        return 0
