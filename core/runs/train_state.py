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
folders such a run leaves are removed when ``fit`` next starts in the run (see run_dir).
"""

from __future__ import annotations

import math
import random
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vocfw.core.atomic import write_json
from vocfw.core.components import one_line
from vocfw.core.errors import VocfwError
from vocfw.core.runs.checkpoint import (
    EMA_FILE,
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
COUNTERS = ("epoch", "step", "samples_in_epoch")
# what the RNG libraries raise for a state of the wrong form
MALFORMED = (TypeError, ValueError, IndexError, OverflowError, RuntimeError)


class TrainStateError(CheckpointError, VocfwError):
    """A checkpoint's training state is not of the form vocfw writes (the message names the file
    and the key)."""


@dataclass
class TrainState:
    """Where a run is: the counters and losses that resuming restores.

    Attributes:
        epoch: the epoch to run next (or the one in progress).
        step: optimizer steps taken.
        samples_in_epoch: items of the current epoch's data order already consumed.
        valid_loss: the validation loss measured for this checkpoint (``None``: not measured).
        best_valid_loss: the lowest finite validation loss of the run so far.
        best_checkpoint: the checkpoint folder name with ``best_valid_loss``.
        train_loss: the mean training loss of the epoch so far, or of the last epoch that
            ended (``None``: none measured yet).
    """

    epoch: int = 0
    step: int = 0
    samples_in_epoch: int = 0
    valid_loss: float | None = None
    best_valid_loss: float | None = None
    best_checkpoint: str | None = None
    train_loss: float | None = None

    def record_validation(self, loss: float, checkpoint: str) -> None:
        """Remember ``loss`` as this checkpoint's validation loss and update the best (a
        non-finite loss is never the best)."""
        self.valid_loss = loss
        best = self.best_valid_loss
        if math.isfinite(loss) and (best is None or not math.isfinite(best) or loss < best):
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


@dataclass
class RngStates:
    """The global RNG states a checkpoint restores, each checked when read."""

    torch_cpu: torch.Tensor
    torch_cuda: list[torch.Tensor] | None
    numpy: tuple
    python: tuple


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


def restore_rng(states: RngStates) -> None:
    """Set the global RNGs to states read by :func:`load_training_state`."""
    torch.set_rng_state(states.torch_cpu)
    if states.torch_cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states.torch_cuda)
    np.random.set_state(states.numpy)
    random.setstate(states.python)


def _read_rng(plain: object, tensors: object, state_path: Path, rng_path: Path) -> RngStates:
    """The RNG states of ``trainer_state.json``'s ``rng`` and of ``rng_state.pt``, each tried on
    a fresh generator so that a damaged entry is refused before anything is restored.

    Raises:
        TrainStateError: an entry is missing or not a state of its generator.
    """
    def refuse(path: Path, key: str, what: str) -> TrainStateError:
        return TrainStateError(f"{path}: key {key!r} is not {what}")

    if not isinstance(plain, dict):
        raise refuse(state_path, "rng", "a mapping of the NumPy and Python RNG states")
    if not isinstance(tensors, dict):
        raise TrainStateError(f"{rng_path}: expected a mapping of torch generator states")
    try:
        kind, keys, pos, has_gauss, cached = plain["numpy"]
        numpy_state = (kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
        np.random.RandomState().set_state(numpy_state)
    except (KeyError, *MALFORMED):
        raise refuse(state_path, "rng.numpy", "a NumPy RNG state") from None
    try:
        version, python_state, gauss = plain["python"]
        python = (version, tuple(python_state), gauss)
        random.Random().setstate(python)
    except (KeyError, *MALFORMED):
        raise refuse(state_path, "rng.python", "a Python RNG state") from None
    try:
        torch.Generator().set_state(tensors["cpu"])
    except (KeyError, *MALFORMED):
        raise refuse(rng_path, "cpu", "a torch CPU generator state") from None
    cuda = tensors.get("cuda")
    if cuda is not None and not (
        isinstance(cuda, list) and all(isinstance(t, torch.Tensor) for t in cuda)
    ):
        raise refuse(rng_path, "cuda", "a list of torch CUDA generator states")
    return RngStates(tensors["cpu"], cuda, numpy_state, python)


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
        rng: the global RNG states.
    """

    snapshot: TrainingSnapshot
    rng: RngStates


def _read_state(raw: dict, path: Path) -> TrainState:
    """The counters and losses of a parsed ``trainer_state.json``, each checked.

    Raises:
        TrainStateError: a counter is not a non-negative integer, a loss not a number or null,
            or ``best_checkpoint`` not a name or null.
    """
    values = {}
    for f in fields(TrainState):
        value = raw.get(f.name)
        integer = isinstance(value, int) and not isinstance(value, bool)
        if f.name in COUNTERS:
            ok, expected = integer and value >= 0, "a non-negative integer"
        elif f.name == "best_checkpoint":
            ok, expected = value is None or isinstance(value, str), "a checkpoint name or null"
        else:
            ok, expected = value is None or integer or isinstance(value, float), "a number or null"
        if not ok:
            raise TrainStateError(f"{path}: key {f.name!r} must be {expected}, got {value!r:.60}")
        values[f.name] = value
    return TrainState(**values)


def load_training_state(folder: Path) -> Resumed:
    """Read the resumable state of a checkpoint (its network weights are loaded separately).

    Raises:
        CheckpointError: the folder lacks the training state (for example an imported,
            weights-only checkpoint: use finetune instead), or a file is unreadable.
        TrainStateError: ``trainer_state.json`` or ``rng_state.pt`` is not of the form vocfw
            writes (the message names the file and the key).
    """
    path = folder / STATE_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{path}: missing, so {folder} holds weights only; it can be finetuned from "
            f"(resume_type: finetune) but not resumed"
        )
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise TrainStateError(f"{path}: expected a JSON object with the counters and 'rng'")
    state = _read_state(raw, path)
    rng = _read_rng(raw.get("rng"), _load_tensor_file(folder / RNG_FILE), path, folder / RNG_FILE)
    ema = folder / EMA_FILE
    snapshot = TrainingSnapshot(
        model={}, ema=load_weights(ema) if ema.is_file() else None,
        optimizer=_load_tensor_file(folder / OPTIMIZER_FILE),
        scheduler=_load_tensor_file(folder / SCHEDULER_FILE),
        scaler=_load_tensor_file(folder / SCALER_FILE, required=False),
        state=state,
    )
    return Resumed(snapshot, rng)


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
