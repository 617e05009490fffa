"""The run seed: its default, and the seeds of keyed random draws derived from it."""

from __future__ import annotations

import numpy as np

DEFAULT_SEED = 114514


def draw_seed(*keys: int) -> int:
    """A 32-bit seed mixed from integer keys (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])
