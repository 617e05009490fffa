"""``evaluate`` in bounded memory: MCD's banded DTW against the full DTW, the vectorised
mel-cepstrum against pysptk's, long pairs scored in windows, and a 10-minute pair measured."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import peak_memory
import pytest

from vocfw.core.demo_audio import speechlike
from vocfw.core.errors import VocfwError
from vocfw.core.evaluate import mcd, metrics, mos, pair, score
from vocfw.core.testing.fixture import tone, write_audio

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pysptk

RATE = 16000
QUIET = {**os.environ, "PYTHONWARNINGS": "ignore::RuntimeWarning:runpy"}
LONG_PAIR_EXTRA_MIB = 400  # a 10-minute pair may take this much more than a 1-second pair


def shifted_pair(
    seconds: float, shift: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Speech-like audio and a shifted, noisier copy of it."""
    reference = speechlike(seconds, RATE, seed=seed)
    generated = np.concatenate([np.zeros(shift, np.float32), reference])[: reference.size]
    rng = np.random.default_rng(seed)
    return reference, generated + noise * rng.standard_normal(reference.size).astype(np.float32)


@pytest.mark.parametrize(("seconds", "shift", "noise", "trim"), [
    (3.0, 0, 0.01, 0), (3.0, 400, 0.05, 0), (4.0, 1600, 0.2, 0), (2.5, 80, 0.02, 3000),
])
def test_the_banded_dtw_matches_the_full_dtw_on_short_files(
    seconds: float, shift: int, noise: float, trim: int
) -> None:
    reference, generated = shifted_pair(seconds, shift, noise, seed=3)
    generated = generated[: generated.size - trim]  # unequal lengths too
    ref, gen = mcd.mel_cepstrum(reference, RATE), mcd.mel_cepstrum(generated, RATE)
    assert len(ref) > 2 * mcd.BAND_FRAMES  # the band leaves out a part of the full matrix
    full = mcd.dtw_path(ref, gen, band=None)
    for band in (mcd.BAND_FRAMES, 50):  # the default band, and a narrower one
        rows, cols = mcd.dtw_path(ref, gen, band=band)
        np.testing.assert_array_equal(rows, full[0])
        np.testing.assert_array_equal(cols, full[1])
    assert mcd.mel_cepstral_distortion(reference, generated, RATE) == mcd.mel_cepstral_distortion(
        reference, generated, RATE, band=None)


@pytest.mark.parametrize(("n", "m", "band"), [(50, 10, 2), (10, 50, 1), (1, 7, 0), (7, 1, 3)])
def test_a_narrow_band_still_gives_a_whole_monotonic_path(n: int, m: int, band: int) -> None:
    rng = np.random.default_rng(n * m)
    rows, cols = mcd.dtw_path(rng.standard_normal((n, 3)), rng.standard_normal((m, 3)), band)
    assert (rows[0], cols[0]) == (0, 0) and (rows[-1], cols[-1]) == (n - 1, m - 1)
    steps = set(zip(np.diff(rows).tolist(), np.diff(cols).tolist(), strict=True))
    assert steps <= {(1, 0), (0, 1), (1, 1)}


def test_the_mel_cepstrum_is_pysptk_sp2mc_of_each_frame() -> None:
    audio = speechlike(0.6, RATE, seed=5)
    frame, hop, n_fft = mcd.frame_settings(RATE)
    padded = np.pad(audio.astype(np.float64), frame // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]
    spectrum = np.fft.rfft(frames * pysptk.blackman(frame), n_fft)
    power = np.maximum(np.abs(spectrum) ** 2, mcd.POWER_FLOOR)
    expected = pysptk.sp2mc(power, mcd.ORDER, pysptk.util.mcepalpha(RATE))[:, 1:]
    np.testing.assert_allclose(mcd.mel_cepstrum(audio, RATE), expected, rtol=0, atol=1e-9)


def stub_metrics(monkeypatch: pytest.MonkeyPatch, lengths: list[int]) -> None:
    """Replace every metric with one that records its input length and returns the window's
    first sample index / 1000 (the window's mean stands for the audio's position)."""
    def value(audio: np.ndarray, *_: object) -> float:
        lengths.append(audio.size)
        return float(audio[0])

    for name in ("pesq_wb", "stoi", "estoi", "log_mel_l1"):
        monkeypatch.setattr(metrics, name, value)
    monkeypatch.setattr(metrics, "mstft_distance", value)
    monkeypatch.setattr(mcd, "mel_cepstral_distortion", value)
    monkeypatch.setattr(metrics, "pitch_track", lambda audio, rate: (
        lengths.append(audio.size) or np.full(3, float(audio[0])), np.ones(3, bool)))
    monkeypatch.setattr(mos, "dnsmos", lambda audio, rate: dict.fromkeys(mos.METRICS,
                                                                          value(audio)))


def test_a_long_pair_is_scored_in_windows_and_averaged_by_duration(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    lengths: list[int] = []
    stub_metrics(monkeypatch, lengths)
    total = int(70.5 * RATE)  # three windows of 23.5 s
    audio = np.repeat(np.arange(3, dtype=np.float32), -(-total // 3))[:total]
    scores, notes = pair.score_pair(audio, audio + 1, RATE)
    window = int(pair.WINDOW_SECONDS * RATE)
    assert lengths and max(lengths) <= window and set(lengths) <= {total // 3, total // 3 + 1}
    assert scores["pesq"] == pytest.approx(1.0, abs=1e-4)  # windows at 0, 1, 2: mean 1
    assert scores["f0_rmse"] == pytest.approx(1.0) and not notes
    short = int(pair.WINDOW_SECONDS * RATE)
    lengths.clear()
    pair.score_pair(audio[:short], audio[:short], RATE)
    assert set(lengths) == {short}  # up to one window long: scored whole


def test_a_window_that_fails_is_noted_and_the_others_count(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    stub_metrics(monkeypatch, [])

    def silent_fails(reference: np.ndarray, generated: np.ndarray, rate: int) -> float:
        if not reference.any():
            raise ValueError("a signal is digital silence")
        return 2.0

    monkeypatch.setattr(metrics, "pesq_wb", silent_fails)
    audio = np.ones(int(61 * RATE), np.float32)
    audio[: audio.size // 3] = 0.0
    scores, notes = pair.score_pair(audio, audio, RATE)
    assert scores["pesq"] == 2.0
    assert notes == ["pesq (0.0-20.3 s): a signal is digital silence"]


def test_metrics_can_be_chosen_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    for side in ("gt", "pred"):
        write_audio(tmp_path / side / "a.wav", tone(1.0, RATE, seed=1), RATE)
    summary = score.evaluate(tmp_path / "gt", tmp_path / "pred", metrics=["mcd", "mel_l1"])
    assert list(summary.means) == ["mcd", "mel_l1"] and summary.means["mcd"] == 0.0
    header = (summary.output / "metrics.csv").read_text().splitlines()[0]
    assert header == "file,sample_rate,seconds,mcd,mel_l1,notes"
    with pytest.raises(VocfwError, match=r"--metrics: 'mos' is not a metric; expected some of "
                                         r"pesq, stoi, .*mel_l1"):
        score.evaluate(tmp_path / "gt", tmp_path / "pred", metrics=["mos"])
    with pytest.raises(ValueError, match="--metrics: empty"):
        score.evaluate(tmp_path / "gt", tmp_path / "pred", metrics=[])


def evaluate_measured(folder: Path, seconds: float) -> float:
    """Peak MiB of ``vocfw evaluate`` (MCD and log-mel L1) on a pair of ``seconds``."""
    for side, seed in (("gt", 1), ("pred", 2)):
        write_audio(folder / side / "a.wav", tone(seconds, RATE, seed=seed), RATE)
    result = peak_memory.vocfw_measured(
        "evaluate", "--reference", str(folder / "gt"), "--generated", str(folder / "pred"),
        "--metrics", "[mcd,mel_l1]", ceiling_mib=4096, timeout=600, env=QUIET)
    assert not result.killed, f"passed 4 GiB: {result.stderr[-2000:]}"
    assert result.returncode == 0, result.stderr[-2000:]
    means = json.loads((folder / "eval" / "summary.json").read_text())["means"]
    assert all(value is not None and value > 0 for value in means.values()), means
    return result.peak_mib


@pytest.mark.slow
def test_a_ten_minute_pair_is_scored_in_bounded_memory(tmp_path: Path) -> None:
    short = evaluate_measured(tmp_path / "short", 1.0)
    long = evaluate_measured(tmp_path / "long", 600.0)
    assert long - short < LONG_PAIR_EXTRA_MIB, f"1 s: {short:.0f} MiB, 600 s: {long:.0f} MiB"
