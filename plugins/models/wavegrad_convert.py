"""WaveGrad checkpoint conversion between vocfw run directories and lmnt-com/wavegrad's
``weights.pt`` (a dict with ``step``, ``model``, ``params`` and training state).

Import infers the model size from the tensors, checks every key and shape, and stores the
weights with lmnt's features (:meth:`~vocfw.core.audio.mel.MelConfig.lmnt_wavegrad`, with the
sample rate and hop of the checkpoint's ``params``) and :class:`WaveGradDiffusion` with its
training schedule. Nothing read here can execute code or allocate more than a WaveGrad within
its size limits needs (see :mod:`vocfw.core.runs.convert_toolkit`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from vocfw.core.audio.mel import MelConfig
from vocfw.core.registry import current_registry
from vocfw.core.runs.checkpoint import checkpoint_dirname
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
from vocfw.plugins.models.wavegrad import WaveGrad

SAMPLER = "WaveGradDiffusion"  # the registered sampler of lmnt-com/wavegrad's training
EXPORTABLE = "DDPM"  # runs trained with this registered sampler or a subclass export
ANCHOR_KEY = "first_conv.weight"
LMNT_TRAINING = {"batch_size": 32, "learning_rate": 2e-4, "max_grad_norm": 1.0,
                 "crop_mel_frames": 24}
LMNT_FEATURES = MelConfig.lmnt_wavegrad()
LMNT_DEFAULTS = {"sample_rate": LMNT_FEATURES.sample_rate, "hop_samples": LMNT_FEATURES.hop_length}
LMNT_MODEL = {"n_mels": LMNT_FEATURES.n_mels, "hop_length": LMNT_FEATURES.hop_length,
              "base_channels": 32}  # the one network lmnt builds


def _model_args(state: dict[str, Any], source: Path, hop_length: int) -> dict[str, int]:
    """WaveGrad constructor arguments from tensor shapes, checked against the size limits and
    every key and shape before any tensor is read.

    Raises:
        ConversionError: keys are missing or unexpected, or a size or shape does not fit.
    """
    try:
        args = {"n_mels": int(state[ANCHOR_KEY].shape[1]), "hop_length": hop_length,
                "base_channels": int(state["downsample.0.weight"].shape[0])}
    except (KeyError, IndexError) as exc:
        raise ConversionError(f"{source}: not a WaveGrad state dict ({exc})") from None
    check_architecture(state, source, WaveGrad, args)
    return args


def _features(params: dict[str, Any], n_mels: int, source: Path) -> MelConfig:
    """lmnt's mel for the checkpoint's rate and hop: a window of 4 hops, the FFT size the next
    power of two."""
    hop = params["hop_samples"]
    try:
        return dataclasses.replace(
            LMNT_FEATURES, sample_rate=params["sample_rate"], hop_length=hop,
            win_length=4 * hop, n_fft=2 ** (4 * hop - 1).bit_length(), n_mels=n_mels,
        )
    except ValueError as exc:
        raise ConversionError(f"{source}: params do not give usable features ({exc})") from None


def import_lmnt_wavegrad(checkpoint: Path, output: Path) -> Path:
    """Convert an lmnt-com/wavegrad checkpoint into a vocfw run directory.

    Args:
        checkpoint: lmnt's ``weights.pt`` / ``weights-N.pt`` (a dict with ``model`` and
            optionally ``params`` and ``step``; the optimiser and scaler state are ignored), or
            the model directory holding ``weights.pt``.
        output: run directory to create the checkpoint in.

    Returns:
        The checkpoint folder written, ``output/checkpoint/epoch-0000_step-SSSSSSS_loss-0.000000``.

    Raises:
        ConversionError: the file is unreadable, its tensors do not form a WaveGrad, or its
            sizes exceed WaveGrad's or the features' limits.
        FileExistsError: that checkpoint folder exists already.
    """
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        checkpoint = checkpoint / "weights.pt"
    data = torch_load(checkpoint)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConversionError(f"{checkpoint}: expected a dict with a 'model' state dict")
    params = lmnt_params(data, checkpoint, LMNT_DEFAULTS, tuple(LMNT_DEFAULTS))
    step = count(data.get("step", 0), "step", checkpoint, minimum=0)
    sampler_args = linear_schedule_args(params.get("noise_schedule"), checkpoint)
    state = strip_prefix(data["model"], checkpoint, ANCHOR_KEY, "WaveGrad")
    model_args = _model_args(state, checkpoint, params["hop_samples"])
    features = _features(params, model_args["n_mels"], checkpoint)
    return write_run(output, checkpoint_dirname(0, step, 0.0), state, features,
                     {"class_path": WaveGrad.__name__, "init_args": model_args},
                     {"class_path": SAMPLER, "init_args": sampler_args})


def export_lmnt_wavegrad(run: Path, output: Path, use_ema: bool = True,
                         overwrite: bool = False) -> Path:
    """Write a vocfw WaveGrad checkpoint in lmnt-com/wavegrad's format.

    The file holds ``{"step", "model", "params"}`` and loads with lmnt's ``predict``, which
    builds its one network size: 128 mel bands, hop 300, base width 32.

    Args:
        run: run directory, ``checkpoint/`` folder or one checkpoint folder.
        output: a ``.pt`` file, or a directory to write ``weights.pt`` into; never inside a
            run's checkpoint folders.
        use_ema: export the moving-average weights when the checkpoint has them.
        overwrite: replace the output file when it exists (otherwise it is refused).

    Returns:
        The file written.

    Raises:
        ConversionError: the checkpoint is not a WaveGrad trained with WaveGradDiffusion or
            DDPM, or not of the size lmnt builds, or the output lies inside a run's checkpoint
            folders.
        FileExistsError: the output exists and ``overwrite`` is false.
    """
    registry = current_registry()
    folder, spec, model_cls, sampler_cls = read_run(run, registry)
    if model_cls is not WaveGrad or not issubclass(sampler_cls,
                                                   registry.get("samplers", EXPORTABLE)):
        raise ConversionError(
            f"{folder}: lmnt-com/wavegrad's format holds only WaveGrad models trained with "
            f"WaveGradDiffusion or DDPM, got {spec['model']['class_path']} with "
            f"{spec['sampler']['class_path']}"
        )
    model = spec["model"]["init_args"]
    if model != LMNT_MODEL:
        raise ConversionError(f"{folder}: lmnt-com/wavegrad builds only WaveGrad({LMNT_MODEL}), "
                              f"this checkpoint holds WaveGrad({model})")
    target = export_target(output, overwrite)
    params = {
        **LMNT_TRAINING,
        "sample_rate": spec["features"]["sample_rate"],
        "hop_samples": model["hop_length"],
        "noise_schedule": lmnt_schedule(spec["sampler"]["init_args"]),
    }
    return save_lmnt(folder, target, use_ema, params)
