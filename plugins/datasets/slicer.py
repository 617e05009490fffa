"""Silence slicing: cut a long recording into phrases at its quiet stretches.

This is the RMS-gate algorithm of openvpi's audio-slicer, which the recipe uses to cut NUS-48E
and Opera recordings. The frame RMS is measured every ``hop_ms`` over a window of
``min(min_interval_ms, 4 hops)``. A run of frames below ``threshold_db`` that lasts at least
``min_interval_ms``, once the current piece is at least ``min_length_ms`` long, becomes a cut
at the quietest frame of the run; at most ``max_sil_kept_ms`` of that silence stays with the
pieces on either side. Trailing silence of at least ``min_interval_ms`` is dropped, and so is
leading silence longer than ``max_sil_kept_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocfw.core.audio.io import AudioError, audio_info, load_audio
from vocfw.core.corpus import Corpus
from vocfw.core.settings import SettingError

_BLOCK_SAMPLES = 1 << 22


def frame_rms(audio: np.ndarray, window: int, hop: int) -> np.ndarray:
    """RMS of centred, zero-padded frames of ``audio``.

    Frames are processed in blocks, so memory stays bounded on long recordings.

    Args:
        audio: (L,) mono waveform.
        window: frame length in samples.
        hop: frame step in samples.

    Returns:
        (1 + (L + 2 * (window // 2) - window) // hop,) RMS per frame; frame ``i`` is centred on
        sample ``i * hop``.
    """
    half = window // 2
    padded = np.pad(audio, (half, half))  # (L + 2 * half,)
    frames = np.lib.stride_tricks.sliding_window_view(padded, window)[::hop]  # (F, W) view
    power = np.empty(frames.shape[0], np.float64)  # (F,)
    block = max(1, _BLOCK_SAMPLES // window)
    for first in range(0, frames.shape[0], block):
        chunk = frames[first : first + block].astype(np.float64)  # (<=block, W)
        power[first : first + block] = np.mean(chunk**2, axis=1)
    return np.sqrt(power)


@dataclass(frozen=True)
class Slicer:
    """Settings of the silence slicer; :meth:`pieces` applies them to one recording.

    Args:
        threshold_db: frames with an RMS below this level (dB re full scale) are silent.
        min_length_ms: a piece is not cut before it is this long.
        min_interval_ms: the shortest silence that can become a cut.
        hop_ms: frame step of the RMS measurement.
        max_sil_kept_ms: the most silence kept around a cut.

    Raises:
        SettingError: unless ``min_length_ms >= min_interval_ms >= hop_ms > 0`` and
            ``max_sil_kept_ms >= hop_ms``.
    """

    threshold_db: float = -40.0
    min_length_ms: float = 5000.0
    min_interval_ms: float = 300.0
    hop_ms: float = 10.0
    max_sil_kept_ms: float = 5000.0

    def __post_init__(self) -> None:
        if not self.min_length_ms >= self.min_interval_ms >= self.hop_ms > 0:
            raise SettingError(
                f"slicer: need min_length_ms >= min_interval_ms >= hop_ms > 0, got "
                f"{self.min_length_ms:g}, {self.min_interval_ms:g}, {self.hop_ms:g}")
        if self.max_sil_kept_ms < self.hop_ms:
            raise SettingError(f"slicer: need max_sil_kept_ms >= hop_ms, got "
                               f"{self.max_sil_kept_ms:g} < {self.hop_ms:g}")

    def pieces(self, audio: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
        """Cut ``audio`` at its silences.

        Args:
            audio: (L,) mono waveform.
            sample_rate: its sample rate in Hz.

        Returns:
            Non-empty ``(start_sample, end_sample)`` pieces in order; the whole recording as
            one piece when it is too short to cut or holds no usable silence.
        """
        hop = max(1, round(sample_rate * self.hop_ms / 1000))
        interval = sample_rate * self.min_interval_ms / 1000
        window = min(round(interval), 4 * hop)
        min_length = round(sample_rate * self.min_length_ms / 1000 / hop)
        min_interval = round(interval / hop)
        max_kept = round(sample_rate * self.max_sil_kept_ms / 1000 / hop)
        total = audio.shape[0]
        if (total + hop - 1) // hop <= min_length:
            return [(0, total)] if total else []
        rms = frame_rms(audio, window, hop)  # (F,)
        silent = rms < 10 ** (self.threshold_db / 20)  # (F,)
        cuts = _silences_to_cut(rms, silent, min_length, min_interval, max_kept)
        bounds = [0] + [edge for cut in cuts for edge in cut] + [rms.size]
        pieces = []
        for first, last in zip(bounds[::2], bounds[1::2], strict=True):
            start, end = first * hop, min(total, last * hop)
            if start < end:
                pieces.append((start, end))
        return pieces


def _quietest(rms: np.ndarray, first: int, last: int) -> int:
    """The frame with the lowest RMS in ``[first, last]``."""
    return first + int(np.argmin(rms[first : last + 1]))


def _silences_to_cut(
    rms: np.ndarray, silent: np.ndarray, min_length: int, min_interval: int, max_kept: int
) -> list[tuple[int, int]]:
    """Frame ranges ``[begin, end)`` to remove; everything between them is kept."""
    cuts: list[tuple[int, int]] = []
    silence_start: int | None = None
    clip_start = 0
    for i, is_silent in enumerate(silent):
        if is_silent:
            silence_start = i if silence_start is None else silence_start
            continue
        if silence_start is None:
            continue
        leading = silence_start == 0 and i > max_kept
        long_enough = i - silence_start >= min_interval and i - clip_start >= min_length
        if leading or long_enough:
            cuts.append(_cut(rms, silence_start, i, max_kept))
            clip_start = cuts[-1][1]
        silence_start = None
    frames = rms.size
    if silence_start is not None and frames - silence_start >= min_interval:
        cut_at = _quietest(rms, silence_start, min(frames, silence_start + max_kept))
        cuts.append((cut_at, frames + 1))
    return cuts


def _cut(rms: np.ndarray, begin: int, end: int, max_kept: int) -> tuple[int, int]:
    """The frames to remove from the silence ``[begin, end)``, keeping at most ``max_kept``."""
    if end - begin <= max_kept:
        at = _quietest(rms, begin, end)
        return (0, at) if begin == 0 else (at, at)
    right = _quietest(rms, end - max_kept, end)
    if begin == 0:
        return 0, right
    left = _quietest(rms, begin, begin + max_kept)
    if end - begin <= 2 * max_kept:
        middle = _quietest(rms, end - max_kept, begin + max_kept)
        return min(left, middle), max(right, middle)
    return left, right


def silence_segments(path: Path, slicer: Slicer) -> list[tuple[float, float]]:
    """Decode a recording at its own sample rate and slice it at its silences.

    Args:
        path: the audio file.
        slicer: the slicer settings.

    Returns:
        ``(start, end)`` seconds of each piece, in order.

    Raises:
        AudioError: the file is unreadable, empty or corrupt, or silent throughout.
    """
    sample_rate, _ = audio_info(path)
    audio = load_audio(path, sample_rate)  # (L,)
    pieces = slicer.pieces(audio, sample_rate)
    if not pieces:
        raise AudioError(path, f"silent throughout (nothing above {slicer.threshold_db} dB)")
    return [(a / sample_rate, b / sample_rate) for a, b in pieces]


@dataclass
class SilenceSlicedCorpus(Corpus):
    """A corpus whose recordings are cut at their silences; the slicer's settings are options.

    Args:
        root: the corpus folder.
        dataset: the dataset name (defaults to the corpus name).
        threshold_db: frames with an RMS below this level (dB re full scale) are silent.
        min_length_ms: a piece is not cut before it is this long.
        min_interval_ms: the shortest silence that can become a cut.
        max_sil_kept_ms: the most silence kept around a cut.

    Raises:
        SettingError: slicer settings that cannot work together (see :class:`Slicer`).
    """

    threshold_db: float = -40.0
    min_length_ms: float = 5000.0
    min_interval_ms: float = 300.0
    max_sil_kept_ms: float = 5000.0

    def __post_init__(self) -> None:
        _ = self.slicer  # a Slicer refuses settings that cannot work together
        super().__post_init__()

    @property
    def slicer(self) -> Slicer:
        """The slicer with this corpus's settings (10 ms frames)."""
        return Slicer(threshold_db=self.threshold_db, min_length_ms=self.min_length_ms,
                      min_interval_ms=self.min_interval_ms, hop_ms=10.0,
                      max_sil_kept_ms=self.max_sil_kept_ms)
