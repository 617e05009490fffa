"""TinyWave: a few dilated convolutions conditioned on the mel and the diffusion step.

Shapes: B batch, M mel bands, T frames, N = T * hop_length samples, C channels.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vocfw.core.model import Vocoder


class TinyWave(Vocoder):
    """A small non-causal noise predictor (for examples and tests, not for quality).

    Args:
        n_mels: mel bands (linked from ``data.features``).
        hop_length: samples per mel frame (linked from ``data.features``).
        channels: hidden channels C.
        layers: dilated convolution layers; layer i has dilation 2 ** i.
        num_steps: diffusion steps of training (linked from ``sampler.init_args``); steps are
            embedded as fractions of it, so fractional steps work too.
    """

    steps_argument = "num_steps"  # the sampler's training step count, embedded by denoise

    def __init__(self, n_mels: int = 100, hop_length: int = 256, channels: int = 16,
                 layers: int = 3, num_steps: int = 50) -> None:
        super().__init__()
        self.n_mels, self.hop_length, self.num_steps = n_mels, hop_length, num_steps
        self.mel_projection = nn.Conv1d(n_mels, channels, 3, padding=1)
        self.input_projection = nn.Conv1d(1, channels, 1)
        self.step_projection = nn.Linear(2, channels)
        self.layers = nn.ModuleList(
            nn.Conv1d(channels, channels, 3, padding=2**i, dilation=2**i) for i in range(layers)
        )
        self.output_projection = nn.Conv1d(channels, 1, 1)

    @property
    def receptive_field(self) -> int:
        """Samples one output sample depends on: the convolutions reach R = sum of the
        dilations either side through the audio, and the mel through its frame plus one
        either side (the mel projection's kernel) for every frame those R samples touch."""
        reach = sum(layer.dilation[0] for layer in self.layers)
        frames = 3 + 2 * -(-reach // self.hop_length)
        return max(1 + 2 * reach, frames * self.hop_length)

    def condition(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, M, T) mel -> (B, C, N) conditioning, repeated over each frame's samples."""
        if mel.shape[1] != self.n_mels:
            raise ValueError(f"TinyWave: expected {self.n_mels} mel bands, got {mel.shape[1]}")
        frames = self.mel_projection(mel)  # (B, C, T)
        return frames.repeat_interleave(self.hop_length, dim=2)  # (B, C, N)

    def denoise(self, audio: torch.Tensor, step: torch.Tensor,
                condition: torch.Tensor) -> torch.Tensor:
        """(B, N) noisy audio, (B,) or (1,) steps, (B, C, N) condition -> (B, N) noise."""
        phase = step.float()[:, None] / self.num_steps * math.pi  # (B, 1)
        embedded = self.step_projection(torch.cat([phase.sin(), phase.cos()], dim=1))  # (B, C)
        x = self.input_projection(audio[:, None]) + condition + embedded[:, :, None]  # (B, C, N)
        for layer in self.layers:
            x = x + torch.tanh(layer(x))  # (B, C, N)
        return self.output_projection(x)[:, 0]  # (B, N)
