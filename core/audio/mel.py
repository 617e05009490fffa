"""Mel-spectrogram features: one batched torch implementation for preprocessing, training and
inference, on CPU or GPU.

Two styles:

``recipe`` (default; the diffusion-vocoder recipe)
    Reflect-pad (n_fft - hop) / 2 samples on both sides, STFT with a periodic Hann window and
    ``center=False``, magnitude ``sqrt(re^2 + im^2 + 1e-9)``, librosa Slaney mel filters with
    Slaney area normalisation, natural log of ``clamp(x, 1e-5)``. T = floor(L / hop).

``lmnt`` (checkpoints of lmnt-com/diffwave and lmnt-com/wavegrad)
    Centred STFT (reflect padding n_fft / 2), window-normalised, magnitude, HTK mel filters
    without normalisation, then ``clamp((20 * log10(clamp(x, 1e-5)) - 20 + 100) / 100, 0, 1)``.
    T = floor(L / hop) + 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import librosa
import torch
import torchaudio
from torch import nn

from vocfw.core.errors import VocfwError

LOG_FLOOR = 1e-5
FEATURE_LIMITS = {"sample_rate": 192_000, "n_fft": 16_384, "hop_length": 4_096, "n_mels": 512}
"""The largest value of each feature size, so that no stored setting can ask for more than a
16,384-sample window and a filter bank of 512 x 8,193 values (``win_length`` is bounded by
``n_fft``, ``f_max`` by ``sample_rate``)."""


class FeatureError(VocfwError, ValueError):
    """Feature settings no extractor can use; the message names the setting."""


@dataclass(frozen=True)
class MelConfig:
    """Feature settings; saved with every checkpoint so inference rebuilds the same extractor.

    Args:
        sample_rate: audio sample rate in Hz.
        n_fft: FFT size.
        hop_length: samples between frames (also the model's upsampling factor).
        win_length: analysis window length.
        n_mels: mel bands.
        f_min: lowest mel-filter frequency in Hz.
        f_max: highest mel-filter frequency in Hz (``None``: sample_rate / 2).
        style: ``recipe`` (natural-log Slaney mel) or ``lmnt`` (lmnt-com/diffwave's [0, 1]
            dB-scaled HTK mel).

    Raises:
        FeatureError: a size not positive or above :data:`FEATURE_LIMITS`, a window longer
            than the FFT, an odd recipe padding, or frequencies outside
            ``0 <= f_min < f_max <= sample_rate / 2``.
    """

    sample_rate: int = 24000
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 100
    f_min: float = 0.0
    f_max: float | None = 12000.0
    style: Literal["recipe", "lmnt"] = "recipe"

    def __post_init__(self) -> None:
        for key in ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels"):
            value = getattr(self, key)
            if value <= 0:
                raise FeatureError(f"features.{key} must be positive, got {value}")
            if value > FEATURE_LIMITS.get(key, value):
                raise FeatureError(f"features.{key} must be at most {FEATURE_LIMITS[key]:,}, "
                                   f"got {value:,}")
        if self.win_length > self.n_fft:
            raise FeatureError(
                f"features.win_length ({self.win_length}) must not exceed n_fft ({self.n_fft})"
            )
        if self.style == "recipe" and (self.n_fft - self.hop_length) % 2:
            raise FeatureError("features: n_fft - hop_length must be even for the recipe padding")
        top = self.sample_rate / 2
        if not 0 <= self.f_min < (top if self.f_max is None else self.f_max) <= top:
            raise FeatureError(
                f"features.f_min and f_max must satisfy 0 <= f_min < f_max <= sample_rate / 2 "
                f"= {top}, got f_min={self.f_min}, f_max={self.f_max}"
            )

    @classmethod
    def lmnt(cls) -> MelConfig:
        """lmnt-com/diffwave's settings: 22.05 kHz, 80 bands, 20 Hz to 11.025 kHz."""
        return cls(sample_rate=22050, n_mels=80, f_min=20.0, f_max=None, style="lmnt")

    @classmethod
    def lmnt_wavegrad(cls) -> MelConfig:
        """lmnt-com/wavegrad's settings: the same mel at 22.05 kHz with hop 300, a window of
        4 hops (1200), the next power of two as FFT size (2048) and 128 bands."""
        return cls(sample_rate=22050, n_fft=2048, hop_length=300, win_length=1200, n_mels=128,
                   f_min=20.0, f_max=None, style="lmnt")

    @property
    def log_floor(self) -> float:
        """The feature value of digital silence (used to pad short clips)."""
        return float(torch.tensor(LOG_FLOOR).log()) if self.style == "recipe" else 0.0

    def num_frames(self, num_samples: int) -> int:
        """Frames the extractor makes from ``num_samples`` samples."""
        frames = num_samples // self.hop_length
        return frames + 1 if self.style == "lmnt" else frames

    def to_dict(self) -> dict:
        return asdict(self)


class MelSpectrogram(nn.Module):
    """Waveforms (B, L) or (L,) in [-1, 1] -> log-mel (B, M, T) or (M, T), float32."""

    def __init__(self, config: MelConfig) -> None:
        super().__init__()
        self.config = config
        f_max = config.f_max if config.f_max is not None else config.sample_rate / 2
        if config.style == "recipe":
            fb = librosa.filters.mel(
                sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                fmin=config.f_min, fmax=f_max,
            )
            filters = torch.from_numpy(fb).float()  # (M, F)
        else:
            filters = torchaudio.functional.melscale_fbanks(
                config.n_fft // 2 + 1, config.f_min, f_max, config.n_mels, config.sample_rate,
                norm=None, mel_scale="htk",
            ).T.contiguous()  # (M, F)
        self.register_buffer("filters", filters, persistent=False)
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        c = self.config
        single = audio.dim() == 1
        x = audio.float().reshape(-1, audio.shape[-1])  # (B, L)
        if c.style == "recipe":
            pad = (c.n_fft - c.hop_length) // 2
            x = nn.functional.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            x, c.n_fft, hop_length=c.hop_length, win_length=c.win_length, window=self.window,
            center=c.style == "lmnt", pad_mode="reflect", normalized=False, onesided=True,
            return_complex=True,
        )  # (B, F, T)
        if c.style == "recipe":
            mag = torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9)
            mel = torch.log(torch.clamp(self.filters @ mag, min=LOG_FLOOR))  # (B, M, T)
        else:
            mag = spec.abs() / self.window.square().sum().sqrt()
            db = 20 * torch.log10(torch.clamp(self.filters @ mag, min=LOG_FLOOR)) - 20
            mel = torch.clamp((db + 100) / 100, 0.0, 1.0)
        return mel[0] if single else mel
