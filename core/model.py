"""The vocoder model contract: a denoising network conditioned on a mel spectrogram.

Shapes: B batch, N waveform samples, M mel bands, T mel frames, with N = T * hop_length.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Literal

import torch
from torch import nn

TimeInput = Literal["step", "noise_level", "flow_time"]


class Vocoder(nn.Module, abc.ABC):
    """Base class of vocoder networks (plain ``nn.Module`` subclasses, no training logic).

    Subclasses set ``self.n_mels`` and ``self.hop_length`` in ``__init__``. The conditioning
    of a mel spectrogram does not depend on the diffusion step, so it is computed once per
    utterance by :meth:`condition` and reused at every step by :meth:`denoise`.

    A subclass declares in :attr:`time_input` how :meth:`denoise` is told where in the
    diffusion process its input lies; a sampler supplies that input (see
    :attr:`vocfw.core.sampler.Sampler.time_inputs`), and a pair that cannot agree on it is
    refused when the two are built together.
    """

    n_mels: int
    hop_length: int
    time_input: ClassVar[TimeInput] = "step"
    """``"step"``: an integer or fractional index into the training schedule (DiffWave);
    ``"noise_level"``: the continuous noise scale sqrt(alpha_bar) in (0, 1] of the noisy
    input, independent of any schedule (WaveGrad); ``"flow_time"``: the continuous time t in
    [0, 1] of a flow from noise (t = 0) to data (t = 1), for which :meth:`denoise` returns the
    flow's velocity instead of the noise (FrameWave with FlowMatching)."""

    steps_argument: ClassVar[str | None] = None
    """The constructor argument holding the number of training steps this model embeds
    (it must equal the sampler's, see :attr:`vocfw.core.sampler.Sampler.steps_argument`);
    ``None`` when the model embeds none."""

    def check_mel(self, mel: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``mel`` is (B, n_mels, T), naming the shape found."""
        if mel.dim() != 3 or mel.shape[1] != self.n_mels:
            raise ValueError(
                f"{type(self).__name__} expects mels of shape (batch, {self.n_mels}, frames), "
                f"got {tuple(mel.shape)} ({mel.shape[1] if mel.dim() == 3 else '?'} mel bands "
                f"instead of {self.n_mels})"
            )

    @abc.abstractmethod
    def condition(self, mel: torch.Tensor) -> Any:
        """Compute the step-independent conditioning.

        Args:
            mel: (B, M, T) log-mel spectrogram.

        Returns:
            An opaque value passed back to :meth:`denoise`.

        Raises:
            ValueError: ``M`` differs from the model's ``n_mels``.
        """

    @abc.abstractmethod
    def denoise(self, audio: torch.Tensor, time: torch.Tensor, condition: Any) -> torch.Tensor:
        """Predict the noise in ``audio`` (or, for ``"flow_time"`` models, the velocity).

        Args:
            audio: (B, N) noisy waveform, N = T * hop_length.
            time: (B,) or (1,) position in the diffusion process, of the kind
                :attr:`time_input` names: steps (integer or fractional), noise levels or flow
                times.
            condition: what :meth:`condition` returned for the matching mel.

        Returns:
            (B, N) predicted noise (velocity for a ``"flow_time"`` model).
        """

    def forward(self, audio: torch.Tensor, time: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """(B, N) noisy audio, (B,) times (see :attr:`time_input`), (B, M, T) mel -> (B, N)
        predicted noise."""
        return self.denoise(audio, time, self.condition(mel))

    def prepare_for_inference(self) -> None:
        """Called by the inference engine once after the weights are loaded and before
        sampling; a model may build a faster, equivalent no-grad path here, which must give the
        reference output within fp32 rounding; the default does nothing."""

    @property
    def receptive_field(self) -> int | None:
        """Samples one output sample of :meth:`denoise` depends on, through the noisy audio or
        the mel (the span from the first to the last, an upper bound if not exact).

        Chunked vocoding overlaps neighbouring chunks by at least this much, and the contract
        kit measures the span and fails a model that states less. The default ``None`` says the
        model has not stated it: such a model vocodes whole inputs, and chunking it is refused,
        since no overlap is known to hide the chunk edges.
        """
        return None
