"""Training throughput: audio samples per second of wall time, vocfw vs lmnt-com/diffwave.

Both train DiffWave BASE (30 residual layers, 64 channels, 80 mel bands) on batches of 8
crops of 8,192 samples (32 frames x hop 256), in fp32 and, where the CPU runs bfloat16
natively, with bf16 autocast (emulated bf16 is many times slower and is left out):

- vocfw: the real ``Trainer.fit`` (data loading from ``.npy`` files, DDPM loss, AdamW,
  gradient-norm logging, accelerate), on a synthetic processed dataset. Per-step throughput is
  read back from the run's own TensorBoard scalar ``train/samples_per_second``.
- the peer: diffwave 0.1.7 (``pip install --no-deps diffwave==0.1.7``), its model and the
  train step of its ``learner.py`` (Adam, L1 noise loss, grad-norm clip at 1e9) on tensors
  already in memory; bf16 via ``torch.autocast("cpu")`` in place of its CUDA-only fp16.

Each side runs in its own Python process. vocfw's training keeps freed memory for reuse
(:func:`vocfw.core.host_memory.retain_freed_memory`); the peer is timed as shipped and, for
comparison, with the same allocator setting. The first ``--warmup`` steps of each are
discarded; the median of the next ``--steps`` is reported. Results go to
``benchmarks/results/train.{json,md}``.

Usage: ``python benchmarks/train.py [--steps 3] [--warmup 1]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import describe, peak_rss_mib, save_results
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import normalise_spec
from vocfw.core.data.config import DataConfig
from vocfw.core.host_memory import retain_freed_memory
from vocfw.core.infer.precision import native_bf16
from vocfw.core.testing.processed import tiny_diffwave_spec, write_processed_dataset
from vocfw.core.train.trainer import Trainer

BATCH, FRAMES, HOP, MELS = 8, 32, 256, 80
CROP = FRAMES * HOP


def ours(scratch: Path, precision: str, steps: int, warmup: int) -> list[float]:
    """Per-step audio samples/s of ``Trainer.fit`` (timed steps only)."""
    features = MelConfig(n_mels=MELS)
    data_dir = scratch / "data"
    if not data_dir.exists():
        write_processed_dataset(data_dir, "bench", features,
                                {"train": [0.5] * BATCH * (steps + warmup + 1), "test": [0.5]})
    spec = normalise_spec(tiny_diffwave_spec(features, layers=30, channels=64))
    data = DataConfig(datasets={"bench": "unused"}, processed_dir=str(data_dir),
                      features=features)
    trainer = Trainer(batch_size=BATCH, crop_frames=FRAMES, max_steps=warmup + steps,
                      log_every_steps=1, eval_audio=False, mixed_precision=precision,
                      device="cpu")
    run = scratch / f"run-{precision}"
    trainer.fit(run, data, spec, "", seed=1)
    events = EventAccumulator(str(run / "log"), size_guidance={"scalars": 0})
    events.Reload()
    per_step = [e.value for e in events.Scalars("train/samples_per_second")]
    return [crops * CROP for crops in per_step[warmup:]]


def peer(precision: str, steps: int, warmup: int) -> list[float]:
    """Per-step audio samples/s of diffwave 0.1.7's train step (timed steps only)."""
    from diffwave.model import DiffWave
    from diffwave.params import params

    torch.manual_seed(1)
    model = DiffWave(params)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
    noise_level = torch.tensor(np.cumprod(1 - np.array(params.noise_schedule)), dtype=torch.float32)
    audio = torch.rand(BATCH, CROP) * 2 - 1  # (B, N)
    spectrogram = torch.rand(BATCH, MELS, FRAMES)  # (B, M, T)
    rates = []
    for _ in range(warmup + steps):
        start = time.perf_counter()
        for param in model.parameters():
            param.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            t = torch.randint(0, len(params.noise_schedule), [BATCH])
            scale = noise_level[t].unsqueeze(1)  # (B, 1)
            noise = torch.randn_like(audio)
            noisy = scale**0.5 * audio + (1.0 - scale) ** 0.5 * noise
            predicted = model(noisy, spectrogram, t)  # (B, 1, N)
            loss = torch.nn.functional.l1_loss(noise, predicted.squeeze(1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1e9)
        optimizer.step()
        rates.append(BATCH * CROP / (time.perf_counter() - start))
    return rates[warmup:]


SIDES = {
    "ours": "vocfw (its training keeps freed memory for reuse)",
    "peer": "diffwave as shipped",
    "peer-retained": "diffwave, freed memory retained too",
}


def run_side(side: str, precision: str, steps: int, warmup: int) -> dict:
    """Per-step samples/s of one side, measured in this process, and its peak RSS in MiB."""
    if side == "peer-retained":
        retain_freed_memory()
    if side == "ours":
        with tempfile.TemporaryDirectory() as scratch:
            rates = ours(Path(scratch), precision, steps, warmup)
    else:
        rates = peer(precision, steps, warmup)
    peak = peak_rss_mib()
    return {"rates": rates, "peak_mib": round(peak)}


def in_fresh_process(side: str, precision: str, args: argparse.Namespace) -> tuple[float, int]:
    """Median samples/s and peak RSS (MiB) of ``side`` run in its own Python process
    (allocator state included)."""
    command = [sys.executable, __file__, "--side", side, "--precision", precision,
               "--steps", str(args.steps), "--warmup", str(args.warmup)]
    text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    measured = json.loads(text.strip().splitlines()[-1])
    rate = statistics.median(measured["rates"])
    print(f"{side}, {precision}: {rate:.0f} samples/s, peak {measured['peak_mib']} MiB",
          flush=True)
    return rate, measured["peak_mib"]


def table(result: dict) -> str:
    rows = result["rows"]
    lines = [
        f"Training throughput, DiffWave 30x64 / 80 mels, batch {BATCH} x {CROP} samples, median "
        f"of {result['steps_timed']} steps after {result['warmup_steps']} warm-up, each side in "
        f"its own process, {result['torch_threads']} threads, torch.compile off, on "
        f"{result['machine']}. Peak MiB: max RSS of the side's process.",
        "",
        "| dtype | vocfw samples/s | vocfw s/step | vocfw peak MiB | diffwave samples/s "
        "| diffwave s/step | diffwave peak MiB | ratio (vocfw / diffwave) "
        "| diffwave, memory retained, samples/s | its peak MiB | ratio to it |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dtype']} | {r['ours_samples_per_s']} | {r['ours_step_s']} "
            f"| {r['ours_peak_mib']} | {r['peer_samples_per_s']} | {r['peer_step_s']} "
            f"| {r['peer_peak_mib']} | {r['ratio_ours_over_peer']} "
            f"| {r['peer_retained_samples_per_s']} | {r['peer_retained_peak_mib']} "
            f"| {r['ratio_ours_over_peer_retained']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="no", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(run_side(args.side, args.precision, args.steps, args.warmup)))
        return
    rows = []
    for precision in ("no", "bf16") if native_bf16(torch.device("cpu")) else ("no",):
        (mine, mine_peak), (theirs, theirs_peak), (theirs_retained, retained_peak) = (
            in_fresh_process(side, precision, args) for side in SIDES)
        rows.append({
            "dtype": "fp32" if precision == "no" else "bf16 autocast",
            "ours_samples_per_s": round(mine), "peer_samples_per_s": round(theirs),
            "ours_step_s": round(BATCH * CROP / mine, 3),
            "peer_step_s": round(BATCH * CROP / theirs, 3),
            "ratio_ours_over_peer": round(mine / theirs, 3),
            "ours_peak_mib": mine_peak, "peer_peak_mib": theirs_peak,
            "peer_retained_peak_mib": retained_peak,
            "peer_retained_samples_per_s": round(theirs_retained),
            "ratio_ours_over_peer_retained": round(mine / theirs_retained, 3),
        })
    result = {
        "benchmark": "train", "machine": describe(), "python": platform.python_version(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "compile": False,
        "model": "DiffWave BASE 30x64, 80 mels", "batch": BATCH, "crop_samples": CROP,
        "steps_timed": args.steps, "warmup_steps": args.warmup,
        "ours": "vocfw Trainer.fit: npy data loading, DDPM L1 loss, AdamW, grad norm, accelerate",
        "peer": "diffwave 0.1.7 model + learner.train_step (Adam, L1), tensors in memory",
        "sides": SIDES,
        "rows": rows,
    }
    save_results("train", result, table(result))


if __name__ == "__main__":
    main()
