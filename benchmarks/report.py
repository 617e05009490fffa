"""Benchmark reports: what they ran on, and where their results go."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from vocfw.core.infer.precision import native_bf16


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` with its family and model numbers (a virtual
    machine's name may say no more than ``AMD EPYC``), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        fields: dict[str, str] = {}
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        if "model name" in fields:
            numbers = f" (family {fields['cpu family']}, model {fields['model']})" if {
                "cpu family", "model"} <= set(fields) else ""
            return fields["model name"] + numbers
    return platform.processor() or platform.machine()


def describe() -> str:
    """``CPU model (vector ISA, bf16), N cores, GPU name`` (or ``no GPU used``)."""
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU used"
    bf16 = "native bf16" if native_bf16(torch.device("cpu")) else "no native bf16"
    return (f"{cpu_name()} ({torch.backends.cpu.get_cpu_capability()}, {bf16}), "
            f"{os.cpu_count()} cores, {gpu}")


RESULTS = Path(__file__).resolve().parent / "results"


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB: ``VmHWM`` of ``/proc/self/status``, which
    starts afresh at ``exec`` (``getrusage``'s max RSS does not: a child started by a large
    parent reports the parent's size), else ``getrusage``'s max RSS."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save_results(name: str, result: dict, table: str) -> None:
    """Write ``results/{name}.json`` and ``results/{name}.md`` and print the table."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=4) + "\n")
    (RESULTS / f"{name}.md").write_text(table)
    print(table)
