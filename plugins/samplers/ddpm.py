"""DDPM (Ho et al., 2020) as DiffWave uses it: epsilon prediction with an L1 loss, and ancestral
sampling along any noise schedule aligned to the training one (DiffWave's fast sampling)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from vocfw.core.diffusion import (
    BETA_END,
    BETA_START,
    NUM_STEPS,
    DiffusionProcess,
    Prior,
    align_steps,
    inference_betas,
)
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Generators, randn_rows, time_for


class DDPM(DiffusionProcess):
    """Denoising diffusion with a linear beta schedule and DiffWave's schedule alignment.

    Args:
        beta_start: first training beta.
        beta_end: last training beta.
        num_steps: training steps (betas = linspace(beta_start, beta_end, num_steps)).
        inference_schedule: ``full`` (the training betas), ``fast`` (DiffWave's 6 betas
            1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5), ``fast12`` (PriorGrad's 12 betas 1e-4, 5e-4,
            8e-4, 1e-3, 5e-3, 8e-3, 1e-2, 0.05, 0.08, 0.1, 0.2, 0.5) or an explicit list of
            betas.

    Raises:
        ValueError: bad betas, or an inference schedule outside the trained noise range.
    """

    def __init__(
        self,
        beta_start: float = BETA_START,
        beta_end: float = BETA_END,
        num_steps: int = NUM_STEPS,
        inference_schedule: Literal["full", "fast", "fast12"] | list[float] = "full",
    ) -> None:
        super().__init__(beta_start, beta_end, num_steps)
        self.inference_betas = inference_betas(inference_schedule, self.train_betas)
        self.aligned_steps = align_steps(self.train_betas, self.inference_betas)

    @property
    def num_inference_steps(self) -> int:
        """Network evaluations one call of :meth:`sample` makes."""
        return len(self.inference_betas)

    @torch.inference_mode()
    def sample(
        self,
        model: Vocoder,
        mel: torch.Tensor,
        generator: Generators = None,
    ) -> torch.Tensor:
        """Generate waveforms by ancestral sampling along the inference schedule.

        Args:
            model: a trained network.
            mel: (B, M, T) log-mel spectrograms.
            generator: source of the initial and per-step noise, on ``mel``'s device: one
                generator, or one per batch row (see :func:`vocfw.core.sampler.randn_rows`).

        Returns:
            (B, T * model.hop_length) waveforms in [-1, 1].

        Raises:
            ValueError: the mel does not fit the model.
        """
        return self._reverse(model, mel, generator=generator)

    def prior(self, mel: torch.Tensor, hop_length: int) -> Prior:
        """How standard normal noise becomes this process's noise for ``mel``: unchanged.

        Args:
            mel: (B, M, T) log-mel spectrograms being vocoded or trained on.
            hop_length: samples per frame.

        Returns:
            A function of (B, T * hop_length) standard normal noise.
        """
        return lambda noise: noise

    def _reverse(
        self,
        model: Vocoder,
        mel: torch.Tensor,
        generator: Generators = None,
        noise: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The reverse process of :meth:`sample`, optionally with given noise.

        Args:
            model: a trained network.
            mel: (B, M, T) log-mel spectrograms.
            generator: source of noise when ``noise`` is not given.
            noise: the initial (B, N) standard normal noise followed by one (B, N) draw for
                every step but the last, in sampling order (``num_inference_steps`` tensors in
                all); each is shaped by :meth:`prior`.

        Returns:
            (B, T * model.hop_length) waveforms in [-1, 1].

        Raises:
            ValueError: ``noise`` has the wrong number of tensors.
        """
        count = self.num_inference_steps
        if noise is not None and len(noise) != count:
            raise ValueError(f"noise: expected {count} tensors, got {len(noise)}")
        shape = (mel.shape[0], mel.shape[-1] * model.hop_length)
        draws = iter(noise) if noise is not None else None

        prior = self.prior(mel, model.hop_length)

        def draw() -> torch.Tensor:
            if draws is not None:
                return prior(next(draws).to(mel.device))
            return prior(randn_rows(shape, generator, mel.device))  # (B, N)

        betas = self.inference_betas
        alpha = 1.0 - betas
        alpha_bar = np.cumprod(alpha)
        condition = model.condition(mel)
        audio = draw()  # (B, N)
        for n in range(count - 1, -1, -1):
            step = torch.tensor([self.aligned_steps[n]], device=mel.device)  # (1,)
            level = torch.tensor([alpha_bar[n] ** 0.5], dtype=torch.float32, device=mel.device)
            time = time_for(model, step, level)  # (1,)
            c1 = float(1 / alpha[n] ** 0.5)
            c2 = float(betas[n] / (1 - alpha_bar[n]) ** 0.5)
            audio = c1 * (audio - c2 * model.denoise(audio, time, condition))
            if n > 0:
                sigma = float(((1.0 - alpha_bar[n - 1]) / (1.0 - alpha_bar[n]) * betas[n]) ** 0.5)
                audio += sigma * draw()
            audio = torch.clamp(audio, -1.0, 1.0)
        return audio
