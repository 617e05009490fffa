"""The DDPM family's schedule math, for plugin authors writing samplers of the linear-beta
Gaussian process (Ho et al., 2020) and converters that store them.

- The training schedule: ``linspace(beta_start, beta_end, num_steps)`` betas, by default
  :data:`BETA_START`, :data:`BETA_END` and :data:`NUM_STEPS` (DiffWave's and the recipe's).
- Inference schedules: the training betas (``full``), a named one (:data:`NAMED_SCHEDULES`) or
  an explicit list (:func:`inference_betas`), each aligned onto fractional training steps inside
  the trained noise range (:func:`align_steps`).
- The deterministic (DDIM, eta 0) update between two noise levels of the process, in the
  process's own noise space (:func:`ddim_step`, :func:`ddim_coefficients`).
- :class:`DiffusionProcess`: the base of such samplers, with noisy inputs drawn at uniformly
  chosen steps, DiffWave's L1 noise-prediction loss, and the check that a run trained with one
  member can be sampled by another.

vocfw's DDPM, DDIM, PriorGrad, SpecGrad and WaveGradDiffusion build on it; an outside sampler
can do the same without importing any plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from vocfw.core.bounds import MAX_TRAINING_STEPS
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Sampler, time_for

BETA_START = 1e-4
"""First training beta of the default schedule."""
BETA_END = 0.05
"""Last training beta of the default schedule."""
NUM_STEPS = 50
"""Training steps of the default schedule."""

FAST_SCHEDULE = (1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5)
"""DiffWave's 6-step inference betas."""
FAST12_SCHEDULE = (1e-4, 5e-4, 8e-4, 1e-3, 5e-3, 8e-3, 1e-2, 5e-2, 8e-2, 0.1, 0.2, 0.5)
"""PriorGrad's 12-step inference betas."""
NAMED_SCHEDULES = {"fast": FAST_SCHEDULE, "fast12": FAST12_SCHEDULE}
"""Inference schedules a sampler's ``inference_schedule`` may name."""

Prior = Callable[[torch.Tensor], torch.Tensor]
"""Shapes (B, N) standard normal noise into a process's prior noise (B, N)."""


def inference_betas(schedule: str | Sequence[float], train_betas: np.ndarray) -> np.ndarray:
    """The betas an ``inference_schedule`` setting names.

    Args:
        schedule: ``full`` (the training betas), a key of :data:`NAMED_SCHEDULES`, or an
            explicit list of betas.
        train_betas: (S,) the training schedule.

    Returns:
        (K,) float64 betas (``train_betas`` itself for ``full``).

    Raises:
        ValueError: an unknown name, or a list that is empty or has betas outside (0, 1).
    """
    if schedule == "full":
        return train_betas
    if isinstance(schedule, str) and schedule in NAMED_SCHEDULES:
        return np.asarray(NAMED_SCHEDULES[schedule])
    if isinstance(schedule, str):
        raise ValueError(
            f"sampler.inference_schedule must be 'full', 'fast', 'fast12' or a list of betas, "
            f"got {schedule!r}"
        )
    betas = np.asarray(schedule, dtype=np.float64)
    if betas.ndim != 1 or betas.size == 0 or np.any((betas <= 0) | (betas >= 1)):
        raise ValueError(
            f"sampler.inference_schedule: betas must be a non-empty list of values in "
            f"(0, 1), got {list(schedule)}"
        )
    return betas


def align_steps(train_betas: Sequence[float], inference_betas: Sequence[float]) -> list[float]:
    """Map each inference noise level onto a (fractional) training step.

    For inference step s, find the training step t with alpha_bar[t + 1] <= gamma_bar[s] <=
    alpha_bar[t] and interpolate linearly in sqrt(alpha_bar) (DiffWave, appendix B).

    Args:
        train_betas: the training noise schedule.
        inference_betas: the schedule to sample with.

    Returns:
        One step in [0, len(train_betas) - 1] per inference beta, rounded to float32.

    Raises:
        ValueError: a cumulative inference noise level lies outside the trained range.
    """
    train_bar = np.cumprod(1.0 - np.asarray(train_betas, dtype=np.float64))
    infer_bar = np.cumprod(1.0 - np.asarray(inference_betas, dtype=np.float64))
    steps = []
    for s, level in enumerate(infer_bar):
        inside = np.nonzero((train_bar[1:] <= level) & (level <= train_bar[:-1]))[0]
        if inside.size == 0:
            raise ValueError(
                f"inference schedule step {s} (beta {inference_betas[s]}) reaches alpha_bar "
                f"{level:.6g}, outside the trained range [{train_bar[-1]:.6g}, "
                f"{train_bar[0]:.6g}] of the {len(train_bar)}-step training schedule; use "
                f"betas whose running product of (1 - beta) stays within it"
            )
        t = int(inside[0])
        high, low = np.sqrt(train_bar[t]), np.sqrt(train_bar[t + 1])
        steps.append(t + (high - np.sqrt(level)) / (high - low))
    return np.asarray(steps, dtype=np.float32).tolist()


def ddim_coefficients(level: float, level_next: float) -> tuple[float, float]:
    """(a, b) of the unclipped DDIM update x_next = a x + b eps from noise level ``level`` to
    ``level_next`` (both alpha_bar; ``level_next`` 1.0 is the clean signal): with x0_hat =
    (x - sqrt(1 - level) eps) / sqrt(level) and x_next = sqrt(level_next) x0_hat +
    sqrt(1 - level_next) eps, a = sqrt(level_next / level) and b = sqrt(1 - level_next) -
    a sqrt(1 - level). ``b`` is negative whenever ``level_next > level``."""
    a = (level_next / level) ** 0.5
    return a, (1.0 - level_next) ** 0.5 - a * (1.0 - level) ** 0.5


def ddim_step(audio: torch.Tensor, eps: torch.Tensor, level: float, level_next: float,
              sigma: float = 0.0) -> torch.Tensor:
    """One DDIM update (Song et al., 2021, eq. 12) without its noise term, the predicted clean
    signal clipped to [-1, 1]; the caller adds ``sigma`` times fresh noise when ``sigma > 0``.

    The update holds in any Gaussian noise space: with a prior (PriorGrad, SpecGrad) ``eps``
    is the prior-shaped noise the model predicts and the sample starts from prior noise.

    Args:
        audio: (B, N) the sample at noise level ``level`` (alpha_bar).
        eps: (B, N) the noise predicted in it.
        level: its alpha_bar.
        level_next: alpha_bar of the next, less noisy level (1.0: the clean signal).
        sigma: the standard deviation of the noise the caller adds.

    Returns:
        (B, N) the sample at ``level_next``, before that noise.
    """
    clean = torch.clamp((audio - (1.0 - level) ** 0.5 * eps) / level**0.5, -1.0, 1.0)  # (B, N)
    return level_next**0.5 * clean + max(1.0 - level_next - sigma**2, 0.0) ** 0.5 * eps


class DiffusionProcess(Sampler):
    """Base of samplers that invert the linear-beta Gaussian process of Ho et al. (2020).

    Subclasses implement :meth:`sample`. Those that change the forward process (the noise
    distribution, not only how it is sampled) set :attr:`process` to their own name and
    describe their extra settings in :meth:`process_settings`; a model trained with one process
    is refused by samplers of any other (see :meth:`incompatibility`).

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

    def __init__(self, beta_start: float = BETA_START, beta_end: float = BETA_END,
                 num_steps: int = NUM_STEPS) -> None:
        if num_steps < 2 or not 0.0 < beta_start <= beta_end < 1.0:
            raise ValueError(
                "sampler: need num_steps >= 2 and 0 < beta_start <= beta_end < 1, got "
                f"num_steps={num_steps}, beta_start={beta_start}, beta_end={beta_end}"
            )
        self.train_betas = np.linspace(beta_start, beta_end, num_steps)  # (S,) float64
        self.train_alpha_bar = np.cumprod(1.0 - self.train_betas)  # (S,) float64
        self.alpha_bar = torch.from_numpy(self.train_alpha_bar).float()  # (S,)

    @property
    def training_betas(self) -> np.ndarray:
        """(S,) float64 betas of the training noise schedule."""
        return self.train_betas

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
