"""The resumable training state of a checkpoint: its one writer, its one reader, and pruning.

A checkpoint folder holds, besides the weights and ``components.json``::

    trainer_state.json     counters, position in the epoch's data order, validation losses,
                           NumPy and Python RNG states (plain JSON)
    optimizer.pt           optimizer state dict      (tensors only: loaded with weights_only)
    scheduler.pt           learning-rate scheduler state dict
    rng_state.pt           torch CPU and CUDA generator states
    scaler.pt              fp16 gradient-scaler state (only with fp16 mixed precision)

The folder is assembled under a temporary name and renamed into place, so a run killed while
saving never leaves a newest checkpoint that resuming would pick and fail on; the temporary
folders such a run leaves are removed at the next save.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vocfw.core.atomic import remove_stale_folders, write_json
from vocfw.core.components import one_line
from vocfw.core.runs.checkpoint import (
    EMA_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    list_checkpoints,
    load_weights,
    read_json,
    write_checkpoint,
)

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
RNG_FILE = "rng_state.pt"
SCALER_FILE = "scaler.pt"
EVAL_AUDIO_INFIX = "_eval_audio_"


@dataclass
class TrainState:
    """Where a run is: the counters and losses that resuming restores.

    Attributes:
        epoch: the epoch to run next (or the one in progress).
        step: optimizer steps taken.
        samples_in_epoch: items of the current epoch's data order already consumed.
        batch_in_epoch: batches this process has taken in the current epoch.
        valid_loss: the validation loss measured for this checkpoint (``None``: not measured).
        best_valid_loss: the lowest validation loss of the run so far.
        best_checkpoint: the checkpoint folder name with ``best_valid_loss``.
    """

    epoch: int = 0
    step: int = 0
    samples_in_epoch: int = 0
    batch_in_epoch: int = 0
    valid_loss: float | None = None
    best_valid_loss: float | None = None
    best_checkpoint: str | None = None

    def record_validation(self, loss: float, checkpoint: str) -> None:
        """Remember ``loss`` as this checkpoint's validation loss and update the best."""
        self.valid_loss = loss
        if self.best_valid_loss is None or loss < self.best_valid_loss:
            self.best_valid_loss, self.best_checkpoint = loss, checkpoint


@dataclass
class TrainingSnapshot:
    """Everything one checkpoint stores."""

    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any] | None
    state: TrainState


def capture_rng() -> tuple[dict[str, Any], dict[str, Any]]:
    """The global RNG states: (torch tensors, JSON-able NumPy and Python states)."""
    tensors = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors["cuda"] = torch.cuda.get_rng_state_all()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    plain = {
        "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
        "python": [version, list(python_state), gauss],
    }
    return tensors, plain


def restore_rng(tensors: dict[str, Any], plain: dict[str, Any]) -> None:
    """Set the global RNGs to states from :func:`capture_rng`."""
    torch.set_rng_state(tensors["cpu"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(tensors["cuda"])
    kind, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, python_state, gauss = plain["python"]
    random.setstate((version, tuple(python_state), gauss))


def save_checkpoint(folder: Path, snapshot: TrainingSnapshot, spec: dict) -> Path:
    """Write one complete checkpoint folder atomically.

    Args:
        folder: the final folder (``.../checkpoint/epoch-..._step-..._loss-...``).
        snapshot: weights and training state.
        spec: the features/model/sampler spec stored as ``components.json``.

    Returns:
        ``folder``.
    """
    rng_tensors, rng_plain = capture_rng()

    def write_state(tmp: Path) -> None:
        torch.save(snapshot.optimizer, tmp / OPTIMIZER_FILE)
        torch.save(snapshot.scheduler, tmp / SCHEDULER_FILE)
        torch.save(rng_tensors, tmp / RNG_FILE)
        if snapshot.scaler is not None:
            torch.save(snapshot.scaler, tmp / SCALER_FILE)
        write_json(tmp / STATE_FILE, {**asdict(snapshot.state), "rng": rng_plain})

    remove_stale_folders(folder.parent)
    return write_checkpoint(folder, spec, snapshot.model, snapshot.ema, write_state)


def _load_tensor_file(path: Path, required: bool = True) -> Any:
    if not path.is_file():
        if required:
            raise CheckpointError(f"{path}: missing; cannot resume from this checkpoint")
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or non-tensor files
        raise CheckpointError(
            f"{path}: not a readable tensors-only torch file ({one_line(exc)[:200]})"
        ) from None


@dataclass
class Resumed:
    """A checkpoint's resumable state, as :func:`load_training_state` reads it.

    Attributes:
        snapshot: optimizer, scheduler, scaler and counters (``model`` empty: the weights are
            loaded with the model; ``ema`` holds the moving-average weights when stored).
        rng_tensors: torch CPU and CUDA generator states.
        rng_plain: NumPy and Python RNG states.
    """

    snapshot: TrainingSnapshot
    rng_tensors: dict[str, Any]
    rng_plain: dict[str, Any]


def load_training_state(folder: Path) -> Resumed:
    """Read the resumable state of a checkpoint (its network weights are loaded separately).

    Raises:
        CheckpointError: the folder lacks the training state (for example an imported,
            weights-only checkpoint: use finetune instead).
    """
    path = folder / STATE_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{path}: missing, so {folder} holds weights only; it can be finetuned from "
            f"(resume_type: finetune) but not resumed"
        )
    raw = read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("rng"), dict):
        raise CheckpointError(f"{path}: expected a JSON object with the counters and 'rng'")
    state = TrainState(**{f.name: raw[f.name] for f in fields(TrainState) if f.name in raw})
    ema = folder / EMA_FILE
    snapshot = TrainingSnapshot(
        model={}, ema=load_weights(ema) if ema.is_file() else None,
        optimizer=_load_tensor_file(folder / OPTIMIZER_FILE),
        scheduler=_load_tensor_file(folder / SCHEDULER_FILE),
        scaler=_load_tensor_file(folder / SCALER_FILE, required=False),
        state=state,
    )
    return Resumed(snapshot, _load_tensor_file(folder / RNG_FILE), raw["rng"])


def load_start(model: torch.nn.Module, source: Path | None, resume: bool) -> Resumed | None:
    """Load the weights a run starts from into ``model``, and for a resumed run its state.

    Args:
        model: the freshly built network.
        source: the checkpoint folder to start from (``None``: from scratch).
        resume: also read the training state (``resume``; ``finetune`` takes weights only).

    Returns:
        The training state to restore, or ``None`` when not resuming.

    Raises:
        ValueError: the weights do not fit ``model``.
        CheckpointError: a file is missing or unreadable.
    """
    if source is None:
        return None
    weights = source / WEIGHTS_FILE
    try:
        model.load_state_dict(load_weights(weights))
    except RuntimeError as exc:
        raise ValueError(f"{weights} does not fit the model: {exc}") from None
    return load_training_state(source) if resume else None


def prune_checkpoints(folder: Path, keep_last: int | None, protect: set[str]) -> list[Path]:
    """Delete all but the ``keep_last`` newest checkpoints in ``folder``, never ``protect``.

    The newest checkpoint is always kept. Evaluation audio, mel images and report page beside a
    deleted checkpoint go with it.

    Returns:
        The deleted checkpoint folders.
    """
    if keep_last is None:
        return []
    found = list_checkpoints(folder)
    keep = {p.name for p in found[-max(keep_last, 1):]} | protect
    removed = [p for p in found if p.name not in keep]
    for path in removed:
        shutil.rmtree(path)
        for media in folder.glob(f"{path.name}{EVAL_AUDIO_INFIX}*"):
            if media.suffix in (".wav", ".png", ".html"):
                media.unlink()
    return removed
