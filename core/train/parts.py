"""The objects one training run trains with: data, network, moving average, optimizer and
learning-rate schedule; how they are built, measured on the validation data, stored in a
checkpoint and restored from one."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader

from vocfw.core.components import Components, one_line
from vocfw.core.data.config import DataConfig
from vocfw.core.data.dataset import CropDataset, EpochSampler, Item, eval_items, list_items
from vocfw.core.data.layout import TrainingDataError
from vocfw.core.model import Vocoder
from vocfw.core.runs.train_state import (
    OPTIMIZER_FILE,
    Resumed,
    TrainingSnapshot,
    TrainState,
    TrainStateError,
)
from vocfw.core.train.processes import VALID_DRAWS, draw_generator, mean

if TYPE_CHECKING:
    from accelerate import Accelerator

    from vocfw.core.train.trainer import Trainer

Objective = Callable[..., torch.Tensor]
"""A training objective called as ``(model, audio (B, N), mel (B, M, T), generator=...)`` ->
scalar loss: a sampler's ``training_loss``, or a distillation's loss."""


@dataclass
class TrainingParts:
    """What a run trains with, prepared for its accelerator.

    Attributes:
        model: the network as the accelerator wraps it (for forward and backward passes).
        net: the network itself (for its weights).
        ema: the moving average of the weights (``None``: not kept).
        optimizer: AdamW over ``model``.
        scheduler: the per-epoch exponential learning-rate decay (stepped by hand once per
            epoch, never through accelerate, which would step it once per process).
        train_set, train_sampler, train_loader: the training crops and their epoch order.
        valid_set, valid_loader: the validation crops (``valid_loader`` ``None``: no data).
        eval_items: the utterances vocoded at each checkpoint.
    """

    model: torch.nn.Module
    net: Vocoder
    ema: Vocoder | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ExponentialLR
    train_set: CropDataset
    train_sampler: EpochSampler
    train_loader: DataLoader
    valid_set: CropDataset
    valid_loader: DataLoader | None
    eval_items: list[Item]

    def restore(self, resumed: Resumed, scaler: Any, folder: Path) -> None:
        """Load checkpoint ``folder``'s optimizer, scheduler, scaler and moving average.

        Raises:
            TrainStateError: the optimizer state does not fit this optimizer.
        """
        snapshot = resumed.snapshot
        try:
            self.optimizer.load_state_dict(snapshot.optimizer)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise TrainStateError(f"{folder / OPTIMIZER_FILE}: does not fit the model's "
                                  f"optimizer ({one_line(exc)})") from None
        self.scheduler.load_state_dict(snapshot.scheduler)
        if snapshot.scaler is not None and scaler is not None:
            scaler.load_state_dict(snapshot.scaler)
        if self.ema is not None:
            self.ema.load_state_dict(snapshot.ema if snapshot.ema is not None
                                     else self.net.state_dict())

    def snapshot(self, state: TrainState, scaler: Any) -> TrainingSnapshot:
        """Everything a checkpoint of ``state`` stores."""
        return TrainingSnapshot(
            model=self.net.state_dict(),
            ema=self.ema.state_dict() if self.ema is not None else None,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=scaler.state_dict() if scaler is not None else None,
            state=copy.copy(state),
        )

    def update_ema(self, decay: float) -> None:
        """Move the moving average towards the current weights (when one is kept)."""
        if self.ema is None:
            return
        with torch.no_grad():
            for averaged, current in zip(self.ema.parameters(), self.net.parameters(), strict=True):
                averaged.lerp_(current, 1.0 - decay)
            for averaged, current in zip(self.ema.buffers(), self.net.buffers(), strict=True):
                averaged.copy_(current)

    def validation_loss(self, objective: Objective, accelerator: Accelerator, seed: int
                        ) -> float | None:
        """Mean ``objective`` over the validation crops (fixed crops, steps and noise), over
        all processes; ``None`` without validation data."""
        if self.valid_loader is None:
            return None
        self.model.eval()
        total, count = 0.0, 0
        self.valid_set.set_epoch(0)
        self.valid_loader.set_epoch(0)
        with torch.no_grad():
            for index, batch in enumerate(self.valid_loader):
                generator = draw_generator(accelerator, seed, VALID_DRAWS, index)
                with accelerator.autocast():
                    loss = objective(self.net, batch["audio"], batch["mel"], generator=generator)
                total += float(loss) * batch["audio"].shape[0]
                count += batch["audio"].shape[0]
        self.model.train()
        return mean(accelerator, total, count)

    def finite(self) -> bool:
        """Every floating-point weight of the network and its moving average is finite."""
        modules = [self.net] if self.ema is None else [self.net, self.ema]
        return all(bool(torch.isfinite(tensor).all()) for module in modules
                   for tensor in module.state_dict().values() if tensor.is_floating_point())


def _loader(dataset: CropDataset, sampler: EpochSampler, settings: Trainer,
            accelerator: Accelerator) -> DataLoader:
    """Batches of ``dataset`` in ``sampler``'s order, loaded by ``settings.num_workers``."""
    return DataLoader(
        dataset, batch_size=settings.batch_size, sampler=sampler, drop_last=False,
        num_workers=settings.num_workers, pin_memory=accelerator.device.type == "cuda",
    )


def build_parts(settings: Trainer, accelerator: Accelerator, components: Components,
                data: DataConfig, seed: int) -> TrainingParts:
    """Build and prepare the parts of a run; ``components.model`` already holds the weights it
    starts from.

    Raises:
        TrainingDataError: missing or mismatching preprocessed data, or no training items.
    """
    features, model = components.features, components.model
    train_items = list_items(data, "train", features, model.n_mels)
    if not train_items:
        raise TrainingDataError(f"no training utterances in {list(data.datasets)} under "
                                f"{data.processed_dir}")
    valid_items = list_items(data, "validation", features, model.n_mels)
    train_set = CropDataset(train_items, features, settings.crop_frames, seed)
    valid_set = CropDataset(valid_items, features, settings.crop_frames, seed + 1)
    train_sampler = EpochSampler(len(train_items), seed)
    ema = None
    if settings.ema_decay is not None:
        ema = copy.deepcopy(model).requires_grad_(False).eval()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, betas=settings.adam_betas,
        weight_decay=settings.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings.lr_decay)
    prepared, optimizer, train_loader = accelerator.prepare(
        model, optimizer, _loader(train_set, train_sampler, settings, accelerator)
    )
    valid_loader = accelerator.prepare(_loader(
        valid_set, EpochSampler(len(valid_items), seed, shuffle=False), settings, accelerator
    )) if valid_items else None
    if ema is not None:
        ema.to(accelerator.device)
    return TrainingParts(
        model=prepared, net=accelerator.unwrap_model(prepared), ema=ema, optimizer=optimizer,
        scheduler=scheduler, train_set=train_set, train_sampler=train_sampler,
        train_loader=train_loader, valid_set=valid_set, valid_loader=valid_loader,
        eval_items=eval_items(valid_items, seed),
    )
