"""The options of inference, set once: the object behind ``load`` and ``vocfw predict`` whose
fields are their defaults, and the checks of a call's own arguments (sample rate, keys)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocfw.core.infer.precision import Precision
from vocfw.core.settings import SettingError

DEFAULT_BATCH_SIZE = 4  # mels (or chunks) sampled together
DEFAULT_CHUNK_SECONDS = 10.0  # longest stretch vocoded at once, so memory does not grow
Key = str | int  # a mel's identity in a call; 5 is "5"


@dataclass(frozen=True)
class VocodeOptions:
    """The options of ``load`` and ``vocfw predict``, with their defaults.

    Attributes:
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``
            (:func:`vocfw.core.infer.precision.resolve_precision`).
        use_ema: use the moving-average weights when the checkpoint has them.
        sampler: a registered sampler's class name to vocode with instead of the run's own.
        sampler_args: sampler constructor arguments to change, e.g.
            ``{"inference_schedule": "fast"}``.
        schedule: the name of a schedule stored with the run by ``vocfw search-schedule``.
        chunk_seconds: vocode long mels in overlapping chunks of this many seconds (``None``:
            whole mels).
        batch_size: mels (or chunks) sampled together.
    """

    device: str = "auto"
    precision: Precision = "auto"
    use_ema: bool = True
    sampler: str | None = None
    sampler_args: dict[str, Any] | None = None
    schedule: str | None = None
    chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS
    batch_size: int = DEFAULT_BATCH_SIZE


DEFAULTS = VocodeOptions()  # the defaults of load's and predict's signatures


def positive_rate(sample_rate: object) -> int:
    """``sample_rate`` as an int; raises :class:`SettingError` unless a positive whole number
    (bools and strings are refused)."""
    number = isinstance(sample_rate, int | float | np.integer | np.floating)
    if (not number or isinstance(sample_rate, bool) or not float(sample_rate).is_integer()
            or sample_rate <= 0):
        raise SettingError(f"sample_rate: expected a positive whole number, got {sample_rate!r}")
    return int(sample_rate)


def call_keys(key: Key | Sequence[Key] | None, count: int) -> list[str] | None:
    """One str key per mel from ``key`` (``None``: digests of the mels, chosen later); raises
    :class:`SettingError` unless one str or int per mel."""
    if key is None:
        return None
    many = isinstance(key, list | tuple)
    keys = list(key) if many else [key]
    if len(keys) != count:
        raise SettingError(f"key: expected {count} keys (one per mel), got {len(keys)}")
    for index, item in enumerate(keys):
        if isinstance(item, bool) or not isinstance(item, str | int | np.integer):
            name = f"key[{index}]" if many else "key"
            raise SettingError(f"{name}: expected a str or int, got {type(item).__name__}")
    return [str(item) for item in keys]
