"""WaveGrad (Chen et al., 2021): a U-Net-like network that predicts the noise in a waveform
from its mel spectrogram and the continuous noise level sqrt(alpha_bar).

The layout, initialisation and state-dict key names are those of lmnt-com/wavegrad, so its
weights load without renaming. A mel is upsampled to the waveform rate by five UBlocks; the noisy
waveform is downsampled by a convolution and four DBlocks, and at every rate a FiLM layer turns
it and the noise level into a shift and scale that modulate the UBlock of the same rate.

Only the mel path before the first modulation is independent of the noise: the first
convolution over the mel and the two FiLM-free convolutions of the first UBlock. That is what
:meth:`WaveGrad.condition` computes once per utterance; everything after it depends on the noisy
input and runs at every step.

Resampling is nearest-neighbour, as lmnt's ``F.interpolate`` does it for lengths that divide
evenly (N = T * hop_length always does): upsampling repeats samples, downsampling keeps every
f-th, and pointwise (kernel-1) convolutions run at the lower of the two rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from vocfw.core.audio.mel import FEATURE_LIMITS, MelConfig
from vocfw.core.model import Vocoder
from vocfw.plugins.models.wavegrad_blocks import DOWN_DILATIONS, DBlock, FiLM, UBlock, conv1d

NUM_FACTORS = 5
# widths in units of base_channels (lmnt: base 32)
DOWN_WIDTHS = (1, 4, 4, 8, 16)  # the input convolution, then the four DBlocks
MEL_WIDTH = 24  # the first convolution over the mel
UP_WIDTHS = (16, 16, 8, 4, 4)  # the five UBlocks, coarse to fine
UP_DILATIONS = ((1, 2, 1, 2), (1, 2, 1, 2), (1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8))


def upsample_factors(hop_length: int) -> tuple[int, ...]:
    """Split a hop size into the five upsampling factors of the UBlocks, coarse to fine.

    The hop's prime factors are merged, smallest two first, until five remain, and ordered
    largest first (300 -> 5, 5, 3, 2, 2 as lmnt's; 256 -> 4, 4, 4, 2, 2).

    Args:
        hop_length: samples per mel frame.

    Returns:
        Five factors, non-increasing, whose product is ``hop_length``.

    Raises:
        ValueError: ``hop_length`` has fewer than five prime factors (counted with
            multiplicity).
    """
    primes, rest, p = [], max(hop_length, 1), 2
    while p * p <= rest:
        while rest % p == 0:
            primes.append(p)
            rest //= p
        p += 1
    primes += [rest] if rest > 1 else []
    if len(primes) < NUM_FACTORS:
        raise ValueError(
            f"model.hop_length={hop_length} cannot be split into {NUM_FACTORS} upsampling "
            f"factors >= 2 (WaveGrad needs a hop with at least {NUM_FACTORS} prime factors, "
            f"such as 300 = 5 x 5 x 3 x 2 x 2 or 256 = 4 x 4 x 4 x 2 x 2)"
        )
    while len(primes) > NUM_FACTORS:
        primes.sort()
        primes = [primes[0] * primes[1], *primes[2:]]
    return tuple(sorted(primes, reverse=True))


@dataclass
class WaveGradCondition:
    """The noise-independent part of a WaveGrad forward pass for one batch of mels.

    Attributes:
        residual: (B, C, N / f0) pointwise branch of the first UBlock.
        hidden: (B, C, N / f0) its first convolution, before modulation.
    """

    residual: torch.Tensor
    hidden: torch.Tensor


class WaveGrad(Vocoder):
    """The WaveGrad vocoder network (lmnt-com/wavegrad layout and state-dict keys).

    Args:
        n_mels: mel bands of the conditioning spectrogram (linked from ``data.features``;
            lmnt: 128).
        hop_length: samples per mel frame, split into the five UBlock factors by
            :func:`upsample_factors` (linked from ``data.features``; lmnt: 300).
        base_channels: width unit (even): the downsampling path has 1, 4, 4, 8, 16 units, the
            first mel convolution 24 and the UBlocks 16, 16, 8, 4, 4 (lmnt: 32).

    Raises:
        ValueError: a size is not positive, ``base_channels`` is odd, or the hop cannot be
            split into five factors.

    Attributes:
        size_limits: the largest arguments a stored spec or checkpoint may ask for
            (:mod:`vocfw.core.bounds`): at most 64.8 million parameters.
    """

    time_input = "noise_level"
    size_limits: ClassVar[dict[str, int]] = {
        "n_mels": FEATURE_LIMITS["n_mels"], "hop_length": FEATURE_LIMITS["hop_length"],
        "base_channels": 64}

    def __init__(
        self,
        n_mels: int = MelConfig.n_mels,
        hop_length: int = MelConfig.hop_length,
        base_channels: int = 32,
    ) -> None:
        super().__init__()
        if n_mels <= 0:
            raise ValueError(f"model.n_mels must be positive, got {n_mels}")
        if base_channels <= 0 or base_channels % 2:
            raise ValueError(f"model.base_channels must be a positive even number, got "
                             f"{base_channels}")
        self.n_mels, self.hop_length = n_mels, hop_length
        self.factors = upsample_factors(hop_length)
        down = [base_channels * w for w in DOWN_WIDTHS]
        up = [base_channels * w for w in UP_WIDTHS]
        self.downsample = nn.ModuleList([conv1d(1, down[0], 5)])
        self.downsample.extend(DBlock(down[i - 1], down[i], self.factors[-i])
                               for i in range(1, NUM_FACTORS))
        self.film = nn.ModuleList(FiLM(down[i], up[-1 - i]) for i in range(NUM_FACTORS))
        inputs = [base_channels * MEL_WIDTH, *up[:-1]]
        self.upsample = nn.ModuleList(
            UBlock(inputs[i], up[i], self.factors[i], UP_DILATIONS[i]) for i in range(NUM_FACTORS)
        )
        self.first_conv = conv1d(n_mels, inputs[0], 3)
        self.last_conv = conv1d(up[-1], 1, 3)

    @property
    def receptive_field(self) -> int:
        """Samples one output sample can depend on, bounded from above: 1 + 2 R, where R sums
        every convolution's reach (dilation x samples per element at its rate) and one element
        at each resampling, over both paths."""
        reach, rate = self.hop_length, self.hop_length  # first_conv at the frame rate
        for factor, dilations in zip(self.factors, UP_DILATIONS, strict=True):
            rate //= factor
            reach += rate * (factor + sum(dilations))  # repeat slack + kernel-3 convolutions
        reach += 1 + 2  # last_conv (kernel 3), the input convolution (kernel 5)
        for factor in self.factors[:0:-1]:
            reach += rate * 2  # FiLM's two kernel-3 convolutions at the rate before
            rate *= factor
            reach += rate * (1 + sum(DOWN_DILATIONS))  # subsampling slack + convolutions
        reach += rate * 2  # the last FiLM
        return 1 + 2 * reach

    def condition(self, mel: torch.Tensor) -> WaveGradCondition:
        """Run the mel path up to the first modulation, once per utterance.

        Args:
            mel: (B, M, T) log-mel spectrogram.

        Returns:
            The conditioning reused by :meth:`denoise` at every step.

        Raises:
            ValueError: ``mel`` is not 3-D or ``M`` differs from ``n_mels``.
        """
        self.check_mel(mel)
        residual, hidden = self.upsample[0].prepare(self.first_conv(mel))  # (B, C, N / f0)
        return WaveGradCondition(residual, hidden)

    def denoise(
        self, audio: torch.Tensor, level: torch.Tensor, condition: WaveGradCondition
    ) -> torch.Tensor:
        """Predict the noise in ``audio`` at noise level ``level``.

        Args:
            audio: (B, N) noisy waveform, N = T * hop_length.
            level: (B,) or (1,) noise levels sqrt(alpha_bar) of ``audio``.
            condition: what :meth:`condition` returned for the matching mel.

        Returns:
            (B, N) predicted noise.
        """
        x = audio.unsqueeze(1)  # (B, 1, N)
        films = []
        for layer, film in zip(self.downsample, self.film, strict=True):
            x = layer(x)  # (B, C_i, N / prod(factors[-i:]))
            films.append(film(x, level))
        x = self.upsample[0].finish(condition.residual, condition.hidden, *films[-1])
        for block, (shift, scale) in zip(self.upsample[1:], films[-2::-1], strict=True):
            x = block(x, shift, scale)  # (B, C, ...)
        return self.last_conv(x).squeeze(1)  # (B, N)
