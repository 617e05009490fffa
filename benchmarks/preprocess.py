"""Preprocessing throughput: seconds of audio made into features per wall-clock second.

Builds an LJSpeech-layout corpus of synthetic 22.05 kHz clips, then times, each in a fresh
process and with a fresh output folder:

- vocfw ``preprocess`` (duration measurement, 22.05 -> 24 kHz resampling, recipe log-mel,
  ``audios/`` and ``mels/`` arrays, metadata) with 1 and 2 workers;
- the peer, lmnt-com/diffwave 0.1.7 ``diffwave.preprocess`` (native 22.05 kHz, its 80-band
  mel only, ``.spec.npy`` beside each wav) with a pool of 1 and 2 workers. Its loader
  ``torchaudio.load_wav`` no longer exists in current torchaudio, so the same 16-bit samples
  are handed to it through soundfile; everything else is its own code.

Peak memory is ``resource.getrusage`` max RSS of the timed process plus that of its largest
child. Results go to ``benchmarks/results/preprocess.{json,md}``.

Usage: ``python benchmarks/preprocess.py [--minutes 20] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from report import describe, save_results

from vocfw.core.testing.fixture import tone, write_audio

SAMPLE_RATE = 22050


def build_corpus(root: Path, seconds: float, seed: int = 0) -> float:
    """Write ``wavs/LJ001-NNNN.wav`` clips of 1.5-8 s until ``seconds`` are reached."""
    rng = np.random.default_rng(seed)
    total, i = 0.0, 0
    while total < seconds:
        length = float(min(rng.uniform(1.5, 8.0), seconds - total + 0.5))
        i += 1
        wave = tone(length, SAMPLE_RATE, freq=float(rng.uniform(100, 300)), seed=i)
        write_audio(root / "wavs" / f"LJ001-{i:04d}.wav", wave, SAMPLE_RATE)
        total += wave.size / SAMPLE_RATE
    return total


def _peer_load_wav(path: str) -> tuple[object, int]:
    """What ``torchaudio.load_wav`` returned: integer-valued float samples (C, L) and the rate."""
    import soundfile as sf
    import torch

    data, rate = sf.read(path, dtype="int16", always_2d=True)
    return torch.from_numpy(data.T.astype(np.float32)), rate


def _ours(corpus: Path, out: Path, workers: int) -> Callable[[], None]:
    import librosa.core.audio  # noqa: F401  (librosa's lazy resampler import, paid once)

    from vocfw.core.data.config import DataConfig
    from vocfw.core.data.preprocess import preprocess
    from vocfw.core.registry import build_registry

    data = DataConfig(datasets={"ljspeech": str(corpus)}, processed_dir=str(out))
    registry = build_registry()
    return lambda: preprocess(data, registry, num_workers=workers, progress=False)


def _peer(corpus: Path, out: Path, workers: int) -> Callable[[], None]:
    from concurrent.futures import ProcessPoolExecutor

    import torchaudio
    from diffwave import preprocess as peer

    torchaudio.load_wav = _peer_load_wav
    shutil.copytree(corpus / "wavs", out)  # it writes beside the wavs; the copy is not timed
    files = sorted(str(p) for p in out.glob("*.wav"))

    def run() -> None:
        with ProcessPoolExecutor(max_workers=workers) as executor:
            list(executor.map(peer.transform, files))

    return run


def measure_one(which: str, corpus: Path, out: Path, workers: int,
                threads: int | None = None) -> dict[str, float]:
    """Run one configuration in this process; return wall seconds and peak RSS in MiB.

    Imports and set-up are not timed; worker start-up is. ``threads`` limits this process's
    torch threads (workers always use one).
    """
    if threads:
        import torch

        torch.set_num_threads(threads)
    run = (_ours if which == "ours" else _peer)(corpus, out, workers)
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "rss_self_mib": own, "rss_child_mib": child}


def _subprocess(which: str, corpus: Path, workers: int, scratch: Path,
                threads: int | None = None) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(dir=scratch)) / "out"
    cmd = [sys.executable, __file__, "--one", which, "--workers", str(workers),
           "--corpus", str(corpus), "--out", str(out)]
    if threads:
        cmd += ["--threads", str(threads)]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    shutil.rmtree(out.parent)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="audio in the corpus")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration")
    parser.add_argument("--one", choices=["ours", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.corpus, args.out, args.workers,
                                     args.threads)))
        return

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "LJSpeech-1.1"
        audio_seconds = build_corpus(corpus, args.minutes * 60)
        clips = len(list((corpus / "wavs").glob("*.wav")))
        for workers in (1, 2):
            runs: dict[str, list[dict[str, float]]] = {"ours": [], "peer": []}
            _subprocess("ours", corpus, workers, Path(scratch))  # warm-up (file cache)
            for _ in range(args.repeats):
                for which in ("ours", "peer"):
                    runs[which].append(_subprocess(which, corpus, workers, Path(scratch)))
            row: dict[str, float | int] = {"workers": workers}
            for which, results in runs.items():
                seconds = statistics.median(r["seconds"] for r in results)
                row[f"{which}_seconds"] = round(seconds, 3)
                row[f"{which}_audio_s_per_s"] = round(audio_seconds / seconds, 2)
                peak = max(r["rss_self_mib"] + r["rss_child_mib"] for r in results)
                row[f"{which}_peak_rss_mib"] = round(peak, 1)
            row["ratio_ours_over_peer"] = round(
                row["ours_audio_s_per_s"] / row["peer_audio_s_per_s"], 3
            )
            rows.append(row)
        one_thread = statistics.median(
            _subprocess("ours", corpus, 1, Path(scratch), threads=1)["seconds"]
            for _ in range(args.repeats))
    speedup = {
        which: round(rows[0][f"{which}_seconds"] / rows[1][f"{which}_seconds"], 3)
        for which in ("ours", "peer")
    }

    result = {
        "benchmark": "preprocess",
        "machine": describe(),
        "python": platform.python_version(),
        "torch_threads_main": "torch default; 1 per worker process",
        "audio_seconds": round(audio_seconds, 2),
        "clips": clips,
        "source_rate": SAMPLE_RATE,
        "repeats": args.repeats,
        "ours": "vocfw preprocess: resample to 24 kHz, 100-band log-mel, audios/ + mels/ + json",
        "peer": "diffwave 0.1.7 preprocess.transform: 80-band mel at 22.05 kHz, .spec.npy only",
        "rows": rows,
        "speedup_2_workers_over_1": speedup,
        "ours_1_worker_1_thread_seconds": round(one_thread, 3),
        "ours_speedup_2_workers_over_1_worker_1_thread": round(
            one_thread / rows[1]["ours_seconds"], 3),
    }
    header = ("| workers | vocfw s | vocfw audio s/s | vocfw peak MiB | diffwave s "
              "| diffwave audio s/s | diffwave peak MiB | ratio (vocfw / diffwave) |")
    lines = [
        f"Preprocessing {audio_seconds:.1f} s of 22.05 kHz audio ({clips} clips), median of "
        f"{args.repeats} runs, on {result['machine']}.",
        "",
        header,
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['ours_seconds']} | {r['ours_audio_s_per_s']} "
            f"| {r['ours_peak_rss_mib']} | {r['peer_seconds']} | {r['peer_audio_s_per_s']} "
            f"| {r['peer_peak_rss_mib']} | {r['ratio_ours_over_peer']} |"
        )
    lines += [
        "",
        f"Two workers over one: vocfw {speedup['ours']}x, diffwave {speedup['peer']}x.",
        "",
        f"vocfw with one worker held to one torch thread: {one_thread:.3f} s; two workers "
        f"over it: {result['ours_speedup_2_workers_over_1_worker_1_thread']}x (a single "
        "worker otherwise spreads its STFT and mel products over every core).",
        "",
        "Wall time includes starting the worker processes (both fork the timed process; "
        "vocfw builds its mel extractor before forking, so workers inherit it). Peak MiB: max "
        "RSS of the timed process plus that of its largest child (an upper bound: a forked "
        "child's RSS counts the pages it shares with its parent); importing torch and librosa "
        "alone takes most of it.",
    ]
    save_results("preprocess", result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
