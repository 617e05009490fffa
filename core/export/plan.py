"""A sampler's loop as data: the kind of loop the runtime runs and, per network call, the time
input and the update's coefficients, computed in float64 as the sampler computes them.

The runtime implements the loops of the built-in samplers; a sampler is recognised by the class
that defines its sampling methods, so a subclass that changes only settings or the prior (PriorGrad
and SpecGrad over DDPM) is accepted, and one that redefines the loop is refused:

- ``ancestral``: DDPM's ancestral sampling (DDPM, PriorGrad, SpecGrad, WaveGradDiffusion), each
  draw shaped by the sampler's prior graph when it has its own :meth:`prior`;
- ``ddim``: DDIM's update, with per-step noise when ``eta > 0``: DDIM's own steps, or those of
  a DDPM-family sampler whose ``eta`` is below 1 (its draws shaped by its prior);
- ``euler`` and ``midpoint``: FlowMatching's ODE solvers, the initial noise shaped by its
  prior graph when its ``noise_prior`` is not ``normal``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vocfw.core.export.graphs import ExportError
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Sampler, time_for

_PLUGINS = "vocfw.plugins.samplers"
DDPM_CLASS = f"{_PLUGINS}.ddpm.DDPM"
LOOPS = {  # the class that defines the loop -> (the runtime's loop, the methods that make it)
    DDPM_CLASS: ("ancestral", ("sample", "_reverse")),
    f"{_PLUGINS}.ddim.DDIM": ("ddim", ("sample", "_reverse", "_step")),
    f"{_PLUGINS}.flow_matching.FlowMatching": ("flow", ("sample", "integrate")),
}
SUPPORTED = "DDPM and its kin (PriorGrad, SpecGrad, WaveGradDiffusion), DDIM, FlowMatching"


def _owner(cls: type, method: str) -> str:
    """The qualified name of the class in ``cls``'s MRO that defines ``method``."""
    owner = next((c for c in cls.__mro__ if method in vars(c)), object)
    return f"{owner.__module__}.{owner.__qualname__}"


def loop_of(sampler: Sampler) -> str:
    """``ancestral``, ``ddim``, ``euler`` or ``midpoint``: the runtime loop that reproduces
    ``sampler.sample``.

    Raises:
        ExportError: the sampler's loop is none of them.
    """
    cls = type(sampler)
    owner = _owner(cls, "sample")
    loop, methods = LOOPS.get(owner, (None, ()))
    if loop is None or any(_owner(cls, method) != owner for method in methods):
        raise ExportError(f"sampler {cls.__name__}: its sampling loop is not one the ONNX "
                          f"runtime implements ({SUPPORTED}); vocode with vocfw instead")
    return sampler.solver if loop == "flow" else loop


def has_prior(sampler: Sampler) -> bool:
    """Whether a sampler shapes its noise with a prior (not the identity), which the export
    writes as ``prior.onnx``: an ancestral sampler with a :meth:`prior` of its own, or
    FlowMatching with a ``noise_prior`` other than ``normal``."""
    loop = loop_of(sampler)
    if loop in ("euler", "midpoint"):
        return getattr(sampler, "noise_prior", "normal") != "normal"
    return loop == "ancestral" and _owner(type(sampler), "prior") != DDPM_CLASS


def _time(model: Vocoder, step: float, level: float) -> float:
    """The float32 time input ``model`` takes at training step ``step`` (integer steps are
    exact in float32) and noise level ``level``, as a float."""
    time = time_for(model, torch.tensor([step], dtype=torch.float32),
                    torch.tensor([level], dtype=torch.float32))  # (1,)
    return float(time[0])


def _ancestral(sampler: Any, model: Vocoder) -> list[dict[str, float]]:
    """DDPM's steps: ``x = clip(c1 (x - c2 eps) + sigma prior(z), -1, 1)``, z drawn only where
    ``sigma > 0`` (every step but the last)."""
    betas = np.asarray(sampler.inference_betas, dtype=np.float64)  # (K,)
    alpha = 1.0 - betas
    alpha_bar = np.cumprod(alpha)
    steps = []
    for n in range(len(betas) - 1, -1, -1):
        sigma = ((1.0 - alpha_bar[n - 1]) / (1.0 - alpha_bar[n]) * betas[n]) ** 0.5 if n else 0.0
        steps.append({"time": _time(model, sampler.aligned_steps[n], alpha_bar[n] ** 0.5),
                      "c1": float(1 / alpha[n] ** 0.5),
                      "c2": float(betas[n] / (1 - alpha_bar[n]) ** 0.5), "sigma": float(sigma)})
    return steps


def _ddim_entry(time: float, level: float, next_level: float, eta: float) -> dict[str, float]:
    """One DDIM update from noise level ``level`` to ``next_level`` (alpha_bars; 1.0: the
    clean signal): ``clean = clip((x - noise_scale eps) / signal_scale, -1, 1)``, then
    ``x = clean_scale clean + eps_scale eps + sigma z``, z drawn only where ``sigma > 0``."""
    sigma = eta * ((1.0 - next_level) / (1.0 - level) * (1.0 - level / next_level)) ** 0.5
    return {"time": time, "noise_scale": (1.0 - level) ** 0.5, "signal_scale": level**0.5,
            "clean_scale": next_level**0.5,
            "eps_scale": max(1.0 - next_level - sigma**2, 0.0) ** 0.5, "sigma": sigma}


def _ddim(sampler: Any, model: Vocoder) -> list[dict[str, float]]:
    """DDIM's steps along its training steps."""
    steps = []
    for index, step in enumerate(sampler.steps):
        level = float(sampler.train_alpha_bar[step])
        after = sampler.steps[index + 1] if index + 1 < len(sampler.steps) else None
        next_level = float(sampler.train_alpha_bar[after]) if after is not None else 1.0
        steps.append(_ddim_entry(_time(model, step, level**0.5), level, next_level,
                                 sampler.eta))
    return steps


def _ancestral_ddim(sampler: Any, model: Vocoder) -> list[dict[str, float]]:
    """DDPM's steps with ``eta < 1``: DDIM's update along the inference schedule."""
    alpha_bar = np.cumprod(1.0 - np.asarray(sampler.inference_betas, dtype=np.float64))
    steps = []
    for n in range(len(alpha_bar) - 1, -1, -1):
        time = _time(model, sampler.aligned_steps[n], alpha_bar[n] ** 0.5)
        next_level = float(alpha_bar[n - 1]) if n > 0 else 1.0
        steps.append(_ddim_entry(time, float(alpha_bar[n]), next_level, sampler.eta))
    return steps


def _flow(sampler: Any) -> list[dict[str, float]]:
    """FlowMatching's steps from ``time`` by ``step``: Euler ``x += step v(x, time)``;
    midpoint ``x += step v(x + half v(x, time), middle)``."""
    steps = []
    for begin, end in zip(sampler.times[:-1], sampler.times[1:], strict=True):
        step = end - begin
        entry = {"time": float(np.float32(begin)), "step": step}
        if sampler.solver == "midpoint":
            entry.update(half=0.5 * step, middle=float(np.float32(begin + 0.5 * step)))
        steps.append(entry)
    return steps


def sampler_plan(sampler: Sampler, model: Vocoder) -> dict[str, Any]:
    """The loop, its steps and the number of standard normal draws one vocoding makes.

    Args:
        sampler: the run's sampler.
        model: the network it drives (whose time input the steps carry).

    Returns:
        ``{"sampler", "loop", "prior", "noise_draws", "steps"}``; the draws are the initial
        noise, then one per step whose ``sigma`` is positive, in sampling order.

    Raises:
        ExportError: the sampler's loop is not one the runtime implements.
    """
    loop = loop_of(sampler)
    if loop == "ancestral" and getattr(sampler, "eta", 1.0) < 1.0:
        loop, steps = "ddim", _ancestral_ddim(sampler, model)
    elif loop == "ancestral":
        steps = _ancestral(sampler, model)
    elif loop == "ddim":
        steps = _ddim(sampler, model)
    else:
        steps = _flow(sampler)
    draws = 1 + sum(1 for step in steps if step.get("sigma", 0.0) > 0.0)
    return {"sampler": type(sampler).__name__, "loop": loop, "prior": has_prior(sampler),
            "noise_draws": draws, "steps": steps}
