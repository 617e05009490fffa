"""Mel-cepstral distortion: zero against itself, DTW absorbs a time shift, grows with
distortion, and agrees with an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vocfw.core.demo_audio import speechlike
from vocfw.core.evaluate import mcd

RATE = 16000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """1.5 s of speech-like audio followed by 0.1 s of silence."""
    return np.concatenate([speechlike(1.5, RATE, seed=4), np.zeros(RATE // 10, np.float32)])


def test_a_signal_against_itself_scores_zero(speech: np.ndarray) -> None:
    assert mcd.mel_cepstral_distortion(speech, speech, RATE) == 0.0
    assert mcd.mel_cepstral_distortion(speech, speech, RATE, align=False) == 0.0


def test_dtw_absorbs_a_time_shift(speech: np.ndarray) -> None:
    _, hop, _ = mcd.frame_settings(RATE)
    shifted = np.concatenate([np.zeros(4 * hop, np.float32), speech])[: speech.size]
    aligned = mcd.mel_cepstral_distortion(speech, shifted, RATE)
    unaligned = mcd.mel_cepstral_distortion(speech, shifted, RATE, align=False)
    assert aligned < 0.05 and unaligned > 2.0, (aligned, unaligned)


def test_more_distortion_scores_higher(speech: np.ndarray) -> None:
    noise = np.random.default_rng(0).standard_normal(speech.size).astype(np.float32)
    scores = [mcd.mel_cepstral_distortion(speech, speech + level * noise, RATE)
              for level in (0.001, 0.01, 0.05)]
    assert 0 < scores[0] < scores[1] < scores[2], scores


def _independent_mcep(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """c1..c24 by sampling the log amplitude spectrum on the all-pass-warped frequency axis and
    taking its cosine series (no pysptk), with the same frames."""
    frame, hop, n_fft = mcd.frame_settings(sample_rate)
    alpha = {16000: 0.41}[sample_rate]
    padded = np.pad(audio.astype(np.float64), frame // 2)
    window = 0.42 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / (frame - 1)) + 0.08 * np.cos(
        4 * np.pi * np.arange(frame) / (frame - 1))  # Blackman
    window /= np.sqrt(np.sum(window**2))  # unit power
    grid = (np.arange(8192) + 0.5) * np.pi / 8192  # warped frequencies beta
    omega = grid - 2 * np.arctan(alpha * np.sin(grid) / (1 + alpha * np.cos(grid)))
    bins = np.linspace(0, np.pi, n_fft // 2 + 1)
    out = []
    for start in range(0, audio.size + 1, hop):
        if start + frame > padded.size:
            break
        power = np.abs(np.fft.rfft(padded[start:start + frame] * window, n_fft)) ** 2
        log_amplitude = 0.5 * np.log(np.maximum(power, 1e-10))
        warped = np.interp(omega, bins, log_amplitude)
        out.append([2 / 8192 * np.sum(warped * np.cos(m * grid)) for m in range(1, 25)])
    return np.array(out)


def _independent_dtw_mcd(ref: np.ndarray, gen: np.ndarray) -> float:
    n, m = len(ref), len(gen)
    dist = [[math.dist(ref[i], gen[j]) for j in range(m)] for i in range(n)]
    acc = [[math.inf] * (m + 1) for _ in range(n + 1)]
    acc[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i][j] = dist[i - 1][j - 1] + min(acc[i - 1][j - 1], acc[i - 1][j], acc[i][j - 1])
    i, j, pairs = n, m, [dist[n - 1][m - 1]]
    while (i, j) != (1, 1):
        i, j = min([(i - 1, j - 1), (i - 1, j), (i, j - 1)], key=lambda c: acc[c[0]][c[1]])
        pairs.append(dist[i - 1][j - 1])
    return 10 / math.log(10) * math.sqrt(2) * sum(pairs) / len(pairs)


def test_agrees_with_an_independent_computation() -> None:
    reference = speechlike(0.5, RATE, seed=1)
    generated = np.concatenate([np.zeros(100, np.float32), reference])[: reference.size]
    generated = generated + 0.01 * np.random.default_rng(2).standard_normal(reference.size)
    ours = mcd.mel_cepstrum(reference, RATE)
    theirs = _independent_mcep(reference, RATE)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=0.01)
    expected = _independent_dtw_mcd(theirs, _independent_mcep(generated, RATE))
    assert mcd.mel_cepstral_distortion(reference, generated, RATE) == pytest.approx(
        expected, rel=0.01)
