"""WaveGrad checkpoint conversion between vocfw run directories and lmnt-com/wavegrad's
``weights.pt`` (a dict with ``step``, ``model``, ``params`` and training state).

Import infers the model size from the tensors, checks every key and shape, and stores the
weights with lmnt's features (:meth:`~vocfw.core.audio.mel.MelConfig.lmnt_wavegrad`, with the
sample rate and hop of the checkpoint's ``params``) and :class:`WaveGradDiffusion` with its
training schedule. Nothing read here can execute code (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from vocfw.core.audio.mel import MelConfig
from vocfw.core.runs.checkpoint import checkpoint_dirname
from vocfw.plugins.models.diffwave_convert import (
    ConversionError,
    _check_layout,
    _count,
    _read_run,
    _sampler_args,
    _save_lmnt,
    _strip_prefix,
    _torch_load,
    _write_run,
    lmnt_params,
)
from vocfw.plugins.models.wavegrad import WaveGrad
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.wavegrad import WaveGradDiffusion

PATHS = (f"{WaveGrad.__module__}.{WaveGrad.__qualname__}",
         f"{WaveGradDiffusion.__module__}.{WaveGradDiffusion.__qualname__}")
ANCHOR_KEY = "first_conv.weight"
LMNT_TRAINING = {"batch_size": 32, "learning_rate": 2e-4, "max_grad_norm": 1.0,
                 "crop_mel_frames": 24}
LMNT_DEFAULTS = {"sample_rate": 22050, "hop_samples": 300}
LMNT_MODEL = {"n_mels": 128, "hop_length": 300, "base_channels": 32}  # what lmnt builds


def _model_args(state: dict[str, Any], source: Path, hop_length: int) -> dict[str, int]:
    """WaveGrad constructor arguments from tensor shapes, checked against every key and shape.

    Raises:
        ConversionError: keys are missing or unexpected, or a shape does not fit.
    """
    try:
        args = {"n_mels": int(state[ANCHOR_KEY].shape[1]), "hop_length": hop_length,
                "base_channels": int(state["downsample.0.weight"].shape[0])}
        expected = WaveGrad(**args).state_dict()
    except (KeyError, IndexError, ValueError) as exc:
        raise ConversionError(f"{source}: not a WaveGrad state dict ({exc})") from None
    _check_layout(state, expected, source, f"WaveGrad({args})")
    return args


def _features(params: dict[str, Any], n_mels: int, source: Path) -> MelConfig:
    """lmnt's mel for the checkpoint's rate and hop: a window of 4 hops, the FFT size the next
    power of two."""
    hop = params["hop_samples"]
    try:
        return dataclasses.replace(
            MelConfig.lmnt_wavegrad(), sample_rate=params["sample_rate"], hop_length=hop,
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
        ConversionError: the file is unreadable or its tensors do not form a WaveGrad.
        FileExistsError: that checkpoint folder exists already.
    """
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        checkpoint = checkpoint / "weights.pt"
    data = _torch_load(checkpoint)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConversionError(f"{checkpoint}: expected a dict with a 'model' state dict")
    params = lmnt_params(data, checkpoint, LMNT_DEFAULTS, tuple(LMNT_DEFAULTS))
    step = _count(data.get("step", 0), "step", checkpoint, minimum=0)
    sampler_args = _sampler_args(params.get("noise_schedule"), checkpoint)
    state = _strip_prefix(data["model"], checkpoint, ANCHOR_KEY, "WaveGrad")
    model_args = _model_args(state, checkpoint, params["hop_samples"])
    features = _features(params, model_args["n_mels"], checkpoint)
    name = checkpoint_dirname(0, step, 0.0)
    return _write_run(output, name, state, features, model_args, sampler_args, PATHS)


def export_lmnt_wavegrad(run: Path, output: Path, use_ema: bool = True) -> Path:
    """Write a vocfw WaveGrad checkpoint in lmnt-com/wavegrad's format.

    The file holds ``{"step", "model", "params"}`` and loads with lmnt's ``predict``, which
    builds its one network size: 128 mel bands, hop 300, base width 32.

    Args:
        run: run directory, ``checkpoint/`` folder or one checkpoint folder.
        output: a ``.pt`` file, or a directory to write ``weights.pt`` into.
        use_ema: export the moving-average weights when the checkpoint has them.

    Returns:
        The file written.

    Raises:
        ConversionError: the checkpoint is not a WaveGrad trained with WaveGradDiffusion or
            DDPM, or not of the size lmnt builds.
    """
    folder, spec, model_cls, sampler_cls = _read_run(run)
    if model_cls is not WaveGrad or not issubclass(sampler_cls, DDPM):
        raise ConversionError(
            f"{folder}: lmnt-com/wavegrad's format holds only WaveGrad models trained with "
            f"WaveGradDiffusion or DDPM, got {spec['model']['class_path']} with "
            f"{spec['sampler']['class_path']}"
        )
    model, sampler = spec["model"]["init_args"], spec["sampler"]["init_args"]
    if model != LMNT_MODEL:
        raise ConversionError(f"{folder}: lmnt-com/wavegrad builds only WaveGrad({LMNT_MODEL}), "
                              f"this checkpoint holds WaveGrad({model})")
    params = {
        **LMNT_TRAINING,
        "sample_rate": spec["features"]["sample_rate"],
        "hop_samples": model["hop_length"],
        "noise_schedule": np.linspace(
            sampler["beta_start"], sampler["beta_end"], sampler["num_steps"]
        ).tolist(),
    }
    return _save_lmnt(folder, output, use_ema, params)
