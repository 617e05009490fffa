"""FrameWave's parts: an STFT with one frame per mel frame and its exact inverse, a sinusoidal
embedding of the flow time, and the time-modulated ConvNeXt block.

Shapes: B batch, N = T * hop samples, T frames, F = n_fft / 2 + 1 bins, C channels. The
backbone works channels-last, (B, T, C), so the pointwise layers are plain matrix products.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class FrameSTFT(nn.Module):
    """STFT of T * hop samples into exactly T frames, and its inverse.

    The waveform is zero-padded by (n_fft - hop) / 2 samples on both sides and framed without
    centring, so frame t covers samples [t * hop - pad, t * hop - pad + n_fft): the alignment
    of vocfw's recipe mel features, whose frame t is the mel's frame t. The periodic Hann
    window is applied on analysis and again on synthesis, and the overlap-add is divided by
    the summed squared windows, so ``inverse(forward(x)) == x`` to float rounding (the sum is
    at least 0.5 everywhere once ``n_fft >= 2 * hop``). Spectra are scaled by 1 / sqrt(n_fft),
    which gives unit white noise bins of mean square 3/8 (the Hann window's mean square).

    Args:
        n_fft: FFT and window size; ``n_fft - hop`` must be even and ``n_fft >= 2 * hop``.
        hop: samples per frame.
    """

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop, self.pad = n_fft, hop, (n_fft - hop) // 2
        self.scale = 1.0 / math.sqrt(n_fft)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    @property
    def bins(self) -> int:
        """F, the one-sided bins per frame."""
        return self.n_fft // 2 + 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T * hop) waveform -> (B, T, 2F) real parts then imaginary parts, in float32
        (float64 for float64 input)."""
        padded = F.pad(_full(audio), (self.pad, self.pad))  # (B, N + n_fft - hop)
        spec = torch.stft(padded, self.n_fft, self.hop, window=self.window.to(padded.dtype),
                          center=False, return_complex=True)  # (B, F, T)
        spec = spec.transpose(1, 2) * self.scale  # (B, T, F)
        return torch.cat([spec.real, spec.imag], dim=-1)  # (B, T, 2F)

    def inverse(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, T, 2F) real then imaginary parts -> (B, T * hop) waveform in float32 (float64
        for float64 input)."""
        real, imag = _full(spec).split(self.bins, dim=-1)  # (B, T, F) each
        frames = torch.fft.irfft(torch.complex(real, imag), n=self.n_fft, dim=-1)  # (B, T, n)
        window = self.window.to(frames.dtype)
        frames = (frames * (window / self.scale)).transpose(1, 2)  # (B, n, T)
        count = frames.shape[-1]
        length = (count - 1) * self.hop + self.n_fft
        audio = self._overlap_add(frames, length)  # (B, L)
        square = window.square().unsqueeze(1).expand(-1, count)  # (n, T)
        envelope = self._overlap_add(square.unsqueeze(0), length)  # (1, L)
        keep = slice(self.pad, self.pad + count * self.hop)
        return audio[:, keep] / envelope[:, keep]  # (B, T * hop)

    def _overlap_add(self, frames: torch.Tensor, length: int) -> torch.Tensor:
        """(B, n_fft, T) frames -> (B, length) sum of the frames placed every hop samples."""
        out = F.fold(frames, (1, length), (1, self.n_fft), stride=(1, self.hop))  # (B, 1, 1, L)
        return out.flatten(1)


def _full(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, or float64 if it is: the FFTs run in full precision under autocast."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class TimeEmbedding(nn.Module):
    """Sinusoidal features of the flow time t in [0, 1] (frequencies 1 to 1000 rad per unit
    time, geometrically spaced) followed by a two-layer SiLU MLP.

    Args:
        channels: width of the features and of the output.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        frequencies = torch.exp(torch.linspace(0.0, math.log(1000.0), half))  # (C/2,)
        self.register_buffer("frequencies", frequencies, persistent=False)
        self.hidden = nn.Linear(2 * half, channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, time: torch.Tensor) -> torch.Tensor:
        """(B,) or (1,) times -> (B, C) or (1, C) embeddings."""
        angle = _full(time).reshape(-1, 1) * self.frequencies  # (B, C/2)
        features = torch.cat([angle.sin(), angle.cos()], dim=-1)  # (B, C)
        return self.out(F.silu(self.hidden(features)))


class ConvNeXtBlock(nn.Module):
    """Depthwise convolution over frames, LayerNorm modulated by the time (scale and shift),
    pointwise MLP with GELU, a per-channel layer scale and a residual connection.

    Args:
        channels: width C of the residual stream.
        hidden: width of the pointwise MLP.
        kernel_size: odd kernel of the depthwise convolution (frames).
        layer_scale: initial per-channel gain of the block's output.
    """

    def __init__(self, channels: int, hidden: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2,
                                   groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6, elementwise_affine=False)
        self.up = nn.Linear(channels, hidden)
        self.down = nn.Linear(hidden, channels)
        self.gain = nn.Parameter(torch.full((channels,), layer_scale))

    def forward(self, x: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        """(B, T, C) stream and (B or 1, 1, 2C) time modulation (scale, then shift) -> (B, T, C)."""
        y = self.depthwise(x.transpose(1, 2)).transpose(1, 2)  # (B, T, C)
        scale, shift = modulation.chunk(2, dim=-1)  # (B, 1, C) each
        y = self.norm(y) * (1.0 + scale) + shift
        y = self.down(F.gelu(self.up(y)))  # (B, T, C)
        return x + self.gain * y
