"""Host memory: freed blocks are kept for reuse (training asks for it); huge-page buffers."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import normalise_spec
from vocfw.core.data.config import DataConfig
from vocfw.core.host_memory import hugepage_empty
from vocfw.core.testing.processed import tiny_diffwave_spec, write_processed_dataset
from vocfw.core.train import trainer as trainer_module
from vocfw.core.train.trainer import Trainer

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                           reason="the allocator settings are glibc's")

# Allocate and free a 64 MiB tensor 16 times; report the page faults of each and the peak RSS.
PROBE = """
import json, resource, sys, torch
from vocfw.core.host_memory import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else None
faults = []
for _ in range(16):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = torch.ones(64 * 2**20, dtype=torch.uint8)
    del block
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"applied": applied, "faults": faults, "peak": peak}))
"""


def _probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


@glibc
def test_retained_memory_serves_the_next_large_tensors_without_faulting() -> None:
    default, retained = _probe("default"), _probe("retain")
    assert retained["applied"] is True
    # By default every block is a fresh mapping, faulted in again each time.
    assert min(default["faults"][-4:]) > 0
    # Retained, the heap settles after a few blocks and later ones reuse its pages.
    assert sum(retained["faults"][-4:]) < sum(default["faults"][-4:]) / 10
    # The heap grows by a few blocks before it settles, not by one block per allocation.
    assert retained["peak"] - default["peak"] < 8 * 64 * 2**20


def test_training_on_the_cpu_retains_freed_memory(tmp_path: Path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(trainer_module, "retain_freed_memory", lambda: calls.append(True))
    features = MelConfig(n_mels=20)
    write_processed_dataset(tmp_path / "data", "alpha", features,
                            {"train": [0.3, 0.4], "test": [0.2]})
    data = DataConfig(datasets={"alpha": "a"}, processed_dir=str(tmp_path / "data"),
                      features=features)
    trainer = Trainer(max_steps=1, batch_size=2, crop_frames=8, eval_audio=False, device="cpu")
    trainer.fit(tmp_path / "run", data, normalise_spec(tiny_diffwave_spec(features)), "", seed=1)
    assert calls == [True]


def test_hugepage_buffers_are_ordinary_tensors() -> None:
    small = hugepage_empty(4, 3, dtype=torch.float32, device=torch.device("cpu"))
    large = hugepage_empty(2**20, 8, dtype=torch.bfloat16, device=torch.device("cpu"))
    assert small.shape == (4, 3) and small.dtype == torch.float32
    assert large.shape == (2**20, 8) and large.dtype == torch.bfloat16
    large.fill_(1.5)
    assert float(large.float().sum()) == 1.5 * 2**23


RELEASE_PROBE = """
import json, os, torch
from vocfw.core.host_memory import hugepage_empty, retain_freed_memory
retain_freed_memory()
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
buffer = hugepage_empty(64, 2**20, dtype=torch.float32, device=torch.device("cpu"))
buffer.fill_(1.0)
held = rss()
del buffer
print(json.dumps({"released": held - rss()}))
"""


@glibc
def test_a_hugepage_buffer_goes_back_to_the_kernel_when_freed() -> None:
    done = subprocess.run([sys.executable, "-c", RELEASE_PROBE], capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout)["released"] >= 250 * 2**20  # of its 256 MiB
