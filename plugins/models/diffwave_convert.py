"""DiffWave checkpoint conversion between vocfw run directories and those of
lmnt-com/diffwave (``weights.pt``) and Amphion (an accelerate checkpoint folder).

All three share one state-dict layout (lmnt's key names), so conversion infers the model size
from the tensors, checks every key, and stores the weights with the matching features and
sampler. Nothing read here can execute code or allocate more than a DiffWave within its size
limits needs (see :mod:`vocfw.core.runs.convert_toolkit`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from vocfw.core.audio.mel import MelConfig
from vocfw.core.diffusion import FAST_SCHEDULE, NUM_STEPS
from vocfw.core.registry import current_registry
from vocfw.core.runs.checkpoint import (
    WEIGHTS_FILE,
    checkpoint_dirname,
    load_weights,
    parse_checkpoint_name,
)
from vocfw.core.runs.convert_toolkit import (
    ConversionError,
    check_architecture,
    count,
    export_target,
    linear_schedule_args,
    lmnt_params,
    lmnt_schedule,
    read_run,
    save_lmnt,
    strip_prefix,
    torch_load,
    write_run,
)
from vocfw.plugins.models.diffwave import DiffWave

__all__ = ["ConversionError", "export_lmnt", "import_amphion", "import_lmnt"]

SAMPLER = "DDPM"  # the registered sampler lmnt's and Amphion's training matches
ANCHOR_KEY = "input_projection.weight"
LMNT_TRAINING = {"batch_size": 16, "learning_rate": 2e-4, "max_grad_norm": None,
                 "crop_mel_frames": 62}
LMNT_DEFAULTS = {"hop_samples": 256, "dilation_cycle_length": 10}
LMNT_COUNTS = ("hop_samples", "dilation_cycle_length", "sample_rate", "n_fft")


def _model_args(state: dict[str, Any], source: Path, **known: int) -> dict[str, int]:
    """DiffWave constructor arguments from tensor shapes, checked against the size limits and
    every key and shape before any tensor is read.

    Args:
        state: the (unprefixed) state dict.
        source: the file it came from, for messages.
        **known: arguments the tensors do not determine (hop_length, dilation_cycle_length,
            num_steps).

    Raises:
        ConversionError: keys are missing or unexpected, or a size or shape does not fit.
    """
    layers = sum(1 for key in state if key.endswith(".dilated_conv.weight"))
    try:
        args = {
            "n_mels": int(state["residual_layers.0.conditioner_projection.weight"].shape[1]),
            "residual_layers": layers,
            "residual_channels": int(state[ANCHOR_KEY].shape[0]),
            **known,
        }
    except (KeyError, IndexError) as exc:
        raise ConversionError(f"{source}: not a conditional DiffWave state dict ({exc})") from None
    check_architecture(state, source, DiffWave, args)
    return args


def _lmnt_features(base: MelConfig, params: dict[str, Any], n_mels: int,
                   source: Path) -> MelConfig:
    """``base`` with the checkpoint's bands, hop, rate and FFT size (lmnt: a window of 4 hops)."""
    hop = params["hop_samples"]
    try:
        return dataclasses.replace(
            base, n_mels=n_mels, hop_length=hop,
            sample_rate=params.get("sample_rate", base.sample_rate),
            n_fft=params.get("n_fft", base.n_fft),
            win_length=4 * hop if base.style == "lmnt" else base.win_length,
        )
    except ValueError as exc:
        raise ConversionError(f"{source}: params do not give usable features ({exc})") from None


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
        ConversionError: the file is unreadable, its tensors do not form a DiffWave, or its
            sizes exceed DiffWave's or the features' limits.
        FileExistsError: that checkpoint folder exists already.
    """
    if features not in ("lmnt", "recipe"):
        raise ValueError(f"features must be 'lmnt' or 'recipe', got {features!r}")
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        checkpoint = checkpoint / "weights.pt"
    data = torch_load(checkpoint)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConversionError(f"{checkpoint}: expected a dict with a 'model' state dict")
    params = lmnt_params(data, checkpoint, LMNT_DEFAULTS, LMNT_COUNTS)
    step = count(data.get("step", 0), "step", checkpoint, minimum=0)
    schedule = params.get("noise_schedule")
    sampler_args = linear_schedule_args(schedule, checkpoint)
    known = {"hop_length": params["hop_samples"],
             "dilation_cycle_length": params["dilation_cycle_length"],
             "num_steps": len(schedule) if schedule is not None else NUM_STEPS}
    state = strip_prefix(data["model"], checkpoint, ANCHOR_KEY, "DiffWave")
    model_args = _model_args(state, checkpoint, **known)
    base = MelConfig.lmnt() if features == "lmnt" else MelConfig()
    mel = _lmnt_features(base, params, model_args["n_mels"], checkpoint)
    return write_run(output, checkpoint_dirname(0, step, 0.0), state, mel,
                     {"class_path": DiffWave.__name__, "init_args": model_args},
                     {"class_path": SAMPLER, "init_args": sampler_args})


def import_amphion(folder: Path, output: Path) -> Path:
    """Convert an Amphion DiffWave checkpoint folder into a vocfw run directory.

    Args:
        folder: an ``epoch-…_step-…_loss-…`` folder holding ``model.safetensors`` or
            ``pytorch_model.bin``.
        output: run directory to create the checkpoint in (the folder name is kept).

    Returns:
        The checkpoint folder written under ``output/checkpoint/``.

    Raises:
        ConversionError: no weights file, its tensors do not form a DiffWave, or its sizes
            exceed DiffWave's limits.
        FileExistsError: that checkpoint folder exists already.
    """
    folder = Path(folder)
    if (folder / WEIGHTS_FILE).is_file():
        source = folder / WEIGHTS_FILE
        state = load_weights(source)
    elif (folder / "pytorch_model.bin").is_file():
        source = folder / "pytorch_model.bin"
        state = torch_load(source)
    else:
        raise ConversionError(f"{folder}: has neither model.safetensors nor pytorch_model.bin")
    if not isinstance(state, dict):
        raise ConversionError(f"{source}: expected a state dict, got {type(state).__name__}")
    state = strip_prefix(state, source, ANCHOR_KEY, "DiffWave")
    model_args = _model_args(state, source, hop_length=256, dilation_cycle_length=10,
                             num_steps=NUM_STEPS)
    name = folder.name if parse_checkpoint_name(folder.name) else checkpoint_dirname(0, 0, 0.0)
    return write_run(output, name, state, MelConfig(n_mels=model_args["n_mels"]),
                     {"class_path": DiffWave.__name__, "init_args": model_args},
                     {"class_path": SAMPLER, "init_args": {}})


def export_lmnt(run: Path, output: Path, use_ema: bool = True, overwrite: bool = False) -> Path:
    """Write a vocfw DiffWave checkpoint in lmnt-com/diffwave's format.

    The file holds ``{"step", "model", "params"}`` and loads with lmnt's ``predict``. lmnt
    builds the network from its installed ``params.py``, so the model size must match it (and
    its mels must be made the way the checkpoint's features say).

    Args:
        run: run directory, ``checkpoint/`` folder or one checkpoint folder.
        output: a ``.pt`` file, or a directory to write ``weights.pt`` into; never inside a
            run's checkpoint folders.
        use_ema: export the moving-average weights when the checkpoint has them.
        overwrite: replace the output file when it exists (otherwise it is refused).

    Returns:
        The file written.

    Raises:
        ConversionError: the checkpoint is not a DiffWave trained with DDPM, or the output lies
            inside a run's checkpoint folders.
        FileExistsError: the output exists and ``overwrite`` is false.
    """
    registry = current_registry()
    folder, spec, model_cls, sampler_cls = read_run(run, registry)
    if model_cls is not DiffWave or sampler_cls is not registry.get("samplers", SAMPLER):
        raise ConversionError(
            f"{folder}: lmnt's format holds only DiffWave models trained with DDPM, got "
            f"{spec['model']['class_path']} with {spec['sampler']['class_path']}"
        )
    target = export_target(output, overwrite)
    model, features = spec["model"]["init_args"], spec["features"]
    params = {
        **LMNT_TRAINING,
        "sample_rate": features["sample_rate"],
        "n_mels": model["n_mels"],
        "n_fft": features["n_fft"],
        "hop_samples": model["hop_length"],
        "residual_layers": model["residual_layers"],
        "residual_channels": model["residual_channels"],
        "dilation_cycle_length": model["dilation_cycle_length"],
        "noise_schedule": lmnt_schedule(spec["sampler"]["init_args"]),
        "inference_noise_schedule": list(FAST_SCHEDULE),
    }
    return save_lmnt(folder, target, use_ema, params)
