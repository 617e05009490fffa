"""Reflow (Liu et al., ICLR 2023) of flow-matching teachers: the student learns the straight
path between each noise draw and the end of the teacher's flow from it, so a few ODE steps
follow it.

Per batch: times t drawn as the teacher's sampler draws its training times, noise z (B, N),
x1_hat the teacher's ODE solution from z (its own solver and steps, or ``teacher_steps``; not
clipped, no gradients); loss mean((v_student((1 - t) z + t x1_hat, t) - (x1_hat - z))^2). The
student samples with the teacher's sampler and settings, in K steps.
"""

from __future__ import annotations

import inspect

import torch

from vocfw.core.components import Components
from vocfw.core.distiller import Distiller
from vocfw.core.sampler import Sampler, network_of

FLOW_METHODS = ("integrate", "training_times")  # what reflow asks of the teacher's sampler


class Reflow(Distiller):
    """Straighten a flow-matching teacher's paths (see the module notes).

    Args:
        teacher_steps: ODE steps the teacher integrates each pair with (``None``: the steps
            of its own sampler); more steps give pairs closer to its exact flow.

    Raises:
        ValueError: ``teacher_steps`` below 1.
    """

    def __init__(self, teacher_steps: int | None = None) -> None:
        if teacher_steps is not None and teacher_steps < 1:
            raise ValueError(f"method.teacher_steps must be at least 1, got {teacher_steps}")
        self.teacher_steps = teacher_steps

    def teacher_incompatibility(self, teacher: Components) -> str | None:
        """Refuse samplers that do not integrate a flow with a ``steps`` setting."""
        sampler = teacher.sampler
        name = type(sampler).__name__
        flow = "flow_time" in sampler.time_inputs and all(
            callable(getattr(sampler, method, None)) for method in FLOW_METHODS)
        if not flow or "steps" not in inspect.signature(type(sampler)).parameters:
            return (f"its sampler {name} is not a flow-matching sampler (reflow needs one that "
                    f"integrates a velocity field from noise at t = 0 to data at t = 1 in a "
                    f"given number of steps, as FlowMatching does)")
        return None

    def student_sampler(self, teacher: Components, steps: int) -> dict:
        """The teacher's sampler and settings with ``steps`` ODE steps."""
        stored = teacher.spec["sampler"]
        return {"class_path": type(teacher.sampler).__name__,
                "init_args": {**stored.get("init_args", {}), "steps": steps}}

    def loss(self, student: torch.nn.Module, student_sampler: Sampler, teacher: Components,
             audio: torch.Tensor, mel: torch.Tensor, generator: torch.Generator | None = None,
             ) -> torch.Tensor:
        """The reflow loss of one batch; draws the times, then the noise (see
        :meth:`~vocfw.core.distiller.Distiller.loss`)."""
        time = teacher.sampler.training_times(audio.shape[0], generator, audio.device)  # (B,)
        noise = torch.randn(audio.shape, generator=generator, device=audio.device)  # (B, N)
        noise = teacher.sampler.prior(mel, network_of(student).hop_length)(noise)  # (B, N)
        end = self.pair(teacher, mel, noise)  # (B, N)
        t = time.unsqueeze(1)  # (B, 1)
        velocity = student((1.0 - t) * noise + t * end, time, mel).float()  # (B, N)
        return (velocity - (end - noise)).square().mean()

    @torch.no_grad()
    def pair(self, teacher: Components, mel: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x1_hat: where the teacher's flow takes ``noise``.

        Args:
            teacher: the frozen teacher.
            mel: (B, M, T) log-mels.
            noise: (B, N) the starting noise at t = 0.

        Returns:
            (B, N) float32 end of the teacher's ODE at t = 1 (not clipped).
        """
        solver = teacher.sampler
        if self.teacher_steps is not None:
            init_args = {**teacher.spec["sampler"].get("init_args", {}),
                         "steps": self.teacher_steps}
            solver = type(teacher.sampler)(**init_args)
            solver.use_features(teacher.features)
        return solver.integrate(teacher.model, mel, noise)
