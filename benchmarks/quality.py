"""Quality per compute: how good each sampler's audio is for the training and sampling time spent.

One run, all through the engine users run:

1. Corpus: ``vocfw demo``'s speech-like clips in the LJSpeech layout (its last 5 % of clips are
   the held-out test split), preprocessed with the demo's features.
2. Training: a small DiffWave (10 x 32), trained by the real ``Trainer`` for
   ``--train-seconds`` of wall time with DDPM, then again with PriorGrad and with SpecGrad in
   the demo's former prior settings, batch 8, 8-frame crops, learning rate 1e-3; the default
   FrameWave with FlowMatching from the mel-energy prior (4 Euler steps), as the demo trains
   it, same batch size and learning rate on 64-frame crops (and, with ``--wavegrad``, a small
   WaveGrad with WaveGradDiffusion). Same seed and data; ``--models`` picks which.
3. Curve: every checkpoint of each training scored on the held-out utterances by the log-mel L1
   of its default vocoding (6-step ``fast`` schedule; 4 Euler steps for FlowMatching).
4. Final table: the last checkpoints vocoded through ``vocfw.core.load`` with each sampler and
   step count (DDPM and DDIM with eta 0 on the DDPM model, PriorGrad on the PriorGrad model,
   SpecGrad on the SpecGrad model, FlowMatching's Euler solver on the FrameWave model,
   WaveGradDiffusion on the WaveGrad model), same seed noise;
   log-mel L1, M-STFT, PESQ, STOI (``vocfw.core.evaluate.metrics``) and the real-time factor
   (vocoding s / audio s). DDPM, PriorGrad and SpecGrad use ``full`` at 50 steps, ``fast`` at
   6, ``fast12`` at 12 and the search's log-spaced start schedule (``geometric_schedule``)
   otherwise; WaveGradDiffusion ``fast`` at 6 and the log-spaced schedule otherwise. With
   ``--search``, ``vocfw search-schedule`` finds DDPM schedules for 2, 3, 4 and 6 steps on
   other held-out utterances than the scored ones (the same ones only when the test split is
   too small, which is said), scored as "DDPM searched".
5. Distillation (``--distill``): the SpecGrad and FrameWave teachers' last checkpoints are
   distilled (``vocfw distill``: progressive distillation for SpecGrad, reflow for FrameWave)
   into students of K = 1, 2 and 4 steps, each for ``--distill-fraction`` of its teacher's
   training wall time (a 2-step warm-up, then one segment planned from its rate, resumed), at
   a tenth of the training learning rate; the table scores each teacher at its default steps,
   the teacher at K steps (its own sampler, the K-step schedule of the final table) and the
   student at K steps.

Wall budget: the Trainer stops at ``max_steps``, so each model trains in segments, each resumed
from the previous one's checkpoint (bit for bit what one uninterrupted run does). A warm-up of
WARMUP_STEPS steps measures the step rate; then each of ``--curve-points`` segments is planned,
from the rate of the segment before, to end at the next multiple of budget / points. Training
wall time is the sum of the ``fit`` calls (setup, validation and checkpoint saves included), so
a model whose steps are slower gets fewer of them. One untimed step in a throwaway run comes
before each model's clock starts, so none pays the process's one-time costs.

    python benchmarks/quality.py                  # defaults: about 26 min on 2 quiet cores
    python benchmarks/quality.py --wavegrad --search                      # about an hour
    python benchmarks/quality.py --train-seconds 20 --clips 40 --utterances 2 --steps 2 6
    python benchmarks/quality.py --models SpecGrad FrameWave --steps 1 2 4 6 8
    python benchmarks/quality.py --models SpecGrad FrameWave --distill

Results go to ``benchmarks/results/quality-<date>.{json,md}`` (``--results`` elsewhere).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from report import RESULTS, describe

from vocfw.cli.demo import write_demo_corpus
from vocfw.core import load
from vocfw.core.atomic import write_json, write_text
from vocfw.core.audio.mel import MelConfig
from vocfw.core.data.config import DataConfig
from vocfw.core.data.preprocess import preprocess
from vocfw.core.evaluate import metrics
from vocfw.core.infer.api import LoadedVocoder
from vocfw.core.infer.schedule_search import (
    Utterances,
    geometric_schedule,
    pick_utterances,
    search_schedule,
    training_betas,
)
from vocfw.core.registry import build_registry
from vocfw.core.runs.checkpoint import parse_checkpoint_name
from vocfw.core.train.distill import distill
from vocfw.core.train.trainer import Trainer
from vocfw.plugins.datasets.ljspeech import TEST_SHARE

STEP_COUNTS = (2, 3, 4, 6, 12, 50)
SEARCH_STEPS = (2, 3, 4, 6)
DATASET = "ljspeech"
BATCH = 8  # the demo's batch size
LEARNING_RATE = 1e-3
# The DDPM family's best settings at the demo's budget: a small DiffWave on short crops (many
# cheap steps), SpecGrad's prior at the mel's own resolution with a 26 dB floor.
DIFFWAVE_ARGS = {"residual_layers": 10, "residual_channels": 32, "dilation_cycle_length": 5}
SPECGRAD_ARGS = {"lifter": None, "gain_min": 0.05}
DIFFWAVE_CROP_FRAMES = 8
FRAMEWAVE_CROP_FRAMES = 64  # frame-rate networks need context across frames
WARMUP_STEPS = 2
WAVEGRAD_CHANNELS = 8  # WaveGrad's width unit (lmnt: 32), for a model near the demo DiffWave's
CURVE_SCHEDULE = "fast"  # 6 steps, every DDPM-family sampler here has it
DDPM_SCHEDULES = {6: "fast", 12: "fast12", 50: "full"}  # named schedules by step count
WAVEGRAD_SCHEDULES = {6: "fast"}
FLOW_STEPS = 4  # FlowMatching's default Euler steps
MODELS = ("DDPM", "PriorGrad", "SpecGrad", "FrameWave")
DISTILL_STEPS = (1, 2, 4)  # the students' sampling steps
DISTILL_METHODS = {"SpecGrad": "ProgressiveDistillation", "FrameWave": "Reflow"}
DISTILL_LEARNING_RATE = LEARNING_RATE / 10  # the student starts from a trained network
METRICS: dict[str, Callable[[np.ndarray, np.ndarray, int], float]] = {
    "mel_l1": metrics.log_mel_l1,
    "mstft": lambda reference, generated, rate: metrics.mstft_distance(reference, generated),
    "pesq": metrics.pesq_wb,
    "stoi": metrics.stoi,
}


@dataclass(frozen=True)
class Training:
    """One model trained for the budget.

    Attributes:
        name: what the tables call it (its training sampler, or WaveGrad).
        spec: its ``{"features", "model", "sampler"}`` component spec.
        samplers: the samplers the final table vocodes it with.
        schedules: step count -> named inference schedule of those samplers (DDPM family).
        crop_frames: training crop length in frames.
        curve_args: sampler arguments of the curve's vocoding.
    """

    name: str
    spec: dict
    samplers: tuple[str, ...]
    schedules: dict[int, str]
    crop_frames: int = DIFFWAVE_CROP_FRAMES
    curve_args: dict = field(default_factory=lambda: {"inference_schedule": CURVE_SCHEDULE})


def trainings(features: MelConfig, wavegrad: bool, models: list[str]) -> list[Training]:
    """``models`` of the small DiffWave with DDPM, PriorGrad and SpecGrad and the
    default FrameWave with FlowMatching from the energy prior, and a small WaveGrad if asked."""
    linked = {"n_mels": features.n_mels, "hop_length": features.hop_length}
    diffwave = {"class_path": "DiffWave", "init_args": {**DIFFWAVE_ARGS, **linked}}

    def spec(model: dict, sampler: str, **init_args: object) -> dict:
        schedule = {} if sampler == "FlowMatching" else {"inference_schedule": CURVE_SCHEDULE}
        return {"features": features.to_dict(), "model": model,
                "sampler": {"class_path": sampler, "init_args": {**init_args, **schedule}}}

    found = [Training("DDPM", spec(diffwave, "DDPM"), ("DDPM", "DDIM"), DDPM_SCHEDULES),
             Training("PriorGrad", spec(diffwave, "PriorGrad"), ("PriorGrad",), DDPM_SCHEDULES),
             Training("SpecGrad", spec(diffwave, "SpecGrad", **SPECGRAD_ARGS), ("SpecGrad",),
                      DDPM_SCHEDULES),
             Training("FrameWave", spec({"class_path": "FrameWave", "init_args": linked},
                                        "FlowMatching", steps=FLOW_STEPS, noise_prior="energy"),
                      ("FlowMatching",), {}, FRAMEWAVE_CROP_FRAMES, {"steps": FLOW_STEPS})]
    found = [training for training in found if training.name in models]
    if wavegrad:
        model = {"class_path": "WaveGrad",
                 "init_args": {**linked, "base_channels": WAVEGRAD_CHANNELS}}
        found.append(Training("WaveGrad", spec(model, "WaveGradDiffusion"),
                              ("WaveGradDiffusion",), WAVEGRAD_SCHEDULES))
    return found


@contextmanager
def work_folder(path: Path | None) -> Iterator[Path]:
    """``path`` (created; it must be new or empty, and nothing in it is deleted), or a
    temporary folder removed at the end."""
    if path is None:
        with tempfile.TemporaryDirectory(prefix="vocfw-quality-") as tmp:
            yield Path(tmp)
        return
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise SystemExit(f"--output {path}: expected a new or empty folder (the benchmark "
                         f"deletes nothing it did not create)")
    path.mkdir(parents=True, exist_ok=True)
    yield path


def make_data(work: Path, clips: int, seed: int) -> tuple[DataConfig, dict]:
    """Write the demo corpus and preprocess it; the data config and a summary of its splits."""
    corpus = write_demo_corpus(work / "corpus", clips, seed)
    data = DataConfig(datasets={DATASET: str(corpus)}, processed_dir=str(work / "data"))
    summary = preprocess(data, build_registry(), num_workers=1)
    splits = summary.datasets[DATASET].splits
    return data, {split: {"utterances": s.utterances, "hours": s.hours}
                  for split, s in splits.items()}


def fit_segment(run: Path, data: DataConfig, training: Training, max_steps: int, seed: int,
                device: str, resume: bool) -> tuple[Path, float]:
    """Train ``training`` into ``run`` up to step ``max_steps``, resuming its newest checkpoint
    with ``resume``; the checkpoint written and the wall seconds the ``fit`` call took."""
    spec, crop_frames = training.spec, training.crop_frames
    learning_rate = LEARNING_RATE
    trainer = Trainer(log_dir=str(run.parent), batch_size=BATCH, crop_frames=crop_frames,
                      max_steps=max_steps, keep_last=None, learning_rate=learning_rate,
                      eval_audio=False, device=device)
    config = yaml.safe_dump({
        "seed": seed, "data": {"datasets": data.datasets, "processed_dir": data.processed_dir},
        "model": spec["model"], "sampler": spec["sampler"],
        "trainer": {"batch_size": BATCH, "crop_frames": crop_frames, "max_steps": max_steps,
                    "learning_rate": learning_rate, "keep_last": None, "eval_audio": False,
                    "device": device},
    })
    start = time.perf_counter()
    folder = trainer.fit(run, data, spec, config, resume_type="resume" if resume else None,
                         checkpoint=run if resume else None, seed=seed)
    return folder, time.perf_counter() - start


def train_for(run: Path, data: DataConfig, training: Training, budget: float, points: int,
              seed: int, device: str) -> list[dict]:
    """Train for about ``budget`` wall seconds: a warm-up, then ``points`` segments each planned
    to end at the next multiple of budget / points (see the module notes). One untimed step in
    a throwaway run comes first, so no training pays the process's one-time costs (imports,
    first allocations) on its clock.

    Returns:
        One curve point per segment: ``target_s`` (``None`` for the warm-up), ``wall_s`` (training
        wall time so far), ``step`` and ``checkpoint``.
    """
    fit_segment(run.with_name(f"{run.name}-untimed"), data, training, 1, seed, device, False)
    curve: list[dict] = []
    elapsed, step, rate = 0.0, 0, 0.0
    for target in [None, *(budget * k / points for k in range(1, points + 1))]:
        steps = WARMUP_STEPS if target is None else round((target - elapsed) * rate)
        if steps < 1:
            continue  # already past this target
        folder, seconds = fit_segment(run, data, training, step + steps, seed, device,
                                      step > 0)
        done = parse_checkpoint_name(folder.name)[1]
        rate = (done - step) / seconds
        elapsed, step = elapsed + seconds, done
        curve.append({"target_s": target, "wall_s": elapsed, "step": step,
                      "checkpoint": str(folder)})
        print(f"{run.name}: step {step} after {elapsed:.1f} s of training "
              f"({rate:.3f} steps/s in the last segment)", flush=True)
    return curve


def held_out(voc: LoadedVocoder, data: DataConfig, test_count: int, count: int,
             search: bool) -> tuple[Utterances, list[str]]:
    """The ``count`` test utterances scored, and with ``search`` the uids the schedule search
    scores on: as many others of the test split as there are (at most ``count``), the scored
    ones themselves only when the split has no others."""
    processed = Path(data.processed_dir)
    if not search:
        return pick_utterances(voc, [DATASET], processed, count), []
    others = min(count, test_count - count)
    searched = pick_utterances(voc, [DATASET], processed, others or count).uids
    scored = pick_utterances(voc, [DATASET], processed, count,
                             exclude=searched if others else ())
    return scored, searched


def attempt(metric: Callable[[np.ndarray, np.ndarray, int], float], reference: np.ndarray,
            generated: np.ndarray, rate: int) -> float:
    """A metric's value, NaN when it fails (as ``vocfw evaluate`` records it)."""
    try:
        return float(metric(reference, generated, rate))
    except Exception:  # third-party metrics raise many error types
        return math.nan


def vocode_scored(voc: LoadedVocoder, utterances: Utterances, seed: int,
                  names: tuple[str, ...]) -> dict:
    """Vocode the utterances (timed, noise from the seed and each uid) and score them.

    Returns:
        Each metric's mean over the utterances where it succeeded (NaN where it failed on
        all; ``{metric}_failed`` counts failures), ``rtf`` (vocoding s / audio s) and
        ``vocode_s``.
    """
    start = time.perf_counter()
    audio = voc.vocode(utterances.mels, seed=seed, keys=utterances.uids)
    seconds = time.perf_counter() - start
    audio_seconds = sum(wave.size for wave in audio) / voc.sample_rate
    result: dict = {"rtf": seconds / audio_seconds, "vocode_s": seconds}
    for name in names:
        values = [attempt(METRICS[name], reference, wave, voc.sample_rate)
                  for reference, wave in zip(utterances.references, audio, strict=True)]
        finite = [value for value in values if math.isfinite(value)]
        result[name] = float(np.mean(finite)) if finite else math.nan
        if len(finite) < len(values):
            result[f"{name}_failed"] = len(values) - len(finite)
    return result


def score_curve(curve: list[dict], training: Training, utterances: Utterances, seed: int,
                device: str) -> None:
    """Add ``mel_l1`` of the training's default vocoding to every curve point."""
    sampler = training.spec["sampler"]["class_path"]
    for point in curve:
        voc = load(point["checkpoint"], device=device, sampler=sampler,
                   sampler_args=training.curve_args)
        point["mel_l1"] = vocode_scored(voc, utterances, seed, ("mel_l1",))["mel_l1"]
        print(f"curve: {sampler} step {point['step']} ({point['wall_s']:.1f} s): log-mel L1 "
              f"{point['mel_l1']:.4f}", flush=True)


def sampler_args(training: Training, sampler: str, steps: int,
                 train_betas: np.ndarray | None) -> tuple[dict, str]:
    """The sampler arguments that sample in ``steps`` steps, and the schedule's name.

    Raises:
        ValueError: no log-spaced schedule of that many steps fits the trained noise range.
    """
    if sampler == "DDIM":
        return {"inference_steps": steps, "eta": 0.0}, "evenly spaced, eta 0"
    if sampler == "FlowMatching":
        return {"steps": steps}, "Euler, evenly spaced"
    if steps in training.schedules:
        name = training.schedules[steps]
        return {"inference_schedule": name}, name
    return {"inference_schedule": geometric_schedule(steps, train_betas).tolist()}, "log-spaced"


def final_rows(training: Training, checkpoint: str, utterances: Utterances, steps: list[int],
               seed: int, device: str) -> list[dict]:
    """One row per sampler of ``training`` and step count that can sample its model."""
    trained = load(checkpoint, device=device).components.sampler
    train_betas = None if training.name == "FrameWave" else training_betas(trained)
    rows = []
    for sampler in training.samplers:
        for count in steps:
            row: dict = {"sampler": sampler, "trained_with": training.name, "steps": count}
            try:
                row["sampler_args"], row["schedule"] = sampler_args(training, sampler, count,
                                                                    train_betas)
                voc = load(checkpoint, device=device, sampler=sampler,
                           sampler_args=row["sampler_args"])
            except ValueError as exc:
                print(f"left out: {sampler} in {count} steps: {exc}", flush=True)
                continue
            row.update(vocode_scored(voc, utterances, seed, tuple(METRICS)))
            rows.append(row)
            print(row_line(row), flush=True)
    return rows


def searched_rows(run: Path, checkpoint: str, data: DataConfig, utterances: Utterances,
                  search_count: int, steps: list[int], seed: int, device: str) -> list[dict]:
    """Search a DDPM schedule for each of :data:`SEARCH_STEPS` in ``steps`` (stored with the run
    as ``quality-N``) and score sampling along it like the other rows."""
    rows = []
    for count in (n for n in SEARCH_STEPS if n in steps):
        name = f"quality-{count}"
        found = search_schedule(run, count, name, utterances=search_count, seed=seed,
                                checkpoint=Path(checkpoint), datasets=[DATASET],
                                processed_dir=Path(data.processed_dir), device=device,
                                overwrite=True)
        voc = load(checkpoint, device=device, schedule=name)
        row = {"sampler": "DDPM searched", "trained_with": "DDPM", "steps": count,
               "schedule": "searched", "sampler_args": {"inference_schedule": found.betas},
               "search_score": found.score, "search_start_score": found.start_score,
               "search_utterances": found.utterances}
        row.update(vocode_scored(voc, utterances, seed, tuple(METRICS)))
        rows.append(row)
        print(row_line(row), flush=True)
    return rows


def distill_for(run: Path, data: DataConfig, training: Training, teacher: str, steps: int,
                budget: float, seed: int, device: str) -> dict:
    """Distill ``teacher`` into a ``steps``-step student in ``run`` for about ``budget`` wall
    seconds: a warm-up of :data:`WARMUP_STEPS` steps, then one segment planned from its rate,
    resumed (bit for bit one run).

    Returns:
        ``wall_s`` (the ``distill`` calls' wall time), ``step`` and ``checkpoint``.
    """
    method = {"class_path": DISTILL_METHODS[training.name]}
    elapsed, step, rate, folder = 0.0, 0, 0.0, None
    for target in (None, budget):
        count = WARMUP_STEPS if target is None else round((target - elapsed) * rate)
        if count < 1:
            continue
        trainer = Trainer(log_dir=str(run.parent), batch_size=BATCH,
                          crop_frames=training.crop_frames, max_steps=step + count,
                          keep_last=None, learning_rate=DISTILL_LEARNING_RATE, eval_audio=False,
                          device=device)
        start = time.perf_counter()
        folder = distill(trainer, data, Path(teacher), steps, run.name, method=method,
                         seed=seed, resume=step > 0)
        seconds = time.perf_counter() - start
        done = parse_checkpoint_name(folder.name)[1]
        rate, elapsed, step = (done - step) / seconds, elapsed + seconds, done
    print(f"{run.name}: {step} distillation steps in {elapsed:.1f} s", flush=True)
    return {"wall_s": elapsed, "step": step, "checkpoint": str(folder)}


def distilled_rows(runs: Path, data: DataConfig, training: Training, teacher: str,
                   budget: float, utterances: Utterances, args: argparse.Namespace
                   ) -> list[dict]:
    """The teacher at its default steps, then per K of :data:`DISTILL_STEPS` the teacher at K
    steps and the student distilled for ``budget`` seconds at K steps, scored alike."""
    voc = load(teacher, device=args.device)
    default = voc.components.sampler.num_inference_steps
    rows = [{"model": training.name, "vocoder": "teacher", "steps": default,
             **vocode_scored(voc, utterances, args.seed, tuple(METRICS))}]
    sampler = training.samplers[0]
    betas = None if training.name == "FrameWave" else training_betas(voc.components.sampler)
    for steps in DISTILL_STEPS:
        arguments, _ = sampler_args(training, sampler, steps, betas)
        voc = load(teacher, device=args.device, sampler=sampler, sampler_args=arguments)
        rows.append({"model": training.name, "vocoder": "teacher", "steps": steps,
                     **vocode_scored(voc, utterances, args.seed, tuple(METRICS))})
        run = runs / f"{training.name}-student-{steps}"
        made = distill_for(run, data, training, teacher, steps, budget, args.seed, args.device)
        voc = load(made["checkpoint"], device=args.device)
        rows.append({"model": training.name, "vocoder": "student", "steps": steps,
                     "distill_s": made["wall_s"], "distill_steps": made["step"],
                     **vocode_scored(voc, utterances, args.seed, tuple(METRICS))})
    for row in rows:
        print(f"{row['model']} {row['vocoder']}, {row['steps']} steps: log-mel L1 "
              f"{number(row['mel_l1'], 4)}, STOI {number(row['stoi'])}", flush=True)
    return rows


def distill_table(rows: list[dict]) -> list[str]:
    """One row per teacher and student vocoding of the distillation stage."""
    if not rows:
        return []
    lines = ["", "Distillation: each teacher at its default steps and at K steps, and its "
             "student (progressive distillation for SpecGrad, reflow for FrameWave) distilled "
             "for a share of the teacher's training wall time, at K steps.", "",
             "| model | vocoder | steps | log-mel L1 | STOI | PESQ | M-STFT | RTF | distill s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        spent = (f"{r['distill_s']:.0f} ({r['distill_steps']} steps)" if "distill_s" in r
                 else "-")
        lines.append(f"| {r['model']} | {r['vocoder']} | {r['steps']} | "
                     f"{number(r['mel_l1'], 4)} | {number(r['stoi'])} | {number(r['pesq'])} | "
                     f"{number(r['mstft'])} | {number(r['rtf'])} | {spent} |")
    return lines


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` decimals, or ``-`` for NaN."""
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def row_line(row: dict) -> str:
    """One final-table row as a progress line."""
    return (f"{row['sampler']} ({row['trained_with']} model), {row['steps']} steps, "
            f"{row['schedule']}: log-mel L1 {number(row['mel_l1'], 4)}, M-STFT "
            f"{number(row['mstft'])}, PESQ {number(row['pesq'])}, STOI {number(row['stoi'])}, "
            f"RTF {number(row['rtf'])}")


def header(result: dict) -> list[str]:
    """What ran where: machine, corpus, training budget and the held-out utterances."""
    info, settings = result["machine"], result["settings"]
    splits = ", ".join(f"{split} {s['utterances']} ({s['hours'] * 60:.1f} min)"
                       for split, s in result.get("corpus", {}).get("splits", {}).items())
    trained = "; ".join(f"{name}: {t['model']['class_path']} + {t['sampler']['class_path']}, "
                        f"{t['wall_s']:.0f} s, {t['steps']} steps"
                        for name, t in result["trainings"].items())
    lines = [f"Machine: {info['machine']}; torch {info['torch']}, {info['torch_threads']} torch "
             f"threads, device {settings['device']}; load average "
             f"{info['load_average'][0]:.1f} before, {info.get('load_average_after', [0])[0]:.1f}"
             f" after.",
             f"Corpus: {settings['clips']} speech-like clips (the demo's generator, seed "
             f"{settings['seed']}): {splits or 'not yet made'}.",
             f"Training: batch {BATCH} x {DIFFWAVE_CROP_FRAMES} frames (DiffWave, WaveGrad), "
             f"{FRAMEWAVE_CROP_FRAMES} frames (FrameWave), learning "
             f"rate {LEARNING_RATE:g}, seed {settings['seed']}, budget "
             f"{settings['train_seconds']:.0f} s of wall time each ({trained or 'not yet'})."]
    if "held_out" in result:
        held = result["held_out"]
        search = ""
        if held["searched"]:
            others = "of the same (the test split holds no others)" if held["shared"] else "others"
            search = f"; the schedule search on {len(held['searched'])} {others}"
        lines.append(f"Scored on {len(held['scored'])} held-out utterances "
                     f"({held['audio_seconds']:.1f} s of audio), seed {settings['seed']} noise"
                     f"{search}.")
    return lines


def curve_table(result: dict) -> list[str]:
    """wall s | step | one log-mel L1 column per training, one row per planned segment end."""
    runs = {name: {p["target_s"]: p for p in t["curve"] if "mel_l1" in p}
            for name, t in result.get("trainings", {}).items()}
    targets = sorted({t for points in runs.values() for t in points},
                     key=lambda t: -1.0 if t is None else t)
    if not targets:
        return []
    names = " / ".join(runs)

    def cells(target: float | None, key: str, fmt: str) -> list[str]:
        return [format(points[target][key], fmt) if target in points else "-"
                for points in runs.values()]

    lines = ["", f"Training curve: log-mel L1 of each model's default vocoding (6-step fast; "
             f"FlowMatching 4 Euler steps) on the held-out utterances at each "
             f"checkpoint; wall s and step are per training ({names}); the first row is the "
             f"warm-up.", "", f"| wall s | step | {' | '.join(f'{n} mel L1' for n in runs)} |",
             "|---:|---:|" + "---:|" * len(runs)]
    for target in targets:
        lines.append(f"| {' / '.join(cells(target, 'wall_s', '.0f'))} | "
                     f"{' / '.join(cells(target, 'step', 'd'))} | "
                     f"{' | '.join(cells(target, 'mel_l1', '.4f'))} |")
    return lines


def table_points(curve: list[dict], table_at: list[float]) -> list[dict]:
    """The curve points the final table scores: those planned to end at one of ``table_at``
    seconds of training, then the last."""
    earlier = [point for point in curve[:-1] if point["target_s"] is not None
               and any(math.isclose(point["target_s"], at) for at in table_at)]
    return [*earlier, curve[-1]]


def final_table(rows: list[dict], threads: int) -> list[str]:
    """One row per checkpoint scored, sampler and step count."""
    if not rows:
        return []
    lines = ["", f"Checkpoints after the training wall time given (the last, and any asked for "
             f"with --table-at), held-out utterances; RTF = vocoding s / audio s with "
             f"{threads} threads (lower is faster); PESQ wide band, mean over the utterances it "
             f"could score.", "",
             "| sampler | model trained with | trained s | steps | schedule | log-mel L1 | "
             "M-STFT | PESQ | STOI | RTF |", "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['sampler']} | {r['trained_with']} | {r.get('trained_s', math.nan):.0f} | "
              f"{r['steps']} | {r['schedule']} | {number(r['mel_l1'], 4)} | "
              f"{number(r['mstft'])} | {number(r['pesq'])} | {number(r['stoi'])} | "
              f"{number(r['rtf'])} |" for r in rows]
    return lines


def markdown(result: dict) -> str:
    """The report: header, training curve and final table."""
    lines = header(result) + curve_table(result)
    lines += final_table(result.get("rows", []), result["machine"]["torch_threads"])
    lines += distill_table(result.get("distilled", []))
    return "\n".join(lines) + "\n"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=None,
                        help="work folder for the corpus, features and runs, new or empty "
                             "(default: a temporary folder, removed at the end)")
    parser.add_argument("--train-seconds", type=float, default=300.0,
                        help="wall-clock training budget of each model")
    parser.add_argument("--clips", type=int, default=320,
                        help=f"clips in the corpus; the last 1/{TEST_SHARE} are held out")
    parser.add_argument("--utterances", type=int, default=8, help="held-out utterances scored")
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEP_COUNTS),
                        help="sampling step counts of the final table")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the corpus, the training runs and the sampling noise")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="which trainings to run")
    parser.add_argument("--wavegrad", action="store_true",
                        help="also train a small WaveGrad with WaveGradDiffusion")
    parser.add_argument("--search", action="store_true",
                        help=f"also search DDPM schedules for those of {SEARCH_STEPS} steps "
                             f"in --steps")
    parser.add_argument("--distill", action="store_true",
                        help=f"also distill the SpecGrad and FrameWave teachers into "
                             f"{', '.join(map(str, DISTILL_STEPS))}-step students")
    parser.add_argument("--distill-fraction", type=float, default=0.25,
                        help="each distillation's wall budget, as a share of its teacher's "
                             "training wall time")
    parser.add_argument("--curve-points", type=int, default=6,
                        help="training segments (curve points) after the warm-up")
    parser.add_argument("--table-at", type=float, nargs="+", default=[],
                        help="also score the final table at the checkpoints of these training "
                             "seconds, each a multiple of --train-seconds / --curve-points")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where training and vocoding run")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder of quality-<date>.json and .md")
    args = parser.parse_args()
    test_count = args.clips // TEST_SHARE
    if (min(args.utterances, args.curve_points, *args.steps) < 1 or args.train_seconds <= 0
            or args.distill_fraction <= 0):
        parser.error("--utterances, --curve-points, --steps, --train-seconds and "
                     "--distill-fraction must be positive")
    if test_count < args.utterances:
        parser.error(f"--clips {args.clips} holds out {test_count} test utterances (the last "
                     f"1/{TEST_SHARE}), fewer than --utterances {args.utterances}: use --clips "
                     f"{args.utterances * TEST_SHARE} or more")
    segment = args.train_seconds / args.curve_points
    planned = [segment * k for k in range(1, args.curve_points + 1)]
    for at in args.table_at:
        if not any(math.isclose(at, end) for end in planned):
            parser.error(f"--table-at {at:g}: not a planned checkpoint time "
                         f"({', '.join(f'{end:g}' for end in planned)} s)")
    return args


class Report:
    """The results of one run, saved after every stage so a long run shows what it finished.

    Args:
        args: the command line.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.started = time.perf_counter()
        settings = {key: str(value) if isinstance(value, Path) else value
                    for key, value in vars(args).items()}
        self.result: dict = {"benchmark": "quality", "date": datetime.date.today().isoformat(),
                             "machine": machine(), "settings": settings, "stages": [],
                             "trainings": {}, "rows": []}
        self.stem = args.results / f"quality-{self.result['date']}"

    def stage(self, text: str) -> None:
        """Announce a stage of the run and record when it began."""
        now = time.perf_counter() - self.started
        self.result["stages"].append({"stage": text, "start_s": now})
        print(f"\n=== {text} ({now:.0f} s into the run)", flush=True)

    def save(self) -> None:
        """Write ``quality-<date>.json`` and ``.md``."""
        self.result["machine"]["load_average_after"] = os.getloadavg()
        self.result["total_s"] = time.perf_counter() - self.started
        write_json(self.stem.with_name(f"{self.stem.name}.json"), self.result)
        write_text(self.stem.with_name(f"{self.stem.name}.md"), markdown(self.result))


def machine() -> dict:
    """What the benchmark runs on."""
    return {"machine": describe(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()}


def train_all(report: Report, plan: list[Training], data: DataConfig, runs: Path,
              args: argparse.Namespace) -> None:
    """Train every model of ``plan`` for the budget into ``runs/{name}``."""
    for training in plan:
        report.stage(f"training {training.name} for {args.train_seconds:.0f} s")
        curve = train_for(runs / training.name, data, training, args.train_seconds,
                          args.curve_points, args.seed, args.device)
        report.result["trainings"][training.name] = {
            "model": training.spec["model"], "sampler": training.spec["sampler"],
            "curve": curve, "wall_s": curve[-1]["wall_s"], "steps": curve[-1]["step"]}
        report.save()


def score_all(report: Report, plan: list[Training], data: DataConfig, runs: Path,
              args: argparse.Namespace) -> None:
    """Pick the held-out utterances, then score the curves, the final table and (with
    ``--search``) the searched schedules."""
    result = report.result
    last = {name: t["curve"][-1]["checkpoint"] for name, t in result["trainings"].items()}
    voc = load(next(iter(last.values())), device=args.device)
    test_count = result["corpus"]["splits"]["test"]["utterances"]
    scored, searched = held_out(voc, data, test_count, args.utterances, args.search)
    result["held_out"] = {"scored": scored.uids, "searched": searched,
                          "shared": bool(set(searched) & set(scored.uids)),
                          "audio_seconds": sum(r.size for r in scored.references) / voc.sample_rate}
    report.stage(f"training curves on {scored.uids}")
    for training in plan:
        score_curve(result["trainings"][training.name]["curve"], training, scored, args.seed,
                    args.device)
    report.save()
    report.stage(f"final table, {torch.get_num_threads()} threads")
    for training in plan:
        for point in table_points(result["trainings"][training.name]["curve"], args.table_at):
            rows = final_rows(training, point["checkpoint"], scored, args.steps, args.seed,
                              args.device)
            result["rows"] += [{**row, "trained_s": point["wall_s"]} for row in rows]
            report.save()
    if args.search and "DDPM" in last:
        where = ("the scored ones themselves: the test split holds no others"
                 if result["held_out"]["shared"] else "held-out utterances not scored above")
        report.stage(f"schedule search on {searched} ({where})")
        result["rows"] += searched_rows(runs / "DDPM", last["DDPM"], data, scored,
                                        len(searched), args.steps, args.seed, args.device)
        report.save()


def distill_all(report: Report, plan: list[Training], data: DataConfig, runs: Path,
                args: argparse.Namespace) -> None:
    """Distill the trained SpecGrad and FrameWave teachers and score them on the held-out
    utterances of the final table."""
    result = report.result
    chosen = [t for t in plan if t.name in DISTILL_METHODS and t.name in result["trainings"]]
    if not chosen:
        print("--distill: neither SpecGrad nor FrameWave was trained", flush=True)
        return
    teachers = {t.name: result["trainings"][t.name]["curve"][-1]["checkpoint"] for t in chosen}
    voc = load(next(iter(teachers.values())), device=args.device)
    test_count = result["corpus"]["splits"]["test"]["utterances"]
    scored, _ = held_out(voc, data, test_count, args.utterances, args.search)
    result["distilled"] = []
    for training in chosen:
        budget = args.distill_fraction * result["trainings"][training.name]["wall_s"]
        report.stage(f"distilling {training.name} into {list(DISTILL_STEPS)}-step students, "
                     f"{budget:.0f} s each")
        result["distilled"] += distilled_rows(runs, data, training, teachers[training.name],
                                              budget, scored, args)
        report.save()


def main() -> None:
    args = arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = Report(args)
    print(report.result["machine"], flush=True)
    with work_folder(args.output) as work:
        report.stage(f"corpus: {args.clips} clips, preprocessed into {work / 'data'}")
        data, splits = make_data(work, args.clips, args.seed)
        report.result["corpus"] = {"clips": args.clips, "splits": splits}
        report.save()
        plan = trainings(data.features, args.wavegrad, args.models)
        train_all(report, plan, data, work / "runs", args)
        score_all(report, plan, data, work / "runs", args)
        if args.distill:
            distill_all(report, plan, data, work / "runs", args)
    print("\n" + markdown(report.result))
    print(f"results: {report.stem}.json and .md; {report.result['total_s']:.0f} s in all",
          flush=True)


if __name__ == "__main__":
    main()
