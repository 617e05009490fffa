"""A listening report: one HTML page with a metrics table, audio players and mel spectrograms.

The page is self-contained for offline use: its CSS and JavaScript are inline, nothing is
fetched from the network, and audio and mel images are files beside it, linked by relative
paths (a page with hundreds of files stays small and opens at once; the folder can be copied
or served as a whole). Clicking a metric's column header sorts the rows, worst first on the
first click.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import librosa
import numpy as np
from matplotlib.image import imsave

from vocfw.core.atomic import atomic_path, write_text

MEL_BANDS = 80
MEL_HOP_SECONDS = 0.01
MEL_RANGE_DB = 80.0
MEL_BLOCK_FRAMES = 3000  # frames of a mel image analysed at once (30 s)


@dataclass(frozen=True)
class ReportRow:
    """One file of a report.

    Attributes:
        name: the file's name as shown (for example its path relative to the audio folder).
        metrics: metric -> value (NaN: not available); the keys are the page's columns.
        reference_audio: the reference waveform file.
        generated_audio: the generated waveform file.
        reference_mel: the reference mel image (see :func:`write_mel_images`).
        generated_mel: the generated mel image.
        notes: shown under the name (for example why a metric is missing).
    """

    name: str
    metrics: Mapping[str, float]
    reference_audio: Path
    generated_audio: Path
    reference_mel: Path
    generated_mel: Path
    notes: str = field(default="")


def _log_mel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(L,) -> (MEL_BANDS, T) mel power in dB (0 dB: a full-scale sine's level), T = 1 + L // hop.

    librosa's centred mel spectrogram (zero padding of half an FFT at both ends), computed
    ``MEL_BLOCK_FRAMES`` frames at a time so that its memory does not grow with the length.
    """
    hop = max(1, round(MEL_HOP_SECONDS * sample_rate))
    n_fft = 4 * hop
    padded = np.pad(np.asarray(audio, dtype=np.float32), n_fft // 2)
    frames = 1 + len(audio) // hop
    blocks = []
    for start in range(0, frames, MEL_BLOCK_FRAMES):
        stop = min(start + MEL_BLOCK_FRAMES, frames)
        mel = librosa.feature.melspectrogram(
            y=padded[start * hop:(stop - 1) * hop + n_fft], sr=sample_rate, n_fft=n_fft,
            hop_length=hop, n_mels=MEL_BANDS, center=False)  # (MEL_BANDS, stop - start)
        blocks.append(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None))
    return np.concatenate(blocks, axis=1)


def write_mel_images(
    reference: np.ndarray,
    generated: np.ndarray,
    sample_rate: int,
    reference_png: Path,
    generated_png: Path,
) -> None:
    """Write the two log-mel spectrograms as PNG images on one colour scale (the top
    ``MEL_RANGE_DB`` dB of the louder), one pixel per band and 10 ms frame, low bands at the
    bottom.

    Args:
        reference: (L,) reference waveform.
        generated: (L',) generated waveform.
        sample_rate: rate of both.
        reference_png: where the reference image goes.
        generated_png: where the generated image goes.
    """
    mels = [_log_mel(audio, sample_rate) for audio in (reference, generated)]  # (M, T) each
    high = max(float(mel.max()) for mel in mels)
    for mel, target in zip(mels, (reference_png, generated_png), strict=True):
        with atomic_path(target, suffix=".png") as tmp:
            imsave(tmp, mel[::-1], vmin=high - MEL_RANGE_DB, vmax=high, cmap="magma",
                   format="png")


def _link(path: Path, page: Path) -> str:
    """``path`` relative to the page's folder, URL-quoted."""
    return quote(Path(os.path.relpath(path, page.parent)).as_posix())


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def _header(name: str, higher_is_better: Collection[str], sortable: bool) -> str:
    """A metric's column header: its name and an arrow pointing the better way."""
    better = "higher" if name in higher_is_better else "lower"
    arrow = "&uarr;" if better == "higher" else "&darr;"
    sort = f" data-sort='{better}'" if sortable else ""
    hint = "; click to sort, worst first" if sortable else ""
    title = f"{better} is better{hint}"
    return f"<th class='num'{sort} title='{title}'>{html.escape(name)} {arrow}</th>"


def _means_table(rows: Sequence[ReportRow], columns: Sequence[str],
                 higher_is_better: Collection[str]) -> str:
    """Means (NaNs dropped) and counts, one column per metric."""
    means, counts = [], []
    for name in columns:
        values = [row.metrics[name] for row in rows if not math.isnan(row.metrics[name])]
        means.append(f"<td class='num'>{_number(float(np.mean(values)) if values else math.nan)}"
                     "</td>")
        counts.append(f"<td class='num'>{len(values)}</td>")
    header = "".join(_header(name, higher_is_better, False) for name in columns)
    return (f"<table id='means'><thead><tr><th></th>{header}</tr></thead><tbody>"
            f"<tr><th>mean</th>{''.join(means)}</tr><tr><th>files</th>{''.join(counts)}</tr>"
            "</tbody></table>")


def _media_cell(row: ReportRow, page: Path) -> str:
    """The reference above the generated audio, each a player and its mel image."""
    parts = []
    for label, audio, mel in (("reference", row.reference_audio, row.reference_mel),
                              ("generated", row.generated_audio, row.generated_mel)):
        parts.append(f"<div class='media'><div><span title='{label}'>{label[:3]}</span>"
                     f"<audio controls preload='metadata' src='{_link(audio, page)}'></audio>"
                     f"</div><img loading='lazy' alt='{label} mel spectrogram' "
                     f"src='{_link(mel, page)}'></div>")
    return f"<td class='media'>{''.join(parts)}</td>"


def _files_table(rows: Sequence[ReportRow], columns: Sequence[str],
                 higher_is_better: Collection[str], page: Path) -> str:
    header = ["<th data-sort='text'>file</th>"]
    header += [_header(name, higher_is_better, True) for name in columns]
    header.append("<th>audio, mel spectrogram</th>")
    body = []
    for row in rows:
        notes = f"<div class='notes'>{html.escape(row.notes)}</div>" if row.notes else ""
        cells = [f"<td class='name'>{html.escape(row.name)}{notes}</td>"]
        for name in columns:
            value = row.metrics[name]
            cells.append(f"<td class='num' data-value='{'' if math.isnan(value) else value!r}'>"
                         f"{_number(value)}</td>")
        cells.append(_media_cell(row, page))
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<table id='files'><thead><tr>{''.join(header)}</tr></thead>\n<tbody>\n"
            + "\n".join(body) + "\n</tbody></table>")


STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 1.2em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 0.3em; }
.meta { color: #555; margin: 0 0 1em; }
table { border-collapse: collapse; margin-bottom: 1.2em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left;
  vertical-align: top; }
th { background: #f3f3f3; white-space: nowrap; }
#files thead th { position: sticky; top: 0; z-index: 1; }
th[data-sort] { cursor: pointer; user-select: none; }
th[data-sort]:hover { background: #e4e4e4; }
th.sorted { background: #dde8f5; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { min-width: 8em; max-width: 18em; overflow-wrap: break-word; }
.notes { color: #a33; font-size: 0.85em; }
td.media { width: 300px; }
div.media { margin-bottom: 6px; }
div.media div { display: flex; align-items: center; gap: 6px; width: 300px; }
div.media span { color: #555; width: 2em; font-size: 0.9em; }
div.media audio { flex: 1; min-width: 0; height: 30px; }
div.media img { display: block; width: 300px; height: 64px; image-rendering: pixelated;
  background: #000; }
"""

SCRIPT = """
(function () {
  const table = document.getElementById('files');
  const body = table.tBodies[0];
  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach(function (th, index) {
    const kind = th.dataset.sort;
    if (!kind) { return; }
    let ascending = null;
    th.addEventListener('click', function () {
      // first click: worst first (lowest of higher-is-better, highest of lower-is-better)
      ascending = ascending === null ? kind !== 'lower' : !ascending;
      const rows = Array.from(body.rows);
      const key = function (row) {
        const cell = row.cells[index];
        return kind === 'text' ? cell.textContent : cell.dataset.value;
      };
      rows.sort(function (a, b) {
        const x = key(a), y = key(b);
        if (kind === 'text') { return ascending ? x.localeCompare(y) : y.localeCompare(x); }
        if (x === '' || y === '') { return (x === '') - (y === ''); }  // no value: last
        return ascending ? x - y : y - x;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      headers.forEach(function (other) { other.classList.remove('sorted'); });
      th.classList.add('sorted');
    });
  });
})();
"""


def write_report(
    page: Path,
    title: str,
    rows: Sequence[ReportRow],
    columns: Sequence[str],
    higher_is_better: Collection[str] = (),
    notes: Sequence[str] = (),
) -> str:
    """Write the report page (atomically).

    Args:
        page: the HTML file to write; the files of ``rows`` are linked relative to its folder.
        title: the page's heading.
        rows: one per file, in the initial order.
        columns: the metrics shown, in order; every row has a value for each.
        higher_is_better: the metrics for which a higher value is better (the rest: lower).
        notes: lines shown under the heading.

    Returns:
        The page's ``file://`` URL.
    """
    page = Path(page).absolute()
    meta = f"<p class='meta'>{html.escape(' · '.join([f'{len(rows)} files', *notes]))}</p>"
    text = "\n".join([
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>{meta}",
        _means_table(rows, columns, higher_is_better),
        "<p class='meta'>Click a metric's header to sort by it: the first click puts the worst "
        "files first, the next reverses.</p>",
        _files_table(rows, columns, higher_is_better, page),
        f"<script>{SCRIPT}</script></body></html>", ""])
    write_text(page, text)
    return page.as_uri()
