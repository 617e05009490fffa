"""The training engine behind ``vocfw fit``: its settings, and one run from start to finish.

:class:`Trainer` is the ``trainer:`` section of a config; :meth:`Trainer.fit`
trains into a run directory::

    {run_dir}/config.yaml                       the resolved config
    {run_dir}/log/                              TensorBoard event files
    {run_dir}/checkpoint/epoch-EEEE_step-SSSSSSS_loss-L.LLLLLL/   weights + training state
    {run_dir}/checkpoint/{checkpoint}_eval_audio_{dataset}.wav    (and ``..._gt.wav``)
    {run_dir}/checkpoint/{checkpoint}_eval_audio_{dataset}_mel.png  (and ``..._gt_mel.png``)
    {run_dir}/checkpoint/{checkpoint}_eval_audio_report.html     listening page of the above
    {run_dir}/.lock                             while fit runs: one writer per run directory

Every random draw of training (data order, crop offsets, diffusion steps and noise) is seeded
from the run seed and its position in the run, so a resumed run continues bit for bit as if it
had never stopped (on the same device and process count).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed

from vocfw.core.components import build_components
from vocfw.core.data.config import DataConfig
from vocfw.core.errors import VocfwError
from vocfw.core.host_memory import retain_freed_memory
from vocfw.core.runs.checkpoint import resolve_checkpoint
from vocfw.core.runs.run_dir import check_run_dir, prepare_run_dir, run_lock, write_config
from vocfw.core.seed import DEFAULT_SEED
from vocfw.core.settings import SettingError, resolve_device
from vocfw.core.train.loop import TrainingDivergedError, TrainingRun
from vocfw.core.train.parts import Objective
from vocfw.core.train.processes import on_main_process
from vocfw.core.train.resume import load_start

__all__ = ["LaunchError", "Trainer", "TrainingDivergedError"]

SEED_LIMIT = 2**32  # seeds are 32-bit: from 0 to 2**32 - 1


class LaunchError(VocfwError, RuntimeError):
    """The training processes were launched in a way one run cannot use: accelerate cannot set
    them up, or set up another number of them than were launched."""


@dataclass
class Trainer:
    """Trains a vocoder: AdamW, per-epoch exponential learning-rate decay, DDPM loss.

    Args:
        log_dir: parent folder of run directories (``{log_dir}/{name}``).
        batch_size: examples per step on each process.
        crop_frames: mel frames per training example (times hop_length audio samples).
        max_epoch: stop after this many epochs.
        max_steps: stop after this many optimizer steps (``None``: no limit).
        save_checkpoint_stride: save a checkpoint every this many epochs (epoch 0 included).
        save_every_steps: also save every this many optimizer steps (``None``: never).
        keep_last: keep this many newest checkpoints; the newest and the best (lowest
            validation loss) are never deleted. ``None`` keeps every checkpoint.
        learning_rate: AdamW learning rate.
        adam_betas: AdamW betas.
        weight_decay: AdamW weight decay.
        lr_decay: learning rate factor applied once per epoch, whatever the process count.
        gradient_clip: clip the gradient norm to this value (``None``: no clipping).
        gradient_accumulation_steps: batches per optimizer step.
        mixed_precision: ``no``, ``fp16`` (CUDA) or ``bf16`` autocast.
        ema_decay: keep an exponential moving average of the weights with this decay
            (``None``: off); inference uses it when present.
        num_workers: data-loading worker processes per training process.
        eval_audio: at each checkpoint, vocode one validation utterance per dataset.
        eval_seconds: vocode only the first this many seconds of it.
        log_every_steps: log step scalars (loss, learning rate, gradient norm, throughput)
            every this many optimizer steps.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    Raises:
        SettingError: a setting is out of range.
    """

    log_dir: str = "ckpts/vocoder"
    batch_size: int = 32
    crop_frames: int = 32
    max_epoch: int = 1_000_000
    max_steps: int | None = None
    save_checkpoint_stride: int = 20
    save_every_steps: int | None = None
    keep_last: int | None = 3
    learning_rate: float = 2e-4
    adam_betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    lr_decay: float = 0.999
    gradient_clip: float | None = None
    gradient_accumulation_steps: int = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    ema_decay: float | None = None
    num_workers: int = 0
    eval_audio: bool = True
    eval_seconds: float = 2.0
    log_every_steps: int = 10
    device: Literal["auto", "cpu", "cuda"] = "auto"
    stop_signal: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        positive = {
            "batch_size": self.batch_size, "crop_frames": self.crop_frames,
            "max_epoch": self.max_epoch, "save_checkpoint_stride": self.save_checkpoint_stride,
            "learning_rate": self.learning_rate,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "log_every_steps": self.log_every_steps, "eval_seconds": self.eval_seconds,
            "max_steps": self.max_steps or 1, "save_every_steps": self.save_every_steps or 1,
            "keep_last": self.keep_last or 1, "gradient_clip": self.gradient_clip or 1,
        }
        for key, value in positive.items():
            if value <= 0:
                raise SettingError(f"trainer.{key} must be positive, got {value}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise SettingError(f"trainer.lr_decay must lie in (0, 1], got {self.lr_decay}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise SettingError(f"trainer.ema_decay must lie in [0, 1), got {self.ema_decay}")
        for key in ("num_workers", "weight_decay"):
            if getattr(self, key) < 0:
                raise SettingError(f"trainer.{key} must not be negative, got {getattr(self, key)}")
        self.adam_betas = tuple(self.adam_betas)
        if not all(0.0 <= beta < 1.0 for beta in self.adam_betas):
            raise SettingError(f"trainer.adam_betas must both lie in [0, 1), got "
                               f"{list(self.adam_betas)}")

    def _accelerator(self) -> Accelerator:
        if self.device == "cuda":
            resolve_device(self.device, "trainer.device")  # refuses it where CUDA is missing
        # A fresh state per run, so one process can fit several times with other settings.
        AcceleratorState._reset_state()
        GradientState._reset_state()
        launched = os.environ.get("WORLD_SIZE", "1")
        try:
            accelerator = Accelerator(
                cpu=self.device == "cpu" or not torch.cuda.is_available(),
                mixed_precision=self.mixed_precision,
                gradient_accumulation_steps=self.gradient_accumulation_steps,
                step_scheduler_with_optimizer=False,
            )
        except (ValueError, RuntimeError) as exc:  # the launch environment refused
            AcceleratorState._reset_state(reset_partial_state=True)  # half set up: start afresh
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LaunchError(
                f"accelerate cannot set up training here (trainer.device {self.device}, "
                f"trainer.mixed_precision {self.mixed_precision}, WORLD_SIZE {launched}): "
                f"{reason}") from None
        if launched != str(accelerator.num_processes):
            raise LaunchError(
                f"{launched} processes were launched (WORLD_SIZE) but accelerate set up "
                f"{accelerator.num_processes}; each would train alone. On CPU use "
                f"`accelerate launch --multi_gpu --num_processes N` with trainer.device cpu"
            )
        return accelerator

    @contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM ask the run to stop after the current step (a second SIGINT aborts)."""
        self.stop_signal = None
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum: int, frame: object) -> None:
            if self.stop_signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.stop_signal = signum
            sys.stderr.write(
                f"\n{signal.Signals(signum).name}: finishing this step, saving a checkpoint and "
                f"stopping (Ctrl-C again aborts without saving)\n"
            )

        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def fit(
        self,
        run_dir: Path,
        data: DataConfig,
        spec: dict,
        config_text: str,
        resume_type: Literal["resume", "finetune"] | None = None,
        checkpoint: Path | None = None,
        seed: int = DEFAULT_SEED,
        overwrite: bool = False,
        objective: Objective | None = None,
        initial_weights: dict[str, torch.Tensor] | None = None,
    ) -> Path:
        """Train, resume or finetune a vocoder into ``run_dir``.

        SIGINT and SIGTERM end the run cleanly: the current step finishes, a checkpoint is
        saved and ``fit`` returns normally with :attr:`stop_signal` set to the signal number
        (``None`` when the run reached ``max_steps`` or ``max_epoch``).

        On the CPU, the process keeps the memory it frees for reuse from then on
        (:func:`vocfw.core.host_memory.retain_freed_memory`), which spares every step
        faulting its activations in afresh.

        Args:
            run_dir: the run directory (``{log_dir}/{name}``).
            data: the datasets; their features must have been preprocessed.
            spec: ``{"features", "model", "sampler"}`` component spec (stored normalised with
                every checkpoint).
            config_text: the resolved config, written to ``run_dir/config.yaml``.
            resume_type: ``resume`` continues a run exactly (weights, optimizer, scheduler,
                RNG, counters, position in the data order); ``finetune`` starts from its
                weights only; ``None`` starts from scratch.
            checkpoint: a checkpoint folder, a ``checkpoint/`` folder or a run directory
                (its newest checkpoint), for ``resume_type``.
            seed: seed of the initial weights, the data order, crops and diffusion noise.
            overwrite: replace the run already in ``run_dir`` (its config, logs and
                checkpoints; other files are kept) instead of refusing to start.
            objective: the loss to train and validate instead of the sampler's
                ``training_loss`` (``vocfw distill``'s).
            initial_weights: the weights a run not resumed starts from (a student's teacher's).

        Returns:
            The last checkpoint folder written (or resumed from).

        Raises:
            SettingError: ``resume_type`` without ``checkpoint``, or a ``seed`` outside
                0 to 2**32 - 1.
            LaunchError: accelerate cannot set up the processes launched, or set up others.
            vocfw.core.runs.run_dir.RunInUseError: another process is writing ``run_dir``
                (only the main process holds its lock).
            FileExistsError: ``run_dir`` is not empty and neither resumed nor ``overwrite``.
            vocfw.core.train.resume.ResumeSettingsError: a resume given features, model,
                sampler or optimizer settings other than the checkpoint's (see resume).
            vocfw.core.train.resume.WeightsMismatchError: weights that do not fit the model.
            vocfw.core.runs.checkpoint.CheckpointError: no usable checkpoint at ``checkpoint``,
                or (``TrainStateError``) a damaged training state.
            vocfw.core.data.layout.TrainingDataError: preprocessed data missing or made
                with other features.
            TrainingDivergedError: a loss, the gradient norm or a weight became NaN or
                infinite; the checkpoints already written are kept and the diverged state is
                not saved.
        """
        _check_start(resume_type, checkpoint, seed)
        source = resolve_checkpoint(checkpoint) if resume_type is not None else None
        set_seed(seed)
        components = build_components(spec)  # a bad spec is refused before anything is cleared
        run_dir = Path(run_dir)
        accelerator = self._accelerator()
        with ExitStack() as held:  # the main process holds the run's lock until the end

            def claim() -> bool:
                held.enter_context(run_lock(run_dir))
                return check_run_dir(run_dir, source, resume_type, overwrite)

            clear = on_main_process(accelerator, claim)
            resumed = load_start(components, self, source, resume_type == "resume")
            if resume_type is None and initial_weights is not None:
                components.model.load_state_dict(initial_weights)
            if accelerator.device.type == "cpu":
                retain_freed_memory()
            if accelerator.is_main_process:
                prepare_run_dir(run_dir, clear)
            accelerator.wait_for_everyone()
            run = TrainingRun(self, accelerator, components, run_dir, data, seed, objective)
            if resumed is not None:
                run.restore(resumed, source)
            if accelerator.is_main_process:
                write_config(run_dir, config_text)
            with self._stop_on_signals():
                return run.train(lambda: self.stop_signal is not None)


def _check_start(resume_type: str | None, checkpoint: Path | None, seed: int) -> None:
    """Refuse a resume or finetune without a checkpoint, and a seed that is not 32-bit."""
    if resume_type is not None and checkpoint is None:
        raise SettingError(f"resume_type {resume_type!r} needs a checkpoint path (checkpoint)")
    if not 0 <= seed < SEED_LIMIT:
        raise SettingError(f"seed: expected a whole number from 0 to {SEED_LIMIT - 1}, got {seed}")
