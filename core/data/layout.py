"""The processed-folder format: where each file of a preprocessed dataset lives, and its readers.

``vocfw preprocess`` writes, and training and ``predict`` read, ``{processed_dir}/{dataset}/``::

    train.json, test.json      split lists of {"Dataset", "Singer", "Uid", "Path", "Duration",
    (valid.json)               "index"}, sorted by duration
    mels/{Uid}.npy             float32 (n_mels, T) log-mel
    audios/{Uid}.npy           float32 (L,) waveform at the feature sample rate
    features.json              the MelConfig the features were made with
    singers.json, utt2spk, meta_info.json, report.json, report.txt   (see metadata, report)

A ``feature`` folder for ``predict`` has the same ``mels/`` and (optionally) ``audios/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vocfw.core.atomic import json_text, remove_stale_temporaries, write_text_if_changed
from vocfw.core.audio.mel import MelConfig
from vocfw.core.corpus import uid_problem
from vocfw.core.errors import MetadataError, VocfwError

MELS_DIR = "mels"
AUDIOS_DIR = "audios"
FEATURES_FILE = "features.json"  # the MelConfig a processed dataset folder was made with
TRAIN_SPLIT = "train.json"
TEST_SPLIT = "test.json"  # also the validation split of training


class TrainingDataError(VocfwError, FileNotFoundError):
    """Preprocessed data is missing, or does not match the model being trained."""


def split_file(split: str) -> str:
    """The file name of a split list: ``train.json``, ``test.json``, ``valid.json``."""
    return f"{split}.json"


def mel_path(folder: Path, uid: str) -> Path:
    """``{folder}/mels/{uid}.npy``."""
    return folder / MELS_DIR / f"{uid}.npy"


def audio_path(folder: Path, uid: str) -> Path:
    """``{folder}/audios/{uid}.npy``."""
    return folder / AUDIOS_DIR / f"{uid}.npy"


def is_extracted(folder: Path, uid: str) -> bool:
    """Both feature files of ``uid`` exist (an utterance preprocessing has finished)."""
    return mel_path(folder, uid).is_file() and audio_path(folder, uid).is_file()


def has_feature_files(folder: Path) -> bool:
    """Some ``.npy`` feature file exists in ``mels/`` or ``audios/``."""
    return any(any((folder / sub).glob("*.npy")) for sub in (MELS_DIR, AUDIOS_DIR))


def remove_leftovers(folder: Path) -> None:
    """Delete the temporaries of killed writes in the dataset folder and its feature folders
    (only vocfw's own temporary names, see :func:`vocfw.core.atomic.remove_stale_temporaries`)."""
    for sub in (folder, folder / MELS_DIR, folder / AUDIOS_DIR):
        remove_stale_temporaries(sub)


def preprocess_hint(folder: Path) -> str:
    """How to make a missing processed folder, for error messages."""
    return (
        f"{folder}: run `vocfw preprocess --config <your config>` first (it writes "
        f"{TRAIN_SPLIT}, {TEST_SPLIT}, {MELS_DIR}/ and {AUDIOS_DIR}/ there)"
    )


def read_split(folder: Path, name: str) -> list[dict]:
    """The records of ``{folder}/{name}`` (``train.json``, ``test.json``).

    Raises:
        TrainingDataError: the folder or file is missing (the message says how to make it), or
            the file is not a JSON list of objects with a ``Uid``.
    """
    path = folder / name
    if not folder.is_dir():
        raise TrainingDataError(f"processed dataset folder is missing. {preprocess_hint(folder)}")
    if not path.is_file():
        raise TrainingDataError(f"{path} is missing. {preprocess_hint(folder)}")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and isinstance(r.get("Uid"), str | int)
        and uid_problem(str(r["Uid"])) is None for r in records
    ):
        raise TrainingDataError(f"{path}: expected a JSON list of objects whose 'Uid' is a "
                                f"string that is a safe file name")
    return records


def feature_differences(folder: Path, config: MelConfig) -> dict[str, tuple[Any, Any]] | None:
    """Compare the settings recorded in ``{folder}/features.json`` with ``config``.

    Returns:
        ``None`` when the folder records no settings, else key -> (stored, wanted) for every
        setting that differs (a setting missing from the file differs too).

    Raises:
        MetadataError: the file is not a JSON object; the message names it.
    """
    path = folder / FEATURES_FILE
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(stored, dict):
        raise MetadataError(f"{path}: expected a JSON object of feature settings")
    return {
        key: (stored.get(key), wanted)
        for key, wanted in config.to_dict().items()
        if stored.get(key) != wanted
    }


def write_features(folder: Path, config: MelConfig) -> None:
    """Record ``config`` in ``{folder}/features.json`` (atomically, only when it changes)."""
    write_text_if_changed(folder / FEATURES_FILE, json_text(config.to_dict()))
