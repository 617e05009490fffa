"""The checkpoint folder format: names, discovery, and the one writer and reader of weights and
stored components.

Layout::

    {run}/checkpoint/epoch-EEEE_step-SSSSSSS_loss-L.LLLLLL/
        model.safetensors                  network weights
        ema.safetensors                    moving-average weights (when training kept them)
        components.json                    features, model and sampler specs
        ...                                training state (see train_state)

Weights are safetensors; nothing read here can execute code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vocfw.core.atomic import atomic_dir, atomic_path, write_json
from vocfw.core.components import Components, build_components, checked_spec, one_line
from vocfw.core.errors import VocfwError

CHECKPOINT_DIR = "checkpoint"
COMPONENTS_FILE = "components.json"
WEIGHTS_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
CHECKPOINT_RE = re.compile(r"^epoch-(\d{4,})_step-(\d{7,})_loss-(\d+\.\d{6}|nan|inf)$")


class CheckpointError(VocfwError, FileNotFoundError):
    """No usable checkpoint at a path, or a checkpoint folder is incomplete."""


def checkpoint_dirname(epoch: int, step: int, loss: float) -> str:
    """``epoch-0003_step-0001200_loss-0.123456``, as the recipe names checkpoints."""
    return f"epoch-{epoch:04d}_step-{step:07d}_loss-{loss:.6f}"


def parse_checkpoint_name(name: str) -> tuple[int, int] | None:
    """(epoch, step) of a checkpoint folder name, or ``None`` if it is not one."""
    match = CHECKPOINT_RE.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def is_checkpoint(path: Path) -> bool:
    """A complete checkpoint folder: a recognised name and its weights file present."""
    return (
        path.is_dir()
        and parse_checkpoint_name(path.name) is not None
        and (path / WEIGHTS_FILE).is_file()
        and (path / COMPONENTS_FILE).is_file()
    )


def list_checkpoints(folder: Path | str) -> list[Path]:
    """Complete checkpoint folders in ``folder``, oldest first (by step, then epoch)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if is_checkpoint(p)]
    return sorted(found, key=lambda p: parse_checkpoint_name(p.name)[::-1])


def checkpoint_holding(path: Path | str) -> Path | None:
    """The checkpoint folder, or run's ``checkpoint/`` folder, that ``path`` lies in (links
    resolved): its nearest enclosing folder named like a checkpoint, or named ``checkpoint``
    and holding one; ``None`` when it lies in neither."""
    for folder in Path(path).resolve().parents:
        if parse_checkpoint_name(folder.name) is not None and folder.is_dir():
            return folder
        if folder.name == CHECKPOINT_DIR and list_checkpoints(folder):
            return folder
    return None


def resolve_checkpoint(path: Path | str) -> Path:
    """Find the checkpoint a path means.

    ``path`` may be one checkpoint folder, a ``checkpoint/`` folder (its newest complete
    checkpoint is taken), or a run directory (the newest in its ``checkpoint/``). Other files
    in those folders (evaluation audio, unfinished saves) are ignored.

    Raises:
        CheckpointError: nothing usable there.
    """
    path = Path(path)
    if is_checkpoint(path):
        return path
    if parse_checkpoint_name(path.name) is not None:
        raise CheckpointError(
            f"{path}: checkpoint folder is incomplete (needs {WEIGHTS_FILE} and {COMPONENTS_FILE})"
        )
    for folder in (path, path / CHECKPOINT_DIR):
        found = list_checkpoints(folder)
        if found:
            return found[-1]
    raise CheckpointError(
        f"{path}: no checkpoint found (expected a folder named like "
        f"epoch-0000_step-0000000_loss-0.000000, a checkpoint/ folder, or a run directory)"
    )


def save_weights(path: Path | str, state: dict[str, torch.Tensor]) -> None:
    """Save a state dict as safetensors, atomically."""
    tensors = {key: value.detach().cpu().contiguous() for key, value in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def load_weights(path: Path | str) -> dict[str, torch.Tensor]:
    """Load a safetensors state dict to the CPU.

    Raises:
        CheckpointError: the file is missing, truncated or not safetensors.
    """
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable safetensors weights file ({one_line(exc)})"
        ) from None


def read_json(path: Path) -> object:
    """Parse a JSON file vocfw wrote; any damage is a :class:`CheckpointError` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not readable as UTF-8 JSON ({one_line(exc)})") from None


def write_components(folder: Path | str, spec: dict) -> None:
    """Store a features/model/sampler spec in ``folder``."""
    write_json(Path(folder) / COMPONENTS_FILE, spec)


def write_checkpoint(
    folder: Path,
    spec: dict,
    weights: dict[str, torch.Tensor],
    ema: dict[str, torch.Tensor] | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write one complete checkpoint folder atomically (assembled under a temporary name).

    Args:
        folder: the final folder (``.../checkpoint/epoch-..._step-..._loss-...``).
        spec: the features/model/sampler spec stored as ``components.json``.
        weights: the network's state dict.
        ema: the moving-average state dict, if any.
        extra: writes further files (the training state) into the temporary folder.

    Returns:
        ``folder``.
    """
    with atomic_dir(folder) as tmp:
        save_weights(tmp / WEIGHTS_FILE, weights)
        if ema is not None:
            save_weights(tmp / EMA_FILE, ema)
        write_components(tmp, spec)
        if extra is not None:
            extra(tmp)
    return folder


def read_components(folder: Path | str) -> dict:
    """Read the features/model/sampler spec stored in ``folder``, its classes resolved against
    the registry (see :func:`vocfw.core.components.checked_spec`).

    Raises:
        CheckpointError: the file is missing or not JSON.
        vocfw.core.components.SpecError: malformed, or it names an unregistered class.
    """
    path = Path(folder) / COMPONENTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; the folder is not a vocfw checkpoint")
    return checked_spec(read_json(path), str(path))


def load_components(path: Path | str, use_ema: bool = True) -> tuple[Components, Path]:
    """Rebuild a trained vocoder from a run directory or checkpoint folder.

    Args:
        path: run directory, ``checkpoint/`` folder or one checkpoint folder.
        use_ema: load the moving-average weights when the checkpoint has them.

    Returns:
        The components (model in eval mode, on the CPU) and the checkpoint folder used.
    """
    folder = resolve_checkpoint(path)
    components = build_components(read_components(folder), str(folder / COMPONENTS_FILE))
    weights = folder / WEIGHTS_FILE
    if use_ema and (folder / EMA_FILE).is_file():
        weights = folder / EMA_FILE
    try:
        components.model.load_state_dict(load_weights(weights))
    except RuntimeError as exc:
        raise CheckpointError(
            f"{weights}: does not fit the stored model ({one_line(exc)})"
        ) from None
    components.model.eval()
    return components, folder
