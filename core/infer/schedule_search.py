"""``vocfw search-schedule``: search an N-step inference noise schedule for a trained run and
store it with the run (:mod:`vocfw.core.runs.schedules`), as lmnt's WaveGrad searches one per
trained model (its ``noise_schedule`` grid search) and BDDM learns one.

Score: the mean log-mel L1 distance (:func:`vocfw.core.evaluate.metrics.log_mel_l1`) between
the vocoded and the real audio of K utterances of the test split, spread evenly through it.
Each utterance's noise is drawn from (seed, uid) and how many draws a sampling makes depends
only on N, so every candidate is scored with the same noise: scores are comparable, and the
search is reproducible from the seed.

Search: start from the run sampler's own schedule when it has N steps (and fits the rules
below), else from the geometric (log-spaced) N-step schedule that begins at the first training
beta and ends at the largest last beta the trained range allows. Then coordinate descent over
the betas: each beta in turn is multiplied by each of :data:`FACTORS`; a candidate must stay
non-decreasing and inside the trained noise range (see :func:`inside`); the best candidate
replaces the schedule only when it scores strictly lower. A sweep over all betas is one
iteration; a sweep without improvement ends the search (the next would repeat it). So the
result never scores worse than the start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vocfw.core.corpus import SkippedItem
from vocfw.core.evaluate.metrics import log_mel_l1
from vocfw.core.infer.api import LoadedVocoder, load
from vocfw.core.infer.inputs import discover, load_input
from vocfw.core.infer.predict import LOAD_ERRORS, fit_length
from vocfw.core.infer.sampler_choice import SCHEDULE_ARG, check_takes_schedule
from vocfw.core.progress import progress_bar
from vocfw.core.runs.run_dir import run_datasets, run_processed_dir
from vocfw.core.runs.schedules import StoredSchedule, check_free, write_schedule
from vocfw.core.sampler import Sampler
from vocfw.core.seed import DEFAULT_SEED
from vocfw.core.settings import SettingError

FACTORS = (0.5, 0.8, 1.25, 2.0)  # each beta is tried at these multiples of its value
METRIC = "log_mel_l1"
BISECTIONS = 60  # halvings of the last beta's log range for the geometric start


@dataclass(frozen=True)
class Utterances:
    """The test utterances a schedule is scored on.

    Attributes:
        uids: their uids (the noise keys).
        mels: (M, T_i) log-mels.
        references: (T_i * hop,) real waveforms, cut or zero-padded to the vocoded length.
    """

    uids: list[str]
    mels: list[torch.Tensor]
    references: list[np.ndarray]


def pick_utterances(
    voc: LoadedVocoder, datasets: list[str], processed_dir: Path, count: int,
    exclude: Collection[str] = (),
) -> Utterances:
    """``count`` test utterances with ground truth, spread evenly through the test splits
    without the uids in ``exclude``; unreadable ones are reported and left out.

    Raises:
        SettingError: no test utterance with ground truth could be read.
    """
    failed: list[SkippedItem] = []
    found = discover("dataset", datasets, processed_dir, None, None, failed)
    usable = [item for item in found if item.has_reference and item.uid not in exclude]
    chosen = sorted({round(i) for i in np.linspace(0, len(usable) - 1, min(count, len(usable)))})
    picked = Utterances([], [], [])
    for item in (usable[i] for i in chosen):
        try:
            mel, reference = load_input(item, voc.extractor, voc.n_mels)
        except LOAD_ERRORS as exc:
            failed.append(SkippedItem(item.source, getattr(exc, "reason", None) or str(exc)))
            continue
        picked.uids.append(item.uid)
        picked.mels.append(mel)
        picked.references.append(fit_length(reference, mel.shape[1] * voc.hop_length))
    for item in failed:
        print(f"skipped: {item.path}: {item.reason}")
    if not picked.uids:
        raise SettingError(f"search-schedule: no test utterance of {datasets} in {processed_dir} "
                         f"has readable ground truth (audios/{{Uid}}.npy)")
    return picked


def training_betas(sampler: Sampler) -> np.ndarray:
    """(S,) float64 training betas of ``sampler``, which bound the schedules searched.

    Raises:
        SettingError: the sampler declares none (:attr:`Sampler.training_betas` is ``None``).
    """
    betas = sampler.training_betas
    if betas is None:
        raise SettingError(f"search-schedule: the sampler {type(sampler).__name__} declares no "
                         f"training_betas, so its trained noise range is unknown")
    return np.asarray(betas, dtype=np.float64)


def inside(betas: np.ndarray, train_betas: np.ndarray) -> bool:
    """Whether (N,) ``betas`` are non-decreasing, below 1, and their noise levels alpha_bar stay
    inside the trained range: the first beta at least the first training beta, the last
    alpha_bar at least the training schedule's last (what the sampler's alignment accepts)."""
    bar = np.cumprod(1.0 - betas)  # (N,)
    return bool(np.all(np.diff(betas) >= 0.0) and betas[0] >= train_betas[0]
                and betas[-1] < 1.0 and bar[-1] >= np.cumprod(1.0 - train_betas)[-1])


def geometric_schedule(steps: int, train_betas: np.ndarray) -> np.ndarray:
    """(steps,) log-spaced betas from the first training beta to the largest last beta that
    keeps them :func:`inside` the trained range (found by bisection in log space).

    Raises:
        SettingError: even ``steps`` betas equal to the first training beta add more noise than
            the whole training schedule.
    """
    first = float(train_betas[0])
    low, high = math.log(first), math.log1p(-1e-9)
    if not inside(np.full(steps, first), train_betas):
        raise SettingError(f"search-schedule: no {steps}-step schedule fits the trained noise "
                         f"range ({len(train_betas)} training betas from {first:g})")
    for _ in range(BISECTIONS):
        middle = (low + high) / 2
        if inside(np.geomspace(first, math.exp(middle), steps), train_betas):
            low = middle
        else:
            high = middle
    return np.geomspace(first, math.exp(low), steps)


def start_schedule(sampler: Sampler, steps: int, train_betas: np.ndarray) -> np.ndarray:
    """The sampler's own inference betas when there are ``steps`` of them and they fit, else
    :func:`geometric_schedule`."""
    own = getattr(sampler, "inference_betas", None)
    if own is not None and len(own) == steps:
        betas = np.asarray(own, dtype=np.float64)
        if inside(betas, train_betas):
            return betas
    return geometric_schedule(steps, train_betas)


def score(voc: LoadedVocoder, betas: np.ndarray, utterances: Utterances, seed: int) -> float:
    """Mean log-mel L1 between the audio vocoded along ``betas`` and the real audio; infinity
    when the audio is not finite."""
    vocoder = voc.with_sampler(**{SCHEDULE_ARG: betas.tolist()})
    audio = vocoder.vocode(utterances.mels, seed=seed, keys=utterances.uids)
    distances = [log_mel_l1(reference, wave, voc.sample_rate)
                 for reference, wave in zip(utterances.references, audio, strict=True)]
    mean = float(np.mean(distances))
    return mean if math.isfinite(mean) else math.inf


def descend(
    evaluate: Callable[[np.ndarray], float],
    start: np.ndarray,
    start_score: float,
    train_betas: np.ndarray,
    iterations: int,
    progress: bool,
) -> tuple[np.ndarray, float]:
    """Coordinate descent over the betas (see the module notes); returns the best schedule
    and its score, never worse than ``start`` and ``start_score``."""
    best, best_score = start, start_score
    total = iterations * len(start) * len(FACTORS)
    with progress_bar(total=total, disable=not progress, unit="schedule",
                      desc="search-schedule") as bar:
        for _ in range(iterations):
            improved = False
            for i in range(len(best)):
                tried = []
                for factor in FACTORS:
                    candidate = best.copy()
                    candidate[i] *= factor
                    if inside(candidate, train_betas):
                        tried.append((evaluate(candidate), candidate))
                    bar.update()
                winner = min(tried, key=lambda t: t[0], default=(math.inf, best))
                if winner[0] < best_score:
                    best_score, best = winner
                    improved = True
                bar.set_postfix(best=f"{best_score:.4f}")
            if not improved:
                break
    return best, best_score


def betas_text(betas: Sequence[float]) -> str:
    """``[1e-04, 0.001, ...]``: betas to 6 significant digits (the file holds them exactly)."""
    return "[" + ", ".join(f"{b:.6g}" for b in betas) + "]"


def search_schedule(
    run: Path,
    steps: int,
    name: str,
    utterances: int = 4,
    seed: int = DEFAULT_SEED,
    checkpoint: Path | None = None,
    datasets: list[str] | None = None,
    processed_dir: Path | None = None,
    device: str = "auto",
    iterations: int = 3,
    overwrite: bool = False,
    progress: bool = True,
) -> StoredSchedule:
    """Search an N-step inference beta schedule for a trained run and store it as
    ``{run}/schedules/{name}.json`` (``vocfw predict --schedule NAME`` samples along it).

    Args:
        run: the run directory (its newest checkpoint is used).
        steps: sampling steps N of the schedule.
        name: the schedule's name (letters, digits, ``_ . -``).
        utterances: test utterances K scored (spread evenly through the test splits).
        seed: seed of the sampling noise; the same seed gives the same schedule.
        checkpoint: a checkpoint folder to use instead of the run's newest.
        datasets: processed dataset names whose test splits are scored (default: the run
            config's ``data.datasets``).
        processed_dir: where the processed datasets are (default: the run config's
            ``data.processed_dir``, else ``data``).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...
        iterations: coordinate-descent sweeps over the betas at most (0: score the start only).
        overwrite: replace a stored schedule of the same name instead of refusing.
        progress: show a progress bar.

    Returns:
        The schedule found, with its score and how it was found.

    Raises:
        SettingError: bad counts, a schedule of that name exists (without ``overwrite``), a
            sampler without ``inference_schedule``, no datasets, or no usable test utterance.
        CheckpointError: no usable checkpoint.
    """
    if steps < 1 or utterances < 1 or iterations < 0:
        raise SettingError(f"search-schedule: need steps >= 1, utterances >= 1 and iterations "
                           f">= 0, got {steps}, {utterances} and {iterations}")
    run = Path(run)
    check_free(run, name, overwrite)
    voc = load(checkpoint or run, device=device)
    sampler = voc.components.sampler
    check_takes_schedule(type(sampler), "search-schedule")
    train_betas = training_betas(sampler)
    datasets = datasets or run_datasets(run)
    if not datasets:
        raise SettingError(f"search-schedule needs --datasets (processed dataset names): "
                         f"{run}/config.yaml names none")
    processed = Path(processed_dir) if processed_dir is not None else run_processed_dir(run)
    chosen = pick_utterances(voc, datasets, processed, utterances)
    start = start_schedule(sampler, steps, train_betas)
    start_score = score(voc, start, chosen, seed)
    print(f"search-schedule: {type(sampler).__name__}, {steps} steps, {len(chosen.uids)} "
          f"utterances, seed {seed}, log-mel L1\nstart {start_score:.4f}  {betas_text(start)}")
    best, best_score = descend(lambda betas: score(voc, betas, chosen, seed), start,
                               start_score, train_betas, iterations, progress)
    result = StoredSchedule(best.tolist(), best_score, start.tolist(), start_score, seed,
                            chosen.uids, str(voc.checkpoint), type(sampler).__name__, METRIC)
    path = write_schedule(run, name, result, overwrite)
    print(f"best  {best_score:.4f}  {betas_text(best)}\n-> {path}")
    return replace(result, path=path)
