"""One training run of :class:`~vocfw.core.train.trainer.Trainer`: data, optimizer, loop, saves.

Training draws come from generators seeded by (seed, epoch, position in the epoch, process),
never from the global RNG, which is what makes a resumed run identical to an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from vocfw.core.components import Components
from vocfw.core.data.config import DataConfig
from vocfw.core.data.dataset import CropDataset, EpochSampler, eval_items, list_items
from vocfw.core.data.layout import TrainingDataError
from vocfw.core.runs.checkpoint import CHECKPOINT_DIR, checkpoint_dirname
from vocfw.core.runs.train_state import (
    Resumed,
    TrainingSnapshot,
    TrainState,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)
from vocfw.core.seed import draw_seed
from vocfw.core.train.logger import TrainLogger

if TYPE_CHECKING:
    from accelerate import Accelerator

    from vocfw.core.train.trainer import Trainer

TRAIN_DRAWS, VALID_DRAWS = 1, 2


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or infinite."""


class TrainingRun:
    """The objects and counters of one ``fit`` call.

    Args:
        trainer: the settings.
        accelerator: the run's accelerator.
        components: features, model (already holding finetune/resume weights) and sampler.
        run_dir: the run directory.
        data: the datasets.
        seed: the run seed.

    Raises:
        TrainingDataError: missing or mismatching preprocessed data, or no training items.
    """

    def __init__(
        self,
        trainer: Trainer,
        accelerator: Accelerator,
        components: Components,
        run_dir: Path,
        data: DataConfig,
        seed: int,
    ) -> None:
        self.settings, self.acc, self.seed = trainer, accelerator, seed
        self.spec = components.spec
        self.features, self.sampler = components.features, components.sampler
        model = components.model
        train_items = list_items(data, "train", self.features, model.n_mels)
        if not train_items:
            raise TrainingDataError(f"no training utterances in {list(data.datasets)} under "
                                    f"{data.processed_dir}")
        valid_items = list_items(data, "validation", self.features, model.n_mels)
        self.eval_items = eval_items(valid_items, seed)
        self.train_set = CropDataset(train_items, self.features, trainer.crop_frames, seed)
        self.valid_set = CropDataset(valid_items, self.features, trainer.crop_frames, seed + 1)
        self.train_sampler = EpochSampler(len(train_items), seed)
        self.ema = None
        if trainer.ema_decay is not None:
            self.ema = copy.deepcopy(model).requires_grad_(False).eval()
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=trainer.learning_rate, betas=trainer.adam_betas,
            weight_decay=trainer.weight_decay,
        )
        # Stepped by hand once per epoch: never through accelerate, which would step it
        # once per process.
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=trainer.lr_decay)
        self.model, self.optimizer, self.train_loader = accelerator.prepare(
            model, optimizer, self._loader(self.train_set, self.train_sampler)
        )
        self.valid_loader = accelerator.prepare(
            self._loader(self.valid_set, EpochSampler(len(valid_items), seed, shuffle=False))
        ) if valid_items else None
        self.net = accelerator.unwrap_model(self.model)
        if self.ema is not None:
            self.ema.to(accelerator.device)
        self.global_batch = trainer.batch_size * accelerator.num_processes
        self.state = TrainState()
        self.checkpoint_dir = run_dir / CHECKPOINT_DIR
        self.last_checkpoint: Path | None = None
        self.last_saved_step = -1
        self.save_due = self.resumed = False
        self.epoch_sum = self.window_sum = 0.0
        self.epoch_count = self.window_count = 0
        self.grad_norm = math.nan
        self.window_start = time.perf_counter()
        self.run_dir = run_dir
        self.logger: TrainLogger | None = None

    def _loader(self, dataset: CropDataset, sampler: EpochSampler) -> DataLoader:
        return DataLoader(
            dataset, batch_size=self.settings.batch_size, sampler=sampler, drop_last=False,
            num_workers=self.settings.num_workers, pin_memory=self.acc.device.type == "cuda",
        )

    def restore(self, resumed: Resumed, source: Path) -> None:
        """Continue from the training state of checkpoint ``source`` (weights already loaded)."""
        snapshot, ema = resumed.snapshot, resumed.snapshot.ema
        self.optimizer.load_state_dict(snapshot.optimizer)
        self.scheduler.load_state_dict(snapshot.scheduler)
        if snapshot.scaler is not None and self.acc.scaler is not None:
            self.acc.scaler.load_state_dict(snapshot.scaler)
        if self.ema is not None:
            self.ema.load_state_dict(ema if ema is not None else self.net.state_dict())
        restore_rng(resumed.rng_tensors, resumed.rng_plain)
        self.state = snapshot.state
        self.last_checkpoint, self.last_saved_step = source, snapshot.state.step
        self.resumed = True

    # ----------------------------------------------------------------------------- helpers

    def _agree(self, *flags: bool) -> list[bool]:
        """Flags true on any process (one all-reduce, only with several processes)."""
        if self.acc.num_processes == 1:
            return list(flags)
        values = torch.tensor([float(f) for f in flags], device=self.acc.device)
        return [bool(v) for v in self.acc.reduce(values, reduction="sum").tolist()]

    def _mean(self, total: float, count: int) -> float:
        """Mean over all processes of values summed per process."""
        values = torch.tensor([total, float(count)], dtype=torch.float64, device=self.acc.device)
        if self.acc.num_processes > 1:
            values = self.acc.reduce(values, reduction="sum")
        total, count = values.tolist()
        return total / count if count else math.nan

    def _done(self) -> bool:
        st = self.state
        return st.epoch >= self.settings.max_epoch or (
            self.settings.max_steps is not None and st.step >= self.settings.max_steps
        )

    def _generator(self, *keys: int) -> torch.Generator:
        seed = draw_seed(self.seed, *keys, self.acc.process_index)
        return torch.Generator(device=self.acc.device).manual_seed(seed)

    def _update_ema(self) -> None:
        if self.ema is None:
            return
        with torch.no_grad():
            for averaged, current in zip(self.ema.parameters(), self.net.parameters(), strict=True):
                averaged.lerp_(current, 1.0 - self.settings.ema_decay)
            for averaged, current in zip(self.ema.buffers(), self.net.buffers(), strict=True):
                averaged.copy_(current)

    # ------------------------------------------------------------------------------ the loop

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
        batches = math.ceil(len(self.train_sampler) / s.batch_size / self.acc.num_processes)
        total = math.ceil(batches / s.gradient_accumulation_steps) * s.max_epoch
        if s.max_steps is not None:
            total = min(total, s.max_steps)
        bar = tqdm(total=total, initial=self.state.step, unit="step", dynamic_ncols=True,
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
        st = self.state
        self.train_set.set_epoch(st.epoch)
        self.train_sampler.start = min(st.samples_in_epoch, len(self.train_set))
        self.train_loader.set_epoch(st.epoch)
        remaining, taken, stop = len(self.train_loader), 0, False
        for batch in self.train_loader:
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
        st = self.state
        with self.acc.accumulate(self.model):
            generator = self._generator(TRAIN_DRAWS, st.epoch, st.samples_in_epoch)
            with self.acc.autocast():
                loss = self.sampler.training_loss(
                    self.model, batch["audio"], batch["mel"], generator=generator
                )
            value = float(loss.detach())
            diverged, stop = self._agree(not math.isfinite(value), stop_requested)
            if diverged:
                self._diverged(f"loss {value}")
            self.acc.backward(loss)
            if self.acc.sync_gradients:
                self.grad_norm = float(self.acc.clip_grad_norm_(
                    self.model.parameters(), self.settings.gradient_clip or math.inf
                ))
                if not math.isfinite(self.grad_norm) and self.acc.scaler is None:
                    self._diverged(f"gradient norm {self.grad_norm}")
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        count = batch["audio"].shape[0]
        self.epoch_sum += value * count
        self.window_sum += value * count
        self.epoch_count += count
        self.window_count += count
        st.samples_in_epoch += self.global_batch
        if self.acc.sync_gradients:
            st.step += 1
            self._update_ema()
        return stop

    def _diverged(self, what: str) -> None:
        where = f"epoch {self.state.epoch}, step {self.state.step + 1}"
        kept = self.last_checkpoint or "none was saved yet"
        raise TrainingDivergedError(
            f"training diverged at {where}: {what}. Stopped without saving this state; the "
            f"last good checkpoint is {kept}. Try a lower learning_rate, gradient_clip, or "
            f"mixed_precision 'no'"
        )

    def _log_step(self, bar: tqdm) -> None:
        loss = self._mean(self.window_sum, self.window_count)
        elapsed = time.perf_counter() - self.window_start
        throughput = self.window_count * self.acc.num_processes / max(elapsed, 1e-9)
        lr = self.optimizer.param_groups[0]["lr"]
        if self.logger is not None:
            self.logger.scalars({
                "train/loss": loss, "train/learning_rate": lr,
                "train/grad_norm": self.grad_norm, "train/samples_per_second": throughput,
            }, self.state.step)
        bar.set_postfix(epoch=self.state.epoch, loss=f"{loss:.4f}", ex_per_s=f"{throughput:.1f}")
        self.window_sum, self.window_count = 0.0, 0
        self.window_start = time.perf_counter()

    def _end_epoch(self) -> None:
        st = self.state
        epoch = st.epoch
        train_loss = self._mean(self.epoch_sum, self.epoch_count)
        valid_loss = self._validate()
        if self.logger is not None:
            values = {"epoch/train_loss": train_loss, "epoch/epoch": float(epoch)}
            if valid_loss is not None:
                values["epoch/valid_loss"] = valid_loss
            self.logger.scalars(values, st.step)
        self.scheduler.step()
        self.epoch_sum, self.epoch_count = 0.0, 0
        st.epoch, st.samples_in_epoch = epoch + 1, 0
        if epoch % self.settings.save_checkpoint_stride == 0 or self.save_due:
            self._save(epoch, valid_loss=valid_loss)
        self.save_due = False

    def _validate(self) -> float | None:
        """Mean loss over the validation crops (fixed crops, steps and noise); ``None``
        without validation data."""
        if self.valid_loader is None:
            return None
        self.model.eval()
        total, count = 0.0, 0
        self.valid_set.set_epoch(0)
        self.valid_loader.set_epoch(0)
        with torch.no_grad():
            for index, batch in enumerate(self.valid_loader):
                generator = self._generator(VALID_DRAWS, index)
                with self.acc.autocast():
                    loss = self.sampler.training_loss(
                        self.net, batch["audio"], batch["mel"], generator=generator
                    )
                total += float(loss) * batch["audio"].shape[0]
                count += batch["audio"].shape[0]
        self.model.train()
        return self._mean(total, count)

    def _save(
        self, epoch: int, valid_loss: float | None = None, validate: bool = True,
        audio: bool = True,
    ) -> None:
        """Checkpoint the current state (main process writes; every process takes part)."""
        st = self.state
        if valid_loss is None and validate:
            valid_loss = self._validate()
        name_loss = valid_loss if valid_loss is not None else self._mean(
            self.epoch_sum, self.epoch_count
        )
        name = checkpoint_dirname(epoch, st.step, name_loss)
        st.valid_loss = None
        if valid_loss is not None:
            st.record_validation(valid_loss, name)
        folder = self.checkpoint_dir / name
        if self.acc.is_main_process:
            if not folder.exists():
                save_checkpoint(folder, self._snapshot(), self.spec)
            if audio and self.settings.eval_audio and self.eval_items:
                self.logger.eval_audio(
                    self.ema or self.net, self.sampler, self.eval_items, folder, st.step,
                    self.settings.eval_seconds, self.seed,
                )
            if valid_loss is not None:
                self.logger.scalars({"valid/loss": valid_loss}, st.step)
            protect = {st.best_checkpoint} if st.best_checkpoint else set()
            prune_checkpoints(self.checkpoint_dir, self.settings.keep_last, protect)
        self.acc.wait_for_everyone()
        self.last_checkpoint, self.last_saved_step = folder, st.step

    def _snapshot(self) -> TrainingSnapshot:
        return TrainingSnapshot(
            model=self.net.state_dict(),
            ema=self.ema.state_dict() if self.ema is not None else None,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.acc.scaler.state_dict() if self.acc.scaler is not None else None,
            state=replace(self.state),
        )
