"""Progress bars for every long command: in place on a terminal, a line now and then elsewhere.

On a terminal a bar redraws itself in place. Written to a file or a pipe (a log, continuous
integration), carriage-return redraws would pile up as thousands of updates, so there the bar
prints a plain line at most every :data:`LOG_INTERVAL_SECONDS`, plus its first and last state.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL_SECONDS = 30.0
"""Least time between two progress lines on output that is not a terminal."""


class _LineWriter:
    """A text stream that turns a bar's carriage-return redraws into whole lines."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


class _LogBar(tqdm):
    """A bar that shows itself at most every :data:`LOG_INTERVAL_SECONDS` however often it is
    refreshed (postfix changes force a refresh), and always when it closes."""

    _shown_at: float | None = None

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        now = self._time()
        closing = self.disable  # tqdm disables a bar before its closing display
        if not closing and self._shown_at is not None and (
                now - self._shown_at < LOG_INTERVAL_SECONDS):
            return True
        self._shown_at = now
        return super().display(msg, pos)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(file: TextIO | None = None, **options: Any) -> tqdm:
    """A ``tqdm`` bar (same options) that redraws in place only on a terminal.

    Args:
        file: where the bar goes (default: standard error).
        options: ``tqdm``'s options (``total``, ``desc``, ``unit``, ``disable``, ...).

    Returns:
        The bar; on output that is not a terminal it writes one line at most every
        :data:`LOG_INTERVAL_SECONDS` (postfix changes included).
    """
    stream = file if file is not None else sys.stderr
    if _is_terminal(stream):
        return tqdm(file=stream, **options)
    options = {key: value for key, value in options.items() if key != "dynamic_ncols"}
    return _LogBar(file=_LineWriter(stream), mininterval=LOG_INTERVAL_SECONDS, ncols=100,
                   **options)
