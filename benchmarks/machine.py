"""What the benchmarks ran on, for their reports."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo``, else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe() -> str:
    """``CPU model, N cores, GPU name`` (or ``no GPU used``)."""
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU used"
    return f"{cpu_name()}, {os.cpu_count()} cores, {gpu}"
