"""``vocfw preprocess``: corpora as downloaded -> the processed folder training reads.

For each configured dataset the corpus loader lists its utterances; durations are measured,
the duration filter applied, and each utterance's waveform (at the feature sample rate) and
log-mel are saved as ``audios/{Uid}.npy`` and ``mels/{Uid}.npy``. Then the split lists and
metadata are written, and a report of everything left out.

The work is resumable: an utterance whose two feature files exist is not redone, a re-run on a
finished folder rewrites nothing, and temporary files of a killed run are removed at start.
One processed folder holds features of one :class:`MelConfig` only (kept in ``features.json``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from vocfw.core.audio.mel import MelConfig
from vocfw.core.corpus import Utterance, UtteranceError
from vocfw.core.data.config import DataConfig, build_corpus
from vocfw.core.data.extract import (
    ExtractTask,
    extract,
    init_worker,
    measure_many,
    mel_extractor,
)
from vocfw.core.data.layout import (
    FEATURES_FILE,
    feature_differences,
    has_feature_files,
    is_extracted,
    remove_leftovers,
    write_features,
)
from vocfw.core.data.metadata import record, write_metadata
from vocfw.core.data.report import DatasetSummary, PreprocessSummary, Skip, write_report
from vocfw.core.errors import VocfwError
from vocfw.core.progress import progress_bar
from vocfw.core.registry import Registry
from vocfw.core.settings import resolve_device

T = TypeVar("T")
R = TypeVar("R")

CHUNK_SECONDS = 60.0
CHUNK_ITEMS = 32
# modules a worker needs, imported once by the fork server (librosa.core.audio is where
# librosa's resampler lives; librosa imports it lazily on first use)
WORKER_PRELOAD = ("vocfw.core.data.extract", "librosa.core.audio")

__all__ = ["FeaturesMismatchError", "PreprocessSummary", "preprocess"]


class FeaturesMismatchError(VocfwError, ValueError):
    """A processed folder already holds features made with other settings."""


def _check_features(out_dir: Path, config: MelConfig) -> None:
    """Record the feature settings of ``out_dir``, or refuse to mix two sets of settings."""
    advice = "choose another processed_dir or delete that folder"
    try:
        differences = feature_differences(out_dir, config)
    except ValueError as exc:
        raise FeaturesMismatchError(f"{exc}; {advice}") from None
    if differences:
        stored = {key: value for key, (value, _) in differences.items()}
        raise FeaturesMismatchError(
            f"{out_dir} holds features made with other settings (differing: "
            f"{', '.join(sorted(differences))}; stored in {out_dir / FEATURES_FILE}: {stored}); "
            f"{advice}"
        )
    if differences is not None:
        return
    if has_feature_files(out_dir):
        raise FeaturesMismatchError(
            f"{out_dir} holds features of unknown settings (no {FEATURES_FILE}); {advice}"
        )
    write_features(out_dir, config)


def _worker_context(device: str) -> multiprocessing.context.BaseContext:
    """How worker processes start.

    On the CPU, ``fork`` where the platform has it: a worker is a copy of this process, with
    the feature code already imported, so two workers pay off even on a short corpus (each sets
    one torch thread before any work, see :func:`init_worker`). A GPU cannot be shared with a
    forked child, so for any other device workers fork from a ``forkserver`` that has imported
    the feature code once, or are spawned where neither exists.
    """
    methods = multiprocessing.get_all_start_methods()
    if device == "cpu" and "fork" in methods:
        return multiprocessing.get_context("fork")
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_PRELOAD))
    return context


class _Runner:
    """Maps a worker function over tasks, in this process or in a worker pool started on first
    use (so a run with nothing to do starts no processes)."""

    def __init__(self, num_workers: int, progress: bool, device: str, features: MelConfig
                 ) -> None:
        self.num_workers, self.progress = num_workers, progress
        self.device, self.features = device, features
        self.pool: Any | None = None

    def _start_pool(self) -> Any:
        context = _worker_context(self.device)
        if context.get_start_method() == "fork":
            mel_extractor(self.features, self.device)  # built here once, inherited by workers
        return context.Pool(self.num_workers, initializer=init_worker)

    def run(
        self, fn: Callable[[T], list[R]], tasks: list[T], sizes: list[int], desc: str
    ) -> Iterator[list[R]]:
        """Yield ``fn(task)`` for every task, in task order, advancing a progress bar."""
        results: Iterable[list[R]]
        if self.num_workers <= 1 or len(tasks) <= 1:
            results = map(fn, tasks)
        else:
            if self.pool is None:
                self.pool = self._start_pool()
            results = self.pool.imap(fn, tasks)
        with progress_bar(total=sum(sizes), desc=desc, unit="utt",
                          disable=not self.progress) as bar:
            for size, result in zip(sizes, results, strict=True):
                bar.update(size)
                yield result


@contextmanager
def _runner(num_workers: int, progress: bool, device: str, features: MelConfig
            ) -> Iterator[_Runner]:
    runner = _Runner(num_workers, progress, device, features)
    try:
        yield runner
    finally:
        if runner.pool is not None:
            runner.pool.terminate()
            runner.pool.join()


def _chunks(utts: list[Utterance], durations: dict[str, float]) -> list[tuple[Utterance, ...]]:
    """Group utterances, shortest first, into batches of similar length.

    The grouping depends only on the utterances, never on the number of workers, so the
    output is the same whatever the parallelism.
    """
    ordered = sorted(utts, key=lambda utt: (durations[utt.uid], utt.uid))
    chunks: list[tuple[Utterance, ...]] = []
    current: list[Utterance] = []
    seconds = 0.0
    for utt in ordered:
        full = seconds + durations[utt.uid] > CHUNK_SECONDS or len(current) >= CHUNK_ITEMS
        if current and full:
            chunks.append(tuple(current))
            current, seconds = [], 0.0
        current.append(utt)
        seconds += durations[utt.uid]
    if current:
        chunks.append(tuple(current))
    return chunks


def _check_unique(utts: list[Utterance], dataset: str, loader: str) -> None:
    seen: set[str] = set()
    for utt in utts:
        if utt.uid in seen:
            raise UtteranceError(f"{utt.path}: dataset {dataset!r}: the {loader} loader yielded "
                                 f"uid {utt.uid!r} twice; uids must be unique within a dataset")
        seen.add(utt.uid)


def _measure(utts: list[Utterance], data: DataConfig) -> tuple[dict[str, float], list[Skip]]:
    """Durations of the usable utterances within the duration filter, and the others."""
    durations: dict[str, float] = {}
    skipped: list[Skip] = []
    for utt, result in zip(utts, measure_many(utts), strict=True):
        if isinstance(result, str):
            skipped.append(Skip.of(utt, "duration", result))
        elif data.min_duration is not None and result < data.min_duration:
            skipped.append(Skip.of(utt, "filter", f"{result:.3f} s < min_duration"))
        elif data.max_duration is not None and result > data.max_duration:
            skipped.append(Skip.of(utt, "filter", f"{result:.3f} s > max_duration"))
        else:
            durations[utt.uid] = result
    return durations, skipped


def _extract_missing(
    name: str, utts: list[Utterance], durations: dict[str, float], data: DataConfig,
    runner: _Runner,
) -> list[Skip]:
    """Extract the features of every utterance that lacks one of its two files."""
    out_dir = data.dataset_dir(name)
    todo = [utt for utt in utts if not is_extracted(out_dir, utt.uid)]
    tasks = [
        ExtractTask(chunk, data.features, out_dir, runner.device)
        for chunk in _chunks(todo, durations)
    ]
    by_uid = {utt.uid: utt for utt in todo}
    skipped: list[Skip] = []
    sizes = [len(task.utts) for task in tasks]
    for results in runner.run(extract, tasks, sizes, f"{name}: features"):
        skipped += [Skip.of(by_uid[uid], "features", why) for uid, why in results if why]
    return skipped


def _process_dataset(
    name: str, source: str | dict, data: DataConfig, registry: Registry, runner: _Runner,
) -> DatasetSummary:
    """Preprocess one dataset (a folder or a corpus spec) into ``{processed_dir}/{name}/``."""
    out_dir = data.dataset_dir(name)
    corpus = build_corpus(name, source, registry)
    utts = corpus.utterances()
    _check_unique(utts, name, corpus.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out_dir)
    _check_features(out_dir, data.features)

    durations, unusable = _measure(utts, data)
    kept = [utt for utt in utts if utt.uid in durations]
    failed = _extract_missing(name, kept, durations, data, runner)
    failed_uids = {skip.uid for skip in failed}

    splits: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    if any(utt.split == "valid" for utt in utts):
        splits["valid"] = []
    for utt in kept:
        if utt.uid not in failed_uids:
            entries = splits[utt.split]
            entries.append(record(utt, durations[utt.uid], len(entries)))
    write_metadata(out_dir, name, splits)
    skipped = [Skip.from_item(item, "corpus") for item in corpus.skipped] + unusable + failed
    return write_report(out_dir, name, splits, skipped)


def preprocess(
    data: DataConfig,
    registry: Registry,
    num_workers: int = 1,
    device: str = "cpu",
    progress: bool = True,
) -> PreprocessSummary:
    """Turn every configured corpus into ``{processed_dir}/{dataset}/``.

    Writes ``train.json``, ``test.json`` (and ``valid.json`` when the corpus has a ``valid``
    split), ``singers.json``, ``utt2spk``, ``meta_info.json``, ``features.json``,
    ``mels/{Uid}.npy`` (n_mels, T) and ``audios/{Uid}.npy`` (L,) float32 arrays, and
    ``report.json``/``report.txt`` listing every utterance left out and why. Unreadable,
    empty or corrupt audio is skipped and reported; the rest goes on.

    Args:
        data: the corpora, the output folder, the feature settings and the duration filter.
        registry: the registered corpus loaders (see
            :func:`vocfw.core.registry.build_registry`).
        num_workers: worker processes for feature extraction (1: this process).
        device: where mel spectrograms are computed (``auto``, ``cpu``, ``cuda``,
            ``cuda:1``, ...).
        progress: show progress bars and print the summary table at the end.

    Returns:
        Per dataset and split: utterances, hours and items skipped, and the report paths.

    Raises:
        vocfw.core.corpus.CorpusLayoutError: a corpus folder is not laid out as documented.
        FeaturesMismatchError: a dataset folder already holds features made with other
            settings.
        vocfw.core.data.config.CorpusOverlapError: a dataset's output folder would lie in a
            corpus folder, or hold one.
        vocfw.core.registry.UnknownKeyError: a dataset name matches no registered corpus.
        vocfw.core.errors.SpecError: a corpus spec names an unregistered class or an option
            its class does not take.
        vocfw.core.corpus.UtteranceError: a corpus loader yielded the same uid twice, or a uid
            that is not a safe file name.
        vocfw.core.settings.SettingError: ``device`` is not available here.
    """
    device = str(resolve_device(device))
    data.check_outputs_outside_corpora()
    summary = PreprocessSummary()
    with _runner(num_workers, progress, device, data.features) as runner:
        for name, source in data.datasets.items():
            summary.datasets[name] = _process_dataset(name, source, data, registry, runner)
    if progress:
        print(summary.table())
    return summary
