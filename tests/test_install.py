"""The installed binary pair: torchaudio loads its extension beside this torch, and the
torchaudio functions vocfw calls work.

A torchaudio built for another torch release fails on import (an undefined symbol in
``libtorchaudio.so``); ``tests/conftest.py`` stops the whole run with one line in that case,
and these tests say which call broke.
"""

from __future__ import annotations

import importlib.metadata

import torch


def _release(version: str) -> str:
    """``2.11.0+cu130`` -> ``2.11.0``."""
    return version.split("+")[0]


def test_torchaudio_is_built_for_the_installed_torch() -> None:
    import torchaudio

    torch_version = _release(importlib.metadata.version("torch"))
    audio_version = _release(importlib.metadata.version("torchaudio"))
    assert audio_version == torch_version, (
        f"torchaudio {audio_version} beside torch {torch_version}: pin them to one release"
    )
    assert _release(torchaudio.__version__) == audio_version


def test_htk_mel_filterbank_equals_librosa() -> None:
    """The call lmnt-style features make (``features.style: lmnt``)."""
    import librosa
    import torchaudio.functional as AF

    fbanks = AF.melscale_fbanks(513, 20.0, 8000.0, 80, 22050, norm=None, mel_scale="htk")
    expected = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=20.0, fmax=8000.0,
                                   htk=True, norm=None)  # (M, F)
    assert fbanks.shape == (513, 80)
    assert torch.allclose(fbanks.T, torch.from_numpy(expected).float(), atol=1e-5)


def test_voice_activity_detection_runs() -> None:
    import torchaudio.functional as AF

    sample_rate = 16000
    time = torch.arange(sample_rate) / sample_rate
    tone = torch.sin(2 * torch.pi * 220 * time) * (time > 0.5)  # silence, then a tone
    trimmed = AF.vad(tone, sample_rate)
    assert 0 < trimmed.numel() < tone.numel()
