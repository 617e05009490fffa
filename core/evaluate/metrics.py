"""Objective vocoder metrics, one small function each.

Every function takes a reference and a generated waveform of the same length, (L,) float in
[-1, 1] at ``sample_rate``, and raises on failure (the caller records NaN and a note): a
:class:`MetricError` where the pair has no value for the metric, or the library's own error.

| metric | ideal | definition |
|---|---|---|
| ``pesq`` | 4.64 | ITU-T P.862.2 wide band, both signals resampled to 16 kHz (``pesq``) |
| ``stoi`` / ``estoi`` | 1 | short-time (extended) objective intelligibility (``pystoi``) |
| ``mstft`` | 0 | multi-resolution STFT distance: spectral convergence + log-magnitude L1,
  averaged over FFT 1024/2048/512, hop 120/240/50, Hann window 600/1200/240 |
| ``mcd`` | 0 | mel-cepstral distortion in dB with DTW: :mod:`vocfw.core.evaluate.mcd` |
| ``f0_rmse`` | 0 | RMSE in Hz of pYIN F0 over frames voiced in both |
| ``vuv_f1`` | 1 | F1 of the generated voicing decisions against the reference's |
| ``mel_l1`` | 0 | mean absolute difference of the recipe log-mel spectrograms |
"""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np
import torch
from pesq import PesqError, pesq
from pystoi import stoi as _stoi

from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.errors import VocfwError

PESQ_RATE = 16000
STFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
STFT_EPS = 1e-8
PITCH_RATE = 16000
PITCH_HOP = 160
PITCH_FRAME = 1024
F0_MIN, F0_MAX = 50.0, 1100.0
PITCH_RESOLUTION = 0.2


class MetricError(VocfwError, ValueError):
    """A pair of waveforms on which a metric has no value (silence, no voiced frame)."""


def pesq_wb(reference: np.ndarray, generated: np.ndarray, sample_rate: int) -> float:
    """Wide-band PESQ (MOS-LQO, about 1.04 to 4.64) at 16 kHz.

    Raises:
        MetricError: a signal is digital silence.
        PesqError: no speech found, or a signal too short.
    """
    if not (np.any(reference) and np.any(generated)):
        raise MetricError("a signal is digital silence")
    ref = librosa.resample(reference, orig_sr=sample_rate, target_sr=PESQ_RATE)
    deg = librosa.resample(generated, orig_sr=sample_rate, target_sr=PESQ_RATE)
    return float(pesq(PESQ_RATE, ref, deg, "wb", on_error=PesqError.RAISE_EXCEPTION))


def stoi(reference: np.ndarray, generated: np.ndarray, sample_rate: int) -> float:
    """Short-time objective intelligibility, 0 to 1."""
    return float(_stoi(reference, generated, sample_rate, extended=False))


def estoi(reference: np.ndarray, generated: np.ndarray, sample_rate: int) -> float:
    """Extended short-time objective intelligibility, 0 to 1."""
    return float(_stoi(reference, generated, sample_rate, extended=True))


def _magnitude(audio: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """(L,) -> (F, T) STFT magnitude with a Hann window, floored at ``STFT_EPS``."""
    spec = torch.stft(audio, n_fft, hop_length=hop, win_length=win,
                      window=torch.hann_window(win, dtype=audio.dtype), return_complex=True)
    return torch.sqrt(torch.clamp(spec.real.square() + spec.imag.square(), min=STFT_EPS))


def mstft_distance(reference: np.ndarray, generated: np.ndarray) -> float:
    """Multi-resolution STFT distance: per resolution, spectral convergence plus the mean L1
    distance of log magnitudes; the mean over the three resolutions."""
    ref = torch.from_numpy(np.asarray(reference, dtype=np.float32))
    gen = torch.from_numpy(np.asarray(generated, dtype=np.float32))
    total = 0.0
    for n_fft, hop, win in STFT_RESOLUTIONS:
        ref_mag, gen_mag = _magnitude(ref, n_fft, hop, win), _magnitude(gen, n_fft, hop, win)
        convergence = torch.linalg.norm(ref_mag - gen_mag) / torch.linalg.norm(ref_mag)
        log_l1 = torch.mean(torch.abs(torch.log(ref_mag) - torch.log(gen_mag)))
        total += float(convergence + log_l1)
    return total / len(STFT_RESOLUTIONS)


def pitch_track(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """pYIN F0 at 16 kHz, 10 ms hop, 50 to 1100 Hz, 0.2-semitone bins.

    Returns:
        (T,) F0 in Hz (NaN where unvoiced) and (T,) boolean voicing.
    """
    audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=PITCH_RATE)
    f0, voiced, _ = librosa.pyin(audio, fmin=F0_MIN, fmax=F0_MAX, sr=PITCH_RATE,
                                 frame_length=PITCH_FRAME, hop_length=PITCH_HOP,
                                 resolution=PITCH_RESOLUTION)
    return f0, voiced.astype(bool)


def f0_rmse(
    reference: tuple[np.ndarray, np.ndarray], generated: tuple[np.ndarray, np.ndarray]
) -> float:
    """F0 RMSE in Hz over frames voiced in both tracks (from :func:`pitch_track`).

    Raises:
        MetricError: no frame is voiced in both.
    """
    (ref_f0, ref_voiced), (gen_f0, gen_voiced) = reference, generated
    both = ref_voiced & gen_voiced
    if not both.any():
        raise MetricError("no frame is voiced in both signals")
    return float(np.sqrt(np.mean((ref_f0[both] - gen_f0[both]) ** 2)))


def vuv_f1(reference: np.ndarray, generated: np.ndarray) -> float:
    """F1 of the generated voicing against the reference's, TP / (TP + (FP + FN) / 2).

    Raises:
        MetricError: neither signal has a voiced frame.
    """
    tp = int(np.sum(reference & generated))
    errors = int(np.sum(reference != generated))
    if tp + errors == 0:
        raise MetricError("no voiced frame in either signal")
    return tp / (tp + errors / 2)


@lru_cache(maxsize=4)
def _recipe_mel(sample_rate: int) -> MelSpectrogram:
    """The recipe's mel extractor at ``sample_rate`` (f_max capped at the Nyquist frequency)."""
    return MelSpectrogram(MelConfig(sample_rate=sample_rate, f_max=min(12000.0, sample_rate / 2)))


def log_mel_l1(reference: np.ndarray, generated: np.ndarray, sample_rate: int) -> float:
    """Mean absolute difference of the recipe log-mel spectrograms (100 bands, up to 12 kHz)."""
    extractor = _recipe_mel(sample_rate)
    with torch.inference_mode():
        ref = extractor(torch.from_numpy(np.asarray(reference, dtype=np.float32)))  # (M, T)
        gen = extractor(torch.from_numpy(np.asarray(generated, dtype=np.float32)))  # (M, T)
    return float(torch.mean(torch.abs(ref - gen)))
