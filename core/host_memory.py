"""Host (CPU) memory tuning for large tensors on Linux: the C allocator and huge pages.

Tensors of DiffWave activations are tens of megabytes. By default glibc serves every block over
32 MiB (and, by its dynamic threshold, most over a few MiB) with a fresh ``mmap`` and returns it
to the kernel when freed, so the next tensor of that size faults its pages in again, 4 KiB at
a time, each zeroed by the kernel: a training step allocates and frees gigabytes this way, and
on a 2-core machine the faults cost as much time as the arithmetic.

:func:`retain_freed_memory` makes the process keep freed memory for reuse instead (the ``vocfw``
command calls it once at start-up); :func:`hugepage_empty` marks one large, long-lived buffer
for transparent huge pages. Both are no-ops where the C library or kernel lacks them.
"""

from __future__ import annotations

import ctypes
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
    """``torch.empty``; a large CPU buffer is marked for transparent huge pages on Linux.

    For buffers written once per call into fresh memory (gigabytes for long inputs), so that
    their first writes fault in 2 MiB at a time instead of 4 KiB. Where the kernel does not
    take the advice, nothing changes.
    """
    out = torch.empty(shape, dtype=dtype, device=device)
    if _LIBC is not None and out.device.type == "cpu" and out.nbytes >= 2 * HUGE_PAGE_BYTES:
        start = -(-out.data_ptr() // mmap.PAGESIZE) * mmap.PAGESIZE
        stop = (out.data_ptr() + out.nbytes) // mmap.PAGESIZE * mmap.PAGESIZE
        _LIBC.madvise(ctypes.c_void_p(start), ctypes.c_size_t(stop - start), mmap.MADV_HUGEPAGE)
    return out
