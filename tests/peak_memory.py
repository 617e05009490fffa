"""Run a command in a subprocess and measure its peak resident memory, killing it at a ceiling.

The peak is each process's own high-water mark (``VmHWM`` in ``/proc/PID/status``), read every
few milliseconds for the process and its children, so a short spike between two reads still
counts. A command that passes ``ceiling_mib`` is killed at once, so a test of a memory bomb
never takes the machine down with it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

POLL_SECONDS = 0.005


@dataclass(frozen=True)
class Measured:
    """What a measured command did: exit status, output, and its peak memory in MiB."""

    returncode: int
    stdout: str
    stderr: str
    peak_mib: float
    killed: bool


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                stack += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


def run_measured(args: list[str], ceiling_mib: float = 4096, timeout: float = 300,
                 cwd: str | Path | None = None, env: dict | None = None) -> Measured:
    """Run ``args``; return its exit status, output and peak memory (sum over the tree).

    Raises:
        TimeoutError: when it runs longer than ``timeout`` seconds.
    """
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    peaks: dict[int, int] = {}
    killed = False
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        for pid in _tree(proc.pid):
            peaks[pid] = max(peaks.get(pid, 0), _status_kib(pid, "VmHWM"))
        if sum(peaks.values()) / 1024 > ceiling_mib:
            proc.kill()
            killed = True
            break
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            raise TimeoutError(f"{args} ran longer than {timeout} s")
        time.sleep(POLL_SECONDS)
    stdout, stderr = proc.communicate()
    return Measured(proc.returncode, stdout, stderr, sum(peaks.values()) / 1024, killed)


def vocfw_measured(*argv: str, **kwargs) -> Measured:
    """``python -m vocfw.cli.main ARGV`` under :func:`run_measured`."""
    return run_measured([sys.executable, "-m", "vocfw.cli.main", *argv], **kwargs)
