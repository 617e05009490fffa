"""Inference precision: the names users pick, what ``auto`` means on this hardware, autocast.

``fp32`` is exact (it matches lmnt's DiffWave to 1e-5) and fast on every CPU. ``bf16`` and
``fp16`` run the network under autocast: faster where the hardware has units for them, with
output that differs slightly from fp32. ``auto`` picks ``bf16`` where it is native (a CUDA
GPU with bfloat16, or a CPU whose oneDNN kernels run bfloat16 natively: AVX-512 BF16 or AMX)
and ``fp32`` everywhere else, because bfloat16 emulated on an AVX2 CPU is many times slower
than fp32.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch

Precision = Literal["auto", "fp32", "bf16", "fp16"]
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 matrix products natively."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_precision(precision: Precision, device: torch.device) -> Precision:
    """``auto`` -> ``bf16`` where :func:`native_bf16`, else ``fp32``; the rest unchanged.

    Raises:
        ValueError: ``precision`` is not one of :data:`Precision`.
    """
    if precision not in ("auto", "fp32", *AUTOCAST_DTYPES):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: Precision, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved ``precision`` on ``device`` (off for ``fp32``)."""
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES.get(precision),
                          enabled=precision != "fp32")
