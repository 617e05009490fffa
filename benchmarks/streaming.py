"""Streaming vocoding: first-audio latency and real-time factor of ``LoadedVocoder.stream``.

Two models, each with random weights saved as a run and loaded through ``vocfw.core.load``
(speed does not depend on training): vocfw's default DiffWave (24 kHz, 100 mels, 30 x 64)
with its default sampler (DDPM, the full 50-step schedule unless ``--diffwave-schedule``), and
the default FrameWave (256 channels, 6 layers) with FlowMatching in 4 Euler steps. For each,
``--seconds`` of mel are pushed in blocks of ``--block`` frames at the pace they would arrive
live (a block when the audio time of its last frame has passed since the start, or, when the
stream is still computing, as soon as the previous push returns). Reported per model:

- algorithmic latency: the stream's ``latency_seconds``, its chunk (the model's receptive
  field, the chunk overlap, plus one stride): no audio can exist before that much mel;
- compute to first audio: from the push of the block that completes the first chunk to its
  return with the first audio;
- first audio: from the start to the first audio returned (both of the above, plus waiting);
- RTF: seconds spent in ``push`` and ``finish`` per second of audio (lower is faster; below
  1 the stream keeps up with live input), and the lag: how long after the last block's
  arrival ``finish`` returned.

The chunk defaults to three overlaps (``--chunk-seconds`` to change), so every frame is
sampled 1.5 times. One untimed warm-up stream of one chunk runs first for each model.

    python benchmarks/streaming.py                                   # 10 s, 10-frame blocks
    python benchmarks/streaming.py --tiny --seconds 1 --no-pace --output /tmp/streaming

``--tiny`` shrinks both models and uses DDPM's fast schedule, to check the script runs.
Results go to ``benchmarks/results/streaming.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import RESULTS, describe

from vocfw.core.atomic import write_json, write_text
from vocfw.core.audio.mel import MelConfig
from vocfw.core.infer.api import LoadedVocoder, load
from vocfw.core.infer.precision import native_bf16
from vocfw.core.infer.stream import MelStream
from vocfw.core.infer.vocode import default_overlap_frames
from vocfw.core.testing.processed import write_tiny_run

FEATURES = MelConfig()  # 24 kHz, hop 256, 100 mels: the models' defaults


def specs(tiny: bool, diffwave_schedule: str) -> dict[str, dict]:
    """Component specs of the two models timed (default sizes, or tiny ones for a check)."""
    diffwave = {"residual_layers": 2, "residual_channels": 8} if tiny else {}
    framewave = {"channels": 16, "hidden": 32, "layers": 1} if tiny else {}
    return {
        "DiffWave": {
            "features": FEATURES.to_dict(),
            "model": {"class_path": "vocfw.plugins.models.diffwave.DiffWave",
                      "init_args": diffwave},
            "sampler": {"class_path": "vocfw.plugins.samplers.ddpm.DDPM",
                        "init_args": {"inference_schedule": "fast" if tiny
                                      else diffwave_schedule}},
        },
        "FrameWave": {
            "features": FEATURES.to_dict(),
            "model": {"class_path": "vocfw.plugins.models.framewave.FrameWave",
                      "init_args": framewave},
            "sampler": {"class_path": "vocfw.plugins.samplers.flow_matching.FlowMatching",
                        "init_args": {"steps": 4, "solver": "euler"}},
        },
    }


def feed(stream: MelStream, mel: np.ndarray, block: int, pace: bool) -> dict:
    """Push ``mel`` into ``stream`` in blocks of ``block`` frames (at the live pace if
    ``pace``), then finish; the timings of :func:`streamed`'s report."""
    seconds_per_frame = stream.latency_seconds / stream.latency_frames
    compute, first, first_compute, samples = 0.0, None, None, 0
    start = time.perf_counter()
    for begin in range(0, mel.shape[1], block):
        stop = min(begin + block, mel.shape[1])
        wait = start + stop * seconds_per_frame - time.perf_counter()
        if pace and wait > 0:
            time.sleep(wait)
        pushed = time.perf_counter()
        audio = stream.push(mel[:, begin:stop])
        returned = time.perf_counter()
        compute += returned - pushed
        samples += audio.size
        if first is None and audio.size:
            first, first_compute = returned - start, returned - pushed
    arrived = start + mel.shape[1] * seconds_per_frame if pace else time.perf_counter()
    finished = time.perf_counter()
    samples += stream.finish().size
    done = time.perf_counter()
    compute += done - finished
    audio_seconds = samples * seconds_per_frame / stream.hop_length
    if first is None:  # the input was shorter than a chunk: all audio came from finish
        first, first_compute = done - start, done - finished
    return {"first_audio_s": first, "compute_to_first_audio_s": first_compute,
            "rtf": compute / audio_seconds, "lag_s": done - arrived,
            "audio_seconds": audio_seconds}


def streamed(name: str, voc: LoadedVocoder, args: argparse.Namespace) -> dict:
    """Time ``args.runs`` streams of ``args.seconds`` of random mel through ``voc``; medians."""
    overlap = default_overlap_frames(voc.components.model)
    chunk_seconds = args.chunk_seconds or 3 * overlap * voc.hop_length / voc.sample_rate
    frames = round(args.seconds * voc.sample_rate / voc.hop_length)
    mel = np.random.default_rng(3).normal(-5.0, 2.0, (voc.n_mels, frames)).astype(np.float32)
    warm = voc.stream(chunk_seconds=chunk_seconds)
    warm.push(mel[:, : warm.chunk_frames])  # untimed warm-up: one chunk
    runs = [feed(voc.stream(seed=run, chunk_seconds=chunk_seconds), mel, args.block, args.pace)
            for run in range(args.runs)]
    stream = voc.stream(chunk_seconds=chunk_seconds)
    result = {"model": name, "sampler": type(voc.components.sampler).__name__,
              "steps": voc.steps, "precision": voc.precision,
              "chunk_frames": stream.chunk_frames, "overlap_frames": stream.overlap_frames,
              "latency_s": stream.latency_seconds, "block_frames": args.block,
              "seconds": args.seconds, "paced": args.pace, "runs": runs,
              **{key: statistics.median(run[key] for run in runs) for key in runs[0]}}
    print(f"{name} ({result['sampler']}, {result['steps']} steps, {voc.precision}): "
          f"algorithmic latency {1e3 * result['latency_s']:.0f} ms, compute to first audio "
          f"{1e3 * result['compute_to_first_audio_s']:.0f} ms, first audio "
          f"{1e3 * result['first_audio_s']:.0f} ms, RTF {result['rtf']:.3f}, lag "
          f"{result['lag_s']:.2f} s", flush=True)
    return result


def markdown(info: dict, rows: list[dict]) -> str:
    """The results as a Markdown table with a line naming the machine."""
    lines = [f"Machine: {info['machine']}; {info['torch_threads']} torch threads, torch "
             f"{info['torch']}, device {info['device']}; load average "
             f"{info['load_average'][0]:.1f} before. {rows[0]['seconds']:g} s of random mel "
             f"pushed in {rows[0]['block_frames']}-frame blocks"
             f"{' at the live pace' if rows[0]['paced'] else ' as fast as possible'}, random "
             f"weights; medians of {len(rows[0]['runs'])} run(s) after a warm-up.", "",
             "| model | sampler | steps | precision | chunk (overlap) frames | algorithmic "
             "latency | compute to first audio | first audio | RTF | lag |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['sampler']} | {r['steps']} | {r['precision']} | "
              f"{r['chunk_frames']} ({r['overlap_frames']}) | {1e3 * r['latency_s']:.0f} ms | "
              f"{1e3 * r['compute_to_first_audio_s']:.0f} ms | {1e3 * r['first_audio_s']:.0f} ms"
              f" | {r['rtf']:.3f} | {r['lag_s']:.2f} s |" for r in rows]
    return "\n".join(lines) + "\n"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio seconds of mel fed")
    parser.add_argument("--block", type=int, default=10, help="frames per push")
    parser.add_argument("--chunk-seconds", type=float, default=None,
                        help="the streams' chunk (default: three of each model's overlaps)")
    parser.add_argument("--no-pace", dest="pace", action="store_false",
                        help="push as fast as possible instead of at the live pace")
    parser.add_argument("--runs", type=int, default=1, help="timed streams per model")
    parser.add_argument("--diffwave-schedule", default="full", choices=("full", "fast", "fast12"),
                        help="DDPM's schedule for DiffWave (default: its own default, full)")
    parser.add_argument("--tiny", action="store_true", help="tiny models, to check it runs")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def main() -> None:
    args = arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    info = {"machine": describe(), "native_bf16": native_bf16(torch.device(args.device)),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "device": args.device, "load_average": os.getloadavg()}
    print(info, flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in specs(args.tiny, args.diffwave_schedule).items():
            run = write_tiny_run(Path(tmp) / name, spec)
            voc = load(run, device=args.device, precision=args.precision, chunk_seconds=None)
            rows.append(streamed(name, voc, args))
    info["load_average_after"] = os.getloadavg()
    write_json(args.output / "streaming.json", {"machine": info, "models": rows})
    write_text(args.output / "streaming.md", markdown(info, rows))
    print(markdown(info, rows))


if __name__ == "__main__":
    main()
