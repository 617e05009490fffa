"""The layers of WaveGrad (:mod:`vocfw.plugins.models.wavegrad`), in lmnt-com/wavegrad's
layout: the noise-level encoding, FiLM, and the down- and upsampling blocks."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

LEAKY_SLOPE = 0.2
DOWN_DILATIONS = (1, 2, 4)


def conv1d(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> nn.Conv1d:
    """A Conv1d with orthogonal weights, zero bias and 'same' padding (odd kernels)."""
    conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                     padding=dilation * (kernel_size - 1) // 2)
    nn.init.orthogonal_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def leaky(x: torch.Tensor) -> torch.Tensor:
    """lmnt's leaky ReLU (slope 0.2)."""
    return F.leaky_relu(x, LEAKY_SLOPE)


def noise_encoding(level: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encoding of noise levels, as lmnt's (the level is not rescaled).

    Args:
        level: (B,) or (1,) noise levels sqrt(alpha_bar).
        dim: even encoding size C.

    Returns:
        (B, C, 1): sin then cos of ``level * 1e4 ** (-k / (C / 2))``, k = 0 .. C/2 - 1.
    """
    count = dim // 2
    k = torch.arange(count, dtype=level.dtype, device=level.device) / count  # (C/2,)
    angle = level.unsqueeze(1) * torch.exp(-math.log(1e4) * k.unsqueeze(0))  # (B, C/2)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1).unsqueeze(-1)  # (B, C, 1)


class FiLM(nn.Module):
    """Feature-wise modulation from the downsampled noisy waveform and the noise level.

    Args:
        input_size: channels of the downsampled waveform (even).
        output_size: channels of the UBlock it modulates.
    """

    def __init__(self, input_size: int, output_size: int) -> None:
        super().__init__()
        self.input_conv = nn.Conv1d(input_size, input_size, 3, padding=1)
        self.output_conv = nn.Conv1d(input_size, output_size * 2, 3, padding=1)
        for conv in (self.input_conv, self.output_conv):
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, L) features, (B,) or (1,) levels -> (shift, scale), each (B, C_out, L)."""
        x = leaky(self.input_conv(x)) + noise_encoding(level, x.shape[1])  # (B, C, L)
        shift, scale = torch.chunk(self.output_conv(x), 2, dim=1)
        return shift, scale


class DBlock(nn.Module):
    """Downsampling by ``factor`` with a pointwise residual and three dilated convolutions.

    Args:
        input_size: input channels.
        hidden_size: output channels.
        factor: downsampling factor.
    """

    def __init__(self, input_size: int, hidden_size: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.residual_dense = conv1d(input_size, hidden_size, 1)
        self.conv = nn.ModuleList(
            conv1d(size, hidden_size, 3, d)
            for size, d in zip((input_size, hidden_size, hidden_size), DOWN_DILATIONS,
                               strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, L) -> (B, C_out, L / factor)."""
        x = x[..., :: self.factor]  # (B, C_in, L/f)
        residual = self.residual_dense(x)
        for conv in self.conv:
            x = conv(leaky(x))
        return x + residual


class UBlock(nn.Module):
    """Upsampling by ``factor`` with FiLM-modulated dilated convolutions.

    Args:
        input_size: input channels.
        hidden_size: output channels.
        factor: upsampling factor.
        dilation: dilations of the four kernel-3 convolutions.
    """

    def __init__(self, input_size: int, hidden_size: int, factor: int,
                 dilation: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.factor = factor
        self.block1 = conv1d(input_size, hidden_size, 1)
        self.block2 = nn.ModuleList([conv1d(input_size, hidden_size, 3, dilation[0]),
                                     conv1d(hidden_size, hidden_size, 3, dilation[1])])
        self.block3 = nn.ModuleList([conv1d(hidden_size, hidden_size, 3, dilation[2]),
                                     conv1d(hidden_size, hidden_size, 3, dilation[3])])

    def prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The part before any modulation: (B, C_in, L) -> (residual, first convolution),
        each (B, C_out, L * factor)."""
        residual = self.block1(x).repeat_interleave(self.factor, dim=-1)
        hidden = self.block2[0](leaky(x).repeat_interleave(self.factor, dim=-1))
        return residual, hidden

    def finish(self, residual: torch.Tensor, hidden: torch.Tensor, shift: torch.Tensor,
               scale: torch.Tensor) -> torch.Tensor:
        """The modulated rest: :meth:`prepare`'s outputs and FiLM's (B, C_out, L * factor)
        shift and scale -> (B, C_out, L * factor)."""
        x = residual + self.block2[1](leaky(shift + scale * hidden))
        hidden = self.block3[0](leaky(shift + scale * x))
        return x + self.block3[1](leaky(shift + scale * hidden))

    def forward(self, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """(B, C_in, L) and FiLM's shift and scale -> (B, C_out, L * factor)."""
        return self.finish(*self.prepare(x), shift, scale)
