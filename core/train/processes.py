"""What the processes of one training run share: flags, means, seeds of random draws, and
steps only the main process takes.

With one process every function here is a plain computation; with several (``accelerate
launch``) each is a collective call that every process must make.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import torch
from accelerate.utils import broadcast_object_list

from vocfw.core.seed import draw_seed

if TYPE_CHECKING:
    from accelerate import Accelerator

T = TypeVar("T")
TRAIN_DRAWS, VALID_DRAWS = 1, 2  # the first key of training and of validation draws


def draw_generator(accelerator: Accelerator, seed: int, *keys: int) -> torch.Generator:
    """A generator on this process's device, seeded by (seed, keys, process index): the same
    draws whenever the run reaches the same point, resumed or not."""
    seed = draw_seed(seed, *keys, accelerator.process_index)
    return torch.Generator(device=accelerator.device).manual_seed(seed)


def agree(accelerator: Accelerator, *flags: bool) -> list[bool]:
    """Flags true on any process (one all-reduce, only with several processes)."""
    if accelerator.num_processes == 1:
        return list(flags)
    values = torch.tensor([float(f) for f in flags], device=accelerator.device)
    return [bool(v) for v in accelerator.reduce(values, reduction="sum").tolist()]


def mean(accelerator: Accelerator, total: float, count: int) -> float:
    """Mean over all processes of values summed per process (NaN when there are none)."""
    values = torch.tensor([total, float(count)], dtype=torch.float64, device=accelerator.device)
    if accelerator.num_processes > 1:
        values = accelerator.reduce(values, reduction="sum")
    total, count = values.tolist()
    return total / count if count else float("nan")


def on_main_process(accelerator: Accelerator, action: Callable[[], T]) -> T | None:
    """Run ``action`` on the main process only; an error it raises is raised on every process.

    Returns:
        What ``action`` returned, on the main process; ``None`` on the others.
    """
    result, failure = None, None
    if accelerator.is_main_process:
        try:
            result = action()
        except Exception as exc:  # whatever it is, every process must stop with it
            failure = exc
    if accelerator.num_processes > 1:
        failure = broadcast_object_list([failure])[0]
    if failure is not None:
        raise failure
    return result
