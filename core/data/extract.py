"""Per-utterance work of preprocessing: measuring durations and extracting features.

The functions that run in worker processes are top-level and take picklable arguments, so they
work with the ``spawn`` start method. Results are values or failure reasons, never exceptions:
one bad file never stops a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from vocfw.core.atomic import save_npy
from vocfw.core.audio.io import AudioError, audio_duration, load_audio
from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.corpus import Utterance
from vocfw.core.data.layout import audio_path, mel_path

MIN_DURATION = 1e-8


def init_worker() -> None:
    """Worker-process initialiser: one torch thread per worker process."""
    torch.set_num_threads(1)


def measure(utt: Utterance) -> float:
    """Duration of an utterance in seconds.

    A segment with both ``start`` and ``end`` is ``end - start`` without reading the file;
    otherwise the file header gives the length.

    Args:
        utt: the utterance.

    Returns:
        Seconds of audio.

    Raises:
        AudioError: the file is unreadable or empty, or the segment holds no audio.
    """
    if utt.start is not None and utt.end is not None:
        duration = utt.end - utt.start
    else:
        whole = audio_duration(utt.path)
        duration = (whole if utt.end is None else utt.end) - (utt.start or 0.0)
    if duration <= MIN_DURATION:
        raise AudioError(utt.path, f"segment [{utt.start}, {utt.end}] s holds no audio")
    return duration


def measure_many(utts: list[Utterance]) -> list[float | str]:
    """Measure several utterances.

    Args:
        utts: the utterances.

    Returns:
        For each utterance its duration in seconds, or the reason it cannot be used.
    """
    results: list[float | str] = []
    for utt in utts:
        try:
            results.append(measure(utt))
        except AudioError as exc:
            results.append(exc.reason)
    return results


@lru_cache(maxsize=4)
def mel_extractor(config: MelConfig, device: str) -> MelSpectrogram:
    """The process's mel extractor for ``config`` on ``device``, built once (a process that
    builds it before forking hands it, and the modules it imported, to its workers)."""
    return MelSpectrogram(config).to(device).eval()


@torch.no_grad()
def batched_mels(
    extractor: MelSpectrogram, waves: list[np.ndarray], device: str = "cpu"
) -> list[np.ndarray]:
    """Mel spectrograms of waveforms of different lengths, in one extractor call.

    Each waveform of at least ``n_fft`` samples is followed by its own mirror image (the
    samples the extractor's reflect padding would add at its end) and zero-padded to the
    longest; only the frames of its own length are kept, so every result equals the extractor
    applied to that waveform alone. Shorter waveforms are processed one by one.

    Args:
        extractor: the mel extractor.
        waves: (L_i,) float32 waveforms.
        device: where the extractor runs.

    Returns:
        One (n_mels, T_i) float32 array per waveform, T_i = ``num_frames(L_i)``.

    Raises:
        RuntimeError: a waveform is too short for the extractor's padding.
    """
    config = extractor.config
    out: list[np.ndarray | None] = [None] * len(waves)
    long = [i for i, wave in enumerate(waves) if wave.size >= config.n_fft]
    if long:
        rows = [np.concatenate([waves[i], waves[i][-2::-1][: config.n_fft]]) for i in long]
        batch = torch.zeros(len(rows), max(row.size for row in rows))  # (B, L_max)
        for b, row in enumerate(rows):
            batch[b, : row.size] = torch.from_numpy(row)
        mels = extractor(batch.to(device)).cpu()  # (B, M, T_max)
        for b, i in enumerate(long):
            out[i] = mels[b, :, : config.num_frames(waves[i].size)].numpy()
    for i, wave in enumerate(waves):
        if out[i] is None:
            out[i] = extractor(torch.from_numpy(wave).to(device)).cpu().numpy()  # (M, T)
    return [np.ascontiguousarray(mel, dtype=np.float32) for mel in out]


@dataclass(frozen=True)
class ExtractTask:
    """A group of utterances whose features one worker call extracts.

    Attributes:
        utts: the utterances, of similar length (their waveforms share one mel batch).
        config: the feature settings.
        out_dir: the processed dataset folder the features go into.
        device: where the mel extractor runs.
    """

    utts: tuple[Utterance, ...]
    config: MelConfig
    out_dir: Path
    device: str = "cpu"


def extract(task: ExtractTask) -> list[tuple[str, str | None]]:
    """Load, resample and save the waveform and log-mel of each utterance (worker entry point).

    Both files are written atomically; an utterance counts as done when both exist.

    Args:
        task: the utterances and where their features go.

    Returns:
        ``(uid, None)`` for each utterance done, ``(uid, reason)`` for each one skipped.
    """
    config = task.config
    results: list[tuple[str, str | None]] = []
    loaded: list[tuple[Utterance, np.ndarray]] = []
    for utt in task.utts:
        try:
            wave = load_audio(utt.path, config.sample_rate, utt.start, utt.end)  # (L,)
        except AudioError as exc:
            results.append((utt.uid, exc.reason))
            continue
        if config.num_frames(wave.size) < 1 or wave.size <= config.n_fft // 2:
            results.append((utt.uid, f"too short for one mel frame ({wave.size} samples)"))
            continue
        loaded.append((utt, wave))
    mels = batched_mels(mel_extractor(config, task.device), [w for _, w in loaded], task.device)
    for (utt, wave), mel in zip(loaded, mels, strict=True):
        save_npy(audio_path(task.out_dir, utt.uid), wave)
        save_npy(mel_path(task.out_dir, utt.uid), mel)
        results.append((utt.uid, None))
    return results
