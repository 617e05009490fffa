"""Replacing a loaded vocoder's stored sampler: another inference schedule or another
registered sampler (the ``sampler`` choices of ``load`` and ``vocfw predict``)."""

from __future__ import annotations

import inspect
from pathlib import Path

from vocfw.core.components import Components, build_sampler
from vocfw.core.registry import build_registry


def parse_schedule(text: str) -> str | list[float] | None:
    """``fast``, ``full`` or comma-separated betas (``1e-4,1e-3,0.05``); ``None`` otherwise."""
    if text in ("fast", "full"):
        return text
    try:
        return [float(beta) for beta in text.split(",")]
    except ValueError:
        return None


def override_sampler(components: Components, checkpoint: Path, choice: str) -> None:
    """Replace the stored sampler: another inference schedule, or another registered sampler.

    Args:
        components: the loaded vocoder; its ``sampler`` (and ``spec``) are replaced.
        checkpoint: the checkpoint folder it was loaded from (named in errors).
        choice: ``fast``, ``full``, comma-separated betas, or a registered sampler's class name
            (it gets the stored sampler's arguments that its constructor accepts, so the
            training noise schedule carries over).

    Raises:
        ValueError: a schedule the stored sampler cannot take or that does not fit its training
            noise range, or an unknown sampler name.
    """
    stored = components.spec["sampler"]
    init_args = dict(stored.get("init_args", {}))
    schedule = parse_schedule(choice)
    if schedule is not None:
        if "inference_schedule" not in init_args:
            raise ValueError(
                f"sampler {stored['class_path']} of {checkpoint} takes no "
                f"inference_schedule, so --sampler {choice} cannot be applied"
            )
        init_args["inference_schedule"] = schedule
        sampler = {"class_path": stored["class_path"], "init_args": init_args}
    else:
        samplers = build_registry().entries["samplers"]
        if choice not in samplers:
            raise ValueError(
                f"--sampler {choice!r} is neither 'fast', 'full', a list of betas nor a "
                f"registered sampler ({', '.join(sorted(samplers))})"
            )
        cls = samplers[choice].cls
        accepted = inspect.signature(cls).parameters
        sampler = {
            "class_path": f"{cls.__module__}.{cls.__name__}",
            "init_args": {key: value for key, value in init_args.items() if key in accepted},
        }
    build_sampler(components, sampler, f"{checkpoint}: --sampler {choice}")
