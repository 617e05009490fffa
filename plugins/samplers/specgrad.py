"""SpecGrad (Koizumi et al., Interspeech 2022): DDPM whose noise follows the time-varying
spectral envelope of the conditioning mel (adaptive noise spectral shaping).

Standard normal noise z is shaped by a time-varying filter in the STFT domain of the features
(their FFT size, hop, window length and Hann window)::

    noise = L z,   L = G^+ diag(H) G

with G the STFT, G^+ its inverse (overlap-add) and H[k, t] the filter of bin k in frame t,
computed from the log-mel of frame t alone:

1. the mel magnitudes spread back to linear frequency: a bin gets the mean, weighted by the mel
   filters covering it, of the bands' flat-spectrum levels (band magnitude / filter area sum);
2. the real cepstrum of that spectrum kept to its first ``lifter`` coefficients (the spectral
   envelope) and turned into a minimum-phase response;
3. its magnitude divided by the RMS magnitude unit white noise has in one bin (the window's
   L2 norm) and by ``level_max``, then clamped to [gain_min, 1] (phase kept).

The loss is SpecGrad's, the noise-prediction error whitened by the approximate inverse filter
L^-1 = G^+ diag(1 / H) G: mean((L^-1 (prediction - noise))^2). The filter depends on each frame
alone, so a chunk of a long input is shaped by its own frames' filters, the slice of the whole
input's (its edges lie inside the cross-faded overlap).
"""

from __future__ import annotations

from typing import Literal

import torch

from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.diffusion import BETA_END, BETA_START, NUM_STEPS, Prior
from vocfw.core.model import Vocoder
from vocfw.core.sampler import time_for
from vocfw.plugins.samplers.ddpm import DDPM


class SpecGrad(DDPM):
    """DDPM with SpecGrad's spectrally shaped prior N(0, L L^T) and its whitened L2 loss.

    Args:
        beta_start: first training beta.
        beta_end: last training beta.
        num_steps: training steps (betas = linspace(beta_start, beta_end, num_steps)).
        inference_schedule: ``full`` (the training betas), ``fast`` (6 betas 1e-4, 1e-3,
            1e-2, 0.05, 0.2, 0.5), ``fast12`` (12 betas) or an explicit list of betas.
        eta: 1 samples ancestrally, 0 deterministically with DDIM's update (see DDPM).
        lifter: cepstral coefficients kept for the envelope (SpecGrad: 24); ``None`` keeps
            them all, so the filter follows the mel's own resolution.
        gain_min: floor of the filter's magnitude (the prior's least standard deviation per
            bin, relative to unit white noise).
        level_max: the level that maps to gain 1: a bin's magnitude as spread from the mel,
            over the RMS bin magnitude of unit white noise (white noise of standard deviation
            s has level about 0.89 s); louder bins are clipped to it.

    Raises:
        ValueError: bad betas or schedule, ``lifter < 1``, ``gain_min`` outside (0, 1] or
            ``level_max <= 0``.
    """

    process = "specgrad"

    def __init__(
        self,
        beta_start: float = BETA_START,
        beta_end: float = BETA_END,
        num_steps: int = NUM_STEPS,
        inference_schedule: Literal["full", "fast", "fast12"] | list[float] = "full",
        eta: float = 1.0,
        lifter: int | None = 24,
        gain_min: float = 0.1,
        level_max: float = 0.3,
    ) -> None:
        super().__init__(beta_start, beta_end, num_steps, inference_schedule, eta)
        if lifter is not None and lifter < 1:
            raise ValueError(f"sampler.lifter must be at least 1 (or null), got {lifter}")
        if not 0.0 < gain_min <= 1.0:
            raise ValueError(f"sampler.gain_min must lie in (0, 1], got {gain_min}")
        if not level_max > 0.0:
            raise ValueError(f"sampler.level_max must be positive, got {level_max}")
        self.lifter, self.gain_min, self.level_max = lifter, gain_min, level_max
        self.use_features(MelConfig())

    def process_settings(self) -> dict[str, float | None]:
        """The prior's settings: a model is sampled with the prior it was trained with."""
        return {"lifter": self.lifter, "gain_min": self.gain_min, "level_max": self.level_max}

    def use_features(self, features: MelConfig) -> None:
        """Take the STFT and mel filters of the features the model is conditioned on.

        Raises:
            ValueError: the features are not natural-log mels (``recipe`` style), or the
                lifter does not fit their FFT size.
        """
        if features.style != "recipe":
            raise ValueError(f"SpecGrad reads natural-log mel magnitudes (features.style "
                             f"'recipe'), got features.style {features.style!r}")
        if self.lifter is not None and self.lifter >= features.n_fft // 2:
            raise ValueError(f"sampler.lifter ({self.lifter}) must be below n_fft / 2 "
                             f"({features.n_fft // 2})")
        extractor = MelSpectrogram(features)
        filters = extractor.filters  # (M, F)
        self.features, self.window = features, extractor.window
        self.band_level = 1.0 / filters.sum(dim=1).clamp(min=1e-12)  # (M,)
        coverage = filters.sum(dim=0)  # (F,)
        # (F, M): bin <- weighted mean of the bands covering it; bins no band covers take
        # the nearest band's level
        spread = filters.T / coverage.clamp(min=1e-12).unsqueeze(1)
        nearest = filters.argmax(dim=0)  # (F,)
        for k in torch.nonzero(coverage == 0).flatten().tolist():
            spread[k, int(nearest[k])] = 1.0
        self.spread = spread
        self.white = float(self.window.square().sum().sqrt())  # RMS |STFT bin| of unit white noise

    def filter(self, mel: torch.Tensor) -> torch.Tensor:
        """The shaping filter H of every frame.

        Args:
            mel: (B, M, T) natural-log mel spectrograms.

        Returns:
            (B, F, T) complex minimum-phase responses with magnitudes in [gain_min, 1].
        """
        if mel.shape[1] != self.spread.shape[1]:
            raise ValueError(f"SpecGrad: expected {self.spread.shape[1]} mel bands (its "
                             f"features), got a mel of {mel.shape[1]}")
        level = mel.float().exp() * self.band_level.to(mel.device).unsqueeze(1)  # (B, M, T)
        spectrum = self.spread.to(mel.device) @ level  # (B, F, T)
        n_fft = self.features.n_fft
        cepstrum = torch.fft.irfft(spectrum.clamp(min=1e-12).log(), n=n_fft, dim=1)  # (B, n, T)
        keep = n_fft // 2 if self.lifter is None else self.lifter
        fold = torch.zeros(n_fft, device=mel.device)  # minimum-phase folding and lifter
        fold[0], fold[1:keep] = 1.0, 2.0
        if keep == n_fft // 2:
            fold[keep] = 1.0
        response = torch.fft.rfft(cepstrum * fold.unsqueeze(1), dim=1).exp()  # (B, F, T)
        magnitude = response.abs()
        gain = (magnitude / (self.white * self.level_max)).clamp(self.gain_min, 1.0)
        return response * (gain / magnitude)

    def _apply(self, signal: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
        """G^+ diag(response) G: (B, N) signal, (B, F, T) response -> (B, N)."""
        f = self.features
        window = self.window.to(signal.device)
        spec = torch.stft(signal, f.n_fft, f.hop_length, f.win_length, window,
                          center=True, return_complex=True)  # (B, F, T + 1)
        frames = spec.shape[-1]
        response = torch.cat([response, response[..., -1:]], dim=-1)[..., :frames]
        return torch.istft(spec * response, f.n_fft, f.hop_length, f.win_length, window,
                           center=True, length=signal.shape[-1])  # (B, N)

    def prior(self, mel: torch.Tensor, hop_length: int) -> Prior:
        """Shapes (B, N) standard normal noise into the prior's: L z."""
        response = self.filter(mel)  # (B, F, T)
        return lambda noise: self._apply(noise, response)

    def training_loss(
        self,
        model: Vocoder,
        audio: torch.Tensor,
        mel: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """SpecGrad's loss: mean((L^-1 (prediction - noise))^2), noise = L z.

        Args:
            model: the network being trained.
            audio: (B, N) clean waveform in [-1, 1].
            mel: (B, M, T) its log-mel spectrogram.
            generator: source of the steps and noise (on ``audio``'s device).

        Returns:
            A scalar loss.
        """
        response = self.filter(mel)  # (B, F, T)
        step, level, noise, noisy = self.diffuse(
            audio, lambda z: self._apply(z, response), generator)
        predicted = model(noisy, time_for(model, step, level**0.5), mel)  # (B, N)
        return self._apply(predicted - noise, 1.0 / response).square().mean()
