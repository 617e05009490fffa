"""One training run of :class:`~vocfw.core.train.trainer.Trainer`: epochs, steps, validation,
saves.

Training draws come from generators seeded by (seed, epoch, position in the epoch, process),
never from the global RNG, which is what makes a resumed run identical to an uninterrupted one.

A NaN or infinite training loss, gradient norm or validation loss, or non-finite weights at a
save, stop the run without saving that state: every checkpoint written holds finite weights and
is named after a finite loss, and only those are "last good" and "best".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from vocfw.core.components import Components
from vocfw.core.data.config import DataConfig
from vocfw.core.errors import VocfwError
from vocfw.core.progress import progress_bar
from vocfw.core.runs.checkpoint import CHECKPOINT_DIR, checkpoint_dirname
from vocfw.core.runs.train_state import (
    Resumed,
    TrainState,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)
from vocfw.core.train.logger import TrainLogger
from vocfw.core.train.parts import Objective, build_parts
from vocfw.core.train.processes import TRAIN_DRAWS, agree, draw_generator, mean

if TYPE_CHECKING:
    from accelerate import Accelerator

    from vocfw.core.train.trainer import Trainer

class TrainingDivergedError(VocfwError, RuntimeError):
    """The training loss, gradient norm, validation loss or weights became NaN or infinite."""


class TrainingRun:
    """The objects and counters of one ``fit`` call.

    Args:
        trainer: the settings.
        accelerator: the run's accelerator.
        components: features, model (already holding finetune/resume weights) and sampler.
        run_dir: the run directory.
        data: the datasets.
        seed: the run seed.
        objective: the loss trained and validated (default: the sampler's ``training_loss``).

    Raises:
        TrainingDataError: missing or mismatching preprocessed data, or no training items.
    """

    def __init__(self, trainer: Trainer, accelerator: Accelerator, components: Components,
                 run_dir: Path, data: DataConfig, seed: int,
                 objective: Objective | None = None) -> None:
        self.settings, self.acc, self.seed = trainer, accelerator, seed
        self.spec, self.features = components.spec, components.features
        self.sampler = components.sampler
        self.objective = objective or components.sampler.training_loss
        self.parts = build_parts(trainer, accelerator, components, data, seed)
        self.global_batch = trainer.batch_size * accelerator.num_processes
        self.state = TrainState()
        self.run_dir, self.checkpoint_dir = run_dir, run_dir / CHECKPOINT_DIR
        self.last_checkpoint: Path | None = None
        self.last_saved_step = -1
        self.save_due = self.resumed = False
        self.epoch_sum = self.window_sum = 0.0
        self.epoch_count = self.window_count = 0
        self.grad_norm = math.nan
        self.window_start = time.perf_counter()
        self.logger: TrainLogger | None = None

    def restore(self, resumed: Resumed, source: Path) -> None:
        """Continue from the training state of checkpoint ``source`` (weights already loaded).

        Raises:
            TrainStateError: its optimizer state does not fit the optimizer.
        """
        self.parts.restore(resumed, self.acc.scaler, source)
        restore_rng(resumed.rng)
        self.state = resumed.snapshot.state
        self.last_checkpoint, self.last_saved_step = source, self.state.step
        self.resumed = True

    def _done(self) -> bool:
        st = self.state
        return st.epoch >= self.settings.max_epoch or (
            self.settings.max_steps is not None and st.step >= self.settings.max_steps
        )

    def train(self, stop_requested: Callable[[], bool]) -> Path:
        """Run epochs until ``max_epoch``/``max_steps`` or a stop request; save at the end.

        Args:
            stop_requested: polled every step; true ends the run after the current step.

        Returns:
            The last checkpoint folder.
        """
        if self.acc.is_main_process:
            purge = self.state.step + 1 if self.resumed else None
            self.logger = TrainLogger(self.run_dir, self.features, purge_step=purge)
        s = self.settings
        batches = math.ceil(len(self.parts.train_sampler) / s.batch_size / self.acc.num_processes)
        total = math.ceil(batches / s.gradient_accumulation_steps) * s.max_epoch
        if s.max_steps is not None:
            total = min(total, s.max_steps)
        bar = progress_bar(total=total, initial=self.state.step, unit="step", dynamic_ncols=True,
                           disable=not self.acc.is_main_process)
        stopped = self._done()
        try:
            while not stopped:
                finished, stopped = self._train_epoch(bar, stop_requested)
                if finished:
                    self._end_epoch()
                stopped = stopped or self._done()
            if self.last_saved_step != self.state.step or self.last_checkpoint is None:
                st = self.state
                epoch = st.epoch if st.samples_in_epoch else max(st.epoch - 1, 0)
                self._save(epoch, validate=not stop_requested(), audio=not stop_requested())
        finally:
            bar.close()
            if self.logger is not None:
                self.logger.close()
        return self.last_checkpoint

    def _train_epoch(self, bar: tqdm, stop_requested: Callable[[], bool]) -> tuple[bool, bool]:
        """Train on the rest of the current epoch; returns (epoch finished, stop)."""
        st, parts = self.state, self.parts
        parts.train_set.set_epoch(st.epoch)
        parts.train_sampler.start = min(st.samples_in_epoch, len(parts.train_set))
        parts.train_loader.set_epoch(st.epoch)
        remaining, taken, stop = len(parts.train_loader), 0, False
        for batch in parts.train_loader:
            taken += 1
            stop = self._step(batch, stop_requested()) or stop
            if self.acc.sync_gradients:
                bar.update(1)
                if st.step % self.settings.log_every_steps == 0:
                    self._log_step(bar)
                if self.settings.save_every_steps and st.step % self.settings.save_every_steps == 0:
                    if taken == remaining:
                        self.save_due = True  # saved with the epoch's end state instead
                    else:
                        self._save(st.epoch)
                if self.settings.max_steps is not None and st.step >= self.settings.max_steps:
                    stop = True
                if stop:
                    break
        return taken == remaining, stop

    def _step(self, batch: dict[str, torch.Tensor], stop_requested: bool) -> bool:
        """One forward/backward (and optimizer step at accumulation boundaries).

        Returns:
            Whether some process was asked to stop.

        Raises:
            TrainingDivergedError: the loss or gradient norm is not finite.
        """
        st, parts = self.state, self.parts
        with self.acc.accumulate(parts.model):
            generator = draw_generator(self.acc, self.seed, TRAIN_DRAWS, st.epoch,
                                       st.samples_in_epoch)
            with self.acc.autocast():
                loss = self.objective(parts.model, batch["audio"], batch["mel"],
                                      generator=generator)
            value = float(loss.detach())
            diverged, stop = agree(self.acc, not math.isfinite(value), stop_requested)
            if diverged:
                self._diverged(f"loss {value}", st.step + 1)
            self.acc.backward(loss)
            if self.acc.sync_gradients:
                self.grad_norm = float(self.acc.clip_grad_norm_(
                    parts.model.parameters(), self.settings.gradient_clip or math.inf
                ))
                if not math.isfinite(self.grad_norm) and self.acc.scaler is None:
                    self._diverged(f"gradient norm {self.grad_norm}", st.step + 1)
            parts.optimizer.step()
            parts.optimizer.zero_grad(set_to_none=True)
        count = batch["audio"].shape[0]
        self.epoch_sum += value * count
        self.window_sum += value * count
        self.epoch_count += count
        self.window_count += count
        st.samples_in_epoch += self.global_batch
        if self.acc.sync_gradients:
            st.step += 1
            parts.update_ema(self.settings.ema_decay)
        return stop

    def _diverged(self, what: str, step: int) -> None:
        """Stop the run: ``what`` became NaN or infinite at ``step``; nothing more is saved."""
        kept = self.last_checkpoint or "none was saved yet"
        raise TrainingDivergedError(
            f"training diverged at epoch {self.state.epoch}, step {step}: {what}. Stopped "
            f"without saving this state; the last good checkpoint is {kept}. Try a lower "
            f"learning_rate, gradient_clip, or mixed_precision 'no'"
        )

    def _log_step(self, bar: tqdm) -> None:
        loss = mean(self.acc, self.window_sum, self.window_count)
        elapsed = time.perf_counter() - self.window_start
        throughput = self.window_count * self.acc.num_processes / max(elapsed, 1e-9)
        lr = self.parts.optimizer.param_groups[0]["lr"]
        if self.logger is not None:
            self.logger.scalars({
                "train/loss": loss, "train/learning_rate": lr,
                "train/grad_norm": self.grad_norm, "train/samples_per_second": throughput,
            }, self.state.step)
        bar.set_postfix(epoch=self.state.epoch, loss=f"{loss:.4f}", ex_per_s=f"{throughput:.1f}")
        self.window_sum, self.window_count = 0.0, 0
        self.window_start = time.perf_counter()

    def _epoch_loss(self) -> float:
        """The mean training loss of the epoch so far (NaN before its first step); a finite one
        is kept in the state, to name checkpoints saved without validation."""
        loss = mean(self.acc, self.epoch_sum, self.epoch_count)
        if math.isfinite(loss):
            self.state.train_loss = loss
        return loss

    def _end_epoch(self) -> None:
        st = self.state
        epoch = st.epoch
        train_loss = self._epoch_loss()
        valid_loss = self._validate()
        if self.logger is not None:
            values = {"epoch/train_loss": train_loss, "epoch/epoch": float(epoch)}
            if valid_loss is not None:
                values["epoch/valid_loss"] = valid_loss
            self.logger.scalars(values, st.step)
        self.parts.scheduler.step()
        self.epoch_sum, self.epoch_count = 0.0, 0
        st.epoch, st.samples_in_epoch = epoch + 1, 0
        if epoch % self.settings.save_checkpoint_stride == 0 or self.save_due:
            self._save(epoch, valid_loss=valid_loss)
        self.save_due = False

    def _validate(self) -> float | None:
        """The validation loss (``None`` without validation data).

        Raises:
            TrainingDivergedError: it is not finite.
        """
        loss = self.parts.validation_loss(self.objective, self.acc, self.seed)
        if loss is not None and not math.isfinite(loss):
            self._diverged(f"validation loss {loss}", self.state.step)
        return loss

    def _save(
        self, epoch: int, valid_loss: float | None = None, validate: bool = True,
        audio: bool = True,
    ) -> None:
        """Checkpoint the current state (main process writes; every process takes part).

        Raises:
            TrainingDivergedError: the validation loss or a weight is not finite.
        """
        st, parts = self.state, self.parts
        if valid_loss is None and validate:
            valid_loss = self._validate()
        self._epoch_loss()
        if not parts.finite():
            self._diverged("non-finite weights", st.step)
        name_loss = valid_loss if valid_loss is not None else st.train_loss
        name = checkpoint_dirname(epoch, st.step, math.nan if name_loss is None else name_loss)
        st.valid_loss = None
        if valid_loss is not None:
            st.record_validation(valid_loss, name)
        folder = self.checkpoint_dir / name
        if self.acc.is_main_process:
            if not folder.exists():
                save_checkpoint(folder, parts.snapshot(st, self.acc.scaler), self.spec)
            if audio and self.settings.eval_audio and parts.eval_items:
                self.logger.eval_audio(
                    parts.ema or parts.net, self.sampler, parts.eval_items, folder, st.step,
                    self.settings.eval_seconds, self.seed,
                )
            if valid_loss is not None:
                self.logger.scalars({"valid/loss": valid_loss}, st.step)
            protect = {st.best_checkpoint} if st.best_checkpoint else set()
            prune_checkpoints(self.checkpoint_dir, self.settings.keep_last, protect)
        self.acc.wait_for_everyone()
        self.last_checkpoint, self.last_saved_step = folder, st.step
