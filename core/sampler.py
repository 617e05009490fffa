"""The sampler contract: a diffusion process, its training objective and its reverse sampler.

The training noise schedule lives with the sampler and is saved with every checkpoint (the
sampler's constructor arguments are part of the run's stored components), so any inference
schedule can be checked against the one the model was trained with.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.model import TimeInput, Vocoder

Generators = torch.Generator | Sequence[torch.Generator] | None


def randn_rows(
    shape: tuple[int, ...], generator: Generators, device: torch.device | str
) -> torch.Tensor:
    """Standard normal noise of ``shape`` = (B, ...) for :meth:`Sampler.sample`.

    Args:
        shape: (B, ...) shape of the draw.
        generator: one generator for the whole batch (``None``: torch's global RNG), or B
            generators: row b is then drawn from ``generator[b]`` alone, so it does not depend
            on the other rows or on the batch size.
        device: where the noise is made (the generators must live there).

    Returns:
        (B, ...) float32 noise.

    Raises:
        ValueError: the number of generators is not B.
    """
    if generator is None or isinstance(generator, torch.Generator):
        return torch.randn(shape, generator=generator, device=device)
    if len(generator) != shape[0]:
        raise ValueError(f"expected {shape[0]} generators (one per batch row), got "
                         f"{len(generator)}")
    rows = [torch.randn(shape[1:], generator=row, device=device) for row in generator]
    return torch.stack(rows)  # (B, ...)


class Sampler(abc.ABC):
    """Base class of diffusion processes.

    Shapes: B batch, N samples, M mel bands, T frames, N = T * model.hop_length.
    """

    time_inputs: ClassVar[frozenset[TimeInput]] = frozenset({"step"})
    """The kinds of time input (:attr:`vocfw.core.model.Vocoder.time_input`) this sampler can
    give a model; a model taking another kind is refused by :meth:`model_incompatibility`."""

    steps_argument: ClassVar[str | None] = "num_steps"
    """The constructor argument holding the training step count a step-input model must
    embed; ``None`` when the sampler fixes none."""

    schedule_argument: ClassVar[str | None] = None
    """The constructor argument that takes an inference schedule as a list of betas (what
    ``vocfw predict --schedule`` and the schedule search set); ``None`` when the sampler
    cannot sample along one."""

    def model_incompatibility(self, model: Vocoder) -> str | None:
        """Why this sampler cannot train or sample ``model``, or ``None``.

        Checked whenever a model and a sampler are built together. The default compares the
        model's :attr:`~vocfw.core.model.Vocoder.time_input` with :attr:`time_inputs`.
        """
        if model.time_input in self.time_inputs:
            return None
        return (f"{type(model).__name__} takes a {model.time_input.replace('_', ' ')} as its "
                f"time input, but {type(self).__name__} supplies only "
                f"{' or '.join(sorted(self.time_inputs))}")

    def use_features(self, features: MelConfig) -> None:
        """Take the feature settings of the mels this sampler will see.

        Called whenever a sampler is built with a model (training, loading a run, another
        ``--sampler``), before :meth:`model_incompatibility`. The default ignores them; a
        sampler whose noise depends on the mel's frequency axis or scale reads them here.

        Raises:
            ValueError: the sampler cannot work with these features (saying why).
        """
        return None

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
            model: the network being trained, possibly inside a distributed-training wrapper
                that only forwards calls: read its attributes through
                :func:`network_of`, never directly.
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
        generator: Generators = None,
    ) -> torch.Tensor:
        """Generate waveforms from mel spectrograms.

        Every random draw (the initial noise and any per-step noise) goes through
        :func:`randn_rows`, so that with one generator per row a row's waveform depends only
        on its own mel and generator, whatever else shares the batch.

        Args:
            model: a trained network (in eval mode).
            mel: (B, M, T) log-mel spectrograms.
            generator: source of all noise, on ``mel``'s device: one generator for the batch,
                or a sequence of B generators, one per row.

        Returns:
            (B, T * model.hop_length) waveforms in [-1, 1].
        """

    def incompatibility(self, trained: Sampler) -> str | None:
        """Why this sampler cannot vocode with a model trained with ``trained``, or ``None``.

        Called when ``vocfw predict`` replaces a run's sampler. The default accepts only a
        model trained with this sampler's own class, since nothing tells it what another
        class trained; a sampler that can invert other training processes overrides it and
        compares their processes (see :attr:`training_betas`).
        """
        if type(trained) is type(self):
            return None
        return (f"the model was trained with {type(trained).__name__}, and "
                f"{type(self).__name__} does not declare that it can invert that process")

    @property
    def training_betas(self) -> np.ndarray | None:
        """(S,) float64 betas of the training noise schedule, what the schedule search keeps an
        inference schedule within; ``None`` (the default) when the process has none."""
        return None

    @property
    def num_inference_steps(self) -> int:
        """Network evaluations one call of :meth:`sample` makes (0: not stated)."""
        return 0


def time_for(model: Vocoder, step: torch.Tensor, noise_level: torch.Tensor) -> torch.Tensor:
    """The time input ``model`` takes (see :attr:`vocfw.core.model.Vocoder.time_input`).

    Args:
        model: the network a sampler is about to call.
        step: (B,) or (1,) training-schedule steps (integer or fractional).
        noise_level: the same positions as noise scales sqrt(alpha_bar), same shape.

    Returns:
        ``step`` or ``noise_level``.

    Raises:
        ValueError: the model takes a ``"flow_time"``, which no diffusion step or noise level
            stands for (such a model is driven by a flow sampler, and refused by the others
            through :meth:`Sampler.model_incompatibility`).
    """
    kind = network_of(model).time_input
    if kind == "flow_time":
        raise ValueError(f"{type(network_of(model)).__name__} takes a flow time, not a "
                         f"diffusion step or noise level")
    return noise_level if kind == "noise_level" else step


def network_of(model: torch.nn.Module) -> Vocoder:
    """The :class:`~vocfw.core.model.Vocoder` inside ``model``: distributed training wraps the
    network (DistributedDataParallel and its kin hold it as ``.module``) in a module that
    forwards calls but not the network's attributes."""
    return getattr(model, "module", model)
