"""``vocfw demo``: the whole job on a generated corpus, through the real command line.

A speech-like corpus is written in the LJSpeech layout, then preprocessed, a FrameWave is
trained by flow matching on the CPU, the result is vocoded in all three inference modes and
evaluated.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from vocfw.core.atomic import write_text
from vocfw.core.data.layout import audio_path, mel_path
from vocfw.core.demo_audio import speechlike, write_audio

DEMO_RATE = 22050


def write_demo_corpus(root: Path, clips: int, seed: int = 0) -> Path:
    """Write ``clips`` speech-like clips of 1.5-3 s in the LJSpeech-1.1 layout under ``root``.

    Returns:
        The corpus folder (``root/LJSpeech-1.1``).
    """
    corpus = root / "LJSpeech-1.1"
    lines = []
    for i in range(clips):
        uid = f"LJ001-{i + 1:04d}"
        seconds = 1.5 + 1.5 * ((i * 7919) % 100) / 100
        write_audio(corpus / "wavs" / f"{uid}.wav", speechlike(seconds, DEMO_RATE, seed + i),
                    DEMO_RATE)
        lines.append(f"{uid}|Demo sentence {i + 1}.|Demo sentence {i + 1}.")
    write_text(corpus / "metadata.csv", "\n".join(lines) + "\n")
    return corpus


def demo_config(output: Path, corpus: Path, max_steps: int, batch_size: int) -> dict:
    """The experiment config the demo trains with: recipe features, the default FrameWave
    (relative phase) trained by flow matching from the mel-energy prior on 64-frame crops and
    sampled in 2 Euler steps (the best combination at this budget in
    ``benchmarks/quality.py``, the lowest log-mel L1 of its step counts there, and the
    relative phase's and energy prior's lower L1 in the demo itself: see FrameWave's ``phase``
    and FlowMatching's ``noise_prior``)."""
    return {
        "data": {"datasets": {"ljspeech": str(corpus)}, "processed_dir": str(output / "data")},
        "model": {"class_path": "FrameWave", "init_args": {}},
        "sampler": {"class_path": "FlowMatching",
                    "init_args": {"steps": 2, "noise_prior": "energy"}},
        "trainer": {"log_dir": str(output / "ckpts"), "batch_size": batch_size, "crop_frames": 64,
                    "max_steps": max_steps, "save_every_steps": max(1, max_steps // 2),
                    "learning_rate": 1e-3, "log_every_steps": 10},
    }


def demo(
    command: Callable[[list[str]], int],
    output: Path = Path("demo"),
    clips: int = 48,
    max_steps: int = 2000,
    batch_size: int = 8,
    num_workers: int = 1,
    examples: int = 6,
) -> int:
    """Run preprocess, fit, predict (dataset, feature and audio modes) and evaluate on a
    generated corpus, and print where everything is.

    Args:
        command: runs one ``vocfw`` command line and returns its exit status.
        output: folder for the corpus, features, run, predictions and scores.
        clips: clips in the generated corpus.
        max_steps: training steps (about a seventh of a second each on two CPU cores).
        batch_size: training batch size.
        num_workers: preprocessing processes.
        examples: clips vocoded in the feature and audio modes.

    Returns:
        0 when every stage succeeded.
    """
    output = output.absolute()
    timings: list[tuple[str, float]] = []

    def stage(name: str, argv: list[str]) -> None:
        print(f"\n=== vocfw {' '.join(argv)}", flush=True)
        started = time.perf_counter()
        code = command(argv)
        timings.append((name, time.perf_counter() - started))
        if code:
            raise SystemExit(f"demo: stage {name!r} failed with exit status {code}")

    corpus = write_demo_corpus(output / "corpus", clips)
    config = output / "exp.yaml"
    write_text(config, yaml.safe_dump(demo_config(output, corpus, max_steps, batch_size)))
    run = output / "ckpts" / "demo"
    processed = output / "data" / "ljspeech"
    stage("preprocess", ["preprocess", "--config", str(config), "--num_workers", str(num_workers)])
    stage("fit", ["fit", "--config", str(config), "--name", "demo", "--overwrite"])  # its own run
    features, audio = _example_inputs(output, processed, corpus, examples)
    modes: list[tuple[str, list[str]]] = [
        ("dataset", ["--datasets", "[ljspeech]", "--processed_dir", str(output / "data")]),
        ("feature", ["--feature_dir", str(features)]),
        ("audio", ["--audio_dir", str(audio)]),
    ]
    for mode, extra in modes:
        result = output / "result" / mode
        stage(f"predict {mode}", ["predict", "--run", str(run), "--mode", mode,
                                  "--output", str(result), *extra])
        stage(f"evaluate {mode}", ["evaluate", "--reference", str(result / "gt"),
                                   "--generated", str(result / "pred"),
                                   "--output", str(result / "eval")])
    _print_locations(output, run, timings)
    return 0


def _example_inputs(output: Path, processed: Path, corpus: Path, count: int) -> tuple[Path, Path]:
    """Folders as a user brings them to ``predict``: ``my_features/{mels,audios}/*.npy`` and
    ``my_audio/*.wav``, each with the first ``count`` clips of the corpus."""
    uids = sorted(p.stem for p in (corpus / "wavs").glob("*.wav"))[:count]
    features, audio = output / "my_features", output / "my_audio"
    for uid in uids:
        for path in (mel_path, audio_path):
            path(features, uid).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path(processed, uid), path(features, uid))
        audio.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / "wavs" / f"{uid}.wav", audio / f"{uid}.wav")
    return features, audio


def _print_locations(output: Path, run: Path, timings: list[tuple[str, float]]) -> None:
    print("\n=== demo finished")
    for name, seconds in timings:
        print(f"  {name:<18}{seconds:8.1f} s")
    print(f"  corpus            {output / 'corpus'}")
    print(f"  config            {output / 'exp.yaml'}")
    print(f"  features          {output / 'data'}")
    print(f"  run (tensorboard) {run}   (tensorboard --logdir {run / 'log'})")
    print(f"  vocoded audio     {output / 'result'}/{{dataset,feature,audio}}/pred")
    print(f"  scores            {output / 'result'}/{{dataset,feature,audio}}/eval/summary.json")
