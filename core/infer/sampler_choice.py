"""Replacing a loaded vocoder's stored sampler: the run's own with changed init args, or another
registered sampler with its own (the ``sampler`` choices of ``load`` and ``vocfw predict``)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from vocfw.core.components import Components, build_sampler, resolve_class
from vocfw.core.registry import build_registry


def override_sampler(
    components: Components, checkpoint: Path, name: str | None, init_args: dict[str, Any]
) -> None:
    """Replace the stored sampler: the run's own with changed init args, or another
    registered sampler.

    Args:
        components: the loaded vocoder; its ``sampler`` (and ``spec``) are replaced.
        checkpoint: the checkpoint folder it was loaded from (named in errors).
        name: a registered sampler's class name (``None``: the run's own class).
        init_args: constructor arguments to set; the others keep the run's values where the
            constructor takes them (so the training noise schedule carries over).

    Raises:
        ValueError: an unknown sampler, arguments its constructor does not take or accept, or
            a sampler incompatible with the one the model was trained with (saying why).
    """
    stored = components.spec["sampler"]
    if name is None:
        cls = resolve_class("samplers", stored["class_path"], build_registry(), str(checkpoint))
    else:
        samplers = build_registry().entries["samplers"]
        if name not in samplers:
            raise ValueError(f"--sampler {name!r} is not a registered sampler (registered: "
                             f"{', '.join(sorted(samplers))})")
        cls = samplers[name].cls
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(init_args) - set(accepted))
    if unknown:
        raise ValueError(f"--sampler.{unknown[0]}: {cls.__name__} takes no such argument "
                         f"(it takes {', '.join(accepted) or 'none'})")
    carried = {k: v for k, v in stored.get("init_args", {}).items() if k in accepted}
    trained = components.sampler
    spec = {"class_path": f"{cls.__module__}.{cls.__name__}",
            "init_args": {**carried, **init_args}}
    build_sampler(components, spec, f"{checkpoint}: --sampler {cls.__name__}")
    reason = components.sampler.incompatibility(trained)
    if reason is not None:
        raise ValueError(f"{checkpoint}: --sampler {cls.__name__} cannot vocode with this "
                         f"model: {reason}")
