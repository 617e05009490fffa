"""Reading ``.npy`` arrays (mels, waveforms) from disk: never pickles, only regular files (a
named pipe or a link loop is refused unopened), and a malformed file is one named error."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from vocfw.core.audio.io import file_problem
from vocfw.core.errors import VocfwError

REAL_KINDS = "fiu"  # numpy dtype kinds of real numbers: float, signed and unsigned int


class NpyError(VocfwError, ValueError):
    """An ``.npy`` file is unreadable, malformed, or holds something other than real numbers."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


def read_npy(path: Path | str, mmap_mode: Literal["r"] | None = None) -> np.ndarray:
    """Load an array of real numbers in native byte order, without pickles.

    Args:
        path: the ``.npy`` file.
        mmap_mode: ``r`` to map the file instead of reading it (for header-only checks).

    Returns:
        The array.

    Raises:
        NpyError: not a regular file (not opened then), the file cannot be read or parsed as
            ``.npy``, or its dtype is not real numbers (string, object, bool, complex or record
            arrays are refused).
    """
    problem = file_problem(path)
    if problem is not None:
        raise NpyError(path, problem)
    try:
        array = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except Exception as exc:  # the header parser raises many types on malformed input
        raise NpyError(path, f"not a readable .npy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(array, np.ndarray):
        raise NpyError(path, "not a single .npy array")
    if array.dtype.kind not in REAL_KINDS:
        raise NpyError(path, f"has dtype {array.dtype}; expected real numbers (float or int)")
    if mmap_mode is None and not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array
