"""Mel-cepstral distortion as vocoder papers compute it: SPTK mel-cepstra, DTW, c0 excluded.

Settings (every value below is a module constant):

- frames of 25 ms every 5 ms, centred (the signal is zero-padded by half a frame at both ends),
  Blackman window scaled to unit energy (``pysptk.blackman``), FFT of the next power of two at
  or above the frame length;
- power spectrum floored at ``1e-10``, converted to a mel-cepstrum of order 24 (c0..c24) with
  ``pysptk.sp2mc`` and the all-pass constant ``pysptk.util.mcepalpha(sample_rate)`` (0.41 at
  16 kHz, 0.455 at 22.05 kHz, 0.466 at 24 kHz);
- c0 (energy) dropped; frames aligned by dynamic time warping on the Euclidean distance of
  c1..c24 (steps (1, 0), (0, 1), (1, 1), equal weights, the whole path from the first frame
  pair to the last);
- ``MCD = (10 / ln 10) * sqrt(2 * sum_d (c_d - c'_d)^2)`` dB, averaged over the frame pairs of
  the path.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.spatial.distance import cdist

with warnings.catch_warnings():  # pysptk 1.0.1 imports the deprecated pkg_resources
    warnings.simplefilter("ignore")
    import pysptk

FRAME_SECONDS = 0.025
HOP_SECONDS = 0.005
ORDER = 24
POWER_FLOOR = 1e-10
DB_PER_NEPER = 10.0 / math.log(10.0)


def frame_settings(sample_rate: int) -> tuple[int, int, int]:
    """(frame length, hop, FFT size) in samples at ``sample_rate``."""
    frame = round(FRAME_SECONDS * sample_rate)
    return frame, round(HOP_SECONDS * sample_rate), 1 << (frame - 1).bit_length()


def mel_cepstrum(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(L,) waveform -> (T, ORDER) mel-cepstrum c1..c24 (c0 dropped), T = 1 + L // hop."""
    frame, hop, n_fft = frame_settings(sample_rate)
    padded = np.pad(np.asarray(audio, dtype=np.float64), frame // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]  # (T, frame)
    spectrum = np.fft.rfft(frames * pysptk.blackman(frame), n_fft)  # (T, n_fft // 2 + 1)
    power = np.maximum(spectrum.real**2 + spectrum.imag**2, POWER_FLOOR)
    mc = pysptk.sp2mc(power, ORDER, pysptk.util.mcepalpha(sample_rate))  # (T, ORDER + 1)
    return mc[:, 1:]


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic path through an (N, M) cost matrix from (0, 0) to (N-1, M-1),
    with steps (1, 0), (0, 1) and (1, 1) of equal weight (ties prefer the diagonal step).

    Returns:
        (P,) row indices and (P,) column indices of the path, in order.
    """
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)  # acc[i, j]: cheapest path ending at cell (i-1, j-1)
    acc[0, 0] = 0.0
    for k in range(2, n + m + 1):  # anti-diagonal i + j = k: depends on diagonals k-1, k-2
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        best = np.minimum(acc[i - 1, j - 1], np.minimum(acc[i - 1, j], acc[i, j - 1]))
        acc[i, j] = cost[i - 1, j - 1] + best
    rows, cols = [n - 1], [m - 1]
    i, j = n, m
    while (i, j) != (1, 1):
        steps = ((i - 1, j - 1), (i - 1, j), (i, j - 1))
        i, j = min(steps, key=lambda cell: acc[cell])  # first minimum: the diagonal on ties
        rows.append(i - 1)
        cols.append(j - 1)
    return np.array(rows[::-1]), np.array(cols[::-1])


def mel_cepstral_distortion(
    reference: np.ndarray, generated: np.ndarray, sample_rate: int, align: bool = True
) -> float:
    """Mel-cepstral distortion in dB (settings in the module docstring).

    Args:
        reference: (L,) reference waveform.
        generated: (L',) generated waveform (any length when ``align``).
        sample_rate: rate of both.
        align: align frames by DTW; otherwise frame t is compared with frame t (the shorter
            length is used).
    """
    ref, gen = mel_cepstrum(reference, sample_rate), mel_cepstrum(generated, sample_rate)
    if align:
        rows, cols = dtw_path(cdist(ref, gen))
        ref, gen = ref[rows], gen[cols]  # (P, ORDER) each
    else:
        length = min(len(ref), len(gen))
        ref, gen = ref[:length], gen[:length]
    per_frame = np.sqrt(2.0 * np.sum((ref - gen) ** 2, axis=1))  # (P,)
    return float(DB_PER_NEPER * np.mean(per_frame))
