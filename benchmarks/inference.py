"""Inference speed: vocfw's DiffWave + DDPM against lmnt's ``diffwave`` package, same weights.

Both run in this process on the same random BASE weights (lmnt's 80-band, 22.05 kHz layout,
converted with ``vocfw.core.convert.import_lmnt``), the same mels and the same seeded noise.
Each case first checks that the two waveforms agree, then times the two implementations
alternately and reports medians as real-time factors (compute seconds per audio second; lower
is faster) and their ratio. vocfw's own default model (24 kHz, 100 bands) is timed as well.

    python benchmarks/inference.py --quick            # 6 steps, 1 s, batch 1
    python benchmarks/inference.py --case 6:10:1 --case 50:1:1 --runs 3
    python benchmarks/inference.py                    # every case (hours on 2 CPU cores)

Results go to ``benchmarks/results/inference.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from report import RESULTS, cpu_name

from vocfw.core.atomic import write_json, write_text
from vocfw.core.checkpoint import load_components
from vocfw.core.convert import import_lmnt
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.samplers.ddpm import DDPM

ALL_CASES = [(s, sec, b) for s in (6, 50) for sec in (1, 10) for b in (1, 8)]
QUICK_CASES = [(6, 1, 1)]
PEER_RATE, OWN_RATE, HOP = 22050, 24000, 256
CPU = torch.device("cpu")


def machine() -> dict:
    """CPU model, cores, threads and library versions."""
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "load_average": os.getloadavg()}


def timed(fn: Callable[[], torch.Tensor]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peer_setup(folder: Path) -> tuple[Callable[..., torch.Tensor], torch.nn.Module]:
    """lmnt's BASE model with random weights saved as a checkpoint; its ``predict``."""
    from diffwave import inference
    from diffwave.model import DiffWave as LmntDiffWave
    from diffwave.params import AttrDict, params

    torch.manual_seed(0)
    peer = LmntDiffWave(AttrDict(params)).eval()
    torch.nn.init.normal_(peer.output_projection.weight, std=0.1)  # zero-initialised
    torch.save({"step": 0, "model": peer.state_dict(), "params": dict(params)},
               folder / "weights.pt")
    inference.predict(torch.zeros(1, 80, 1), model_dir=str(folder), device=CPU)  # load, cache

    def predict(mel: torch.Tensor, fast: bool) -> torch.Tensor:
        return inference.predict(mel, model_dir=str(folder), device=CPU, fast_sampling=fast)[0]

    return predict, peer


def run_case(
    steps: int, seconds: int, batch: int, runs: int,
    peer: Callable[..., torch.Tensor], model: DiffWave,
) -> dict:
    """Check agreement with the peer, then time both alternately."""
    fast = steps == 6
    sampler = DDPM(inference_schedule="fast" if fast else "full")
    frames = round(seconds * PEER_RATE / HOP)
    mel = torch.rand(batch, 80, frames, generator=torch.Generator().manual_seed(3))
    audio_seconds = batch * frames * HOP / PEER_RATE

    torch.manual_seed(7)
    want = peer(mel, fast)
    got = sampler.sample(model, mel, torch.Generator().manual_seed(7))
    diff = float((got - want).abs().max())
    times: dict[str, list[float]] = {"peer": [], "vocfw": []}
    for _ in range(runs):
        times["peer"].append(timed(lambda: peer(mel, fast)))
        times["vocfw"].append(timed(lambda: sampler.sample(model, mel)))
    peer_rtf = statistics.median(times["peer"]) / audio_seconds
    ours_rtf = statistics.median(times["vocfw"]) / audio_seconds
    result = {"steps": steps, "seconds": seconds, "batch": batch, "frames": frames,
              "runs": runs, "max_abs_diff": diff, "peer_rtf": peer_rtf, "vocfw_rtf": ours_rtf,
              "speedup": peer_rtf / ours_rtf, "times": times}
    print(f"steps {steps:2d}  {seconds:2d} s  batch {batch}  max|diff| {diff:.2e}  "
          f"peer RTF {peer_rtf:7.3f}  vocfw RTF {ours_rtf:7.3f}  x{peer_rtf / ours_rtf:.2f}",
          flush=True)
    return result


def own_default(steps: int, runs: int) -> dict:
    """RTF of vocfw's default DiffWave (24 kHz, 100 bands), 1 s, batch 1, in fp32 and with
    bf16 autocast (what ``vocfw predict --precision bf16`` does)."""
    torch.manual_seed(0)
    model = DiffWave().eval()
    sampler = DDPM(inference_schedule="fast" if steps == 6 else "full")
    frames = round(OWN_RATE / HOP)
    mel = torch.randn(1, 100, frames)
    result = {"steps": steps, "seconds": 1, "batch": 1, "runs": runs}
    for precision, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            sampler.sample(model, mel)  # warm-up
            rtf = statistics.median(timed(lambda: sampler.sample(model, mel))
                                    for _ in range(runs))
        result[f"vocfw_rtf_{precision}"] = rtf / (frames * HOP / OWN_RATE)
        print(f"vocfw default (24 kHz, 100 mels) steps {steps} {precision}: "
              f"RTF {result[f'vocfw_rtf_{precision}']:.3f}", flush=True)
    return result


def markdown(info: dict, cases: list[dict], own: list[dict]) -> str:
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['torch_threads']} torch threads, "
        f"torch {info['torch']}; fp32; lmnt diffwave 0.1.7 BASE (80 mels, 22.05 kHz) and vocfw "
        f"with the same weights; medians of the timed runs after one checked warm-up run.",
        "",
        "| steps | audio | batch | runs | max abs diff | lmnt RTF | vocfw RTF | speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {c['steps']} | {c['seconds']} s | {c['batch']} | {c['runs']} | "
        f"{c['max_abs_diff']:.1e} | {c['peer_rtf']:.3f} | {c['vocfw_rtf']:.3f} | "
        f"{c['speedup']:.2f}x |" for c in cases
    ]
    lines += ["", "| vocfw default (24 kHz, 100 mels), 1 s, batch 1 | steps | RTF fp32 | "
              "RTF bf16 autocast |", "|---|---:|---:|---:|"]
    lines += [f"| | {o['steps']} | {o['vocfw_rtf_fp32']:.3f} | {o['vocfw_rtf_bf16']:.3f} |"
              for o in own]
    return "\n".join(lines) + "\n"


def parse_case(text: str) -> tuple[int, int, int]:
    steps, seconds, batch = (int(part) for part in text.split(":"))
    if steps not in (6, 50):
        raise argparse.ArgumentTypeError("steps must be 6 (fast) or 50 (full)")
    return steps, seconds, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only 6 steps, 1 s, batch 1")
    parser.add_argument("--case", type=parse_case, action="append",
                        help="STEPS:SECONDS:BATCH, repeatable (default: every case)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per implementation")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    cases = QUICK_CASES if args.quick else args.case or ALL_CASES
    info = machine()
    print(info, flush=True)
    results: list[dict] = []
    own: list[dict] = []

    def save() -> None:  # after every case, so a long run reports what it has finished
        info["load_average_after"] = os.getloadavg()
        write_json(args.output / "inference.json", {"machine": info, "cases": results, "own": own})
        write_text(args.output / "inference.md", markdown(info, results, own))

    own.append(own_default(6, args.runs))
    with tempfile.TemporaryDirectory() as tmp:
        peer, _ = peer_setup(Path(tmp))
        folder = import_lmnt(Path(tmp) / "weights.pt", Path(tmp) / "run")
        model = load_components(folder)[0].model
        for case in cases:
            results.append(run_case(*case, args.runs, peer, model))
            save()
    if any(case[0] == 50 for case in cases):
        own.append(own_default(50, args.runs))
        save()

if __name__ == "__main__":
    main()
