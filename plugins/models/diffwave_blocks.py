"""The layers of DiffWave (:mod:`vocfw.plugins.models.diffwave`), in lmnt-com/diffwave's
layout: the step embedding, the mel upsampler and the gated, dilated residual block.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

EMBEDDING_DIM = 128
EMBEDDING_HIDDEN = 512
LEAKY_SLOPE = 0.4


def conv1d(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> nn.Conv1d:
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


def gated(y: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, 2C, N) -> (B, C, N): sigmoid(first half) * tanh(second half), with a backward
    that writes the (B, 2C, N) gradient once (see :class:`_GatedUnit`)."""
    return _GatedUnit.apply(y, channels)


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
    """One gated, dilated residual layer.

    Args:
        n_mels: mel bands of the conditioner.
        residual_channels: channels C of the residual stream.
        dilation: dilation of the kernel-3 convolution.
    """

    def __init__(self, n_mels: int, residual_channels: int, dilation: int) -> None:
        super().__init__()
        self.dilated_conv = conv1d(residual_channels, 2 * residual_channels, 3, dilation)
        self.diffusion_projection = nn.Linear(EMBEDDING_HIDDEN, residual_channels)
        self.conditioner_projection = conv1d(n_mels, 2 * residual_channels, 1)
        self.output_projection = conv1d(residual_channels, 2 * residual_channels, 1)

    def forward(self, x: torch.Tensor, conditioner: torch.Tensor,
                diffusion_step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One layer, as lmnt's ``ResidualBlock.forward``.

        Args:
            x: (B, C, N) residual stream.
            conditioner: (B, 2C, N) this layer's ``conditioner_projection`` of the upsampled
                mel (computed once per utterance, see :meth:`DiffWave.condition`).
            diffusion_step: (B, 512) or (1, 512) step embedding.

        Returns:
            (B, C, N) the next residual stream and (B, C, N) this layer's skip output.
        """
        channels = x.shape[1]
        step = self.diffusion_projection(diffusion_step).unsqueeze(-1)  # (B, C, 1)
        y = self.dilated_conv(x + step) + conditioner  # (B, 2C, N)
        y = self.output_projection(gated(y, channels))  # (B, 2C, N)
        residual, skip = torch.chunk(y, 2, dim=1)  # 2 x (B, C, N)
        return (x + residual) / math.sqrt(2.0), skip
