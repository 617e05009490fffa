"""What preprocessing made and what it left out: the summary it returns and the report files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vocfw.core.atomic import write_json_if_changed, write_text_if_changed
from vocfw.core.corpus import SkippedItem, Utterance

STAGES = ("corpus", "duration", "filter", "features")


@dataclass(frozen=True)
class Skip:
    """One input left out of the processed folder.

    Attributes:
        path: the source audio (or metadata) file.
        uid: the utterance id, when the input got that far.
        split: the utterance's split, when known.
        stage: where it was left out: ``corpus`` (by the loader), ``duration`` (unreadable or
            empty), ``filter`` (outside min/max duration) or ``features`` (failed to load).
        reason: why.
    """

    path: str
    uid: str | None
    split: str | None
    stage: str
    reason: str

    @classmethod
    def of(cls, utt: Utterance, stage: str, reason: str) -> Skip:
        """A skipped utterance."""
        return cls(str(utt.path), utt.uid, utt.split, stage, reason)

    @classmethod
    def from_item(cls, item: SkippedItem, stage: str) -> Skip:
        """An input a corpus loader skipped."""
        return cls(str(item.path), item.uid, None, stage, item.reason)


@dataclass
class SplitSummary:
    """One split of one dataset.

    Attributes:
        utterances: utterances written.
        hours: their total duration in hours.
        skipped: utterances of this split left out (unreadable, filtered or failed).
    """

    utterances: int = 0
    hours: float = 0.0
    skipped: int = 0


@dataclass
class DatasetSummary:
    """One dataset's outcome.

    Attributes:
        splits: split name -> its summary.
        corpus_skipped: inputs the corpus loader left out before any split was assigned.
        report_paths: ``report.json`` and ``report.txt``.
    """

    splits: dict[str, SplitSummary] = field(default_factory=dict)
    corpus_skipped: int = 0
    report_paths: list[Path] = field(default_factory=list)


@dataclass
class PreprocessSummary:
    """Everything :func:`vocfw.core.data.preprocess.preprocess` did, by dataset and split.

    Attributes:
        datasets: dataset name -> its summary.
    """

    datasets: dict[str, DatasetSummary] = field(default_factory=dict)

    @property
    def report_paths(self) -> list[Path]:
        """Every report file written."""
        return [path for dataset in self.datasets.values() for path in dataset.report_paths]

    def table(self) -> str:
        """A fixed-width table: dataset, split, utterances, hours, skipped."""
        rows = [("dataset", "split", "utterances", "hours", "skipped")]
        for name, dataset in self.datasets.items():
            for split, s in dataset.splits.items():
                rows.append((name, split, str(s.utterances), f"{s.hours:.4f}", str(s.skipped)))
            if dataset.corpus_skipped:
                rows.append((name, "(loader)", "", "", str(dataset.corpus_skipped)))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = [
            "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in
                      enumerate(zip(row, widths, strict=True)))
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _summarise(splits: dict[str, list[dict[str, Any]]], skipped: list[Skip]) -> DatasetSummary:
    summary = DatasetSummary()
    for split, entries in splits.items():
        hours = round(sum(entry["Duration"] for entry in entries) / 3600, 4)
        summary.splits[split] = SplitSummary(len(entries), hours)
    for skip in skipped:
        if skip.split is None:
            summary.corpus_skipped += 1
        else:
            summary.splits.setdefault(skip.split, SplitSummary()).skipped += 1
    return summary


def _report_text(dataset: str, summary: DatasetSummary, skipped: list[Skip]) -> str:
    lines = [f"Preprocessing report for {dataset}", ""]
    lines += PreprocessSummary({dataset: summary}).table().splitlines()
    lines += ["", f"{len(skipped)} item(s) left out" + (":" if skipped else ".")]
    for skip in skipped:
        where = f"{skip.uid} ({skip.split})" if skip.uid else "-"
        lines.append(f"  [{skip.stage}] {where}: {skip.path}: {skip.reason}")
    return "\n".join(lines) + "\n"


def write_report(
    out_dir: Path, dataset: str, splits: dict[str, list[dict[str, Any]]], skipped: list[Skip]
) -> DatasetSummary:
    """Write ``report.json`` and ``report.txt`` (only when their content changes).

    Args:
        out_dir: the dataset's processed folder.
        dataset: the dataset name.
        splits: split name -> the entries written.
        skipped: every input left out.

    Returns:
        The dataset's summary, with ``report_paths`` set.
    """
    ordered = sorted(
        skipped, key=lambda s: (STAGES.index(s.stage), s.path, s.uid or "", s.reason)
    )
    summary = _summarise(splits, ordered)
    summary.report_paths = [out_dir / "report.json", out_dir / "report.txt"]
    content = {
        "dataset": dataset,
        "splits": {split: asdict(s) for split, s in summary.splits.items()},
        "corpus_skipped": summary.corpus_skipped,
        "skipped": [asdict(skip) for skip in ordered],
    }
    write_json_if_changed(summary.report_paths[0], content)
    write_text_if_changed(summary.report_paths[1], _report_text(dataset, summary, ordered))
    return summary
