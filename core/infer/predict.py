"""``vocfw predict``: vocode a dataset's test split, a folder of mels or a folder of audio files
with a trained run, writing ``pred/{uid}.wav`` (and ``gt/{uid}.wav`` where ground truth exists).

Existing outputs are kept unless ``overwrite`` is set, and nothing that predict did not write is
ever deleted (only the temporaries of its own killed writes, known by vocfw's temporary names).
Bad inputs, and outputs blocked by something other than a file, are reported and skipped; the
rest are still written. A run that finds every output written already says so and writes no
report.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vocfw.core.atomic import remove_stale_temporaries, write_json, write_wav
from vocfw.core.audio.io import AudioError, file_problem
from vocfw.core.corpus import SkippedItem
from vocfw.core.infer.api import LoadedVocoder, load
from vocfw.core.infer.inputs import Input, Mode, discover, load_input
from vocfw.core.infer.options import DEFAULTS
from vocfw.core.infer.precision import Precision
from vocfw.core.infer.vocode import MelError
from vocfw.core.progress import progress_bar
from vocfw.core.runs.run_dir import run_processed_dir
from vocfw.core.seed import DEFAULT_SEED

REPORT_FILE = "predict_report.json"
NON_FINITE = ("the model produced NaN or infinite samples (are the checkpoint's weights "
              "finite?); nothing written")
LOAD_ERRORS = (AudioError, MelError, OSError, ValueError, EOFError, RuntimeError)


@dataclass
class PredictSummary:
    """What a predict run did.

    Attributes:
        output: the output folder.
        written: wav files written (predictions and ground truth).
        skipped: inputs whose outputs all existed already.
        failed: inputs left out, with the file and the reason.
        audio_seconds: seconds of audio generated.
        synthesis_seconds: wall time spent generating.
        wall_seconds: wall time of the whole run.
        precision: the precision the network ran in (``auto`` resolved).
    """

    output: Path
    precision: str = "fp32"
    written: int = 0
    skipped: int = 0
    failed: list[SkippedItem] = field(default_factory=list)
    audio_seconds: float = 0.0
    synthesis_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def real_time_factor(self) -> float:
        """Synthesis time per second of generated audio (below 1: faster than real time)."""
        return self.synthesis_seconds / self.audio_seconds if self.audio_seconds else 0.0

    def to_dict(self) -> dict:
        """A JSON-ready view (paths as strings)."""
        data = asdict(self)
        data["output"] = str(self.output)
        data["failed"] = [
            {"file": str(item.path), "uid": item.uid, "reason": item.reason} for item in self.failed
        ]
        data["real_time_factor"] = self.real_time_factor
        return data

    def __str__(self) -> str:
        lines = [f"failed: {item.path}: {item.reason}" for item in self.failed]
        lines.append(
            f"{self.written} files written, {self.skipped} skipped, {len(self.failed)} failed; "
            f"{self.audio_seconds:.1f} s of audio in {self.wall_seconds:.1f} s "
            f"(real-time factor {self.real_time_factor:.3f}, {self.precision}) -> {self.output}"
        )
        return "\n".join(lines)


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """(L,) audio cut or zero-padded at the end to (length,)."""
    return np.pad(audio[:length], (0, max(0, length - audio.size)))


def report_path(output: Path, overwrite: bool) -> Path:
    """``predict_report.json``, or when it exists and ``overwrite`` is off the first free
    ``predict_report.{n}.json``."""
    path, number = output / REPORT_FILE, 0
    while not overwrite and path.exists():
        number += 1
        path = output / f"{Path(REPORT_FILE).stem}.{number}.json"
    return path


def remove_leftovers(output: Path) -> None:
    """Delete the temporaries a killed predict left in ``output`` (its report) and anywhere
    under ``pred/`` and ``gt/``: only vocfw's own temporary names
    (:func:`vocfw.core.atomic.remove_stale_temporaries`)."""
    remove_stale_temporaries(output)
    for side in ("pred", "gt"):
        for folder, _, _ in os.walk(output / side):
            remove_stale_temporaries(folder)


def _to_write(path: Path, overwrite: bool) -> bool:
    """Whether the output ``path`` is to be written.

    Raises:
        AudioError: something other than a regular file is in its way (a folder, a pipe, a
            link loop), which predict never deletes.
    """
    if not os.path.lexists(path):
        return True
    problem = file_problem(path)
    if problem is not None:
        raise AudioError(path, f"output {problem}; remove it or choose another --output")
    return overwrite


class _Vocoding:
    """One predict run's writing: inputs are loaded one by one, ground truth written at once,
    mels vocoded in batches of ``voc.batch_size`` and written as each batch finishes."""

    def __init__(self, voc: LoadedVocoder, output: Path, summary: PredictSummary, seed: int,
                 bar: tqdm) -> None:
        self.voc, self.output, self.summary, self.seed, self.bar = voc, output, summary, seed, bar
        self.pending: list[tuple[Input, torch.Tensor]] = []

    def fail(self, item: Input, exc: Exception) -> None:
        """Report ``item`` as failed, against the file the error names (or its source)."""
        reason = getattr(exc, "reason", None) or str(exc)
        self.summary.failed.append(SkippedItem(getattr(exc, "path", item.source), reason,
                                               item.uid))
        self.bar.update()

    def add(self, item: Input, overwrite: bool) -> None:
        """Load ``item`` and write or queue what it still lacks; a bad item is reported."""
        pred = self.output / "pred" / f"{item.uid}.wav"
        gt = self.output / "gt" / f"{item.uid}.wav"
        try:
            need_pred = _to_write(pred, overwrite)
            need_gt = item.has_reference and _to_write(gt, overwrite)
            if not (need_pred or need_gt):
                self.summary.skipped += 1
                self.bar.update()
                return
            mel, reference = load_input(item, self.voc.extractor, self.voc.n_mels)
        except LOAD_ERRORS as exc:
            self.fail(item, exc)
            return
        features = self.voc.features
        if need_gt and reference is not None:
            reference = fit_length(reference, mel.shape[1] * features.hop_length)
            write_wav(gt, reference, features.sample_rate)
            self.summary.written += 1
        if not need_pred:
            self.bar.update()
            return
        self.pending.append((item, mel))
        if len(self.pending) >= self.voc.batch_size:
            self.flush()

    def flush(self) -> None:
        """Vocode the queued mels and write their predictions."""
        if not self.pending:
            return
        begin, rate = time.perf_counter(), self.voc.sample_rate
        audio = self.voc.vocode([mel for _, mel in self.pending], seed=self.seed,
                                keys=[item.uid for item, _ in self.pending],
                                names=[str(item.source) for item, _ in self.pending])
        self.summary.synthesis_seconds += time.perf_counter() - begin
        for (item, _), wave in zip(self.pending, audio, strict=True):
            if not np.all(np.isfinite(wave)):
                self.summary.failed.append(SkippedItem(item.source, NON_FINITE, item.uid))
                continue
            write_wav(self.output / "pred" / f"{item.uid}.wav", wave, rate)
            self.summary.written += 1
            self.summary.audio_seconds += wave.size / rate
        self.bar.update(len(self.pending))
        self.pending.clear()


def _path(value: Path | str | None) -> Path | None:
    return None if value is None else Path(value)


def predict(
    run: Path,
    mode: Mode,
    output: Path | None = None,
    datasets: list[str] | None = None,
    processed_dir: Path | None = None,
    feature_dir: Path | None = None,
    audio_dir: Path | None = None,
    checkpoint: Path | None = None,
    sampler: str | None = DEFAULTS.sampler,
    sampler_args: dict[str, Any] | None = DEFAULTS.sampler_args,
    schedule: str | None = DEFAULTS.schedule,
    batch_size: int = DEFAULTS.batch_size,
    device: str = DEFAULTS.device,
    seed: int = DEFAULT_SEED,
    overwrite: bool = False,
    chunk_seconds: float | None = DEFAULTS.chunk_seconds,
    use_ema: bool = DEFAULTS.use_ema,
    precision: Precision = DEFAULTS.precision,
    progress: bool = True,
) -> PredictSummary:
    """Vocode with a trained run and write 16-bit PCM wav files at the run's sample rate.

    Args:
        run: the run directory (its newest checkpoint is used).
        mode: ``dataset`` (the test split of processed datasets), ``feature`` (a folder with
            ``mels/*.npy``) or ``audio`` (a folder of wav/flac/mp3/ogg files: copy synthesis).
        output: output folder (default ``{run}/result``); predictions go to ``pred/``, ground
            truth, cut or zero-padded to frames x hop samples, to ``gt/``.
        datasets: processed dataset names (``dataset`` mode).
        processed_dir: where the processed datasets are (default: the run config's
            ``data.processed_dir``, else ``data``).
        feature_dir: folder holding ``mels/`` and optionally ``audios/`` (``feature`` mode).
        audio_dir: folder of audio files (``audio`` mode).
        checkpoint: a checkpoint folder to use instead of the run's newest.
        sampler: a registered sampler's class name to vocode with instead of the run's own
            (its arguments carry over where it takes them).
        sampler_args: sampler constructor arguments to change, for example
            ``{"inference_schedule": "fast"}`` (on the command line ``--sampler.KEY VALUE``).
        schedule: sample along a schedule stored with the run by ``vocfw search-schedule``
            (``schedules/{schedule}.json`` of the run holding the checkpoint used) as the
            sampler's ``inference_schedule``.
        batch_size: utterances (or chunks) generated together.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...
        seed: seed of the sampling noise; each input's noise is drawn from (seed, uid), so its
            output does not depend on the other inputs, the batch size or an interruption.
        overwrite: replace existing output files (and ``predict_report.json``) instead of
            skipping them (and writing ``predict_report.{n}.json``).
        chunk_seconds: generate long inputs in overlapping chunks of this many seconds, so
            memory does not grow with length; at least twice the model's chunk overlap (the
            refusal states it; ``None``: whole utterances).
        use_ema: use the moving-average weights when the checkpoint has them.
        precision: ``auto`` (``bf16`` where the device runs bfloat16 natively: AVX-512 BF16
            or AMX CPUs, most CUDA GPUs; else ``fp32``), ``fp32`` (exact: matches lmnt's
            DiffWave to 1e-5), or ``bf16``/``fp16`` autocast: about 2x faster where native,
            many times slower where emulated, with output that differs slightly from fp32.
        progress: show a progress bar.

    Returns:
        The summary; ``failed`` lists the inputs that were skipped as bad. It is written to
        :func:`report_path` unless nothing was written and nothing failed.

    Raises:
        SettingError: a device not available here, too short a ``chunk_seconds`` or a
            ``batch_size`` below 1 (checked before anything is written).
        ValueError: missing inputs for the mode, or a bad sampler override.
        CheckpointError: no usable checkpoint.
    """
    started = time.perf_counter()
    run = Path(run)
    output = Path(output) if output is not None else run / "result"
    voc = load(checkpoint or run, device=device, precision=precision, use_ema=use_ema,
               sampler=sampler, sampler_args=sampler_args, schedule=schedule,
               chunk_seconds=chunk_seconds, batch_size=batch_size)
    processed = Path(processed_dir) if processed_dir is not None else run_processed_dir(run)
    summary = PredictSummary(output, voc.precision)
    inputs = discover(mode, datasets, processed, _path(feature_dir), _path(audio_dir),
                      summary.failed, exclude=output)
    remove_leftovers(output)
    with progress_bar(total=len(inputs), disable=not progress, unit="file",
                      desc="predict") as bar:
        vocoding = _Vocoding(voc, output, summary, seed, bar)
        for item in inputs:
            vocoding.add(item, overwrite)
        vocoding.flush()
    summary.wall_seconds = time.perf_counter() - started
    if not (summary.written or summary.failed):
        print(f"nothing to do: every input ({summary.skipped}) has its outputs in {output} "
              f"already (--overwrite to write them again); no report written")
        return summary
    report = {"run": str(run), "checkpoint": str(voc.checkpoint), "mode": mode,
              "device": str(voc.device), "seed": seed, "sampler": voc.components.spec["sampler"],
              "sampler_steps": voc.steps, "schedule": schedule,
              **summary.to_dict()}
    write_json(report_path(output, overwrite), report)
    print(summary)
    return summary
