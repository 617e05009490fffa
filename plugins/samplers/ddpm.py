"""DDPM (Ho et al., 2020) as DiffWave uses it: epsilon prediction with an L1 loss, and ancestral
sampling along any noise schedule aligned to the training one (DiffWave's fast sampling), or,
with ``eta`` below 1, DDIM's update (Song et al., 2021) along that schedule, deterministic at
``eta = 0``, starting from the process's own prior noise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    ddim_step,
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
        eta: 1 (the default) samples ancestrally, the audio clipped to [-1, 1] after each
            step; below 1, DDIM's update with the predicted clean signal clipped and eta times
            the ancestral step's noise; 0 is deterministic given the initial noise (what a
            distilled student samples with).

    Raises:
        ValueError: bad betas, an inference schedule outside the trained noise range, or
            ``eta`` outside [0, 1].
    """

    def __init__(
        self,
        beta_start: float = BETA_START,
        beta_end: float = BETA_END,
        num_steps: int = NUM_STEPS,
        inference_schedule: Literal["full", "fast", "fast12"] | list[float] = "full",
        eta: float = 1.0,
    ) -> None:
        super().__init__(beta_start, beta_end, num_steps)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"sampler.eta must lie in [0, 1], got {eta}")
        self.eta = float(eta)
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
        """Generate waveforms along the inference schedule (ancestrally, or with DDIM's update
        when ``eta < 1``).

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
            noise: the initial (B, N) standard normal noise followed, when ``eta > 0``, by one
                (B, N) draw for every step but the last, in sampling order
                (``num_inference_steps`` tensors in all; 1 when ``eta`` is 0); each is shaped
                by :meth:`prior`.

        Returns:
            (B, T * model.hop_length) waveforms in [-1, 1].

        Raises:
            ValueError: ``noise`` has the wrong number of tensors.
        """
        count = self.num_inference_steps
        expected = count if self.eta > 0.0 else 1
        if noise is not None and len(noise) != expected:
            raise ValueError(f"noise: expected {expected} tensors, got {len(noise)}")
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
            eps = model.denoise(audio, time, condition)  # (B, N)
            if self.eta < 1.0:
                audio = self._ddim_update(audio, eps, alpha_bar, n, draw)
                continue
            c1 = float(1 / alpha[n] ** 0.5)
            c2 = float(betas[n] / (1 - alpha_bar[n]) ** 0.5)
            audio = c1 * (audio - c2 * eps)
            if n > 0:
                sigma = float(((1.0 - alpha_bar[n - 1]) / (1.0 - alpha_bar[n]) * betas[n]) ** 0.5)
                audio += sigma * draw()
            audio = torch.clamp(audio, -1.0, 1.0)
        return audio

    def _ddim_update(self, audio: torch.Tensor, eps: torch.Tensor, alpha_bar: np.ndarray,
                     n: int, draw: Callable[[], torch.Tensor]) -> torch.Tensor:
        """DDIM's update (:func:`~vocfw.core.diffusion.ddim_step`) from inference level ``n``
        to ``n - 1`` (the clean signal after level 0), with ``eta`` times the ancestral noise.

        Args:
            audio: (B, N) the sample at level ``n``.
            eps: (B, N) the noise the model predicts in it.
            alpha_bar: (K,) the inference schedule's noise levels.
            n: the current level.
            draw: returns (B, N) prior-shaped noise.

        Returns:
            (B, N) the sample at level ``n - 1``.
        """
        level = float(alpha_bar[n])
        level_next = float(alpha_bar[n - 1]) if n > 0 else 1.0
        sigma = self.eta * ((1.0 - level_next) / (1.0 - level) * (1.0 - level / level_next)) ** 0.5
        audio = ddim_step(audio, eps, level, level_next, sigma)  # (B, N)
        return audio + sigma * draw() if sigma > 0.0 else audio
