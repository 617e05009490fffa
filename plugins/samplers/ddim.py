"""DDIM (Song et al., 2021): sampling a DDPM-trained model along a subset of its training steps,
deterministically (``eta = 0``) or with DDPM-like noise (``eta = 1``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from vocfw.core.diffusion import BETA_END, BETA_START, NUM_STEPS, DiffusionProcess, ddim_step
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Generators, randn_rows, time_for


def spaced_steps(num_steps: int, count: int) -> list[int]:
    """``count`` training steps evenly spaced from the last one down (``trailing`` spacing).

    Args:
        num_steps: training steps.
        count: steps to pick, 1 to ``num_steps``.

    Returns:
        Distinct steps in decreasing order, the first ``num_steps - 1``:
        round(num_steps * (count - k) / count) - 1 for k = 0 .. count - 1.
    """
    picked = np.round(num_steps * (count - np.arange(count)) / count) - 1
    return picked.astype(int).tolist()


class DDIM(DiffusionProcess):
    """Denoising diffusion implicit models: the DDPM training process, sampled in fewer steps.

    Trains exactly like :class:`~vocfw.plugins.samplers.ddpm.DDPM` (same schedule arguments,
    same loss), so either can sample a model the other trained.

    Args:
        beta_start: first training beta.
        beta_end: last training beta.
        num_steps: training steps (betas = linspace(beta_start, beta_end, num_steps)).
        inference_steps: how many training steps to sample along, evenly spaced down from
            the last (1 to ``num_steps``), or an explicit list of distinct step indices in
            [0, num_steps) that includes the last, ``num_steps - 1``.
        eta: scale of the per-step noise: 0 deterministic given the initial noise, 1 the
            variance of DDPM's posterior.

    Raises:
        ValueError: bad betas, steps or eta.
    """

    def __init__(
        self,
        beta_start: float = BETA_START,
        beta_end: float = BETA_END,
        num_steps: int = NUM_STEPS,
        inference_steps: int | list[int] = 10,
        eta: float = 0.0,
    ) -> None:
        super().__init__(beta_start, beta_end, num_steps)
        if not eta >= 0.0:
            raise ValueError(f"sampler.eta must be at least 0, got {eta}")
        self.eta = float(eta)
        self.steps = self._checked_steps(inference_steps, num_steps)

    @staticmethod
    def _checked_steps(inference_steps: int | list[int], num_steps: int) -> list[int]:
        """The steps to sample along, in decreasing order (see the class arguments)."""
        if isinstance(inference_steps, int) and not isinstance(inference_steps, bool):
            if not 1 <= inference_steps <= num_steps:
                raise ValueError(f"sampler.inference_steps must lie in [1, num_steps={num_steps}]"
                                 f", got {inference_steps}")
            return spaced_steps(num_steps, inference_steps)
        whole = all(isinstance(s, int) and not isinstance(s, bool) for s in inference_steps)
        steps = sorted(set(inference_steps), reverse=True) if whole else []
        if (len(steps) != len(inference_steps) or not steps or steps[0] != num_steps - 1
                or steps[-1] < 0):
            raise ValueError(
                f"sampler.inference_steps: expected a count or a list of distinct step indices "
                f"in [0, {num_steps}) including the last, {num_steps - 1}; got {inference_steps}"
            )
        return steps

    @property
    def num_inference_steps(self) -> int:
        """Network evaluations one call of :meth:`sample` makes."""
        return len(self.steps)

    @torch.inference_mode()
    def sample(self, model: Vocoder, mel: torch.Tensor, generator: Generators = None,
               ) -> torch.Tensor:
        """Generate waveforms with the DDIM update along :attr:`steps`.

        Args:
            model: a trained network.
            mel: (B, M, T) log-mel spectrograms.
            generator: source of the initial noise and, when ``eta > 0``, the per-step noise,
                on ``mel``'s device: one generator, or one per batch row (see
                :func:`vocfw.core.sampler.randn_rows`).

        Returns:
            (B, T * model.hop_length) waveforms in [-1, 1].

        Raises:
            ValueError: the mel does not fit the model.
        """
        return self._reverse(model, mel, generator=generator)

    def _reverse(self, model: Vocoder, mel: torch.Tensor, generator: Generators = None,
                 noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The reverse process of :meth:`sample`, optionally with given noise.

        Args:
            model: a trained network.
            mel: (B, M, T) log-mel spectrograms.
            generator: source of noise when ``noise`` is not given.
            noise: the initial (B, N) noise, then with ``eta > 0`` one (B, N) draw for every
                step but the last, in sampling order.

        Returns:
            (B, T * model.hop_length) waveforms in [-1, 1].

        Raises:
            ValueError: ``noise`` has the wrong number of tensors.
        """
        count = 1 + (len(self.steps) - 1 if self.eta > 0 else 0)
        if noise is not None and len(noise) != count:
            raise ValueError(f"noise: expected {count} tensors, got {len(noise)}")
        shape = (mel.shape[0], mel.shape[-1] * model.hop_length)
        draws = iter(noise) if noise is not None else None

        def draw() -> torch.Tensor:
            if draws is not None:
                return next(draws).to(mel.device)
            return randn_rows(shape, generator, mel.device)  # (B, N)

        condition = model.condition(mel)
        audio = draw()  # (B, N)
        for index, step in enumerate(self.steps):
            previous = self.steps[index + 1] if index + 1 < len(self.steps) else None
            audio = self._step(model, audio, condition, step, previous, draw)
        return audio

    def _step(self, model: Vocoder, audio: torch.Tensor, condition: object, step: int,
              previous: int | None, draw: Callable[[], torch.Tensor]) -> torch.Tensor:
        """One DDIM update from training step ``step`` to ``previous`` (``None``: the clean
        signal), Song et al. (2021) eq. 12 with the predicted clean signal clipped to [-1, 1].

        Args:
            model: the network.
            audio: (B, N) the sample at ``step``.
            condition: the model's conditioning of the mels.
            step: the current training step.
            previous: the next, smaller step, or ``None`` after the last.
            draw: returns (B, N) standard normal noise (called only when the update is noisy).

        Returns:
            (B, N) the sample at ``previous``.
        """
        level = float(self.train_alpha_bar[step])
        level_prev = float(self.train_alpha_bar[previous]) if previous is not None else 1.0
        time = time_for(model, torch.tensor([step], device=audio.device),
                        torch.tensor([level**0.5], device=audio.device))  # (1,)
        eps = model.denoise(audio, time, condition)  # (B, N)
        sigma = self.eta * ((1.0 - level_prev) / (1.0 - level) * (1.0 - level / level_prev)) ** 0.5
        out = ddim_step(audio, eps, level, level_prev, sigma)  # (B, N)
        if sigma > 0.0:
            out = out + sigma * draw()
        return out
