"""Settings every command shares: the error that refuses one, and the device convention.

A device is named the same way everywhere (``vocfw preprocess``, ``fit``, ``predict``,
``search-schedule`` and the Python API): ``auto`` (CUDA when available, else the CPU), ``cpu``,
``cuda`` or ``cuda:N``. A device this machine lacks is refused in one line before any work.
"""

from __future__ import annotations

import torch

from vocfw.core.errors import VocfwError


class SettingError(VocfwError, ValueError):
    """A setting that cannot be used (device, chunk length, batch size, key, sample rate); the
    message names the setting and what was expected."""


def resolve_device(device: str | torch.device, setting: str = "device") -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else as torch reads it,
    checked by placing an empty tensor there.

    Args:
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ... or a ``torch.device``.
        setting: the name the refusal gives the setting (``trainer.device``, ...).

    Raises:
        SettingError: not a device name torch knows, or a device this machine lacks (``cuda``
            without CUDA, ``cuda:3`` with fewer GPUs).
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SettingError(f"{setting} {str(device)!r}: not available here ({reason}); expected "
                           f"auto, cpu or an available CUDA device such as cuda:0") from None
    return resolved
