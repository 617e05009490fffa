"""DiffWave (Kong et al., 2021): a non-causal WaveNet that predicts the noise in a waveform.

The layer layout, initialisation and state-dict key names are those of lmnt-com/diffwave (and of
the Amphion recipe, which ports it), so their weights load without renaming, and
:meth:`DiffWave.denoise` runs the layers of :mod:`~vocfw.plugins.models.diffwave_blocks` in
order as lmnt's model does. The mel conditioning of every layer is computed once per utterance
(:meth:`DiffWave.condition`). Sampling uses a faster, equivalent path
(:mod:`~vocfw.plugins.models.diffwave_inference`) once the inference engine has asked for it
(:meth:`DiffWave.prepare_for_inference`), and only in eval mode without autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from vocfw.core.audio.mel import FEATURE_LIMITS, MelConfig
from vocfw.core.bounds import MAX_TRAINING_STEPS
from vocfw.core.diffusion import NUM_STEPS
from vocfw.core.model import Vocoder
from vocfw.plugins.models import diffwave_inference
from vocfw.plugins.models.diffwave_blocks import (
    DiffusionEmbedding,
    ResidualBlock,
    SpectrogramUpsampler,
    conv1d,
)


def _forget_folded(model: DiffWave, incompatible_keys: object) -> None:
    """After weights are loaded, the weights folded for sampling are out of date."""
    model._folded = None


@dataclass
class DiffWaveCondition:
    """The step-independent part of a DiffWave forward pass for one batch of mels.

    Attributes:
        upsampled: (B, M, N) upsampled mel.
        projections: conditioner projection of the first ``len(projections)`` layers, (B, 2C,
            N), or (B, N, 2C) in ``plan``; later layers project the mel at every step.
        plan: on the prepared path (:meth:`DiffWave.prepare_for_inference`), the folded
            weights and time-major conditioning that :mod:`diffwave_inference` samples with.
    """

    upsampled: torch.Tensor
    projections: list[torch.Tensor]
    plan: diffwave_inference.Plan | None = None


class DiffWave(Vocoder):
    """The DiffWave vocoder network (lmnt-com/diffwave layout and state-dict keys).

    Args:
        n_mels: mel bands of the conditioning spectrogram (linked from ``data.features``).
        hop_length: samples per mel frame; the upsampler strides multiply to it (linked from
            ``data.features``).
        residual_layers: number of residual layers L.
        residual_channels: channels C of the residual stream.
        dilation_cycle_length: layer i uses dilation 2 ** (i mod this).
        num_steps: diffusion steps the model is trained with (rows of the step-embedding table;
            linked from ``sampler.init_args.num_steps``).

    Attributes:
        condition_cache_bytes: most bytes :meth:`condition` spends on precomputed conditioner
            projections; layers beyond it project the mel at every step instead.
        size_limits: the largest arguments a stored spec or checkpoint may ask for
            (:mod:`vocfw.core.bounds`): at most 59.3 million parameters.
    """

    condition_cache_bytes: int = 4 * 2**30
    steps_argument = "num_steps"
    size_limits: ClassVar[dict[str, int]] = {
        "n_mels": FEATURE_LIMITS["n_mels"], "hop_length": FEATURE_LIMITS["hop_length"],
        "residual_layers": 64, "residual_channels": 256, "dilation_cycle_length": 16,
        "num_steps": MAX_TRAINING_STEPS}

    def __init__(
        self,
        n_mels: int = MelConfig.n_mels,
        hop_length: int = MelConfig.hop_length,
        residual_layers: int = 30,
        residual_channels: int = 64,
        dilation_cycle_length: int = 10,
        num_steps: int = NUM_STEPS,
    ) -> None:
        super().__init__()
        for key, value in (("n_mels", n_mels), ("residual_layers", residual_layers),
                           ("residual_channels", residual_channels),
                           ("dilation_cycle_length", dilation_cycle_length),
                           ("num_steps", num_steps)):
            if value <= 0:
                raise ValueError(f"model.{key} must be positive, got {value}")
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.residual_channels = residual_channels
        self.input_projection = conv1d(1, residual_channels, 1)
        self.diffusion_embedding = DiffusionEmbedding(num_steps)
        self.spectrogram_upsampler = SpectrogramUpsampler(hop_length)
        self.residual_layers = nn.ModuleList(
            ResidualBlock(n_mels, residual_channels, 2 ** (i % dilation_cycle_length))
            for i in range(residual_layers)
        )
        self.skip_projection = conv1d(residual_channels, residual_channels, 1)
        self.output_projection = conv1d(residual_channels, 1, 1)
        nn.init.zeros_(self.output_projection.weight)
        self._folded: diffwave_inference.FoldedWeights | None = None
        self.register_load_state_dict_post_hook(_forget_folded)

    @property
    def receptive_field(self) -> int:
        """Samples one output sample depends on, an upper bound: the dilated convolutions
        reach 1 + sum of 2 * dilation samples of the noisy audio and of the upsampled mel,
        and each upsampled sample comes from at most 3 mel frames (2 transposed-convolution
        stages, each reading 2 positions of its input)."""
        dilated = 1 + sum(2 * layer.dilated_conv.dilation[0] for layer in self.residual_layers)
        return dilated + 3 * self.hop_length

    def prepare_for_inference(self) -> None:
        """Fold the weights for the fast sampling path (:mod:`diffwave_inference`) once.

        From then on, in eval mode without autograd, :meth:`condition` and :meth:`denoise`
        run that path; it gives the reference output to within fp32 rounding. Loading weights
        or switching to training mode drops the folded weights (the reference path runs again
        until this is called anew).
        """
        self._folded = diffwave_inference.fold_weights(self)

    def train(self, mode: bool = True) -> DiffWave:
        """Set training mode; entering it drops the prepared inference path."""
        if mode:
            self._folded = None
        return super().train(mode)

    def _prepared(self) -> bool:
        """Whether to run the fast path: prepared, in eval mode and without autograd."""
        return self._folded is not None and not self.training and not torch.is_grad_enabled()

    def condition(self, mel: torch.Tensor) -> DiffWaveCondition:
        """Upsample a mel and project it for every residual layer, once per utterance.

        Args:
            mel: (B, M, T) log-mel spectrogram.

        Returns:
            The conditioning reused by :meth:`denoise` at every step.

        Raises:
            ValueError: ``mel`` is not 3-D or ``M`` differs from ``n_mels``.
        """
        self.check_mel(mel)
        upsampled = self.spectrogram_upsampler(mel)  # (B, M, N)
        if self._prepared():
            dtype = diffwave_inference.compute_dtype(upsampled.device)
            plan = diffwave_inference.build_plan(self, self._folded, upsampled, dtype,
                                                 self.condition_cache_bytes)
            return DiffWaveCondition(upsampled, plan.cached, plan)
        batch, _, samples = upsampled.shape
        per_layer = batch * 2 * self.residual_channels * samples * upsampled.element_size()
        cached = min(len(self.residual_layers), self.condition_cache_bytes // max(per_layer, 1))
        projections = [
            layer.conditioner_projection(upsampled)  # (B, 2C, N)
            for layer in self.residual_layers[:cached]
        ]
        return DiffWaveCondition(upsampled, projections)

    def denoise(
        self, audio: torch.Tensor, step: torch.Tensor, condition: DiffWaveCondition
    ) -> torch.Tensor:
        """Predict the noise in ``audio`` at diffusion step ``step``.

        Args:
            audio: (B, N) noisy waveform, N = T * hop_length.
            step: (B,) or (1,) steps; integer steps index the embedding table, fractional
                steps interpolate it.
            condition: what :meth:`condition` returned for the matching mel.

        Returns:
            (B, N) predicted noise.
        """
        if condition.plan is not None and self._prepared():
            return diffwave_inference.denoise(self, condition.plan, audio, step)
        projections = condition.projections if condition.plan is None else []
        x = F.relu(self.input_projection(audio.unsqueeze(1)))  # (B, C, N)
        diffusion_step = self.diffusion_embedding(step)  # (B, 512)
        skip = torch.zeros_like(x)  # (B, C, N)
        for i, layer in enumerate(self.residual_layers):
            if i < len(projections):
                conditioner = projections[i]  # (B, 2C, N)
            else:
                conditioner = layer.conditioner_projection(condition.upsampled)
            x, skip_connection = layer(x, conditioner, diffusion_step)  # 2 x (B, C, N)
            skip = skip + skip_connection
        x = skip / math.sqrt(len(self.residual_layers))  # (B, C, N)
        x = F.relu(self.skip_projection(x))
        return self.output_projection(x).squeeze(1)  # (B, N)
