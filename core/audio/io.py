"""Reading audio: any format soundfile reads (wav, flac, mp3, ogg), a segment of it, mono,
resampled, with a stated rule for samples beyond full scale (:func:`rescale_beyond_full_scale`).

Only regular files are opened: a symbolic-link loop, a named pipe (which would block until
something writes to it), a folder or a device is refused from its ``stat`` alone
(:func:`file_problem`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from vocfw.core.atomic import is_temporary
from vocfw.core.errors import VocfwError

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")
FULL_SCALE_TOLERANCE = 1.01  # float peaks up to this are read as they are
INTEGER_RANGE_PEAK = 256.0  # float peaks beyond this are integer sample values stored as floats


class AudioError(VocfwError, ValueError):
    """An audio file is unreadable, empty or corrupt."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
              (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"))


def file_problem(path: Path | str) -> str | None:
    """Why ``path`` is not a readable regular file, found from ``stat`` without opening it.

    Returns:
        ``None`` for a regular file (or a link to one), else the reason: a dangling link or
        missing file, a symbolic-link loop, no permission, or another kind of file.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in FILE_KINDS if test(mode)), "a special file")
    return f"is {kind}, not a regular file"


def audio_info(path: Path | str) -> tuple[int, int]:
    """Return (sample rate, frames) of an audio file without decoding it.

    Raises:
        AudioError: not a regular file (not opened then), or the file cannot be opened as
            audio or holds no samples.
    """
    problem = file_problem(path)
    if problem is not None:
        raise AudioError(path, problem)
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


def rescale_beyond_full_scale(audio: np.ndarray) -> np.ndarray:
    """Bring samples read as floats back to full scale when they pass it by more than 1 %.

    Integer PCM files always read within [-1, 1). Float files (and lossy decoders) may not; as
    in the recipe, a peak up to ``FULL_SCALE_TOLERANCE`` (1.01) is kept as it is. Beyond it:

    - a peak above ``INTEGER_RANGE_PEAK`` (256) marks integer sample values stored as floats
      (16- or 32-bit PCM values, whole or not after processing); the recipe's fix applies,
      dividing by 2^15 + 1 (by 2^31 + 1 when the peak passes 2^15);
    - a peak in between is float audio gone over full scale: it is divided by its peak, so its
      shape is kept and nothing clips when it is written as 16-bit PCM (the recipe divides it
      by 2^15 + 1 too, leaving a 1.5 peak at 0.00005).

    Args:
        audio: (L,) float32 samples as read.

    Returns:
        (L,) samples peaking at most at ``FULL_SCALE_TOLERANCE`` (``audio`` itself when so).
    """
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= FULL_SCALE_TOLERANCE:
        return audio
    if peak > INTEGER_RANGE_PEAK:
        return audio / (2**31 + 1 if peak > 2**15 else 2**15 + 1)
    return audio / peak


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
        AudioError: not a regular file, unreadable, empty, or containing NaN or infinite
            values.
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
    audio = rescale_beyond_full_scale(audio)
    if source_rate != sample_rate:
        audio = resample(audio, source_rate, sample_rate)
    return np.ascontiguousarray(audio, dtype=np.float32)


def resample(audio: np.ndarray, source_rate: int, sample_rate: int) -> np.ndarray:
    """Resample (L,) audio as ``librosa.load(sr=...)`` does (soxr HQ, length
    ``ceil(L * sample_rate / source_rate)``), without loading librosa's compiled modules."""
    length = int(np.ceil(audio.shape[-1] * (float(sample_rate) / source_rate)))
    out = soxr.resample(audio, source_rate, sample_rate, quality="soxr_hq")  # (~length,)
    return out[:length] if out.size >= length else np.pad(out, (0, length - out.size))


def _is_audio_name(path: Path) -> bool:
    """An audio file name that is not the temporary of an unfinished vocfw write."""
    return path.suffix.lower() in AUDIO_EXTENSIONS and not is_temporary(path)


def list_audio_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Every audio file name in ``folder`` (and, if ``recursive``, in its sub-folders, not
    following symbolic links to folders), sorted by path; nothing is opened, so a name may
    still be a link loop or a named pipe (:func:`audio_info` refuses those). Temporaries of
    killed vocfw writes (``.tmp-*``, see :mod:`vocfw.core.atomic`) are left out."""
    if not recursive:
        return sorted(p for p in folder.iterdir() if _is_audio_name(p))
    found = [
        Path(parent) / name
        for parent, _, names in os.walk(folder)
        for name in names
        if _is_audio_name(Path(parent) / name)
    ]
    return sorted(found)
