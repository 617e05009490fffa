"""The sampler contract: a diffusion process, its training objective and its reverse sampler.

The training noise schedule lives with the sampler and is saved with every checkpoint (the
sampler's constructor arguments are part of the run's stored components), so any inference
schedule can be checked against the one the model was trained with.
"""

from __future__ import annotations

import abc

import torch

from vocfw.core.model import Vocoder


class Sampler(abc.ABC):
    """Base class of diffusion processes.

    Shapes: B batch, N samples, M mel bands, T frames, N = T * model.hop_length.
    """

    @abc.abstractmethod
    def training_loss(
        self,
        model: Vocoder,
        audio: torch.Tensor,
        mel: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The training objective for one batch.

        Args:
            model: the network being trained.
            audio: (B, N) clean waveform in [-1, 1].
            mel: (B, M, T) its log-mel spectrogram.
            generator: source of the random steps and noise (default: torch's global RNG).

        Returns:
            A scalar loss.
        """

    @abc.abstractmethod
    @torch.no_grad()
    def sample(
        self,
        model: Vocoder,
        mel: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Generate waveforms from mel spectrograms.

        Args:
            model: a trained network (in eval mode).
            mel: (B, M, T) log-mel spectrograms.
            generator: source of the initial and per-step noise, on ``mel``'s device.

        Returns:
            (B, T * model.hop_length) waveforms in [-1, 1].
        """

    @property
    def num_inference_steps(self) -> int:
        """Network evaluations one call of :meth:`sample` makes."""
        return 0
