"""The forward diffusion process shared by the DDPM family (DDPM, DDIM, PriorGrad, SpecGrad): a
linear training noise schedule, noisy inputs drawn at uniformly chosen steps, DiffWave's L1
noise-prediction loss, and the check that a run trained with one member can be sampled by
another."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from vocfw.core.bounds import MAX_TRAINING_STEPS
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Sampler, time_for

Prior = Callable[[torch.Tensor], torch.Tensor]
"""Shapes (B, N) standard normal noise into a process's prior noise (B, N)."""


class DiffusionProcess(Sampler):
    """Base of samplers that invert the linear-beta Gaussian process of Ho et al. (2020).

    Subclasses that change the forward process (the noise distribution, not only how it is
    sampled) set :attr:`process` to their own name and describe their extra settings in
    :meth:`process_settings`; a model trained with one process is refused by samplers of any
    other (see :meth:`incompatibility`).

    Args:
        beta_start: first training beta.
        beta_end: last training beta.
        num_steps: training steps (betas = linspace(beta_start, beta_end, num_steps)).

    Raises:
        ValueError: ``num_steps < 2`` or betas outside ``0 < beta_start <= beta_end < 1``.
    """

    time_inputs = frozenset({"step", "noise_level"})
    size_limits: ClassVar[dict[str, int]] = {"num_steps": MAX_TRAINING_STEPS}
    """The longest training schedule a stored spec may ask for (:mod:`vocfw.core.bounds`)."""
    process: ClassVar[str] = "ddpm"
    """The forward process trained and inverted: ``ddpm``, standard normal noise."""

    def __init__(self, beta_start: float = 1e-4, beta_end: float = 0.05,
                 num_steps: int = 50) -> None:
        if num_steps < 2 or not 0.0 < beta_start <= beta_end < 1.0:
            raise ValueError(
                "sampler: need num_steps >= 2 and 0 < beta_start <= beta_end < 1, got "
                f"num_steps={num_steps}, beta_start={beta_start}, beta_end={beta_end}"
            )
        self.train_betas = np.linspace(beta_start, beta_end, num_steps)  # (S,) float64
        self.train_alpha_bar = np.cumprod(1.0 - self.train_betas)  # (S,) float64
        self.alpha_bar = torch.from_numpy(self.train_alpha_bar).float()  # (S,)

    def process_settings(self) -> dict[str, float | None]:
        """Settings of the forward process besides the betas (none for plain DDPM)."""
        return {}

    def incompatibility(self, trained: Sampler) -> str | None:
        """Refuse a model trained with another forward process, schedule or settings."""
        if not isinstance(trained, DiffusionProcess) or trained.process != self.process:
            process = getattr(trained, "process", type(trained).__name__)
            return (f"the model was trained with {type(trained).__name__} ({process} noise "
                    f"process), but {type(self).__name__} inverts the {self.process} process")
        if not np.array_equal(self.train_betas, trained.train_betas):
            return (f"its training noise schedule ({len(self.train_betas)} betas from "
                    f"{self.train_betas[0]:g} to {self.train_betas[-1]:g}) differs from the one "
                    f"the model was trained with ({len(trained.train_betas)} betas from "
                    f"{trained.train_betas[0]:g} to {trained.train_betas[-1]:g})")
        if self.process_settings() != trained.process_settings():
            return (f"its {self.process} settings {self.process_settings()} differ from the "
                    f"ones the model was trained with {trained.process_settings()}")
        return None

    def diffuse(
        self, audio: torch.Tensor, prior: Prior | None, generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Noisy versions of ``audio`` at a uniformly drawn training step per item.

        Args:
            audio: (B, N) clean waveform.
            prior: shapes (B, N) standard normal noise into the process's noise (``None``:
                standard normal).
            generator: source of the steps, then the noise (on ``audio``'s device).

        Returns:
            (B,) steps, (B,) alpha_bar at them, (B, N) noise, (B, N) noisy audio.
        """
        batch = audio.shape[0]
        step = torch.randint(
            0, len(self.train_betas), (batch,), generator=generator, device=audio.device
        )  # (B,)
        noise = torch.randn(audio.shape, generator=generator, device=audio.device)  # (B, N)
        noise = noise if prior is None else prior(noise)
        level = self.alpha_bar.to(audio.device)[step]  # (B,)
        noisy = level.unsqueeze(1) ** 0.5 * audio + (1.0 - level.unsqueeze(1)) ** 0.5 * noise
        return step, level, noise, noisy

    def training_loss(
        self,
        model: Vocoder,
        audio: torch.Tensor,
        mel: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """L1 between the true and predicted noise at a uniformly drawn step per item.

        Args:
            model: the network being trained.
            audio: (B, N) clean waveform in [-1, 1].
            mel: (B, M, T) its log-mel spectrogram.
            generator: source of the steps and noise (on ``audio``'s device).

        Returns:
            A scalar loss.
        """
        step, level, noise, noisy = self.diffuse(audio, None, generator)
        return F.l1_loss(model(noisy, time_for(model, step, level**0.5), mel), noise)
