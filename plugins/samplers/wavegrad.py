"""WaveGrad's diffusion process (Chen et al., 2021, as lmnt-com/wavegrad trains it): the noise
level is drawn continuously, uniformly between two adjacent training levels sqrt(alpha_bar), and
the network learns the noise with an L1 loss. Sampling is DDPM's ancestral sampler along any
beta schedule, which is what lmnt's ``inference.predict`` runs."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from vocfw.core.model import Vocoder
from vocfw.core.sampler import network_of, time_for
from vocfw.plugins.samplers.ddpm import DDPM


class WaveGradDiffusion(DDPM):
    """Continuous-noise-level training with lmnt's 1000-step schedule; DDPM's sampler.

    A noise-level model (WaveGrad) is trained at levels drawn between adjacent training levels,
    exactly as lmnt does, including the top interval between 1 and sqrt(1 - beta_1). A step
    model (DiffWave) is given the same levels as fractional training steps, interpolating
    linearly in sqrt(alpha_bar) as :func:`~vocfw.core.diffusion.align_steps` does for
    sampling; the top interval has no step (it lies before step 0), so a step model is trained
    on steps drawn uniformly from [0, num_steps - 1].

    The default inference schedule is ``fast``, DiffWave's six betas (1e-4, 1e-3, 1e-2, 0.05,
    0.2, 0.5): lmnt publishes no fixed schedule (its ``noise_schedule`` script searches one per
    trained model), and these end at sqrt(alpha_bar) = 0.61, well inside the trained range
    (down to 0.08).

    Args:
        beta_start: first training beta.
        beta_end: last training beta.
        num_steps: training steps (betas = linspace(beta_start, beta_end, num_steps)).
        inference_schedule: ``fast`` (the 6 betas above), ``full`` (the training betas) or an
            explicit list of betas, for example one found by lmnt's schedule search.
        eta: 1 samples ancestrally, 0 deterministically with DDIM's update (see DDPM).

    Raises:
        ValueError: bad betas, or an inference schedule outside the trained noise range.
    """

    def __init__(
        self,
        beta_start: float = 1e-6,
        beta_end: float = 0.01,
        num_steps: int = 1000,
        inference_schedule: Literal["full", "fast"] | list[float] = "fast",
        eta: float = 1.0,
    ) -> None:
        super().__init__(beta_start, beta_end, num_steps, inference_schedule, eta)
        levels = np.concatenate([[1.0], np.sqrt(np.cumprod(1.0 - self.train_betas))])
        self.levels = torch.from_numpy(levels.astype(np.float32))  # (S + 1,)

    def training_loss(
        self,
        model: Vocoder,
        audio: torch.Tensor,
        mel: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """L1 between the true and predicted noise at a continuous noise level per item.

        The draws are lmnt's, in its order: an interval s in [1, S] (a step model: [2, S]),
        a uniform position u in it, then the noise.

        Args:
            model: the network being trained.
            audio: (B, N) clean waveform in [-1, 1].
            mel: (B, M, T) its log-mel spectrogram.
            generator: source of the draws (on ``audio``'s device).

        Returns:
            A scalar loss.
        """
        batch, device = audio.shape[0], audio.device
        first = 2 if network_of(model).time_input == "step" else 1
        count = len(self.train_betas)
        s = torch.randint(first, count + 1, (batch,), generator=generator, device=device)  # (B,)
        u = torch.rand(batch, generator=generator, device=device)  # (B,)
        levels = self.levels.to(device)
        high, low = levels[s - 1], levels[s]  # (B,)
        level = high + u * (low - high)  # (B,)
        noise = torch.randn(audio.shape, generator=generator, device=device)  # (B, N)
        scale = level.unsqueeze(1)  # (B, 1)
        noisy = scale * audio + (1.0 - scale**2) ** 0.5 * noise
        time = time_for(model, (s - 2).float() + u, level)  # (B,)
        return F.l1_loss(model(noisy, time, mel), noise)
