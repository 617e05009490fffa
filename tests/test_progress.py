"""Progress bars: in place on a terminal, a few whole lines on a file or pipe."""

from __future__ import annotations

import io

from vocfw.core.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_file_writes_few_whole_lines() -> None:
    log = io.StringIO()
    with progress_bar(file=log, total=5000, unit="step") as bar:
        for step in range(5000):
            bar.update(1)
            bar.set_postfix(loss=f"{1 / (step + 1):.4f}", refresh=step % 10 == 0)
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 1 <= len(lines) <= 3, lines
    assert "5000/5000" in lines[-1]


def test_a_bar_on_a_terminal_redraws_in_place() -> None:
    screen = Terminal()
    with progress_bar(file=screen, total=3, mininterval=0) as bar:
        for _ in range(3):
            bar.update(1)
    assert screen.getvalue().count("\r") >= 3


def test_a_disabled_bar_writes_nothing() -> None:
    log = io.StringIO()
    with progress_bar(file=log, total=3, disable=True) as bar:
        bar.update(3)
    assert log.getvalue() == ""
