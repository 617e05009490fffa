"""Given mels (an acoustic model's, say) paired with a processed dataset's audio: the processed
dataset ``vocfw fit`` fine-tunes a vocoder on (``vocfw import-mels``).

``{mels}/{Uid}.npy`` holds the given (n_mels, T) log-mel of an utterance of the processed
dataset ``{processed_dir}/{dataset}/``. The result, ``{output_dir}/{dataset}/``, is laid out as
preprocessing lays out a dataset (:mod:`vocfw.core.data.layout`): the split lists (less the
utterances left out), ``features.json``, the audio (hard links where the file system allows,
else copies) and the given mels as ``mels/``; training reads it as any processed dataset.

Frame rule: the feature extractor makes ``features.num_frames(L)`` frames of L samples
(floor(L / hop), one more for the ``lmnt`` style). A given mel of T frames is accepted when
|T - num_frames(L)| <= ``frame_tolerance``; it is then cut at its end, or padded at its end
by repeating its last frame, to exactly num_frames(L) frames, so that mel and audio stay
aligned as training's crops assume.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vocfw.core.atomic import atomic_dir, save_npy
from vocfw.core.audio.mel import MelConfig
from vocfw.core.audio.npy import NpyError, read_npy
from vocfw.core.corpus import SPLITS
from vocfw.core.data.config import DataConfig
from vocfw.core.data.dataset import check_features
from vocfw.core.data.layout import (
    audio_path,
    mel_path,
    read_split,
    split_file,
    write_features,
)
from vocfw.core.data.metadata import write_metadata
from vocfw.core.data.report import Skip, write_report
from vocfw.core.errors import VocfwError
from vocfw.core.settings import SettingError

DEFAULT_FRAME_TOLERANCE = 1
REQUIRED_SPLITS = ("train", "test")
STAGE = "features"  # the report stage of every given mel left out


class GivenMelsError(VocfwError, ValueError):
    """Given mels cannot be imported at all: a missing folder, an output that would overwrite
    something, or no usable utterance."""


class GivenMelProblem(VocfwError, ValueError):
    """One given mel cannot be used (the reason it is left out)."""


@dataclass
class ImportSummary:
    """What :func:`import_given_mels` wrote and left out.

    Attributes:
        output: the processed dataset folder written.
        splits: split name -> utterances imported.
        adjusted: mels cut or padded to the frame count of their audio.
        skipped: every given mel or utterance left out, with the file and why.
    """

    output: Path
    splits: dict[str, int] = field(default_factory=dict)
    adjusted: int = 0
    skipped: list[Skip] = field(default_factory=list)

    def __str__(self) -> str:
        counts = ", ".join(f"{split} {count}" for split, count in self.splits.items())
        return (f"imported into {self.output}: {counts} utterances ({self.adjusted} cut or "
                f"padded to their audio), {len(self.skipped)} left out")


def conform_frames(mel: np.ndarray, frames: int, tolerance: int) -> np.ndarray:
    """``mel`` cut or edge-padded at its end to ``frames`` frames, within ``tolerance``.

    Args:
        mel: (M, T) given mel.
        frames: the frame count the audio has (``features.num_frames(L)``).
        tolerance: the largest accepted |T - frames|.

    Returns:
        (M, frames) float32.

    Raises:
        GivenMelProblem: |T - frames| exceeds ``tolerance``.
    """
    given = mel.shape[1]
    if abs(given - frames) > tolerance:
        raise GivenMelProblem(f"has {given} frames but its audio has {frames} (tolerance "
                              f"{tolerance})")
    if given >= frames:
        return np.ascontiguousarray(mel[:, :frames], dtype=np.float32)
    return np.pad(mel, ((0, 0), (0, frames - given)), mode="edge").astype(np.float32)  # (M, T)


def read_given_mel(path: Path, n_mels: int) -> np.ndarray:
    """Read one given mel and check its shape and values.

    Returns:
        (n_mels, T) as stored.

    Raises:
        NpyError: not a readable ``.npy`` array of real numbers.
        GivenMelProblem: not (n_mels, T), or not finite.
    """
    mel = read_npy(path)
    if mel.ndim != 2 or mel.shape[0] != n_mels:
        raise GivenMelProblem(f"has shape {mel.shape}; expected ({n_mels}, frames)")
    if not np.isfinite(mel).all():
        raise GivenMelProblem("holds NaN or infinite values")
    return mel


def _place_audio(source: Path, target: Path) -> None:
    """``target`` becomes a hard link to ``source``, or a copy where links are not possible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _import_one(record: dict, split: str, folders: tuple[Path, Path, Path], features: MelConfig,
                tolerance: int) -> tuple[bool, Skip | None]:
    """Write one utterance's given mel and audio into ``out``.

    Returns:
        Whether the mel was cut or padded, and the skip (``None`` when imported).
    """
    source, mels, out = folders
    uid = str(record["Uid"])
    given, audio = mels / f"{uid}.npy", audio_path(source, uid)
    try:
        if not given.is_file():
            raise GivenMelProblem("no given mel for this utterance")
        frames = features.num_frames(read_npy(audio, mmap_mode="r").size)
        mel = read_given_mel(given, features.n_mels)  # (M, T)
        conformed = conform_frames(mel, frames, tolerance)  # (M, frames)
    except (GivenMelProblem, NpyError) as exc:
        where = exc.path if isinstance(exc, NpyError) else given
        reason = exc.reason if isinstance(exc, NpyError) else str(exc)
        return False, Skip(str(where), uid, split, STAGE, reason)
    save_npy(mel_path(out, uid), conformed)
    _place_audio(audio, audio_path(out, uid))
    return mel.shape[1] != frames, None


def _check_places(source: Path, mels: Path, output: Path, overwrite: bool) -> None:
    """Refuse an output that is the source, holds the given mels, or is taken."""
    if not mels.is_dir():
        raise GivenMelsError(f"{mels}: the folder of given mels ({{Uid}}.npy) does not exist")
    resolved = output.resolve()
    if any(resolved == p.resolve() or resolved in p.resolve().parents for p in (source, mels)):
        raise GivenMelsError(f"{output}: the output must be neither the source dataset "
                             f"{source} nor hold the given mels {mels}")
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise GivenMelsError(f"{output} exists and is not empty; pass --overwrite to replace it")


def import_given_mels(
    data: DataConfig,
    dataset: str,
    mels: Path,
    output_dir: Path,
    frame_tolerance: int = DEFAULT_FRAME_TOLERANCE,
    overwrite: bool = False,
) -> ImportSummary:
    """Pair given mels with a processed dataset's audio into ``{output_dir}/{dataset}/``.

    Every utterance of the dataset's splits needs ``{mels}/{Uid}.npy``; a mel missing,
    unreadable, of the wrong band count, not finite or with a frame count beyond
    ``frame_tolerance`` is reported (in the summary and ``report.json``/``report.txt``) and left
    out, as is a given mel of no utterance of the dataset. The folder is written whole or not
    at all.

    Args:
        data: the processed data (``processed_dir``) and its feature settings.
        dataset: the processed dataset whose audio and split lists are used.
        mels: folder of given mels, ``{Uid}.npy`` each (n_mels, T).
        output_dir: the processed-data root to write into (train with
            ``--data.processed_dir`` set to it).
        frame_tolerance: the largest accepted difference between a given mel's frame count
            and its audio's (``features.num_frames`` of its sample count).
        overwrite: replace an existing ``{output_dir}/{dataset}/``.

    Returns:
        What was imported and left out.

    Raises:
        SettingError: a negative ``frame_tolerance``.
        GivenMelsError: ``mels`` is no folder, the output is the source, holds the given
            mels or is taken (without ``overwrite``), or no utterance is usable.
        TrainingDataError: the source dataset's split lists are missing or malformed, or its
            features differ from ``data.features``.
    """
    if frame_tolerance < 0:
        raise SettingError(f"frame_tolerance must not be negative, got {frame_tolerance}")
    features, source = data.features, data.dataset_dir(dataset)
    mels, output = Path(mels), Path(output_dir) / dataset
    splits = {name: read_split(source, split_file(name)) for name in SPLITS
              if name in REQUIRED_SPLITS or (source / split_file(name)).is_file()}
    check_features(source, features, features.n_mels)
    _check_places(source, mels, output, overwrite)
    summary = ImportSummary(output)
    kept: dict[str, list[dict]] = {}
    with atomic_dir(output) as tmp:
        for name, records in splits.items():
            kept[name] = []
            for record in records:
                adjusted, skip = _import_one(record, name, (source, mels, tmp), features,
                                             frame_tolerance)
                summary.adjusted += adjusted
                if skip is not None:
                    summary.skipped.append(skip)
                else:
                    kept[name].append(dict(record, index=len(kept[name])))
        known = {str(r["Uid"]) for records in splits.values() for r in records}
        summary.skipped += [Skip(str(p), p.stem, None, STAGE, f"no utterance {p.stem!r} in "
                                 f"{source}") for p in sorted(mels.glob("*.npy"))
                            if p.stem not in known]
        summary.splits = {name: len(entries) for name, entries in kept.items()}
        if not any(summary.splits.values()):
            raise GivenMelsError(f"{mels}: no usable given mel for dataset {dataset!r} "
                                 f"({len(summary.skipped)} left out: {_first(summary.skipped)})")
        write_metadata(tmp, dataset, kept)
        write_features(tmp, features)
        write_report(tmp, dataset, kept, summary.skipped)
        if output.exists():
            shutil.rmtree(output)  # replaced (overwrite) only once the new folder is complete
    return summary


def _first(skipped: list[Skip]) -> str:
    """The first skip as ``path: reason``, for an error message."""
    return f"{skipped[0].path}: {skipped[0].reason}" if skipped else "no utterances listed"
