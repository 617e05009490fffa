"""Running ``vocfw ARGV`` inside the test process, as tests of the command line do."""

from __future__ import annotations

import pytest

from vocfw.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``vocfw ARGV`` in this process: its exit status, standard output and standard error."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
