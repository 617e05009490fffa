"""``vocfw evaluate``: score generated audio against references, file by file.

Files are paired by path relative to their folder, sub-folders included (``generated/x.wav``
with ``reference/x.wav``, ``generated/spk/y.wav`` with ``reference/spk/y.wav``), both loaded at
one rate (the reference's own, or ``sample_rate``) and cut to the shorter length. Per file the
chosen metrics of :mod:`vocfw.core.evaluate.metrics` and :mod:`vocfw.core.evaluate.mcd` are
computed, and DNSMOS of the generated audio (:mod:`vocfw.core.evaluate.mos`) when the mos extra
is installed, in windows of at most 30 s (:mod:`vocfw.core.evaluate.pair`); a metric that fails
is NaN with a note. Writes ``metrics.csv`` (one row per file), ``summary.json`` (means with NaNs
dropped, counts, unpaired and unreadable files) and ``report.html`` (with the scored audio and
mel images in ``report_files/``) into the output folder, first deleting the temporaries a killed
evaluate left there.

Memory: the pair being scored (4 bytes per sample each, as float32) plus the work of one 30 s
window; files that are not regular files (link loops, named pipes) are reported, never opened.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vocfw.core.atomic import remove_stale_temporaries, write_json, write_text, write_wav
from vocfw.core.audio.io import AudioError, audio_info, list_audio_files, load_audio
from vocfw.core.corpus import SkippedItem
from vocfw.core.evaluate import mos
from vocfw.core.evaluate.pair import METRICS as METRICS  # re-exported: the default columns
from vocfw.core.evaluate.pair import EvaluateError, chosen_metrics, score_pair
from vocfw.core.evaluate.report_html import ReportRow, write_mel_images, write_report
from vocfw.core.settings import SettingError

IDEAL = {"pesq": 4.64, "stoi": 1.0, "estoi": 1.0, "mstft": 0.0, "mcd": 0.0, "f0_rmse": 0.0,
         "vuv_f1": 1.0, "mel_l1": 0.0, **dict.fromkeys(mos.METRICS, 5.0)}
HIGHER_IS_BETTER = frozenset({"pesq", "stoi", "estoi", "vuv_f1", *mos.METRICS})
REPORT_PAGE = "report.html"
REPORT_FILES = "report_files"


@dataclass
class EvaluateSummary:
    """What an evaluation found.

    Attributes:
        output: the folder holding ``metrics.csv``, ``summary.json`` and ``report.html``.
        report: the ``file://`` URL of ``report.html``.
        files: pairs scored.
        means: metric -> mean over files (NaNs dropped; NaN when no file has a value).
        counts: metric -> files with a value.
        failed: pairs that could not be loaded, with the file and the reason.
        unpaired_reference: reference files without a generated file of the same name.
        unpaired_generated: generated files without a reference of the same name.
    """

    output: Path
    files: int = 0
    means: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[SkippedItem] = field(default_factory=list)
    unpaired_reference: list[str] = field(default_factory=list)
    unpaired_generated: list[str] = field(default_factory=list)
    report: str = ""

    def to_dict(self) -> dict:
        """A JSON-ready view (NaN means become ``None``)."""
        return {
            "output": str(self.output),
            "files": self.files,
            "means": {k: None if math.isnan(v) else v for k, v in self.means.items()},
            "counts": self.counts,
            "failed": [{"file": str(item.path), "reason": item.reason} for item in self.failed],
            "unpaired_reference": self.unpaired_reference,
            "unpaired_generated": self.unpaired_generated,
            "report": self.report,
        }

    def __str__(self) -> str:
        lines = [f"{'metric':<11} {'mean':>9} {'ideal':>6} {'files':>6}"]
        for name in self.means:
            mean, ideal = self.means.get(name, math.nan), IDEAL[name]
            direction = "higher" if name in HIGHER_IS_BETTER else "lower"
            lines.append(f"{name:<11} {mean:>9.4f} {ideal:>6.2f} {self.counts.get(name, 0):>6}"
                         f"  ({direction} is better)")
        lines += [f"failed: {item.path}: {item.reason}" for item in self.failed]
        for side, names in (("reference", self.unpaired_reference),
                            ("generated", self.unpaired_generated)):
            if names:
                lines.append(f"{len(names)} {side} files unpaired: {', '.join(names[:5])}"
                             + (" ..." if len(names) > 5 else ""))
        if not mos.available():
            lines.append(mos.INSTALL_HINT)
        lines.append(f"{self.files} files scored -> {self.output}")
        lines.append(f"report: {self.report}")
        return "\n".join(lines)


def _csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["file", "sample_rate", "seconds", *columns, "notes"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _report_row(output: Path, name: str, reference: np.ndarray, generated: np.ndarray,
                rate: int, row: dict) -> ReportRow:
    """Write the scored pair and its mel images into ``report_files/`` for the report page."""
    stem = output / REPORT_FILES / name
    paths = [stem.with_name(f"{stem.name}.{side}{suffix}") for suffix in (".wav", ".png")
             for side in ("reference", "generated")]
    write_wav(paths[0], reference, rate)
    write_wav(paths[1], generated, rate)
    write_mel_images(reference, generated, rate, paths[2], paths[3])
    return ReportRow(name, {k: v for k, v in row.items() if k in IDEAL}, *paths,
                     notes=row["notes"])


def _relative_names(folder: Path) -> set[str]:
    """The audio files under ``folder``, as POSIX paths relative to it (temporaries of killed
    writes left out)."""
    return {path.relative_to(folder).as_posix() for path in list_audio_files(folder, True)}


def remove_leftovers(output: Path) -> None:
    """Delete the temporaries a killed evaluate left in ``output`` and under its
    ``report_files/`` (only vocfw's own temporary names, see
    :func:`vocfw.core.atomic.remove_stale_temporaries`)."""
    remove_stale_temporaries(output)
    for folder, _, _ in os.walk(output / REPORT_FILES):
        remove_stale_temporaries(folder)


def _score_pairs(reference: Path, generated: Path, pairs: list[str], output: Path,
                 sample_rate: int | None, columns: tuple[str, ...],
                 summary: EvaluateSummary) -> tuple[list[dict], list[ReportRow]]:
    """Score each pair and write its report files; unreadable pairs go to ``summary.failed``.

    Returns:
        The ``metrics.csv`` rows and the report rows of the pairs scored.
    """
    rows, report_rows = [], []
    for name in pairs:
        try:
            rate = sample_rate or audio_info(reference / name)[0]
            ref = load_audio(reference / name, rate)
            gen = load_audio(generated / name, rate)
        except AudioError as exc:
            summary.failed.append(SkippedItem(exc.path, exc.reason))
            continue
        length = min(ref.size, gen.size)
        scores, notes = score_pair(ref[:length], gen[:length], rate, columns)
        rows.append({"file": name, "sample_rate": rate, "seconds": round(length / rate, 4),
                     **scores, "notes": "; ".join(notes)})
        report_rows.append(_report_row(output, name, ref[:length], gen[:length], rate, rows[-1]))
    return rows, report_rows


def evaluate(
    reference: Path,
    generated: Path,
    output: Path | None = None,
    sample_rate: int | None = None,
    metrics: list[str] | None = None,
) -> EvaluateSummary:
    """Score every generated file against the reference file of the same name.

    Args:
        reference: folder of reference audio (for example ``result/gt``).
        generated: folder of generated audio (for example ``result/pred``).
        output: where ``metrics.csv``, ``summary.json``, ``report.html`` and
            ``report_files/`` go (default: ``eval`` beside ``generated``, for example
            ``result/eval``).
        sample_rate: rate both are loaded at (default: each reference file's own rate).
        metrics: the metrics to compute, for example ``[mcd, mel_l1]`` (default: all of
            ``pesq, stoi, estoi, mstft, mcd, f0_rmse, vuv_f1, mel_l1`` and, with the mos
            extra, ``dnsmos_sig, dnsmos_bak, dnsmos_ovrl``).

    Returns:
        The summary (also printed as a table).

    Raises:
        EvaluateError: a folder does not exist, an unknown metric, no file pairs up, or no
            pair could be read (then nothing is written).
        SettingError: ``sample_rate`` is given but not a positive number of Hz.
    """
    if sample_rate is not None and not sample_rate > 0:
        raise SettingError(f"evaluate --sample_rate: expected a positive rate in Hz, got "
                           f"{sample_rate}")
    reference, generated = Path(reference), Path(generated)
    for folder in (reference, generated):
        if not folder.is_dir():
            raise EvaluateError(f"evaluate: {folder} is not a folder")
    columns = chosen_metrics(metrics)
    output = Path(output) if output is not None else generated.parent / "eval"
    ref_names, gen_names = _relative_names(reference), _relative_names(generated)
    pairs = sorted(ref_names & gen_names)
    if not pairs:
        raise EvaluateError(
            f"evaluate: no file of {generated} ({len(gen_names)} audio files) has a reference of "
            f"the same name in {reference} ({len(ref_names)} audio files)"
        )
    summary = EvaluateSummary(output, unpaired_reference=sorted(ref_names - gen_names),
                              unpaired_generated=sorted(gen_names - ref_names))
    remove_leftovers(output)
    rows, report_rows = _score_pairs(reference, generated, pairs, output, sample_rate, columns,
                                     summary)
    if not rows:
        first = summary.failed[0]
        raise EvaluateError(f"evaluate: none of the {len(pairs)} pairs could be read (first: "
                            f"{first.path}: {first.reason})")
    summary.files = len(rows)
    for metric in columns:
        values = [row[metric] for row in rows if not math.isnan(row[metric])]
        summary.counts[metric] = len(values)
        summary.means[metric] = float(np.mean(values)) if values else math.nan
    write_text(output / "metrics.csv", _csv(rows, columns))
    summary.report = write_report(
        output / REPORT_PAGE, f"vocfw evaluate: {generated}", report_rows, columns,
        HIGHER_IS_BETTER, [f"reference: {reference}", f"generated: {generated}"])
    write_json(output / "summary.json", {"reference": str(reference), "generated": str(generated),
                                         "sample_rate": sample_rate, **summary.to_dict()})
    print(summary)
    return summary
