"""FrameWave: a frame-rate (STFT-domain) flow-matching vocoder network.

The noisy waveform is taken to the STFT domain with one frame per mel frame (n_fft = 4 x hop by
default, Hann window, the recipe mel's framing), its real and imaginary parts are projected to
C channels and added to an embedding of the mel (computed once per utterance by
:meth:`FrameWave.condition`), a stack of ConvNeXt blocks (Vocos's backbone; RFWave's for its
rectified flow) runs over the T frames with the flow time modulating every block's LayerNorm,
and a linear head returns, per frame and bin, a log-magnitude and a phase (Vocos's head) and a
gain on the input's spectrum; the spectrum so given plus the input's spectrum times the gains,
back through the exact inverse STFT, is the network's output F. The phase is either absolute
(Vocos) or relative to the input's phase in that bin (``phase="relative"``, the default): the
given spectrum is the input's unit phasor turned by the head's phase and scaled by its
magnitude.

A C-channel frame cannot carry the 2F = 1026 numbers of a frame of noise through to the output,
yet the velocity x - z of a flow from noise is mostly that noise (speech has a tenth of its
RMS). So the velocity is the Gaussian-optimal one plus a scaled correction (the
preconditioning of Karras et al., 2022, for this path): for unit noise and data of RMS s,

    v = c_skip(t) x_t + c_out(t) F,   c_skip = (t s^2 - (1 - t)) / d,   c_out = s / sqrt(d),
    d = (1 - t)^2 + t^2 s^2,

where c_skip x_t is E[x - z | x_t] and c_out^2 its residual variance when the data are white
noise of RMS s, and the per-bin gains let F filter x_t itself (Wiener-like) where the mel says
speech is. On the demo corpus after 600 training steps (log-mel L1 of 4-step samples, lower
is better): a plain complex head 3.70, with the preconditioning and gains 1.89; a
magnitude-and-phase spectrum instead of real and imaginary parts 1.72 (1.22 against 1.48 with
the sampler's spectral loss), because the magnitude's logarithm spans the spectrum's range.

Relative phase: a head must give each bin a phase that advances from frame to frame as the
bin's frequency does, or the harmonics of voiced speech smear into noise; an absolute phase
that the head can only learn slowly is nearly the same in every frame, so every frame emits
nearly the same waveform and the output carries a comb at multiples of sample_rate / hop.
Turning the input's phase instead inherits whatever coherence the flow's state already has:
in the demo's budget (2,000 steps, mel-energy prior, 2 Euler steps, six held-out clips) it
scored a log-mel L1 of 0.78 against 0.93, STOI 0.81 against 0.72, and pYIN's voicing F1 0.54
against 0 (harmonics visible in the spectrogram, none with the absolute phase).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from vocfw.core.audio.mel import FEATURE_LIMITS, MelConfig
from vocfw.core.model import Vocoder
from vocfw.plugins.models.framewave_blocks import ConvNeXtBlock, FrameSTFT, TimeEmbedding

INITIAL_LOG_MAGNITUDE = -4.0  # the head's spectrum starts about 30 dB below unit-noise bins
MAX_MAGNITUDE = 100.0  # Vocos's clamp of the head's magnitudes
PHASOR_FLOOR = 1e-12  # squared magnitude below which an input bin counts as silent


class FrameWave(Vocoder):
    """A ConvNeXt flow-matching vocoder over STFT frames (time input: the flow time in [0, 1]).

    At the defaults (24 kHz, hop 256, 100 mels): 4.1 M parameters and 0.57 GFLOP per second of
    audio per network pass, so 4 Euler steps vocode a second of audio in about 0.05 CPU
    seconds on one AVX2 core.

    Args:
        n_mels: mel bands of the conditioning spectrogram (linked from ``data.features``).
        hop_length: samples per mel frame, and the STFT's hop (linked from ``data.features``).
        channels: width C of the backbone.
        hidden: width of each block's pointwise MLP (ConvNeXt: 3 x C).
        layers: ConvNeXt blocks.
        kernel_size: odd kernel (frames) of the mel embedding and of each block's depthwise
            convolution.
        n_fft: STFT size (``None``: 4 x hop_length); at least 2 x hop_length, and
            ``n_fft - hop_length`` even.
        data_std: RMS s of the training waveforms that the velocity's preconditioning assumes
            (the flow starts from unit noise); speech normalised to peak 0.5-0.95 has about 0.1.
        phase: the head's phase: ``relative`` to the input spectrum's phase in each bin, or
            ``absolute`` (Vocos's; see the module description for the measured difference).

    Raises:
        ValueError: a size or ``data_std`` that is not positive, an even kernel, an unusable
            ``n_fft``, or an unknown ``phase``.
    """

    time_input = "flow_time"
    size_limits: ClassVar[dict[str, int]] = {
        "n_mels": FEATURE_LIMITS["n_mels"], "hop_length": FEATURE_LIMITS["hop_length"],
        "channels": 512, "hidden": 2048, "layers": 12, "kernel_size": 31,
        "n_fft": FEATURE_LIMITS["n_fft"]}
    """The largest arguments a stored spec may ask for (:mod:`vocfw.core.bounds`): at most
    about 62 million parameters."""

    def __init__(
        self,
        n_mels: int = MelConfig.n_mels,
        hop_length: int = MelConfig.hop_length,
        channels: int = 256,
        hidden: int = 768,
        layers: int = 6,
        kernel_size: int = 7,
        n_fft: int | None = None,
        data_std: float = 0.1,
        phase: Literal["relative", "absolute"] = "relative",
    ) -> None:
        super().__init__()
        n_fft = 4 * hop_length if n_fft is None else n_fft
        _check_sizes(n_mels=n_mels, hop_length=hop_length, channels=channels, hidden=hidden,
                     layers=layers, kernel_size=kernel_size, n_fft=n_fft)
        if not data_std > 0.0:
            raise ValueError(f"model.data_std must be positive, got {data_std}")
        if phase not in ("relative", "absolute"):
            raise ValueError(f"model.phase must be 'relative' or 'absolute', got {phase!r}")
        self.relative_phase = phase == "relative"
        self.n_mels, self.hop_length, self.data_std = n_mels, hop_length, data_std
        self.channels, self.kernel_size = channels, kernel_size
        self.stft = FrameSTFT(n_fft, hop_length)
        spectrum = 2 * self.stft.bins  # real and imaginary parts
        self.mel_embedding = nn.Conv1d(n_mels, channels, kernel_size, padding=kernel_size // 2)
        self.input = nn.Linear(spectrum, channels)
        self.input_norm = nn.LayerNorm(channels, eps=1e-6)
        self.time_embedding = TimeEmbedding(channels)
        self.modulation = nn.Linear(channels, layers * 2 * channels)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(channels, hidden, kernel_size, 1.0 / layers) for _ in range(layers))
        self.output_norm = nn.LayerNorm(channels, eps=1e-6)
        self.head = nn.Linear(channels, 3 * self.stft.bins)  # log-magnitude, phase, gain
        self.apply(_initialise)
        nn.init.zeros_(self.modulation.weight)  # blocks start unmodulated
        nn.init.zeros_(self.head.weight[spectrum:])  # gains start at 0 and magnitudes at e^-4
        nn.init.constant_(self.head.bias[: self.stft.bins], INITIAL_LOG_MAGNITUDE)

    @property
    def receptive_field(self) -> int:
        """Samples one output sample depends on (exact): the larger of the two spans below.

        The blocks see K = layers x (kernel - 1) / 2 frames either side. An output sample lies
        in the windows of up to ceil(n_fft / hop) frames, each of which depends on K frames
        either side, whose windows span 2 K hop + 2 n_fft - 1 input samples; and on the mel
        frames K + (kernel - 1) / 2 either side of those frames (the mel embedding's kernel
        adds its own half), (ceil(n_fft / hop) + 2 K + kernel - 1) hops of samples, the larger
        of the two at the defaults (tested against measured spans).
        """
        half = self.kernel_size // 2
        frames = len(self.blocks) * half
        n_fft, hop = self.stft.n_fft, self.hop_length
        audio_span = 2 * frames * hop + 2 * n_fft - 1
        mel_span = (-(-n_fft // hop) + 2 * (frames + half)) * hop
        return max(audio_span, mel_span)

    def condition(self, mel: torch.Tensor) -> torch.Tensor:
        """Embed a mel once per utterance.

        Args:
            mel: (B, M, T) log-mel spectrogram.

        Returns:
            (B, T, C) mel embedding, added to every pass's STFT embedding.

        Raises:
            ValueError: ``mel`` is not 3-D or ``M`` differs from ``n_mels``.
        """
        self.check_mel(mel)
        return self.mel_embedding(mel).transpose(1, 2)  # (B, T, C)

    def denoise(self, audio: torch.Tensor, time: torch.Tensor,
                condition: torch.Tensor) -> torch.Tensor:
        """Predict the flow's velocity at ``audio``.

        Args:
            audio: (B, N) waveform on the flow at ``time``, N = T * hop_length.
            time: (B,) or (1,) flow times in [0, 1] (0 noise, 1 data).
            condition: (B, T, C), what :meth:`condition` returned for the matching mel.

        Returns:
            (B, N) velocity, float32 (float64 for float64 input).

        Raises:
            ValueError: ``audio`` is not T * hop_length samples long.
        """
        frames = condition.shape[1]
        if audio.shape[-1] != frames * self.hop_length:
            raise ValueError(f"FrameWave: audio of {audio.shape[-1]} samples for a mel of "
                             f"{frames} frames (expected {frames * self.hop_length})")
        spec = self.stft(audio)  # (B, T, 2F)
        x = self.input_norm(self.input(spec) + condition)  # (B, T, C)
        embedding = F.silu(self.time_embedding(time))  # (B, C)
        modulation = self.modulation(embedding).unflatten(-1, (len(self.blocks), 1, -1))
        for i, block in enumerate(self.blocks):
            x = block(x, modulation[:, i])  # (B, T, C); modulation (B, 1, 2C)
        log_magnitude, phase, gain = self.head(self.output_norm(x)).to(spec).chunk(3, dim=-1)
        magnitude = log_magnitude.exp().clamp(max=MAX_MAGNITUDE)  # (B, T, F)
        given = self.spectrum(magnitude, phase, spec)  # (B, T, 2F)
        correction = self.stft.inverse(given + gain.repeat(1, 1, 2) * spec)  # (B, N)
        skip, scale = flow_preconditioning(time, self.data_std)  # (B or 1, 1) each
        return skip.to(correction) * audio.to(correction) + scale.to(correction) * correction

    def spectrum(self, magnitude: torch.Tensor, phase: torch.Tensor,
                 spec: torch.Tensor) -> torch.Tensor:
        """The head's spectrum: (B, T, F) magnitudes and phases, absolute or turning the unit
        phasors of the (B, T, 2F) input spectrum ``spec`` -> (B, T, 2F) real, imaginary parts."""
        cos, sin = phase.cos(), phase.sin()  # (B, T, F)
        if self.relative_phase:
            real, imag = spec.chunk(2, dim=-1)  # (B, T, F) each
            norm = (real.square() + imag.square()).clamp(min=PHASOR_FLOOR).sqrt()
            real, imag = real / norm, imag / norm  # unit phasors, shrinking in silent bins
            cos, sin = cos * real - sin * imag, sin * real + cos * imag
        return torch.cat([magnitude * cos, magnitude * sin], dim=-1)


def flow_preconditioning(time: torch.Tensor, data_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """c_skip(t) and c_out(t) of the velocity (see the module description).

    Args:
        time: (B,) or (1,) flow times in [0, 1].
        data_std: RMS s of the data.

    Returns:
        (B, 1) or (1, 1) c_skip and c_out, in float32 (float64 for float64 times).
    """
    t = time.to(torch.promote_types(time.dtype, torch.float32)).reshape(-1, 1)
    variance = (1.0 - t).square() + (t * data_std).square()  # Var(x_t)
    return (t * data_std**2 - (1.0 - t)) / variance, data_std / variance.sqrt()


def _initialise(module: nn.Module) -> None:
    """Vocos's initialisation: truncated normal (std 0.02) weights and zero biases for
    convolutions and linear layers."""
    if isinstance(module, nn.Conv1d | nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)


def _check_sizes(**sizes: int) -> None:
    """Refuse sizes FrameWave cannot be built with, naming the option."""
    for key, value in sizes.items():
        if value <= 0:
            raise ValueError(f"model.{key} must be positive, got {value}")
    if sizes["kernel_size"] % 2 == 0:
        raise ValueError(f"model.kernel_size must be odd, got {sizes['kernel_size']}")
    n_fft, hop = sizes["n_fft"], sizes["hop_length"]
    if n_fft < 2 * hop or (n_fft - hop) % 2:
        raise ValueError(f"model.n_fft must be at least 2 x hop_length ({2 * hop}) with "
                         f"n_fft - hop_length even, got n_fft={n_fft}, hop_length={hop}")
