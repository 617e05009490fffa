"""Where a run starts: from scratch, from a checkpoint's weights (finetune), or from its whole
training state (resume), and what a resume cannot change.

A resume continues the checkpoint's features, model and sampler (``components.json``) and
restores its optimizer and learning-rate schedule, with their learning rate, betas, weight decay
and decay factor. A config giving any of these another value than the checkpoint holds is
refused, naming each key and both values, so the run's ``config.yaml`` always records what the
run uses; ``finetune`` takes the weights only and may change all of them. Every other setting
(``max_steps``, ``batch_size``, saving, logging, ...) applies from the resumed step on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vocfw.core.components import Components, normalise_spec, one_line
from vocfw.core.errors import VocfwError
from vocfw.core.runs.checkpoint import (
    COMPONENTS_FILE,
    WEIGHTS_FILE,
    load_weights,
    read_components,
)
from vocfw.core.runs.train_state import (
    OPTIMIZER_FILE,
    SCHEDULER_FILE,
    Resumed,
    TrainStateError,
    load_training_state,
)

if TYPE_CHECKING:
    from vocfw.core.train.trainer import Trainer

CONFIG_SECTIONS = {"features": "data.features", "model": "model", "sampler": "sampler"}


class ResumeSettingsError(VocfwError, ValueError):
    """A setting that a resumed run takes from its checkpoint was given another value."""


class WeightsMismatchError(VocfwError, ValueError):
    """A checkpoint's weights do not fit the model a run starts."""


def _flat(value: Any, prefix: str) -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}``."""
    if not isinstance(value, dict) or not value:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(_flat(item, f"{prefix}.{key}"))
    return flat


def _entry(state: Any, path: Path, *keys: str | int) -> Any:
    """``state[key0][key1]...`` of a stored state dict.

    Raises:
        TrainStateError: the entry is missing (naming ``path`` and the key).
    """
    try:
        for key in keys:
            state = state[key]
    except (KeyError, IndexError, TypeError):
        name = ".".join(str(key) for key in keys)
        raise TrainStateError(f"{path}: key {name!r} is missing") from None
    return tuple(state) if isinstance(state, list) else state


def restored_settings(resumed: Resumed, folder: Path) -> dict[str, Any]:
    """The ``trainer`` settings a resume restores: ``learning_rate``, ``adam_betas``,
    ``weight_decay`` and ``lr_decay`` as checkpoint ``folder``'s optimizer and scheduler hold
    them (the learning rate before any decay).

    Raises:
        TrainStateError: the optimizer or scheduler state lacks one of them.
    """
    optimizer, scheduler = resumed.snapshot.optimizer, resumed.snapshot.scheduler
    group = ("param_groups", 0)
    return {
        "learning_rate": _entry(scheduler, folder / SCHEDULER_FILE, "base_lrs", 0),
        "adam_betas": _entry(optimizer, folder / OPTIMIZER_FILE, *group, "betas"),
        "weight_decay": _entry(optimizer, folder / OPTIMIZER_FILE, *group, "weight_decay"),
        "lr_decay": _entry(scheduler, folder / SCHEDULER_FILE, "gamma"),
    }


def _refuse(differences: list[str], folder: Path) -> None:
    """Raise :class:`ResumeSettingsError` listing ``differences`` (if any)."""
    if differences:
        raise ResumeSettingsError(
            f"resume continues checkpoint {folder} as it was trained, but "
            f"{'; '.join(differences)}; give the checkpoint's values, or start a new run from "
            f"its weights with --resume_type finetune"
        )


def check_components(spec: dict, folder: Path) -> None:
    """Refuse a resume whose features, model or sampler differ from checkpoint ``folder``'s.

    Args:
        spec: the normalised spec of the run (see :func:`vocfw.core.components.normalise_spec`).
        folder: the checkpoint resumed from.

    Raises:
        ResumeSettingsError: naming each differing key with both values.
    """
    stored = normalise_spec(read_components(folder), str(folder / COMPONENTS_FILE))
    given, held = {}, {}
    for part, section in CONFIG_SECTIONS.items():
        given.update(_flat(spec[part], section))
        held.update(_flat(stored[part], section))
    _refuse([f"{key} is {given.get(key)!r} here and {held.get(key)!r} in the checkpoint"
             for key in sorted(given.keys() | held.keys()) if given.get(key) != held.get(key)],
            folder)


def load_start(
    components: Components, settings: Trainer, source: Path | None, resume: bool
) -> Resumed | None:
    """Load the weights a run starts from into ``components.model``, and for a resumed run its
    training state, after checking the run's settings against the checkpoint.

    Args:
        components: the freshly built features, model and sampler, with their spec.
        settings: the run's trainer settings.
        source: the checkpoint folder to start from (``None``: from scratch).
        resume: also read the training state (``resume``; ``finetune`` takes weights only).

    Returns:
        The training state to restore, or ``None`` when not resuming.

    Raises:
        ResumeSettingsError: ``resume`` with settings other than the checkpoint's.
        WeightsMismatchError: the weights do not fit the model.
        vocfw.core.runs.checkpoint.CheckpointError: a file is missing or unreadable.
        TrainStateError: the training state is not of the form vocfw writes.
    """
    if source is None:
        return None
    if resume:
        check_components(components.spec, source)
    weights = source / WEIGHTS_FILE
    try:
        components.model.load_state_dict(load_weights(weights))
    except RuntimeError as exc:
        raise WeightsMismatchError(f"{weights}: does not fit the model ({one_line(exc)})"
                                   ) from None
    if not resume:
        return None
    resumed = load_training_state(source)
    restored = restored_settings(resumed, source)
    _refuse([f"trainer.{key} is {getattr(settings, key)!r} here and {value!r} in the checkpoint"
             for key, value in restored.items() if getattr(settings, key) != value], source)
    return resumed
