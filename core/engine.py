"""The training engine behind ``vocfw fit``: one process or many through ``accelerate launch``.

:class:`Trainer`'s constructor is the ``trainer:`` section of a config; :meth:`Trainer.fit`
trains into a run directory::

    {run_dir}/config.yaml                       the resolved config
    {run_dir}/log/                              TensorBoard event files
    {run_dir}/checkpoint/epoch-EEEE_step-SSSSSSS_loss-L.LLLLLL/   weights + training state
    {run_dir}/checkpoint/{checkpoint}_eval_audio_{dataset}.wav    (and ``..._gt.wav``)
    {run_dir}/checkpoint/{checkpoint}_eval_audio_{dataset}_mel.png  (and ``..._gt_mel.png``)
    {run_dir}/checkpoint/{checkpoint}_eval_audio_report.html     listening page of the above

Every random draw of training (data order, crop offsets, diffusion steps and noise) is seeded
from the run seed and its position in the run, so a resumed run continues bit for bit as if it
had never stopped (on the same device and process count).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed

from vocfw.core.atomic import write_text
from vocfw.core.checkpoint import (
    CHECKPOINT_DIR,
    EMA_FILE,
    WEIGHTS_FILE,
    load_weights,
    resolve_checkpoint,
)
from vocfw.core.components import build_components
from vocfw.core.data_config import DataConfig
from vocfw.core.train_logging import LOG_DIR
from vocfw.core.train_loop import TrainingDivergedError, TrainingRun
from vocfw.core.train_state import load_training_state

__all__ = ["Trainer", "TrainingDivergedError"]

CONFIG_FILE = "config.yaml"
RUN_PARTS = (CONFIG_FILE, LOG_DIR, CHECKPOINT_DIR)  # what fit writes into a run directory


def check_run_dir(
    run_dir: Path, source: Path | None, resume_type: str | None, overwrite: bool
) -> bool:
    """Whether ``fit`` may write into ``run_dir``; true when the old run must be cleared first.

    An empty or missing folder is free; a run resumed into itself continues in place.

    Raises:
        FileExistsError: the folder holds files and neither case applies, or ``overwrite``
            would delete the checkpoint being loaded.
    """
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return False
    inside = source is not None and run_dir.resolve() in source.resolve().parents
    if inside and overwrite:
        raise FileExistsError(f"{run_dir}: cannot overwrite the run that {source} is loaded from")
    if inside and resume_type == "resume":
        return False
    if not overwrite:
        raise FileExistsError(
            f"{run_dir}: not empty (an earlier run?); choose another --name, resume it with "
            f"--resume_type resume --checkpoint {run_dir}, or pass --overwrite to replace its "
            f"{', '.join(RUN_PARTS)}"
        )
    return True


def clear_run_dir(run_dir: Path) -> None:
    """Delete what an earlier ``fit`` wrote into ``run_dir`` (nothing else)."""
    for name in RUN_PARTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


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
        ValueError: a setting is out of range.
    """

    def __init__(
        self,
        log_dir: str = "ckpts/vocoder",
        batch_size: int = 32,
        crop_frames: int = 32,
        max_epoch: int = 1_000_000,
        max_steps: int | None = None,
        save_checkpoint_stride: int = 20,
        save_every_steps: int | None = None,
        keep_last: int | None = 3,
        learning_rate: float = 2e-4,
        adam_betas: tuple[float, float] = (0.8, 0.99),
        weight_decay: float = 0.01,
        lr_decay: float = 0.999,
        gradient_clip: float | None = None,
        gradient_accumulation_steps: int = 1,
        mixed_precision: Literal["no", "fp16", "bf16"] = "no",
        ema_decay: float | None = None,
        num_workers: int = 0,
        eval_audio: bool = True,
        eval_seconds: float = 2.0,
        log_every_steps: int = 10,
        device: Literal["auto", "cpu", "cuda"] = "auto",
    ) -> None:
        positive = {
            "batch_size": batch_size, "crop_frames": crop_frames, "max_epoch": max_epoch,
            "save_checkpoint_stride": save_checkpoint_stride, "learning_rate": learning_rate,
            "gradient_accumulation_steps": gradient_accumulation_steps,
            "log_every_steps": log_every_steps, "eval_seconds": eval_seconds,
            "max_steps": max_steps or 1, "save_every_steps": save_every_steps or 1,
            "keep_last": keep_last or 1, "gradient_clip": gradient_clip or 1,
        }
        for key, value in positive.items():
            if value <= 0:
                raise ValueError(f"trainer.{key} must be positive, got {value}")
        if not 0.0 < lr_decay <= 1.0:
            raise ValueError(f"trainer.lr_decay must lie in (0, 1], got {lr_decay}")
        if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"trainer.ema_decay must lie in [0, 1), got {ema_decay}")
        if num_workers < 0 or weight_decay < 0:
            raise ValueError("trainer.num_workers and trainer.weight_decay must not be negative")
        self.log_dir = log_dir
        self.batch_size = batch_size
        self.crop_frames = crop_frames
        self.max_epoch = max_epoch
        self.max_steps = max_steps
        self.save_checkpoint_stride = save_checkpoint_stride
        self.save_every_steps = save_every_steps
        self.keep_last = keep_last
        self.learning_rate = learning_rate
        self.adam_betas = tuple(adam_betas)
        self.weight_decay = weight_decay
        self.lr_decay = lr_decay
        self.gradient_clip = gradient_clip
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.mixed_precision = mixed_precision
        self.ema_decay = ema_decay
        self.num_workers = num_workers
        self.eval_audio = eval_audio
        self.eval_seconds = eval_seconds
        self.log_every_steps = log_every_steps
        self.device = device
        self.stop_signal: int | None = None

    def _accelerator(self) -> Accelerator:
        if self.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("trainer.device is 'cuda' but no CUDA device is available")
        # A fresh state per run, so one process can fit several times with other settings.
        AcceleratorState._reset_state()
        GradientState._reset_state()
        accelerator = Accelerator(
            cpu=self.device == "cpu" or not torch.cuda.is_available(),
            mixed_precision=self.mixed_precision,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            step_scheduler_with_optimizer=False,
        )
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched != accelerator.num_processes:
            raise RuntimeError(
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
        seed: int = 114514,
        overwrite: bool = False,
    ) -> Path:
        """Train, resume or finetune a vocoder into ``run_dir``.

        SIGINT and SIGTERM end the run cleanly: the current step finishes, a checkpoint is
        saved and ``fit`` returns normally with :attr:`stop_signal` set to the signal number
        (``None`` when the run reached ``max_steps`` or ``max_epoch``).

        Args:
            run_dir: the run directory (``{log_dir}/{name}``).
            data: the datasets; their features must have been preprocessed.
            spec: ``{"features", "model", "sampler"}`` component spec.
            config_text: the resolved config, written to ``run_dir/config.yaml``.
            resume_type: ``resume`` continues a run exactly (weights, optimizer, scheduler,
                RNG, counters, position in the data order); ``finetune`` starts from its
                weights only; ``None`` starts from scratch.
            checkpoint: a checkpoint folder, a ``checkpoint/`` folder or a run directory
                (its newest checkpoint), for ``resume_type``.
            seed: seed of the initial weights, the data order, crops and diffusion noise.
            overwrite: replace the run already in ``run_dir`` (its config, logs and
                checkpoints; other files are kept) instead of refusing to start.

        Returns:
            The last checkpoint folder written (or resumed from).

        Raises:
            ValueError: ``resume_type`` without ``checkpoint``, or weights that do not fit
                the model.
            vocfw.core.training_data.TrainingDataError: preprocessed data missing or made
                with other features.
            vocfw.core.checkpoint.CheckpointError: no usable checkpoint at ``checkpoint``.
            TrainingDivergedError: the loss became NaN or infinite; the checkpoints already
                written are kept and the diverged state is not saved.
            FileExistsError: ``run_dir`` is not empty and neither resumed nor ``overwrite``.
        """
        if resume_type is not None and checkpoint is None:
            raise ValueError(f"resume_type {resume_type!r} needs a checkpoint path")
        source = resolve_checkpoint(checkpoint) if resume_type is not None else None
        run_dir = Path(run_dir)
        clear = check_run_dir(run_dir, source, resume_type, overwrite)
        accelerator = self._accelerator()  # every process has checked before any writes
        if clear and accelerator.is_main_process:
            clear_run_dir(run_dir)
        accelerator.wait_for_everyone()
        set_seed(seed)
        components = build_components(spec)
        if source is not None:
            weights = load_weights(source / WEIGHTS_FILE)
            try:
                components.model.load_state_dict(weights)
            except RuntimeError as exc:
                raise ValueError(f"{source / WEIGHTS_FILE} does not fit the model: {exc}") from None
        resumed = load_training_state(source) if resume_type == "resume" else None
        run = TrainingRun(self, accelerator, components, run_dir, data, spec, seed)
        if resumed is not None:
            ema = source / EMA_FILE
            run.restore(*resumed, source, load_weights(ema) if ema.is_file() else None)
        if accelerator.is_main_process:
            write_text(run_dir / CONFIG_FILE, config_text)
        with self._stop_on_signals():
            return run.train(lambda: self.stop_signal is not None)
