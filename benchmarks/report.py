"""Benchmark reports: what they ran on, and where their results go."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from vocfw.core.infer.precision import native_bf16


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo``, else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe() -> str:
    """``CPU model (vector ISA, bf16), N cores, GPU name`` (or ``no GPU used``)."""
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU used"
    bf16 = "native bf16" if native_bf16(torch.device("cpu")) else "no native bf16"
    return (f"{cpu_name()} ({torch.backends.cpu.get_cpu_capability()}, {bf16}), "
            f"{os.cpu_count()} cores, {gpu}")


RESULTS = Path(__file__).resolve().parent / "results"


def save_results(name: str, result: dict, table: str) -> None:
    """Write ``results/{name}.json`` and ``results/{name}.md`` and print the table."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=4) + "\n")
    (RESULTS / f"{name}.md").write_text(table)
    print(table)
