"""DNSMOS P.835: a reference-free quality score (SIG speech, BAK background, OVRL overall, 1 to
5, higher is better), from the ONNX models of the ``speechmos`` package run by ``onnxruntime`` on
the CPU. Optional: ``pip install 'vocfw[mos]'``.

The audio is resampled to 16 kHz; clips shorter than 9.01 s are repeated to that length and
longer ones scored in 9.01 s windows every second, averaged (``speechmos``'s procedure).
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Any

import librosa
import numpy as np

from vocfw.core.errors import VocfwError
from vocfw.core.evaluate.metrics import MetricError

MOS_RATE = 16000
METRICS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
INSTALL_HINT = ("DNSMOS columns (dnsmos_sig, dnsmos_bak, dnsmos_ovrl) need the mos extra: "
                "pip install 'vocfw[mos]'")


class MosUnavailableError(VocfwError, ImportError):
    """DNSMOS was asked for, but the mos extra is not installed."""


def _speechmos_dnsmos() -> Any | None:
    """The ``speechmos.dnsmos`` module, or ``None`` when the extra is not installed."""
    try:
        return importlib.import_module("speechmos.dnsmos")
    except ImportError:
        return None


def available() -> bool:
    """Whether the mos extra (``speechmos`` and ``onnxruntime``) can be imported."""
    return _speechmos_dnsmos() is not None


@cache
def _model() -> Any:
    """The DNSMOS scorer (P.835 model and P.808 model), loaded once."""
    module = _speechmos_dnsmos()
    if module is None:
        raise MosUnavailableError(INSTALL_HINT)
    models = Path(module.__file__).parent / "dnsmos_models"
    return module.DNSMOS(str(models / "sig_bak_ovr.onnx"), str(models / "model_v8.onnx"))


def dnsmos(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """DNSMOS P.835 of one waveform.

    Args:
        audio: (L,) float waveform in [-1, 1] (clipped to it).
        sample_rate: its rate.

    Returns:
        ``dnsmos_sig``, ``dnsmos_bak`` and ``dnsmos_ovrl``.

    Raises:
        MosUnavailableError: the mos extra is not installed.
        MetricError: the waveform is empty.
    """
    if audio.size == 0:
        raise MetricError("empty waveform")
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if sample_rate != MOS_RATE:
        audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=MOS_RATE)
    scores = _model()(np.clip(audio, -1.0, 1.0), MOS_RATE, False)
    return {"dnsmos_sig": float(scores["sig_mos"]), "dnsmos_bak": float(scores["bak_mos"]),
            "dnsmos_ovrl": float(scores["ovrl_mos"])}
