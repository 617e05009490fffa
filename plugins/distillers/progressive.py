"""Progressive distillation (Salimans & Ho, ICLR 2022) of DDPM-family teachers: the student
learns to make in one deterministic (DDIM, eta 0) update what the teacher makes in two.

Levels: the teacher samples along 2K noise levels alpha_bar, log-spaced betas inside its
trained range (:func:`~vocfw.core.infer.schedule_search.geometric_schedule`, kept short of the
last training level so that the student's schedule, rebuilt from its own betas, stays inside
it too); the student's K levels are every second one, its betas beta_i = 1 - abar_i /
abar_(i-1). Everything happens in the process's own noise space: with a prior (PriorGrad,
SpecGrad) the noisy input is sqrt(abar) x + sqrt(1 - abar) prior(z) and sampling starts from
prior noise.

Target: for a batch at student level t (next level t'', the clean signal after the last), the
teacher steps t -> t' -> t'' with :func:`~vocfw.core.diffusion.ddim_step`; one update from t is
affine in the noise, x_t'' = a x_t + b eps (:func:`~vocfw.core.diffusion.ddim_coefficients`),
so the student's target is eps_tilde = (x_t'' - a x_t) / b. Loss: the squared error to it,
weighted by max(1, (1 - abar) / abar) (the paper's truncated-SNR weighting, restated for a
noise prediction). One run halves the steps once; distilling the student again halves them
again.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from vocfw.core.components import Components
from vocfw.core.diffusion import DiffusionProcess, align_steps, ddim_coefficients, ddim_step
from vocfw.core.distiller import Distiller
from vocfw.core.infer.schedule_search import geometric_schedule
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Sampler, network_of, time_for
from vocfw.core.settings import SettingError

NEEDED_ARGUMENTS = ("inference_schedule", "eta")  # what the student's sampler is given


def distillation_schedules(train_betas: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's and the student's betas for a K-step student.

    Args:
        train_betas: (S,) the teacher's training betas.
        steps: K.

    Returns:
        (2K,) teacher betas, log-spaced inside the trained range short of its last level, and
        the (K,) student betas that reach every second teacher level.

    Raises:
        ValueError: no 2K-level schedule fits the trained range.
    """
    try:
        teacher = geometric_schedule(2 * steps, np.asarray(train_betas[:-1], dtype=np.float64))
    except SettingError:
        raise ValueError(f"no {2 * steps}-level schedule fits the teacher's trained noise range "
                         f"({len(train_betas)} training betas from {train_betas[0]:g})") from None
    levels = np.concatenate([[1.0], np.cumprod(1.0 - teacher)[1::2]])  # (K + 1,)
    return teacher, 1.0 - levels[1:] / levels[:-1]


def model_time(model: torch.nn.Module, step: float, level: float, device: torch.device
               ) -> torch.Tensor:
    """The (1,) time input of ``model`` at training step ``step`` and noise level ``level``
    (alpha_bar), as the DDPM family's samplers give it."""
    return time_for(model, torch.tensor([step], device=device),
                    torch.tensor([level**0.5], dtype=torch.float32, device=device))


class ProgressiveDistillation(Distiller):
    """Halve a DDPM-family teacher's deterministic sampling steps: 2K teacher levels, K student
    levels (see the module notes). The student samples with the teacher's sampler class and
    process settings, along its K levels with ``eta`` 0."""

    def teacher_incompatibility(self, teacher: Components) -> str | None:
        """Refuse samplers outside the DDPM family and those that cannot sample
        deterministically along a given schedule."""
        sampler = teacher.sampler
        name = type(sampler).__name__
        if not isinstance(sampler, DiffusionProcess):
            return (f"its sampler {name} is not of the DDPM family (a vocfw.core.diffusion."
                    f"DiffusionProcess); progressive distillation halves DDIM steps of one")
        arguments = inspect.signature(type(sampler)).parameters
        if not all(key in arguments for key in NEEDED_ARGUMENTS) or not hasattr(sampler, "prior"):
            return (f"its sampler {name} cannot sample deterministically along a given schedule "
                    f"(it takes no {' and '.join(NEEDED_ARGUMENTS)} or has no prior, as DDPM, "
                    f"PriorGrad, SpecGrad and WaveGradDiffusion do)")
        return None

    def student_sampler(self, teacher: Components, steps: int) -> dict:
        """The teacher's sampler along the K student levels with ``eta`` 0.

        Raises:
            ValueError: no 2K-level schedule fits the teacher's trained range.
        """
        _, student = distillation_schedules(teacher.sampler.training_betas, steps)
        stored = teacher.spec["sampler"]
        return {"class_path": type(teacher.sampler).__name__,
                "init_args": {**stored.get("init_args", {}),
                              "inference_schedule": student.tolist(), "eta": 0.0}}

    def loss(self, student: torch.nn.Module, student_sampler: Sampler, teacher: Components,
             audio: torch.Tensor, mel: torch.Tensor, generator: torch.Generator | None = None,
             ) -> torch.Tensor:
        """Weighted squared error to :meth:`target` at one student level per batch, drawn
        uniformly, then the noise (see :meth:`~vocfw.core.distiller.Distiller.loss`)."""
        device = audio.device
        levels = np.cumprod(1.0 - student_sampler.inference_betas)  # (K,)
        index = int(torch.randint(len(levels), (1,), generator=generator, device=device))
        prior = teacher.sampler.prior(mel, network_of(student).hop_length)
        noise = prior(torch.randn(audio.shape, generator=generator, device=device))  # (B, N)
        level = float(levels[index])
        noisy = level**0.5 * audio + (1.0 - level) ** 0.5 * noise  # (B, N)
        target = self.target(teacher, student_sampler, noisy, mel, index)  # (B, N)
        time = model_time(student, student_sampler.aligned_steps[index], level, device)
        predicted = student(noisy, time, mel).float()  # (B, N)
        return max(1.0, (1.0 - level) / level) * (predicted - target).square().mean()

    @torch.no_grad()
    def target(self, teacher: Components, student_sampler: Sampler, noisy: torch.Tensor,
               mel: torch.Tensor, index: int) -> torch.Tensor:
        """The noise eps_tilde whose one deterministic update from student level ``index``
        reproduces the teacher's two (see the module notes).

        Args:
            teacher: the frozen teacher.
            student_sampler: the student's sampler (its K levels and their training steps).
            noisy: (B, N) the sample at that level.
            mel: (B, M, T) its log-mels.
            index: the student level, 0 (least noisy) to K - 1.

        Returns:
            (B, N) float32 target noise.
        """
        model: Vocoder = teacher.model
        train = teacher.sampler.training_betas
        teacher_betas, _ = distillation_schedules(train, len(student_sampler.inference_betas))
        middle_step = align_steps(train, teacher_betas)[2 * index]
        middle = float(np.cumprod(1.0 - teacher_betas)[2 * index])
        levels = np.cumprod(1.0 - student_sampler.inference_betas)  # (K,)
        start, end = float(levels[index]), float(levels[index - 1]) if index > 0 else 1.0
        condition = model.condition(mel)
        state = noisy.float()  # (B, N)
        for step, level, after in ((student_sampler.aligned_steps[index], start, middle),
                                   (middle_step, middle, end)):
            eps = model.denoise(state, model_time(model, step, level, noisy.device), condition)
            state = ddim_step(state, eps.float(), level, after)  # (B, N)
        a, b = ddim_coefficients(start, end)
        return (state - a * noisy.float()) / b
