"""What ``predict`` vocodes: discovery of the inputs of each mode, and loading one input.

Modes:

``dataset``
    ``{processed_dir}/{dataset}/test.json`` (entries with ``Uid``), ``mels/{Uid}.npy`` (M, T)
    and, for ground truth, ``audios/{Uid}.npy`` (L,).
``feature``
    every ``{feature_dir}/mels/*.npy``; the uid is the file name up to its first ``.``; ground
    truth from ``{feature_dir}/audios/{uid}.npy`` when that name exists.

In every mode the temporaries of killed vocfw writes (``.tmp-*``) are no inputs, and a name that
is not a regular file (a link loop, a named pipe) is reported when loaded, without being opened.
``audio``
    every wav/flac/mp3/ogg file in ``audio_dir`` and its sub-folders (the output folder left
    out); the uid is the path relative to ``audio_dir`` up to the file name's first ``.``
    (``spk1/a.wav`` -> ``spk1/a``), so outputs keep the input layout. The mel is computed with
    the run's own features and the ground truth is the input resampled to the run's rate (copy
    synthesis).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from vocfw.core.atomic import is_temporary
from vocfw.core.audio.io import AudioError, list_audio_files, load_audio
from vocfw.core.audio.mel import MelSpectrogram
from vocfw.core.audio.npy import read_npy
from vocfw.core.corpus import SkippedItem
from vocfw.core.data.layout import (
    MELS_DIR,
    TEST_SPLIT,
    TrainingDataError,
    audio_path,
    mel_path,
    read_split,
)
from vocfw.core.infer.vocode import check_mel

Mode = Literal["dataset", "feature", "audio"]


@dataclass(frozen=True)
class Input:
    """One utterance to vocode.

    Attributes:
        uid: output file stem.
        source: the mel ``.npy`` or the audio file it comes from.
        reference: the ground-truth waveform ``.npy`` (``None``: none, or ``source`` is audio).
    """

    uid: str
    source: Path
    reference: Path | None = None

    @property
    def is_audio(self) -> bool:
        """The input is an audio file (its mel is computed, it is its own ground truth)."""
        return self.source.suffix.lower() != ".npy"

    @property
    def has_reference(self) -> bool:
        """A ground-truth waveform exists for this input."""
        return self.is_audio or self.reference is not None


def uid_of(path: Path) -> str:
    """The uid of a feature or audio file: its name up to the first ``.``."""
    return path.name.split(".", 1)[0]


def audio_uid(audio_dir: Path, path: Path) -> str:
    """The uid of an audio input: its folder relative to ``audio_dir`` joined to its uid."""
    return (path.parent.relative_to(audio_dir) / uid_of(path)).as_posix()


def is_safe_uid(uid: str) -> bool:
    """A uid is a relative ``/``-separated path without empty, ``.`` or ``..`` parts."""
    return "\\" not in uid and all(part not in ("", ".", "..") for part in uid.split("/"))


def _audio_inputs(audio_dir: Path, exclude: Path | None) -> list[Input]:
    """Every audio file under ``audio_dir``, except those under ``exclude`` (links are
    followed by ``realpath``, which, unlike ``Path.resolve``, stops at a link loop)."""
    skip = os.path.realpath(exclude) if exclude is not None else None
    return [
        Input(audio_uid(audio_dir, path), path)
        for path in list_audio_files(audio_dir, recursive=True)
        if skip is None or os.path.commonpath([skip, os.path.realpath(path)]) != skip
    ]


def _mel_input(folder: Path, uid: str, source: Path) -> Input:
    """The mel input ``source`` with ``{folder}/audios/{uid}.npy`` if anything has that name
    (a name that is not a readable file is reported when the input is loaded)."""
    audio = audio_path(folder, uid)
    return Input(uid, source, audio if os.path.lexists(audio) else None)


def _dataset_inputs(
    processed_dir: Path, datasets: list[str], failed: list[SkippedItem]
) -> list[Input]:
    """The test split of every dataset; a missing or malformed ``test.json`` is reported."""
    inputs = []
    for dataset in datasets:
        folder = processed_dir / dataset
        meta = folder / TEST_SPLIT
        try:
            uids = [str(entry["Uid"]) for entry in read_split(folder, TEST_SPLIT)]
        except TrainingDataError as exc:
            failed.append(SkippedItem(meta, f"cannot read the test split: {exc}"))
            continue
        inputs += [_mel_input(folder, uid, mel_path(folder, uid)) for uid in uids]
    return inputs


def discover(
    mode: Mode,
    datasets: list[str] | None,
    processed_dir: Path,
    feature_dir: Path | None,
    audio_dir: Path | None,
    failed: list[SkippedItem],
    exclude: Path | None = None,
) -> list[Input]:
    """List the inputs of a mode; duplicate or unsafe uids are reported in ``failed``.

    Args:
        mode: ``dataset``, ``feature`` or ``audio``.
        datasets: processed dataset names (``dataset`` mode).
        processed_dir: where the processed datasets are (``dataset`` mode).
        feature_dir: folder holding ``mels/`` (``feature`` mode).
        audio_dir: folder of audio files (``audio`` mode).
        failed: receives the inputs left out.
        exclude: a folder whose files are never inputs (the output folder).

    Returns:
        The inputs, uids unique.

    Raises:
        ValueError: the folder or dataset names the mode needs are missing, or the mode found
            no inputs at all.
    """
    if mode == "dataset":
        if not datasets:
            raise ValueError("predict --mode dataset needs --datasets (processed dataset names)")
        found = _dataset_inputs(processed_dir, datasets, failed)
    elif mode == "feature":
        if feature_dir is None or not (feature_dir / MELS_DIR).is_dir():
            raise ValueError(f"predict --mode feature needs --feature_dir with a mels/ folder, "
                             f"got {feature_dir}")
        mels = sorted(p for p in (feature_dir / MELS_DIR).glob("*.npy") if not is_temporary(p))
        found = [_mel_input(feature_dir, uid_of(path), path) for path in mels]
    elif mode == "audio":
        if audio_dir is None or not audio_dir.is_dir():
            raise ValueError(f"predict --mode audio needs --audio_dir (a folder), got {audio_dir}")
        found = _audio_inputs(audio_dir, exclude)
    else:
        raise ValueError(f"predict: mode must be dataset, feature or audio, got {mode!r}")
    if not found and not failed:
        where = {"dataset": f"the test splits of {datasets} in {processed_dir}",
                 "feature": f"{feature_dir}/mels/*.npy",
                 "audio": f"{audio_dir} and its sub-folders (wav/flac/mp3/ogg files)"}[mode]
        raise ValueError(f"predict --mode {mode} found no inputs in {where}")
    seen: dict[str, Path] = {}
    inputs = []
    for item in found:
        if not is_safe_uid(item.uid):
            failed.append(SkippedItem(item.source, "uid is not a safe file name", item.uid))
        elif item.uid in seen:
            reason = f"uid {item.uid!r} already taken by {seen[item.uid]}"
            failed.append(SkippedItem(item.source, reason, item.uid))
        else:
            seen[item.uid] = item.source
            inputs.append(item)
    return inputs


def _load_waveform(path: Path) -> np.ndarray:
    """A ground-truth waveform ``.npy``: real numbers, 1-D, non-empty, finite.

    Raises:
        NpyError: not a readable ``.npy`` array of real numbers.
        AudioError: not such a waveform; names the file.
    """
    audio = np.squeeze(read_npy(path))
    if audio.ndim != 1 or audio.size == 0:
        raise AudioError(path, f"ground truth: expected a non-empty 1-D waveform, got shape "
                               f"{audio.shape}")
    audio = audio.astype(np.float32)
    if not np.all(np.isfinite(audio)):
        raise AudioError(path, "ground truth contains NaN or infinite samples")
    return audio


def load_input(
    item: Input, extractor: MelSpectrogram, n_mels: int
) -> tuple[torch.Tensor, np.ndarray | None]:
    """Load an input's mel and, if it has one, its ground truth.

    Args:
        item: what to load.
        extractor: the run's mel extractor (for audio inputs).
        n_mels: bands the model expects.

    Returns:
        (M, T) float32 mel and the (L,) ground truth or ``None``.

    Raises:
        NpyError: an ``.npy`` file is corrupt or not an array of real numbers.
        MelError: the mel is unusable.
        AudioError: the audio file or ground-truth ``.npy`` is unreadable, empty or invalid,
            or too short for the analysis window.
    """
    if item.is_audio:
        audio = load_audio(item.source, extractor.config.sample_rate)
        if audio.size <= extractor.config.n_fft:
            raise AudioError(item.source, f"{audio.size} samples is too short for the "
                                          f"{extractor.config.n_fft}-point analysis window")
        with torch.inference_mode():
            mel = extractor(torch.from_numpy(audio))  # (M, T)
        return check_mel(mel, n_mels, str(item.source)), audio
    mel = check_mel(read_npy(item.source), n_mels, str(item.source))
    reference = _load_waveform(item.reference) if item.reference is not None else None
    return mel, reference
