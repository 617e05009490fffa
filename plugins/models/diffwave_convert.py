"""DiffWave checkpoint conversion between vocfw run directories and those of
lmnt-com/diffwave (``weights.pt``) and Amphion (an accelerate checkpoint folder).

All three share one state-dict layout (lmnt's key names), so conversion infers the model size
from the tensors, checks every key, and stores the weights with the matching features and
sampler. Nothing read here can execute code (``torch.load(weights_only=True)``, safetensors).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from vocfw.core.atomic import atomic_path
from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import normalise_spec, resolve_class
from vocfw.core.registry import build_registry
from vocfw.core.runs.checkpoint import (
    CHECKPOINT_DIR,
    COMPONENTS_FILE,
    EMA_FILE,
    WEIGHTS_FILE,
    checkpoint_dirname,
    load_weights,
    parse_checkpoint_name,
    read_components,
    resolve_checkpoint,
    write_checkpoint,
)
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.samplers.ddpm import DDPM, FAST_SCHEDULE

MODEL_PATH = f"{DiffWave.__module__}.{DiffWave.__qualname__}"
SAMPLER_PATH = f"{DDPM.__module__}.{DDPM.__qualname__}"
ANCHOR_KEY = "input_projection.weight"
LMNT_TRAINING = {"batch_size": 16, "learning_rate": 2e-4, "max_grad_norm": None,
                 "crop_mel_frames": 62}
LMNT_DEFAULTS = {"hop_samples": 256, "dilation_cycle_length": 10}
LMNT_COUNTS = ("hop_samples", "dilation_cycle_length", "sample_rate", "n_fft")


class ConversionError(ValueError):
    """A checkpoint is unreadable or its tensors do not form a DiffWave."""


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConversionError(
            f"{path}: cannot be read as a weights-only torch checkpoint ({exc})"
        ) from None


def _check_tensors(state: dict[str, Any], source: Path) -> None:
    """Every value a floating-point tensor with finite entries."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ConversionError(f"{source}: {key!r} is not a floating-point tensor")
        if not bool(torch.isfinite(value).all()):
            raise ConversionError(f"{source}: {key!r} has values that are not finite")


def _strip_prefix(
    state: dict[str, torch.Tensor], source: Path, anchor: str = ANCHOR_KEY,
    architecture: str = "DiffWave",
) -> dict[str, torch.Tensor]:
    """Remove a common key prefix (``module.``, ``model.``, ...) in front of the model's keys,
    found from the one key ending in ``anchor``; every value checked."""
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
    _check_tensors(state, source)
    return {key[len(prefix):]: value for key, value in state.items()}


def _model_args(state: dict[str, torch.Tensor], source: Path, **known: int) -> dict[str, int]:
    """DiffWave constructor arguments from tensor shapes, checked against every key and shape.

    Args:
        state: the (unprefixed) state dict.
        source: the file it came from, for messages.
        **known: arguments the tensors do not determine (hop_length, dilation_cycle_length,
            num_steps).

    Raises:
        ConversionError: keys are missing or unexpected, or a shape does not fit.
    """
    layers = sum(1 for key in state if key.endswith(".dilated_conv.weight"))
    try:
        args = {
            "n_mels": int(state["residual_layers.0.conditioner_projection.weight"].shape[1]),
            "residual_layers": layers,
            "residual_channels": int(state[ANCHOR_KEY].shape[0]),
            **known,
        }
        expected = DiffWave(**args).state_dict()
    except (KeyError, ValueError) as exc:
        raise ConversionError(f"{source}: not a conditional DiffWave state dict ({exc})") from None
    _check_layout(state, expected, source, f"DiffWave({args})")
    return args


def _check_layout(
    state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], source: Path, built: str
) -> None:
    """Refuse missing or unexpected keys and tensors of the wrong shape.

    Args:
        state: the (unprefixed) state dict read.
        expected: the state dict of the model its shapes imply.
        source: the file it came from, for messages.
        built: that model in words, for messages (``DiffWave({...})``).

    Raises:
        ConversionError: naming the keys or shapes that do not fit.
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ConversionError(
            f"{source}: state dict does not match {built}: missing keys "
            f"{missing[:8]}, unexpected keys {unexpected[:8]}"
        )
    wrong = [f"{key} {tuple(state[key].shape)} != {tuple(value.shape)}"
             for key, value in expected.items() if state[key].shape != value.shape]
    if wrong:
        raise ConversionError(f"{source}: tensor shapes do not fit {built}: {wrong[:4]}")


def _count(value: Any, key: str, source: Path, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConversionError(f"{source}: {key} must be an integer of at least {minimum}, "
                              f"got {value!r}")
    return value


def lmnt_params(data: dict, source: Path, defaults: dict[str, int] = LMNT_DEFAULTS,
                counts: tuple[str, ...] = LMNT_COUNTS) -> dict[str, Any]:
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
            _count(checked[key], f"params.{key}", source)
    return checked


def _sampler_args(noise_schedule: Any, source: Path) -> dict[str, Any]:
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


def _write_run(
    output: Path, name: str, state: dict[str, torch.Tensor], features: MelConfig,
    model_args: dict[str, int], sampler_args: dict[str, Any],
    paths: tuple[str, str] = (MODEL_PATH, SAMPLER_PATH),
) -> Path:
    """Write checkpoint ``output/checkpoint/name`` of the model and sampler classes at
    ``paths`` with these arguments and weights."""
    spec = normalise_spec({
        "features": features.to_dict(),
        "model": {"class_path": paths[0], "init_args": model_args},
        "sampler": {"class_path": paths[1], "init_args": sampler_args},
    })
    target = Path(output) / CHECKPOINT_DIR / name
    if target.exists():
        raise FileExistsError(f"{target}: already exists; choose another output directory")
    return write_checkpoint(target, spec, state)


def import_lmnt(
    checkpoint: Path, output: Path, features: Literal["lmnt", "recipe"] = "lmnt"
) -> Path:
    """Convert an lmnt-com/diffwave checkpoint into a vocfw run directory.

    Args:
        checkpoint: lmnt's ``weights.pt`` / ``weights-N.pt`` (a dict with ``model`` and
            optionally ``params`` and ``step``), or the model directory holding ``weights.pt``.
        output: run directory to create the checkpoint in.
        features: ``lmnt`` (lmnt's [0, 1] dB-scaled mels; sample rate, FFT and hop taken from
            the checkpoint's ``params`` when present) or ``recipe`` (natural-log mels, for weights
            trained on them).

    Returns:
        The checkpoint folder written, ``output/checkpoint/epoch-0000_step-SSSSSSS_loss-0.000000``.

    Raises:
        ConversionError: the file is unreadable or its tensors do not form a DiffWave.
        FileExistsError: that checkpoint folder exists already.
    """
    if features not in ("lmnt", "recipe"):
        raise ValueError(f"features must be 'lmnt' or 'recipe', got {features!r}")
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        checkpoint = checkpoint / "weights.pt"
    data = _torch_load(checkpoint)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConversionError(f"{checkpoint}: expected a dict with a 'model' state dict")
    params = lmnt_params(data, checkpoint)
    step = _count(data.get("step", 0), "step", checkpoint, minimum=0)
    hop = params["hop_samples"]
    schedule = params.get("noise_schedule")
    sampler_args = _sampler_args(schedule, checkpoint)
    known = {"hop_length": hop, "dilation_cycle_length": params["dilation_cycle_length"],
             "num_steps": len(schedule) if schedule is not None else 50}
    state = _strip_prefix(data["model"], checkpoint)
    model_args = _model_args(state, checkpoint, **known)
    base = MelConfig.lmnt() if features == "lmnt" else MelConfig()
    try:
        mel = dataclasses.replace(
            base, n_mels=model_args["n_mels"], hop_length=hop,
            sample_rate=params.get("sample_rate", base.sample_rate),
            n_fft=params.get("n_fft", base.n_fft),
            win_length=4 * hop if features == "lmnt" else base.win_length,
        )
    except ValueError as exc:
        raise ConversionError(f"{checkpoint}: params do not give usable features ({exc})") from None
    name = checkpoint_dirname(0, step, 0.0)
    return _write_run(output, name, state, mel, model_args, sampler_args)


def import_amphion(folder: Path, output: Path) -> Path:
    """Convert an Amphion DiffWave checkpoint folder into a vocfw run directory.

    Args:
        folder: an ``epoch-…_step-…_loss-…`` folder holding ``model.safetensors`` or
            ``pytorch_model.bin``.
        output: run directory to create the checkpoint in (the folder name is kept).

    Returns:
        The checkpoint folder written under ``output/checkpoint/``.

    Raises:
        ConversionError: no weights file, or its tensors do not form a DiffWave.
        FileExistsError: that checkpoint folder exists already.
    """
    folder = Path(folder)
    if (folder / WEIGHTS_FILE).is_file():
        source = folder / WEIGHTS_FILE
        state = load_weights(source)
    elif (folder / "pytorch_model.bin").is_file():
        source = folder / "pytorch_model.bin"
        state = _torch_load(source)
    else:
        raise ConversionError(f"{folder}: has neither model.safetensors nor pytorch_model.bin")
    state = _strip_prefix(state, source)
    model_args = _model_args(state, source, hop_length=256, dilation_cycle_length=10,
                             num_steps=50)
    name = folder.name if parse_checkpoint_name(folder.name) else checkpoint_dirname(0, 0, 0.0)
    mel = MelConfig(n_mels=model_args["n_mels"])
    return _write_run(output, name, state, mel, model_args, {})


def export_lmnt(run: Path, output: Path, use_ema: bool = True) -> Path:
    """Write a vocfw DiffWave checkpoint in lmnt-com/diffwave's format.

    The file holds ``{"step", "model", "params"}`` and loads with lmnt's ``predict``. lmnt
    builds the network from its installed ``params.py``, so the model size must match it (and
    its mels must be made the way the checkpoint's features say).

    Args:
        run: run directory, ``checkpoint/`` folder or one checkpoint folder.
        output: a ``.pt`` file, or a directory to write ``weights.pt`` into.
        use_ema: export the moving-average weights when the checkpoint has them.

    Returns:
        The file written.

    Raises:
        ConversionError: the checkpoint is not a DiffWave trained with DDPM.
    """
    folder, spec, model_cls, sampler_cls = _read_run(run)
    if model_cls is not DiffWave or sampler_cls is not DDPM:
        raise ConversionError(
            f"{folder}: lmnt's format holds only DiffWave models trained with DDPM, got "
            f"{spec['model']['class_path']} with {spec['sampler']['class_path']}"
        )
    model, sampler, features = (
        spec["model"]["init_args"], spec["sampler"]["init_args"], spec["features"]
    )
    params = {
        **LMNT_TRAINING,
        "sample_rate": features["sample_rate"],
        "n_mels": model["n_mels"],
        "n_fft": features["n_fft"],
        "hop_samples": model["hop_length"],
        "residual_layers": model["residual_layers"],
        "residual_channels": model["residual_channels"],
        "dilation_cycle_length": model["dilation_cycle_length"],
        "noise_schedule": np.linspace(
            sampler["beta_start"], sampler["beta_end"], sampler["num_steps"]
        ).tolist(),
        "inference_noise_schedule": list(FAST_SCHEDULE),
    }
    return _save_lmnt(folder, output, use_ema, params)


def _read_run(run: Path) -> tuple[Path, dict, type, type]:
    """The checkpoint folder of ``run``, its normalised spec and its model and sampler classes."""
    folder = resolve_checkpoint(run)
    source = folder / COMPONENTS_FILE
    spec = normalise_spec(read_components(folder), str(source))
    registry = build_registry()
    model_cls = resolve_class("models", spec["model"]["class_path"], registry, str(source))
    sampler_cls = resolve_class("samplers", spec["sampler"]["class_path"], registry, str(source))
    return folder, spec, model_cls, sampler_cls


def _save_lmnt(folder: Path, output: Path, use_ema: bool, params: dict[str, Any]) -> Path:
    """Write ``{"step", "model", "params"}`` of checkpoint ``folder`` as lmnt's ``weights.pt``.

    Args:
        folder: the checkpoint folder.
        output: a ``.pt`` file, or a directory to write ``weights.pt`` into.
        use_ema: save the moving-average weights when the checkpoint has them.
        params: lmnt's ``params`` to store.

    Returns:
        The file written.
    """
    step = parse_checkpoint_name(folder.name)[1]
    target = Path(output)
    if target.is_dir():
        target = target / "weights.pt"
    weights = folder / (EMA_FILE if use_ema and (folder / EMA_FILE).is_file() else WEIGHTS_FILE)
    state = load_weights(weights)
    _check_tensors(state, weights)
    payload = {"step": step, "model": state, "params": params}
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    return target
