"""Scoring one pair of waveforms with every metric, in windows of at most ``WINDOW_SECONDS``.

A pair up to ``WINDOW_SECONDS`` (30 s) long is scored whole. A longer one is cut into the fewest
equal windows no longer than that (70 s: two of 35 s would be too long, so three of 23.3 s),
every metric is computed on each window, and the pair's value of a metric is the mean of its
window values weighted by window length; a window where a metric fails is left out of that
mean, with a note naming the window. So the work memory of every metric is that of a 30 s pair
(PESQ, STOI, pYIN, the STFTs and DNSMOS all hold whole-signal arrays; the ``pesq`` library
crashes beyond about two minutes), whatever the pair's length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache

import numpy as np

from vocfw.core.errors import VocfwError
from vocfw.core.evaluate import mcd, metrics, mos

METRICS = ("pesq", "stoi", "estoi", "mstft", "mcd", "f0_rmse", "vuv_f1", "mel_l1")
WINDOW_SECONDS = 30.0


class EvaluateError(VocfwError, ValueError):
    """``vocfw evaluate`` cannot run as asked (folders, pairs or metrics)."""


def metric_names() -> tuple[str, ...]:
    """The metrics computed here: :data:`METRICS`, then DNSMOS's when the mos extra is
    installed."""
    return METRICS + mos.METRICS if mos.available() else METRICS


def chosen_metrics(names: Sequence[str] | None) -> tuple[str, ...]:
    """The metrics to compute, in :func:`metric_names` order (``None``: all of them).

    Raises:
        EvaluateError: an empty choice or a name that is not a metric here.
    """
    known = metric_names()
    if names is None:
        return known
    expected = f"expected some of {', '.join(known)}"
    if not names:
        raise EvaluateError(f"evaluate --metrics: empty; {expected}")
    for name in names:
        if name not in known:
            hint = f" ({mos.INSTALL_HINT})" if name in mos.METRICS else ""
            raise EvaluateError(f"evaluate --metrics: {name!r} is not a metric; {expected}{hint}")
    return tuple(name for name in known if name in names)


def windows(length: int, sample_rate: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of the windows a pair of ``length`` samples is scored in: the fewest
    equal ones no longer than ``WINDOW_SECONDS`` (one for a pair up to that long)."""
    count = max(1, math.ceil(length / (WINDOW_SECONDS * sample_rate)))
    edges = [round(index * length / count) for index in range(count + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def score_pair(
    reference: np.ndarray, generated: np.ndarray, sample_rate: int,
    names: Sequence[str] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """The chosen metrics for one pair of equally long waveforms, window by window.

    Args:
        reference: (L,) reference waveform.
        generated: (L,) generated waveform.
        sample_rate: rate of both.
        names: the metrics to compute (default :func:`metric_names`).

    Returns:
        metric -> value (the length-weighted mean over windows; NaN where it failed in every
        window) and one note per failure, naming the window when there are several.
    """
    names = metric_names() if names is None else tuple(names)
    spans = windows(reference.size, sample_rate)
    totals, weights = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0)
    notes = []
    for start, stop in spans:
        scores, failures = score_window(reference[start:stop], generated[start:stop],
                                        sample_rate, names)
        where = f" ({start / sample_rate:.1f}-{stop / sample_rate:.1f} s)" if len(spans) > 1 else ""
        notes += [f"{name}{where}: {reason}" for name, reason in failures]
        for name, value in scores.items():
            if not math.isnan(value):
                totals[name] += value * (stop - start)
                weights[name] += stop - start
    means = {name: totals[name] / weights[name] if weights[name] else math.nan for name in names}
    return means, notes


def score_window(
    reference: np.ndarray, generated: np.ndarray, sample_rate: int, names: Sequence[str]
) -> tuple[dict[str, float], list[tuple[str, str]]]:
    """The metrics ``names`` of one window (the whole pair when it is short).

    Returns:
        metric -> value (NaN where it failed) and (metric, reason) for each failure.
    """
    scores: dict[str, float] = {}
    failures: list[tuple[str, str]] = []

    def record(name: str, compute: Callable[[], float]) -> None:
        if name not in names:
            return
        try:
            scores[name] = compute()
        except Exception as exc:  # third-party metrics raise many error types
            scores[name] = math.nan
            failures.append((name, str(exc)))

    @cache
    def tracks() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """(F0, voicing) of the reference and of the generated waveform, computed once."""
        return tuple(metrics.pitch_track(audio, sample_rate) for audio in (reference, generated))

    dnsmos = cache(lambda: mos.dnsmos(generated, sample_rate))
    record("pesq", lambda: metrics.pesq_wb(reference, generated, sample_rate))
    record("stoi", lambda: metrics.stoi(reference, generated, sample_rate))
    record("estoi", lambda: metrics.estoi(reference, generated, sample_rate))
    record("mstft", lambda: metrics.mstft_distance(reference, generated))
    record("mcd", lambda: mcd.mel_cepstral_distortion(reference, generated, sample_rate))
    record("f0_rmse", lambda: metrics.f0_rmse(*tracks()))
    record("vuv_f1", lambda: metrics.vuv_f1(tracks()[0][1], tracks()[1][1]))
    record("mel_l1", lambda: metrics.log_mel_l1(reference, generated, sample_rate))
    for name in mos.METRICS:
        record(name, lambda name=name: dnsmos()[name])
    return scores, failures
