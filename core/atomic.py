"""Atomic writes: a file either has its complete new content or is untouched.

Each writer writes a temporary file in the target folder and renames it over the target, so a
process killed mid-write never leaves a half-written file under the final name. The result gets
the permissions an ordinary ``open`` would give (0666 for files, 0777 for folders, less the
process umask). A failed write raises :class:`WriteError` naming the target.

Temporary names are ``.tmp-`` and eight characters of ``[a-z0-9_]`` (``tempfile``'s), files
keeping the target's suffix; :func:`remove_stale_temporaries` removes only names of that form.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import soundfile as sf

from vocfw.core.errors import VocfwError

TMP_PREFIX = ".tmp-"
# tempfile's names: the prefix and eight characters of [a-z0-9_]; files add the target's suffix
TMP_DIR_RE = re.compile(rf"^{re.escape(TMP_PREFIX)}[a-z0-9_]{{8}}$")
TMP_FILE_RE = re.compile(rf"^{re.escape(TMP_PREFIX)}[a-z0-9_]{{8}}(\.[^.]+)?$")


class WriteError(VocfwError, OSError):
    """A file or folder could not be written (full disk, no permission, ...)."""


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; restored at once
    os.umask(mask)
    return mask


@contextmanager
def _naming(target: Path) -> Iterator[None]:
    """Re-raise an ``OSError`` as a :class:`WriteError` naming ``target``."""
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WriteError(exc.errno, f"{target}: cannot be written ({reason})") from None


@contextmanager
def atomic_path(target: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed to ``target``.

    Raises:
        WriteError: the folder cannot be made or written, or the disk is full.
    """
    target = Path(target)
    tmp = None
    try:
        with _naming(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix or target.suffix,
                                       dir=target.parent)
            os.close(fd)
            yield Path(tmp)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _write_with(target: Path | str, mode: str, write: Callable[[IO[Any]], None]) -> None:
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(target) as tmp, open(tmp, mode, encoding=encoding) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def write_text(target: Path | str, text: str) -> None:
    """Write a text file atomically."""
    _write_with(target, "w", lambda f: f.write(text))


def json_text(obj: Any) -> str:
    """The JSON text vocfw writes: indent 4, UTF-8 kept as is, a final newline."""
    return json.dumps(obj, indent=4, ensure_ascii=False) + "\n"


def write_json(target: Path | str, obj: Any) -> None:
    """Write :func:`json_text` of ``obj`` atomically."""
    write_text(target, json_text(obj))


def write_text_if_changed(path: Path, text: str) -> bool:
    """Atomically write ``text`` to ``path`` unless the file already holds exactly that.

    Args:
        path: target file.
        text: its new content.

    Returns:
        ``True`` when the file was (re)written.
    """
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def write_json_if_changed(path: Path, obj: Any) -> bool:
    """Atomically write ``obj`` as JSON unless the file already holds the same text.

    Args:
        path: target file.
        obj: JSON-serialisable content.

    Returns:
        ``True`` when the file was (re)written.
    """
    return write_text_if_changed(path, json_text(obj))


def save_npy(target: Path | str, array: np.ndarray) -> None:
    """Save a NumPy array atomically."""
    _write_with(target, "wb", lambda f: np.save(f, array))


def write_wav(target: Path | str, audio: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM WAV atomically; ``audio`` is (L,) float in [-1, 1]."""
    with atomic_path(target, suffix=".wav") as tmp:
        sf.write(str(tmp), np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")


@contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it is renamed to ``target``.

    ``target`` must not exist yet; a crash leaves only a hidden ``.tmp-`` folder behind.
    """
    target = Path(target)
    tmp = None
    try:
        with _naming(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=target.parent))
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())
            os.replace(tmp, target)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp)


def is_temporary(path: Path) -> bool:
    """``path`` is named as a temporary of :func:`atomic_dir` (folders) or :func:`atomic_path`."""
    return (TMP_DIR_RE if path.is_dir() else TMP_FILE_RE).match(path.name) is not None


def remove_stale_temporaries(folder: Path | str) -> list[Path]:
    """Delete the temporary files and folders a killed write left in ``folder``.

    Only names exactly as :func:`atomic_path` and :func:`atomic_dir` make them are removed
    (a user's ``.tmp-notes.txt`` is kept); call this only where no other write into ``folder``
    can be in progress.

    Returns:
        The paths removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(path for path in folder.iterdir() if is_temporary(path))
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return stale
