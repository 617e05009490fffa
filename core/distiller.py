"""The distiller contract: a method that trains a student vocoder to sample in a few steps from
a frozen teacher run (``vocfw distill``).

A distiller is a plugin kind of its own (``vocfw_register_distillers``). Its constructor's typed,
documented arguments are its options, set in a config or on the command line under ``method``
like a sampler's, and stored in the student's record. ``vocfw distill`` asks it three things:

1. :meth:`Distiller.teacher_incompatibility`: whether it can distill this teacher at all;
2. :meth:`Distiller.student_sampler`: the sampler the student run samples with, in K steps;
3. :meth:`Distiller.loss`: the training objective of one batch, replacing the sampler's
   ``training_loss`` in training and validation.

The student starts from the teacher's weights and is an ordinary run: the teacher's features
and model, the sampler of step 2, and a ``distillation`` record of where it came from.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

import torch

from vocfw.core.sampler import Sampler

if TYPE_CHECKING:
    from vocfw.core.components import Components


class Distiller(abc.ABC):
    """Base class of distillation methods.

    Shapes: B batch, N samples, M mel bands, T frames, N = T * hop_length.
    """

    @abc.abstractmethod
    def teacher_incompatibility(self, teacher: Components) -> str | None:
        """Why this method cannot distill ``teacher``, or ``None``.

        Args:
            teacher: the teacher run's features, model (eval mode) and sampler.

        Returns:
            A one-line reason (for example the teacher's sampler is of a process the method
            does not know), or ``None`` when it can.
        """

    @abc.abstractmethod
    def student_sampler(self, teacher: Components, steps: int) -> dict:
        """The sampler the student run is stored with, sampling in ``steps`` steps.

        Args:
            teacher: a teacher this method accepts.
            steps: K, the student's sampling steps.

        Returns:
            ``{"class_path": ..., "init_args": {...}}`` naming a registered sampler (by its
            registered name) that can drive the teacher's model.

        Raises:
            ValueError: no K-step sampler fits this teacher (saying why).
        """

    @abc.abstractmethod
    def loss(
        self,
        student: torch.nn.Module,
        student_sampler: Sampler,
        teacher: Components,
        audio: torch.Tensor,
        mel: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The distillation objective of one batch.

        Args:
            student: the network being trained, possibly inside a distributed-training
                wrapper: read its attributes through :func:`vocfw.core.sampler.network_of`.
            student_sampler: the student's sampler, built from :meth:`student_sampler`.
            teacher: the frozen teacher (eval mode, no gradients, on ``audio``'s device).
            audio: (B, N) clean waveforms in [-1, 1].
            mel: (B, M, T) their log-mels.
            generator: the source of every random draw (on ``audio``'s device), so a resumed
                distillation draws what an uninterrupted one would.

        Returns:
            A scalar loss.
        """

