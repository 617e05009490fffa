"""The public toolkit for plugin authors writing checkpoint converters
(:class:`vocfw.core.converters.Converter`): reading outside checkpoints safely
(:func:`torch_load`), stripping key prefixes and checking the tensors against a registered
model's layout (:func:`strip_prefix`, :func:`check_architecture`), checking ``params``
(:func:`count`, :func:`lmnt_params`, :func:`linear_schedule_args`), and writing and reading
vocfw runs and lmnt-style exports (:func:`write_run`, :func:`read_run`, :func:`export_target`,
:func:`save_lmnt`, :func:`lmnt_schedule`).

Reading never runs code (``torch.load(weights_only=True)``, safetensors) and never allocates
more than the checked architecture needs: compressed entries, which could inflate far beyond
the file's size, are refused before loading, and the sizes a state dict declares (expanded
views of one number cost a file nothing, whatever their shapes) are checked against the model's
size limits (:mod:`vocfw.core.bounds`) and against its layout, built on the ``meta`` device,
before any tensor is read. Exports refuse an existing output unless asked to overwrite it, and
never write into a run's checkpoint folders.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vocfw.core.atomic import atomic_path
from vocfw.core.audio.mel import MelConfig
from vocfw.core.bounds import size_limit_excess
from vocfw.core.components import normalise_spec, one_line
from vocfw.core.errors import VocfwError
from vocfw.core.registry import Registry
from vocfw.core.runs.checkpoint import (
    CHECKPOINT_DIR,
    COMPONENTS_FILE,
    EMA_FILE,
    WEIGHTS_FILE,
    checkpoint_holding,
    load_weights,
    parse_checkpoint_name,
    read_components,
    resolve_checkpoint,
    write_checkpoint,
)

UNPICKLER_ERROR = "WeightsUnpickler error: "


class ConversionError(VocfwError, ValueError):
    """A checkpoint cannot be converted: unreadable, not the expected model or too large for
    it, or an output inside a run's checkpoint folders."""


class OutputExistsError(VocfwError, FileExistsError):
    """A conversion's output exists already (and overwriting it was not asked for)."""


def _refuse_compressed(path: Path) -> None:
    """Refuse a zip-format torch file holding compressed entries (``torch.save`` stores its
    entries uncompressed)."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            packed = [info.filename for info in archive.infolist()
                      if info.compress_type != zipfile.ZIP_STORED]
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConversionError(
            f"{path}: not a readable torch checkpoint ({one_line(exc)})"
        ) from None
    if packed:
        raise ConversionError(f"{path}: holds compressed entries ({packed[0]}, ...), which "
                              "torch.save never writes and which could inflate far beyond the file")


def torch_load(path: Path) -> Any:
    """Load a torch checkpoint to the CPU without running code or inflating it.

    Raises:
        ConversionError: unreadable, compressed, or holding objects other than tensors,
            numbers, strings and containers (the one line names what it holds).
    """
    _refuse_compressed(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        reason = one_line(exc)
        if UNPICKLER_ERROR in text:
            found = one_line(text.split(UNPICKLER_ERROR, 1)[1].split(". ", 1)[0])
            reason = f"{found}; only tensors, numbers, strings, lists and dicts are read"
        raise ConversionError(
            f"{path}: cannot be read as a weights-only torch checkpoint ({reason})"
        ) from None


def count(value: Any, key: str, source: Path, minimum: int = 1) -> int:
    """``value`` if it is an integer of at least ``minimum``, else :class:`ConversionError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConversionError(f"{source}: {key} must be an integer of at least {minimum}, "
                              f"got {value!r}")
    return value


def lmnt_params(data: dict, source: Path, defaults: dict[str, int],
                counts: tuple[str, ...]) -> dict[str, Any]:
    """An lmnt checkpoint's ``params`` over ``defaults``, each of ``counts`` present checked to
    be a positive integer."""
    params = data.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ConversionError(f"{source}: params must be a mapping, got {type(params).__name__}")
    checked = {**defaults, **params}
    for key in counts:
        if key in checked:
            count(checked[key], f"params.{key}", source)
    return checked


def linear_schedule_args(noise_schedule: Any, source: Path) -> dict[str, Any]:
    """DDPM's ``beta_start``, ``beta_end`` and ``num_steps`` for lmnt's ``noise_schedule`` (a
    linear list of betas; ``None``: no arguments, the sampler's defaults)."""
    if noise_schedule is None:
        return {}
    numbers = isinstance(noise_schedule, list | tuple) and all(
        isinstance(beta, int | float) and not isinstance(beta, bool) for beta in noise_schedule
    )
    if not numbers:
        raise ConversionError(f"{source}: params.noise_schedule must be a list of numbers")
    betas = np.asarray(noise_schedule, dtype=np.float64)
    if not np.all((betas > 0) & (betas < 1)):
        raise ConversionError(f"{source}: params.noise_schedule values must lie in (0, 1)")
    if betas.size < 2 or not np.allclose(betas, np.linspace(betas[0], betas[-1], betas.size)):
        raise ConversionError(
            f"{source}: params.noise_schedule is not a linear schedule; DDPM supports only "
            f"linspace(beta_start, beta_end, num_steps)"
        )
    return {"beta_start": float(betas[0]), "beta_end": float(betas[-1]), "num_steps": betas.size}


def lmnt_schedule(sampler_args: dict[str, Any]) -> list[float]:
    """lmnt's ``noise_schedule`` list for a DDPM-family sampler's training schedule."""
    return np.linspace(sampler_args["beta_start"], sampler_args["beta_end"],
                       sampler_args["num_steps"]).tolist()


def strip_prefix(state: Any, source: Path, anchor: str, architecture: str) -> dict[str, Any]:
    """Remove a common key prefix (``module.``, ``model.``, ...) in front of a model's keys,
    found from the one key ending in ``anchor``; every value must be a floating-point tensor
    (its entries are not read here)."""
    if not all(isinstance(key, str) for key in state):
        raise ConversionError(f"{source}: the state dict has keys that are not strings")
    anchors = [key for key in state if key.endswith(anchor)]
    if len(anchors) != 1:
        raise ConversionError(
            f"{source}: not a {architecture} state dict (expected exactly one key ending in "
            f"{anchor!r}, found {anchors or 'none'})"
        )
    prefix = anchors[0][: -len(anchor)]
    outside = sorted(key for key in state if not key.startswith(prefix))
    if outside:
        raise ConversionError(f"{source}: unexpected keys outside {prefix!r}: {outside[:5]}")
    check_tensors(state, source, entries=False)
    return {key[len(prefix):]: value for key, value in state.items()}


def check_tensors(state: dict[str, Any], source: Path, entries: bool = True) -> None:
    """Refuse values that are not floating-point tensors and, with ``entries``, tensors holding
    entries that are not finite (read them only once their sizes are known to fit a model)."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ConversionError(f"{source}: {key!r} is not a floating-point tensor")
        if entries and not bool(torch.isfinite(value).all()):
            raise ConversionError(f"{source}: {key!r} has values that are not finite")


def check_architecture(state: dict[str, torch.Tensor], source: Path, cls: type,
                       args: dict[str, int]) -> None:
    """Refuse ``state`` unless it is the state dict of ``cls(**args)`` with finite entries.

    ``args`` (inferred from the declared shapes) are checked against ``cls``'s size limits and
    the layout is built on the ``meta`` device, so nothing of the declared sizes is allocated
    before both fit.

    Raises:
        ConversionError: sizes beyond the limits, arguments ``cls`` refuses, missing or
            unexpected keys, shapes that do not fit, or entries that are not finite.
    """
    excess = size_limit_excess(cls, args)
    if excess is not None:
        raise ConversionError(f"{source}: {excess}")
    try:
        with torch.device("meta"):
            expected = cls(**args).state_dict()
    except ValueError as exc:
        raise ConversionError(f"{source}: not a {cls.__name__} state dict ({exc})") from None
    built = f"{cls.__name__}({args})"
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ConversionError(f"{source}: state dict does not match {built}: missing keys "
                              f"{missing[:8]}, unexpected keys {unexpected[:8]}")
    wrong = [f"{key} {tuple(state[key].shape)} != {tuple(value.shape)}"
             for key, value in expected.items() if state[key].shape != value.shape]
    if wrong:
        raise ConversionError(f"{source}: tensor shapes do not fit {built}: {wrong[:4]}")
    check_tensors(state, source)


def write_run(output: Path, name: str, state: dict[str, torch.Tensor], features: MelConfig,
              model: dict[str, Any], sampler: dict[str, Any]) -> Path:
    """Write checkpoint ``output/checkpoint/name`` holding ``state`` and the parts ``model``
    and ``sampler`` (``{"class_path": registered name, "init_args": {...}}``).

    Raises:
        OutputExistsError: that checkpoint folder exists already.
    """
    spec = normalise_spec({"features": features.to_dict(), "model": model, "sampler": sampler})
    target = Path(output) / CHECKPOINT_DIR / name
    if target.exists():
        raise OutputExistsError(f"{target}: already exists; choose another output directory")
    return write_checkpoint(target, spec, state)


def read_run(run: Path, registry: Registry) -> tuple[Path, dict, type, type]:
    """The checkpoint folder of ``run``, its normalised spec and its model and sampler classes
    (resolved in ``registry``)."""
    folder = resolve_checkpoint(run)
    source = str(folder / COMPONENTS_FILE)
    spec = normalise_spec(read_components(folder), source)
    model_cls = registry.resolve("models", spec["model"]["class_path"], source)
    sampler_cls = registry.resolve("samplers", spec["sampler"]["class_path"], source)
    return folder, spec, model_cls, sampler_cls


def export_target(output: Path, overwrite: bool, filename: str = "weights.pt") -> Path:
    """The file an export writes: ``output``, or ``output/filename`` for a directory.

    Raises:
        ConversionError: it lies inside a run's checkpoint folders (links resolved).
        OutputExistsError: it exists and ``overwrite`` is false.
    """
    target = Path(output)
    if target.is_dir():
        target = target / filename
    holder = checkpoint_holding(target)
    if holder is not None:
        raise ConversionError(f"{target}: lies inside checkpoint folder {holder}; exports are "
                              "never written into a run's checkpoint folders")
    if not overwrite and (target.exists() or target.is_symlink()):
        raise OutputExistsError(f"{target}: already exists; choose another output or pass "
                                "--overwrite to replace it")
    return target


def save_lmnt(folder: Path, target: Path, use_ema: bool, params: dict[str, Any]) -> Path:
    """Write ``{"step", "model", "params"}`` of checkpoint ``folder`` to ``target`` (see
    :func:`export_target`), atomically, in lmnt's ``weights.pt`` format.

    Args:
        folder: the checkpoint folder.
        target: the file to write.
        use_ema: save the moving-average weights when the checkpoint has them.
        params: lmnt's ``params`` to store.

    Returns:
        ``target``.
    """
    step = parse_checkpoint_name(folder.name)[1]
    weights = folder / (EMA_FILE if use_ema and (folder / EMA_FILE).is_file() else WEIGHTS_FILE)
    state = load_weights(weights)
    check_tensors(state, weights)
    with atomic_path(target) as tmp:
        torch.save({"step": step, "model": state, "params": params}, tmp)
    return target
