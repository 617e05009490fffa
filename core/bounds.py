"""Size limits: the largest sizes a stored spec or an imported checkpoint may ask a model or
sampler for, checked before anything of that size is built.

A model or sampler class states its limits in the class attribute ``size_limits``: a mapping
from constructor argument to the largest value it accepts (inclusive). Every spec vocfw builds
parts from (a run's ``components.json``, a training config, a ``--sampler`` choice) and every
checkpoint a converter reads is checked against them first, so a file of a few bytes cannot
make vocfw allocate gigabytes before it finds out that the sizes are absurd. A subclass
inherits its base's limits (``{**Base.size_limits, "key": n}`` extends them); a class without
the attribute is built from any sizes, so outside plugins should declare theirs.

The built-in limits keep every built-in model under 2**26 parameters (256 MiB of float32
weights) and every training schedule at most :data:`MAX_TRAINING_STEPS` steps; the feature
sizes are bounded by :data:`vocfw.core.audio.mel.FEATURE_LIMITS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_TRAINING_STEPS = 10_000
"""The most diffusion steps a training schedule (and a model's step embedding) may have."""


def size_limit_excess(cls: type, init_args: Mapping[str, Any]) -> str | None:
    """Why ``init_args`` ask ``cls`` for more than its ``size_limits`` allow, or ``None``.

    Args:
        cls: a model or sampler class.
        init_args: its constructor arguments (numbers are compared, anything else is left to
            the constructor).

    Returns:
        ``"KEY is VALUE, more than CLASS allows (at most LIMIT)"`` for the first argument over
        its limit, or ``None`` when all are within them.
    """
    for key, limit in getattr(cls, "size_limits", {}).items():
        value = init_args.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
            return f"{key} is {value:,}, more than {cls.__name__} allows (at most {limit:,})"
    return None
