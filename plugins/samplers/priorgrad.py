"""PriorGrad (Lee et al., ICLR 2022): DDPM whose noise, in training and sampling, has a
per-sample standard deviation taken from the mel frame's energy (a data-dependent prior).

The prior of frame t is computed from the log-mel alone, frame by frame::

    energy[t] = sqrt(sum_m exp(mel[m, t]))
    std[t]    = max((min(energy[t], energy_max) - energy_min) / (energy_max - energy_min), std_min)

and repeated over the frame's ``hop_length`` samples. vocfw's default (``recipe``) mel is the
natural log of the clamped mel magnitude, as PriorGrad's own features are, so ``exp(mel)`` is
the mel magnitude and the energy is PriorGrad's. ``energy_max`` plays the role of PriorGrad's
``max_energy_override`` (energies above it get std 1). The prior depends on each frame alone,
so a chunk's prior is the slice of the whole input's prior.
"""

from __future__ import annotations

from typing import Literal

import torch

from vocfw.core.audio.mel import LOG_FLOOR
from vocfw.core.diffusion import BETA_END, BETA_START, NUM_STEPS, Prior
from vocfw.core.model import Vocoder
from vocfw.core.sampler import network_of, time_for
from vocfw.plugins.samplers.ddpm import DDPM


def frame_energy(mel: torch.Tensor) -> torch.Tensor:
    """PriorGrad's frame energy of a natural-log mel: the root of the summed mel magnitudes.

    Args:
        mel: (B, M, T) natural-log mel spectrograms.

    Returns:
        (B, T) energies.
    """
    return mel.float().exp().sum(dim=1).sqrt()  # (B, T)


STD_MIN = 0.1  # PriorGrad's floor of the prior's deviation
ENERGY_MAX = 4.0  # PriorGrad's max_energy_override for peak-normalised speech


def energy_std(mel: torch.Tensor, std_min: float = STD_MIN, energy_min: float | None = None,
               energy_max: float = ENERGY_MAX) -> torch.Tensor:
    """PriorGrad's standard deviation per frame (the module description's formula).

    Args:
        mel: (B, M, T) natural-log mel spectrograms.
        std_min, energy_min, energy_max: as :class:`PriorGrad` takes them.

    Returns:
        (B, T) deviations in [std_min, 1].
    """
    low = (mel.shape[1] * LOG_FLOOR) ** 0.5 if energy_min is None else energy_min
    energy = frame_energy(mel).clamp(max=energy_max)  # (B, T)
    return ((energy - low) / (energy_max - low)).clamp(min=std_min)  # (B, T)


class PriorGrad(DDPM):
    """DDPM with PriorGrad's data-dependent prior N(0, diag(std^2)) and its weighted L2 loss.

    Args:
        beta_start: first training beta.
        beta_end: last training beta.
        num_steps: training steps (betas = linspace(beta_start, beta_end, num_steps)).
        inference_schedule: ``full`` (the training betas; PriorGrad's 50 steps), ``fast``
            (6 betas 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5), ``fast12`` (12 betas 1e-4, 5e-4, 8e-4,
            1e-3, 5e-3, 8e-3, 1e-2, 0.05, 0.08, 0.1, 0.2, 0.5) or an explicit list of betas.
        eta: 1 samples ancestrally, 0 deterministically with DDIM's update (see DDPM).
        std_min: floor of the prior's standard deviation (PriorGrad: 0.1).
        energy_min: the frame energy that maps to std 0 before the floor: the training set's
            lowest. ``None``: the energy of a silent frame (every band at the feature log
            floor, ln 1e-5), sqrt(M * 1e-5) for M bands, which is the lowest energy of any set
            holding digital silence.
        energy_max: the frame energy that maps to std 1; higher energies are clipped to it
            (PriorGrad's ``max_energy_override``, 4 for its peak-normalised speech; vocfw's
            default features give speech peaking at 0.95 energies up to about 4.3).

    Raises:
        ValueError: bad betas or schedule, ``std_min`` outside (0, 1], or
            ``energy_max <= energy_min``.
    """

    process = "priorgrad"

    def __init__(
        self,
        beta_start: float = BETA_START,
        beta_end: float = BETA_END,
        num_steps: int = NUM_STEPS,
        inference_schedule: Literal["full", "fast", "fast12"] | list[float] = "full",
        eta: float = 1.0,
        std_min: float = STD_MIN,
        energy_min: float | None = None,
        energy_max: float = ENERGY_MAX,
    ) -> None:
        super().__init__(beta_start, beta_end, num_steps, inference_schedule, eta)
        if not 0.0 < std_min <= 1.0:
            raise ValueError(f"sampler.std_min must lie in (0, 1], got {std_min}")
        if not energy_max > (0.0 if energy_min is None else energy_min):
            raise ValueError(f"sampler.energy_max ({energy_max}) must exceed energy_min "
                             f"({0.0 if energy_min is None else energy_min})")
        self.std_min, self.energy_min, self.energy_max = std_min, energy_min, energy_max

    def process_settings(self) -> dict[str, float | None]:
        """The prior's settings: a model is sampled with the prior it was trained with."""
        return {"std_min": self.std_min, "energy_min": self.energy_min,
                "energy_max": self.energy_max}

    def frame_std(self, mel: torch.Tensor) -> torch.Tensor:
        """The prior's standard deviation per frame.

        Args:
            mel: (B, M, T) natural-log mel spectrograms.

        Returns:
            (B, T) deviations in [std_min, 1].
        """
        return energy_std(mel, self.std_min, self.energy_min, self.energy_max)

    def noise_std(self, mel: torch.Tensor, hop_length: int) -> torch.Tensor:
        """The prior's standard deviation per sample (the frame's, repeated over its hop).

        Args:
            mel: (B, M, T) natural-log mel spectrograms.
            hop_length: samples per frame.

        Returns:
            (B, T * hop_length) deviations.
        """
        return self.frame_std(mel).repeat_interleave(hop_length, dim=1)  # (B, N)

    def prior(self, mel: torch.Tensor, hop_length: int) -> Prior:
        """Scales standard normal noise by :meth:`noise_std`."""
        std = self.noise_std(mel, hop_length)  # (B, N)
        return lambda noise: noise * std

    def training_loss(
        self,
        model: Vocoder,
        audio: torch.Tensor,
        mel: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """PriorGrad's loss: the squared noise-prediction error weighted by the inverse prior
        covariance, mean((prediction - noise)^2 / std^2), with noise ~ N(0, diag(std^2)).

        Args:
            model: the network being trained.
            audio: (B, N) clean waveform in [-1, 1].
            mel: (B, M, T) its log-mel spectrogram.
            generator: source of the steps and noise (on ``audio``'s device).

        Returns:
            A scalar loss.
        """
        std = self.noise_std(mel, network_of(model).hop_length)  # (B, N)
        step, level, noise, noisy = self.diffuse(audio, lambda z: z * std, generator)
        predicted = model(noisy, time_for(model, step, level**0.5), mel)  # (B, N)
        return (((predicted - noise) / std) ** 2).mean()
