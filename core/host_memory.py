"""Host (CPU) memory tuning for large tensors on Linux: the C allocator and huge pages.

Tensors of DiffWave activations are tens of megabytes. By default glibc serves every block over
32 MiB (and, by its dynamic threshold, most over a few MiB) with a fresh ``mmap`` and returns it
to the kernel when freed, so the next tensor of that size faults its pages in again, 4 KiB at
a time, each zeroed by the kernel: a training step allocates and frees gigabytes this way, and
on a 2-core machine the faults cost as much time as the arithmetic.

:func:`retain_freed_memory` makes the process keep freed memory for reuse instead; training on
the CPU calls it. Sampling does not: it allocates its large buffers once per call, and a heap
that keeps everything it served nearly doubled the peak memory of vocoding a long input.
:func:`hugepage_empty` gives one large buffer its own mapping backed by transparent
huge pages. Both fall back to plain behaviour where the C library or kernel lacks them.
"""

from __future__ import annotations

import ctypes
import math
import mmap
import sys

import torch

HUGE_PAGE_BYTES = 2 * 2**20
# mallopt parameters (malloc.h): trim threshold and the most blocks served by mmap.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_ABOVE = 2**31 - 1  # the largest value (a C int): freed tops under 2 GiB are kept
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def retain_freed_memory() -> bool:
    """Keep memory freed by this process for its next allocations (glibc on Linux).

    Large blocks come from the heap instead of separate mappings, and up to 2 GiB of free
    heap top is kept, so a tensor allocated after another of its size was freed reuses the
    same, already mapped pages. The process's peak resident memory stays about what it was
    (its live tensors at their most); memory freed after that peak is returned only in part.

    Returns:
        Whether the C library accepted both settings (False off glibc).
    """
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE))


def hugepage_empty(*shape: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``torch.empty``; a large CPU buffer gets its own mapping, advised for huge pages.

    For big buffers streamed through at every step (DiffWave's conditioner cache, gigabytes for
    long inputs): backed by 2 MiB pages where the kernel grants them, they cost far fewer TLB
    misses, and their first writes fault in 2 MiB at a time instead of 4 KiB. The mapping is
    returned to the kernel when the tensor is freed, whatever :func:`retain_freed_memory` set.
    """
    nbytes = math.prod(shape) * dtype.itemsize
    if device.type != "cpu" or nbytes < 2 * HUGE_PAGE_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return torch.empty(shape, dtype=dtype, device=device)
    mapping = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    mapping.madvise(mmap.MADV_HUGEPAGE)
    return torch.frombuffer(mapping, dtype=dtype).view(shape)  # holds ``mapping`` alive
