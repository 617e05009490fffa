"""CosineDiffusion: DDPM with the cosine noise schedule and strided ancestral sampling."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from vocfw.core.model import Vocoder
from vocfw.core.sampler import Generators, Sampler, randn_rows


class CosineDiffusion(Sampler):
    """Epsilon-prediction diffusion with the cosine schedule (Nichol & Dhariwal, 2021).

    Args:
        num_steps: training steps S.
        inference_steps: steps of sampling, evenly spaced over the S training steps (S: all).

    Raises:
        ValueError: ``num_steps < 2`` or ``inference_steps`` outside [1, num_steps].
    """

    def __init__(self, num_steps: int = 50, inference_steps: int = 8) -> None:
        if num_steps < 2 or not 1 <= inference_steps <= num_steps:
            raise ValueError(f"sampler: need num_steps >= 2 and 1 <= inference_steps <= "
                             f"num_steps, got {num_steps} and {inference_steps}")
        self.num_steps, self.inference_steps = num_steps, inference_steps
        t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        bar = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        self.alpha_bar = (bar[1:] / bar[0]).clamp(min=1e-4).float()  # (S,)

    @property
    def num_inference_steps(self) -> int:
        return self.inference_steps

    def training_loss(self, model: Vocoder, audio: torch.Tensor, mel: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """L1 between drawn and predicted noise: (B, N) audio, (B, M, T) mel -> scalar."""
        step = torch.randint(0, self.num_steps, (audio.shape[0],), generator=generator,
                             device=audio.device)  # (B,)
        noise = torch.randn(audio.shape, generator=generator, device=audio.device)  # (B, N)
        level = self.alpha_bar.to(audio.device)[step][:, None]  # (B, 1)
        noisy = level.sqrt() * audio + (1 - level).sqrt() * noise  # (B, N)
        return F.l1_loss(model(noisy, step, mel), noise)

    @torch.inference_mode()
    def sample(self, model: Vocoder, mel: torch.Tensor,
               generator: Generators = None) -> torch.Tensor:
        """(B, M, T) mel -> (B, T * hop) waveforms in [-1, 1]; every draw via randn_rows."""
        shape = (mel.shape[0], mel.shape[-1] * model.hop_length)
        steps = torch.linspace(self.num_steps - 1, 0, self.inference_steps).round().long()
        condition = model.condition(mel)
        audio = randn_rows(shape, generator, mel.device)  # (B, N)
        for i, step in enumerate(steps.tolist()):
            bar = float(self.alpha_bar[step])
            before = float(self.alpha_bar[steps[i + 1]]) if i + 1 < len(steps) else 1.0
            beta = 1 - bar / before
            noise = model.denoise(audio, torch.tensor([step], device=mel.device), condition)
            audio = (audio - beta / math.sqrt(1 - bar) * noise) / math.sqrt(1 - beta)
            if i + 1 < len(steps):
                sigma = math.sqrt((1 - before) / (1 - bar) * beta)
                audio = audio + sigma * randn_rows(shape, generator, mel.device)
            audio = audio.clamp(-1.0, 1.0)  # (B, N)
        return audio
