"""The processed folder's metadata: split lists, singer ids, ``utt2spk`` and ``meta_info.json``.

The layout and content follow the diffusion-vocoder recipe, so a processed folder can move
between vocfw and the reference: each split is a JSON list sorted by ``Duration``; singers are
identified across datasets as ``{Dataset}_{Singer}``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from vocfw.core.atomic import write_json_if_changed, write_text_if_changed
from vocfw.core.corpus import SPLITS, Utterance
from vocfw.core.data.layout import split_file

AUGMENT_SUFFIXES = ("_equalizer", "_formant_shift", "_pitch_shift", "_time_stretch")


def record(utt: Utterance, duration: float, index: int) -> dict[str, Any]:
    """The split-list entry of one utterance.

    Args:
        utt: the utterance.
        duration: its measured duration in seconds.
        index: its running number within its split, in corpus order.

    Returns:
        A dict with ``Dataset``, ``Singer``, ``Uid``, ``Path``, ``Duration``, ``index`` and,
        when set, ``Start``/``End`` (seconds), ``Song`` and ``Text``.
    """
    entry: dict[str, Any] = {
        "Dataset": utt.dataset,
        "Singer": utt.singer,
        "Uid": utt.uid,
        "Path": str(utt.path),
        "Duration": duration,
        "index": index,
    }
    optional = {"Start": utt.start, "End": utt.end, "Song": utt.song, "Text": utt.text}
    entry.update({key: value for key, value in optional.items() if value is not None})
    return entry


def sort_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort split entries by ``Duration`` ascending, ties by ``Uid``."""
    return sorted(records, key=lambda entry: (entry["Duration"], entry["Uid"]))


def singer_key(entry: dict[str, Any]) -> str:
    """``{Dataset}_{Singer}``, with a data-augmentation suffix stripped from the dataset name."""
    dataset = entry["Dataset"]
    for suffix in AUGMENT_SUFFIXES:
        if suffix in dataset:
            dataset = dataset.replace(suffix, "")
            break
    return f"{dataset}_{entry['Singer']}"


def _minutes(entries: list[dict[str, Any]]) -> dict[str, float]:
    """Minutes per singer, largest first, rounded to 2 digits."""
    total: Counter[str] = Counter()
    for entry in entries:
        total[singer_key(entry)] += entry["Duration"] / 60
    ranked = sorted(total.items(), key=lambda item: item[1], reverse=True)
    return {name: round(minutes, 2) for name, minutes in ranked}


def meta_info(dataset: str, splits: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The content of ``meta_info.json``.

    Args:
        dataset: the dataset name.
        splits: split name -> sorted entries.

    Returns:
        ``dataset``, ``statistics{size,hours}``, one ``{size,hours}`` per split and
        ``singers{size, training_minutes, minutes}``.
    """
    every = [entry for entries in splits.values() for entry in entries]
    info: dict[str, Any] = {
        "dataset": dataset,
        "statistics": {
            "size": len(every),
            "hours": round(sum(entry["Duration"] for entry in every) / 3600, 4),
        },
    }
    for split, entries in splits.items():
        info[split] = {
            "size": len(entries),
            "hours": round(sum(entry["Duration"] for entry in entries) / 3600, 4),
        }
    info["singers"] = {
        "size": len({singer_key(entry) for entry in every}),
        "training_minutes": _minutes(splits.get("train", [])),
        "minutes": _minutes(every),
    }
    return info


def write_metadata(out_dir: Path, dataset: str, splits: dict[str, list[dict[str, Any]]]) -> None:
    """Write ``{split}.json``, ``singers.json``, ``utt2spk`` and ``meta_info.json``.

    Each file is written atomically and only when its content changes.

    Args:
        out_dir: the dataset's processed folder.
        dataset: the dataset name.
        splits: split name -> entries (``train`` and ``test`` always; ``valid`` when present),
            in :data:`vocfw.core.corpus.SPLITS` order.
    """
    ordered = {split: sort_records(splits[split]) for split in SPLITS if split in splits}
    for split, entries in ordered.items():
        write_json_if_changed(out_dir / split_file(split), entries)
    every = [entry for entries in ordered.values() for entry in entries]
    singers = sorted({singer_key(entry) for entry in every})
    write_json_if_changed(out_dir / "singers.json", {name: i for i, name in enumerate(singers)})
    lines = "".join(f"{e['Dataset']}_{e['Uid']}\t{singer_key(e)}\n" for e in every)
    write_text_if_changed(out_dir / "utt2spk", lines)
    write_json_if_changed(out_dir / "meta_info.json", meta_info(dataset, ordered))
