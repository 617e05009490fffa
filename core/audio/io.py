"""Reading audio: any format soundfile reads (wav, flac, mp3, ogg), a segment of it, mono,
resampled, with the recipe's rescaling of integer-range data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from vocfw.core.errors import VocfwError

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")


class AudioError(VocfwError, ValueError):
    """An audio file is unreadable, empty or corrupt."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


def audio_info(path: Path | str) -> tuple[int, int]:
    """Return (sample rate, frames) of an audio file without decoding it.

    Raises:
        AudioError: the file cannot be opened as audio or holds no samples.
    """
    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioError(path, f"not readable as audio ({exc})") from None
    if info.frames <= 0:
        raise AudioError(path, "holds no audio samples")
    return info.samplerate, info.frames


def audio_duration(path: Path | str) -> float:
    """Duration of an audio file in seconds."""
    rate, frames = audio_info(path)
    return frames / rate


def rescale_integer_range(audio: np.ndarray) -> np.ndarray:
    """The recipe's fix for integer-valued data stored as float: divide by 2^31+1 or 2^15+1."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 2**15:
        return audio / (2**31 + 1)
    if peak > 1.01:
        return audio / (2**15 + 1)
    return audio


def load_audio(
    path: Path | str,
    sample_rate: int,
    start: float | None = None,
    end: float | None = None,
) -> np.ndarray:
    """Load ``path`` (optionally only ``[start, end)`` seconds), mono, at ``sample_rate``.

    Returns:
        (L,) float32 waveform.

    Raises:
        AudioError: unreadable, empty, or containing NaN or infinite values.
    """
    source_rate, frames = audio_info(path)
    first = 0 if start is None else max(0, int(round(start * source_rate)))
    last = frames if end is None else min(frames, int(round(end * source_rate)))
    if last <= first:
        raise AudioError(path, f"segment [{start}, {end}] s holds no samples")
    try:
        data, _ = sf.read(str(path), start=first, stop=last, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(path, f"cannot be decoded ({exc})") from None
    audio = data.mean(axis=1)  # (L,) mono mixdown
    if audio.size == 0:
        raise AudioError(path, "holds no audio samples")
    if not np.all(np.isfinite(audio)):
        raise AudioError(path, "contains NaN or infinite samples")
    audio = rescale_integer_range(audio)
    if source_rate != sample_rate:
        audio = resample(audio, source_rate, sample_rate)
    return np.ascontiguousarray(audio, dtype=np.float32)


def resample(audio: np.ndarray, source_rate: int, sample_rate: int) -> np.ndarray:
    """Resample (L,) audio as ``librosa.load(sr=...)`` does (soxr HQ, length
    ``ceil(L * sample_rate / source_rate)``), without loading librosa's compiled modules."""
    length = int(np.ceil(audio.shape[-1] * (float(sample_rate) / source_rate)))
    out = soxr.resample(audio, source_rate, sample_rate, quality="soxr_hq")  # (~length,)
    return out[:length] if out.size >= length else np.pad(out, (0, length - out.size))


def list_audio_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Every audio file in ``folder`` (and, if ``recursive``, in its sub-folders, not following
    symbolic links to folders), sorted by path."""
    if not recursive:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    found = [
        Path(parent) / name
        for parent, _, names in os.walk(folder)
        for name in names
        if Path(name).suffix.lower() in AUDIO_EXTENSIONS
    ]
    return sorted(found)
