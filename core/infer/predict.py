"""``vocfw predict``: vocode a dataset's test split, a folder of mels or a folder of audio files
with a trained run, writing ``pred/{uid}.wav`` (and ``gt/{uid}.wav`` where ground truth exists).

Existing outputs are kept unless ``overwrite`` is set, and nothing that predict did not write is
ever deleted. Bad inputs are reported and skipped; the rest are still written.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vocfw.core.atomic import write_json, write_wav
from vocfw.core.audio.io import AudioError
from vocfw.core.corpus import SkippedItem
from vocfw.core.infer.api import load
from vocfw.core.infer.inputs import Input, Mode, discover, load_input
from vocfw.core.infer.precision import Precision
from vocfw.core.infer.vocode import MelError
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
    sampler: str | None = None,
    sampler_args: dict[str, Any] | None = None,
    schedule: str | None = None,
    batch_size: int = 4,
    device: str = "auto",
    seed: int = DEFAULT_SEED,
    overwrite: bool = False,
    chunk_seconds: float | None = 10.0,
    use_ema: bool = True,
    precision: Precision = "auto",
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
            memory does not grow with length (``None``: whole utterances).
        use_ema: use the moving-average weights when the checkpoint has them.
        precision: ``auto`` (``bf16`` where the device runs bfloat16 natively: AVX-512 BF16
            or AMX CPUs, most CUDA GPUs; else ``fp32``), ``fp32`` (exact: matches lmnt's
            DiffWave to 1e-5), or ``bf16``/``fp16`` autocast: about 2x faster where native,
            many times slower where emulated, with output that differs slightly from fp32.
        progress: show a progress bar.

    Returns:
        The summary; ``failed`` lists the inputs that were skipped as bad.

    Raises:
        ValueError: missing inputs for the mode, or a bad sampler override.
        CheckpointError: no usable checkpoint.
    """
    started = time.perf_counter()
    run = Path(run)
    output = Path(output) if output is not None else run / "result"
    voc = load(checkpoint or run, device=device, precision=precision, use_ema=use_ema,
               sampler=sampler, sampler_args=sampler_args, schedule=schedule,
               chunk_seconds=chunk_seconds, batch_size=batch_size)
    features = voc.features
    processed = Path(processed_dir) if processed_dir is not None else run_processed_dir(run)
    summary = PredictSummary(output, voc.precision)
    inputs = discover(mode, datasets, processed, _path(feature_dir), _path(audio_dir),
                      summary.failed, exclude=output)
    pending: list[tuple[Input, torch.Tensor]] = []

    def flush() -> None:
        if not pending:
            return
        begin = time.perf_counter()
        audio = voc.vocode([mel for _, mel in pending], seed=seed,
                           keys=[item.uid for item, _ in pending],
                           names=[str(item.source) for item, _ in pending])
        summary.synthesis_seconds += time.perf_counter() - begin
        for (item, _), wave in zip(pending, audio, strict=True):
            if not np.all(np.isfinite(wave)):
                summary.failed.append(SkippedItem(item.source, NON_FINITE, item.uid))
                continue
            write_wav(output / "pred" / f"{item.uid}.wav", wave, features.sample_rate)
            summary.written += 1
            summary.audio_seconds += wave.size / features.sample_rate
        bar.update(len(pending))
        pending.clear()

    with tqdm(total=len(inputs), disable=not progress, unit="file", desc="predict") as bar:
        for item in inputs:
            pred = output / "pred" / f"{item.uid}.wav"
            gt = output / "gt" / f"{item.uid}.wav"
            need_pred = overwrite or not pred.exists()
            need_gt = item.has_reference and (overwrite or not gt.exists())
            if not (need_pred or need_gt):
                summary.skipped += 1
                bar.update()
                continue
            try:
                mel, reference = load_input(item, voc.extractor, voc.n_mels)
            except LOAD_ERRORS as exc:
                reason = getattr(exc, "reason", None) or str(exc)
                summary.failed.append(SkippedItem(item.source, reason, item.uid))
                bar.update()
                continue
            if need_gt and reference is not None:
                reference = fit_length(reference, mel.shape[1] * features.hop_length)
                write_wav(gt, reference, features.sample_rate)
                summary.written += 1
            if need_pred:
                pending.append((item, mel))
            else:
                bar.update()
            if len(pending) >= batch_size:
                flush()
        flush()
    summary.wall_seconds = time.perf_counter() - started
    report = {"run": str(run), "checkpoint": str(voc.checkpoint), "mode": mode,
              "device": str(voc.device), "seed": seed, "sampler": voc.components.spec["sampler"],
              "sampler_steps": voc.steps, "schedule": schedule,
              **summary.to_dict()}
    write_json(report_path(output, overwrite), report)
    print(summary)
    return summary
