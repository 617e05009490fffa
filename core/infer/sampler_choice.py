"""Replacing a loaded vocoder's stored sampler: the run's own with changed init args, or another
registered sampler with its own (the ``sampler`` choices of ``load`` and ``vocfw predict``), or
the run's own along a schedule stored with the run (their ``schedule`` choice)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from vocfw.core.components import Components, build_sampler
from vocfw.core.errors import VocfwError
from vocfw.core.registry import Registry, current_registry
from vocfw.core.runs.schedules import StoredSchedule

SCHEDULE_ARG = "inference_schedule"  # the sampler argument a list of betas is given as


class SamplerChoiceError(VocfwError, ValueError):
    """A sampler choice the loaded vocoder cannot take: arguments its class does not take, a
    schedule it cannot follow or given twice, or a sampler other than the one it was trained
    with."""


def sampler_class(
    components: Components, checkpoint: Path, name: str | None, registry: Registry | None = None
) -> type:
    """The registered sampler class ``name``, or the run's own when ``None``.

    Raises:
        SpecError: an unknown sampler (the message lists the registered ones).
    """
    registry = registry or current_registry()
    if name is None:
        stored = components.spec["sampler"]["class_path"]
        return registry.resolve("samplers", stored, str(checkpoint))
    return registry.resolve("samplers", name, "--sampler")


def check_takes_schedule(cls: type, what: str, registry: Registry | None = None) -> None:
    """Refuse a sampler that cannot sample along a list of betas (no ``inference_schedule``).

    Args:
        cls: the sampler class.
        what: what needs the schedule, named first in the error.
        registry: the registered samplers named as alternatives (default: the process's).

    Raises:
        SamplerChoiceError: naming the sampler, what it takes instead and the samplers that
            would do.
    """
    accepted = inspect.signature(cls).parameters
    if SCHEDULE_ARG in accepted:
        return
    samplers = (registry or current_registry()).entries["samplers"]
    takers = sorted(name for name, entry in samplers.items()
                    if SCHEDULE_ARG in inspect.signature(entry.cls).parameters)
    raise SamplerChoiceError(
        f"{what}: the sampler {cls.__name__} takes no {SCHEDULE_ARG} (it takes "
        f"{', '.join(accepted) or 'none'}), so it cannot sample along a list of betas; "
        f"samplers that can: {', '.join(takers) or 'none registered'}")


def override_sampler(
    components: Components,
    checkpoint: Path,
    name: str | None,
    init_args: dict[str, Any],
    schedule: StoredSchedule | None = None,
    registry: Registry | None = None,
) -> None:
    """Replace the stored sampler: the run's own with changed init args, or another
    registered sampler, optionally along a stored schedule.

    Args:
        components: the loaded vocoder; its ``sampler`` (and ``spec``) are replaced.
        checkpoint: the checkpoint folder it was loaded from (named in errors).
        name: a registered sampler's class name (``None``: the run's own class).
        init_args: constructor arguments to set; the others keep the run's values where the
            constructor takes them (so the training noise schedule carries over).
        schedule: a stored schedule whose betas become the sampler's ``inference_schedule``.
        registry: the registered samplers (default: the process's registry).

    Raises:
        SpecError: an unknown sampler, or arguments its constructor does not accept.
        SamplerChoiceError: arguments its constructor does not take, a schedule for a sampler
            without ``inference_schedule`` or given twice, or a sampler incompatible with the
            one the model was trained with (saying why).
    """
    registry = registry or current_registry()
    stored = components.spec["sampler"]
    cls = sampler_class(components, checkpoint, name, registry)
    if schedule is not None:
        check_takes_schedule(cls, f"schedule {schedule.path}", registry)
        if SCHEDULE_ARG in init_args:
            raise SamplerChoiceError(f"schedule {schedule.path} and --sampler.{SCHEDULE_ARG} "
                                     "both set the inference schedule; give one of them")
        init_args = {**init_args, SCHEDULE_ARG: list(schedule.betas)}
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(init_args) - set(accepted))
    if unknown:
        raise SamplerChoiceError(f"--sampler.{unknown[0]}: {cls.__name__} takes no such "
                                 f"argument (it takes {', '.join(accepted) or 'none'})")
    carried = {k: v for k, v in stored.get("init_args", {}).items() if k in accepted}
    trained = components.sampler
    spec = {"class_path": f"{cls.__module__}.{cls.__name__}",
            "init_args": {**carried, **init_args}}
    build_sampler(components, spec, f"{checkpoint}: --sampler {cls.__name__}", registry)
    reason = components.sampler.incompatibility(trained)
    if reason is not None:
        raise SamplerChoiceError(f"{checkpoint}: --sampler {cls.__name__} cannot vocode with "
                                 f"this model: {reason}")
