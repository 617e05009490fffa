"""DiffWave (Kong et al., 2021): a non-causal WaveNet that predicts the noise in a waveform.

The layer layout, initialisation and state-dict key names are those of lmnt-com/diffwave (and of
the Amphion recipe, which ports it), so their weights load without renaming. The computation is
arranged for sampling speed: the mel conditioning of every layer is computed once per utterance
(:meth:`DiffWave.condition`), the per-layer step projections run as one matrix product per step,
the residual and skip projections accumulate straight into their running sums (their biases are
added once), and without autograd the gating works in place.
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
from vocfw.core.model import Vocoder
from vocfw.plugins.models import diffwave_inference

EMBEDDING_DIM = 128
EMBEDDING_HIDDEN = 512
LEAKY_SLOPE = 0.4


def _conv1d(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> nn.Conv1d:
    """A Conv1d with Kaiming-normal weights and 'same' padding (odd kernels)."""
    conv = nn.Conv1d(
        in_channels, out_channels, kernel_size,
        padding=dilation * (kernel_size - 1) // 2, dilation=dilation,
    )
    nn.init.kaiming_normal_(conv.weight)
    return conv


def upsample_factors(hop_length: int) -> tuple[int, int]:
    """Split a hop size into the strides of the two transposed-convolution stages.

    The most balanced pair is taken (256 -> 16 x 16, 300 -> 15 x 20).

    Args:
        hop_length: samples per mel frame.

    Returns:
        The two strides ``(f1, f2)``, ``f1 <= f2``, ``f1 * f2 == hop_length``.

    Raises:
        ValueError: ``hop_length`` has no factorisation into two factors of at least 2.
    """
    low = max((f for f in range(2, math.isqrt(max(hop_length, 0)) + 1) if hop_length % f == 0),
              default=None)
    if low is None:
        raise ValueError(
            f"model.hop_length={hop_length} cannot be split into two upsampling factors >= 2 "
            f"(it must be a composite number such as 256 = 16 x 16 or 300 = 15 x 20)"
        )
    return low, hop_length // low


class _GatedUnit(torch.autograd.Function):
    """sigmoid(first half) * tanh(second half) with a backward that writes (B, 2C, N) once.

    Autograd through two slices of ``y`` would zero a (B, 2C, N) gradient for each half and
    add them; here both halves of the gradient are written straight into one tensor.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, y: torch.Tensor,
                channels: int) -> torch.Tensor:
        gate = torch.sigmoid(y[:, :channels])  # (B, C, N)
        signal = torch.tanh(y[:, channels:])  # (B, C, N)
        ctx.save_for_backward(gate, signal)
        return gate * signal

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,
                 grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        gate, signal = ctx.saved_tensors
        channels = gate.shape[1]
        grad_y = grad.new_empty(grad.shape[0], 2 * channels, grad.shape[2])  # (B, 2C, N)
        grad_gate, grad_signal = grad_y[:, :channels], grad_y[:, channels:]
        through_gate = grad * gate  # (B, C, N)
        # d tanh = 1 - tanh^2; d sigmoid = sigmoid * (1 - sigmoid).
        torch.mul(signal, signal, out=grad_signal).neg_().add_(1.0).mul_(through_gate)
        through_gate.mul_(signal)
        torch.addcmul(through_gate, through_gate, gate, value=-1.0, out=grad_gate)
        return grad_y, None


def _gated(y: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, 2C, N) -> (B, C, N): sigmoid(first half) * tanh(second half).

    Without autograd the result is computed in place in ``y``, with tanh(x) written as
    2 * sigmoid(2x) - 1 (equal to within 2e-7, and about twice as fast on CPUs).
    """
    if torch.is_grad_enabled():
        return _GatedUnit.apply(y, channels)
    gate, signal = y[:, :channels], y[:, channels:]
    return gate.sigmoid_().mul_(signal.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0))


def _accumulate(
    total: torch.Tensor, weight: torch.Tensor, z: torch.Tensor, scale: float = 1.0
) -> torch.Tensor:
    """``scale * (total + weight @ z)`` for (B, C, N) ``total``, in place without autograd.

    ``weight`` and ``z`` are cast to ``total``'s dtype (they differ under autocast).
    """
    weight, z = weight.to(total.dtype), z.to(total.dtype)
    if torch.is_grad_enabled():
        return torch.baddbmm(total, weight, z, beta=scale, alpha=scale)
    return total.baddbmm_(weight, z, beta=scale, alpha=scale)


class DiffusionEmbedding(nn.Module):
    """Sinusoidal step embedding followed by a two-layer SiLU MLP.

    Args:
        num_steps: rows of the (non-persistent) embedding table: the training step count.
    """

    def __init__(self, num_steps: int) -> None:
        super().__init__()
        steps = torch.arange(num_steps).unsqueeze(1)  # (S, 1)
        dims = torch.arange(EMBEDDING_DIM // 2).unsqueeze(0)  # (1, 64)
        table = steps * 10.0 ** (dims * 4.0 / 63.0)  # (S, 64)
        table = torch.cat([torch.sin(table), torch.cos(table)], dim=1)  # (S, 128)
        self.register_buffer("embedding", table, persistent=False)
        self.projection1 = nn.Linear(EMBEDDING_DIM, EMBEDDING_HIDDEN)
        self.projection2 = nn.Linear(EMBEDDING_HIDDEN, EMBEDDING_HIDDEN)

    def forward(self, step: torch.Tensor) -> torch.Tensor:
        """(B,) integer or fractional steps -> (B, 512); fractions interpolate the table."""
        if step.is_floating_point():
            low = torch.floor(step).long()
            high = torch.ceil(step).long()
            x = self.embedding[low] + (self.embedding[high] - self.embedding[low]) * (
                step - low
            ).unsqueeze(-1)
        else:
            x = self.embedding[step]  # (B, 128)
        x = F.silu(self.projection1(x))
        return F.silu(self.projection2(x))  # (B, 512)


class SpectrogramUpsampler(nn.Module):
    """Two transposed 2-D convolutions (kernel 3 over mel bands) stretching frames to samples.

    Args:
        hop_length: total upsampling factor, split by :func:`upsample_factors`.
    """

    def __init__(self, hop_length: int) -> None:
        super().__init__()
        f1, f2 = upsample_factors(hop_length)
        self.conv1 = self._stage(f1)
        self.conv2 = self._stage(f2)

    @staticmethod
    def _stage(factor: int) -> nn.ConvTranspose2d:
        # Output length T * factor for every factor (odd ones need one sample of output padding).
        return nn.ConvTranspose2d(
            1, 1, [3, 2 * factor], stride=[1, factor], padding=[1, (factor + 1) // 2],
            output_padding=[0, factor % 2],
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, M, T) -> (B, M, T * hop_length)."""
        x = mel.unsqueeze(1)  # (B, 1, M, T)
        x = F.leaky_relu(self.conv1(x), LEAKY_SLOPE)
        x = F.leaky_relu(self.conv2(x), LEAKY_SLOPE)
        return x.squeeze(1)


class ResidualBlock(nn.Module):
    """One gated, dilated residual layer (its parameters; the computation is in DiffWave).

    Args:
        n_mels: mel bands of the conditioner.
        residual_channels: channels C of the residual stream.
        dilation: dilation of the kernel-3 convolution.
    """

    def __init__(self, n_mels: int, residual_channels: int, dilation: int) -> None:
        super().__init__()
        self.dilated_conv = _conv1d(residual_channels, 2 * residual_channels, 3, dilation)
        self.diffusion_projection = nn.Linear(EMBEDDING_HIDDEN, residual_channels)
        self.conditioner_projection = _conv1d(n_mels, 2 * residual_channels, 1)
        self.output_projection = _conv1d(residual_channels, 2 * residual_channels, 1)


@dataclass
class DiffWaveCondition:
    """The step-independent part of a DiffWave forward pass for one batch of mels.

    Attributes:
        upsampled: (B, M, N) upsampled mel.
        projections: conditioner projection of the first ``len(projections)`` layers, (B, 2C,
            N), or (B, N, 2C) in ``plan``; later layers project the mel at every step.
        plan: without autograd, the folded weights and time-major conditioning that
            :mod:`diffwave_inference` samples with.
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
        num_steps: int = 50,
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
        self.input_projection = _conv1d(1, residual_channels, 1)
        self.diffusion_embedding = DiffusionEmbedding(num_steps)
        self.spectrogram_upsampler = SpectrogramUpsampler(hop_length)
        self.residual_layers = nn.ModuleList(
            ResidualBlock(n_mels, residual_channels, 2 ** (i % dilation_cycle_length))
            for i in range(residual_layers)
        )
        self.skip_projection = _conv1d(residual_channels, residual_channels, 1)
        self.output_projection = _conv1d(residual_channels, 1, 1)
        nn.init.zeros_(self.output_projection.weight)

    @property
    def receptive_field(self) -> int:
        """Samples one output sample depends on: 1 + sum of 2 * dilation over the layers."""
        return 1 + sum(2 * layer.dilated_conv.dilation[0] for layer in self.residual_layers)

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
        if not torch.is_grad_enabled():
            dtype = diffwave_inference.compute_dtype(upsampled.device)
            plan = diffwave_inference.build_plan(self, upsampled, dtype,
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
        if condition.plan is not None and not torch.is_grad_enabled():
            return diffwave_inference.denoise(self, condition.plan, audio, step)
        projections = condition.projections if condition.plan is None else []
        channels = self.residual_channels
        layers = self.residual_layers
        scale = 1 / math.sqrt(2.0)
        x = F.relu(self.input_projection(audio.unsqueeze(1)))  # (B, C, N)
        embedding = self.diffusion_embedding(step)  # (B, 512)
        weight = torch.cat([layer.diffusion_projection.weight for layer in layers])  # (L*C, 512)
        bias = torch.cat([layer.diffusion_projection.bias for layer in layers])  # (L*C,)
        steps = F.linear(embedding, weight, bias).view(-1, len(layers), channels, 1)  # (B, L, C, 1)
        # Output projections as (C, C) matrices; their biases are carried as per-channel
        # offsets (residual) or added once at the end (skip) instead of once per sample.
        out_weight = torch.stack([layer.output_projection.weight[:, :, 0] for layer in layers])
        out_bias = torch.stack([layer.output_projection.bias for layer in layers])  # (L, 2C)
        batch = audio.shape[0]
        offset = torch.zeros_like(out_bias[0, :channels]).view(1, channels, 1)  # (1, C, 1)
        skip = torch.zeros_like(x)  # (B, C, N)
        for i, layer in enumerate(layers):
            if i < len(projections):
                conditioner = projections[i]  # (B, 2C, N)
            else:
                conditioner = layer.conditioner_projection(condition.upsampled)
            y = layer.dilated_conv(x + (steps[:, i] + offset)).add_(conditioner)  # (B, 2C, N)
            z = _gated(y, channels)  # (B, C, N)
            w_res = out_weight[i, :channels].expand(batch, channels, channels)  # (B, C, C)
            w_skip = out_weight[i, channels:].expand(batch, channels, channels)
            skip = _accumulate(skip, w_skip, z)
            if i + 1 < len(layers):
                x = _accumulate(x, w_res, z, scale)
                offset = (offset + out_bias[i, :channels].view(1, channels, 1)) * scale
        skip = skip + out_bias[:, channels:].sum(0).view(1, channels, 1)
        x = F.relu(self.skip_projection(skip / math.sqrt(len(layers))))  # (B, C, N)
        return self.output_projection(x).squeeze(1)  # (B, N)
