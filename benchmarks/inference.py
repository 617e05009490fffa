"""Inference speed: vocfw's DiffWave + DDPM against lmnt's ``diffwave`` package, same weights.

Peer cases: both run in this process on the same random BASE weights (lmnt's 80-band,
22.05 kHz layout, converted with ``vocfw.core.convert.import_lmnt``), the same mels and the same
seeded noise. Each case first checks that the two waveforms agree, then times the two
implementations alternately and reports medians as real-time factors (compute seconds per audio
second; lower is faster) and their ratio.

Own cases: vocfw's default model (24 kHz, 100 bands, 30 x 64) in fp32 and, where the hardware
runs bfloat16 natively, with bf16 autocast (``vocfw predict --precision bf16``; elsewhere bf16
is emulated, many times slower, and left out), timed alternately; for each, the log-mel L1
distance of the bf16 output to the fp32 output from the same noise, next to two yardsticks:
fp32 with one thread against fp32 with all threads (same noise), and fp32 against fp32 from
other noise (a second, equally valid sample of the same mel). Peak memory (max RSS, each in a
fresh process) of vocoding long inputs through ``vocode`` with its default 10 s chunks closes
the report.

    python benchmarks/inference.py --quick            # 6 steps, 1 s, batch 1; no memory probe
    python benchmarks/inference.py --case 6:10:1 --own 6:1:1 --runs 3
    python benchmarks/inference.py                    # every default case (about an hour)

WaveGrad (``--model wavegrad``): vocfw's WaveGrad + WaveGradDiffusion against lmnt's
``wavegrad`` package, both on the same random weights (lmnt's 128-band, 22.05 kHz, hop-300
network, converted with ``import_lmnt_wavegrad``), mels and seeded noise, with the 6-step
schedule (DiffWave's fast betas, given to lmnt's ``predict`` as its ``noise_schedule``); only
peer cases with 6 steps, no own cases or memory probe.

    python benchmarks/inference.py --model wavegrad --case 6:1:1 --runs 3

FrameWave (``--model framewave``): vocfw's frame-rate FrameWave (default size: 24 kHz, 100
mels, 256 channels, 6 layers) with FlowMatching's default 4 Euler steps, random weights, in
fp32 and with bf16 autocast (timed also where bf16 is emulated, marked so), next to vocfw's
default DiffWave at its 6-step fast schedule in fp32 on the same mels in the same run, with
their ratio; then the peak memory of vocoding long inputs with FrameWave.

    python benchmarks/inference.py --model framewave               # 1 s, 10 s, batch 8

Both sides run with glibc's allocator settings, as vocfw samples; ``--allocator retained``
makes the process keep freed memory for reuse, as vocfw trains
(:func:`vocfw.core.host_memory.retain_freed_memory`), for both sides.

Results go to ``benchmarks/results/inference.{json,md}`` (``inference-wavegrad.*`` for
WaveGrad).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from report import RESULTS, describe, peak_rss_mib

from vocfw.core.atomic import write_json, write_text
from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import Components
from vocfw.core.diffusion import FAST_SCHEDULE
from vocfw.core.evaluate.metrics import log_mel_l1
from vocfw.core.host_memory import retain_freed_memory
from vocfw.core.infer.precision import native_bf16
from vocfw.core.infer.vocode import vocode
from vocfw.core.runs.checkpoint import load_components
from vocfw.core.sampler import Sampler
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_convert import import_lmnt
from vocfw.plugins.models.framewave import FrameWave
from vocfw.plugins.models.wavegrad_convert import import_lmnt_wavegrad
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.flow_matching import FlowMatching
from vocfw.plugins.samplers.wavegrad import WaveGradDiffusion

PEER_CASES = [(6, 1, 1), (6, 10, 1), (6, 1, 8)]
OWN_CASES = [(6, 1, 1), (6, 10, 1), (6, 1, 8)]
QUICK_CASES = [(6, 1, 1)]
MEMORY_SECONDS = (60, 600)  # one minute, ten minutes
ALLOCATORS = {
    "retained": "freed memory retained in the process (both sides), as vocfw training runs",
    "default": "glibc's default allocator settings (both sides), as vocfw sampling runs",
}
PEER_RATE, OWN_RATE, HOP = 22050, 24000, 256
PEERS = {"diffwave": "lmnt diffwave 0.1.7 BASE (80 mels, 22.05 kHz)",
         "wavegrad": "lmnt wavegrad 0.1.5 (128 mels, 22.05 kHz, hop 300)",
         "framewave": "vocfw DiffWave default (30 x 64), 6-step fast schedule"}
FLOW_STEPS = 4  # FlowMatching's default


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def wavegrad_setup(folder: Path, device: torch.device) -> Callable[..., torch.Tensor]:
    """lmnt's WaveGrad with random weights saved as a checkpoint; its ``predict`` with the
    6-step schedule (the only one the WaveGrad cases take)."""
    from wavegrad import inference
    from wavegrad.model import WaveGrad as LmntWaveGrad
    from wavegrad.params import AttrDict, params

    torch.manual_seed(0)
    peer = LmntWaveGrad(AttrDict(params)).eval()
    torch.save({"step": 0, "model": peer.state_dict(), "params": dict(params)},
               folder / "weights.pt")
    schedule = {"noise_schedule": np.asarray(FAST_SCHEDULE)}

    def predict(mel: torch.Tensor, steps: int = 6) -> torch.Tensor:
        return inference.predict(mel, model_dir=str(folder), params=schedule, device=device)[0]

    predict(torch.zeros(1, 128, 1, device=device))  # load and cache
    return predict


def peer_setup(folder: Path, device: torch.device) -> Callable[..., torch.Tensor]:
    """lmnt's BASE model with random weights saved as a checkpoint; its ``predict``."""
    from diffwave import inference
    from diffwave.model import DiffWave as LmntDiffWave
    from diffwave.params import AttrDict, params

    torch.manual_seed(0)
    peer = LmntDiffWave(AttrDict(params)).eval()
    torch.nn.init.normal_(peer.output_projection.weight, std=0.1)  # zero-initialised
    torch.save({"step": 0, "model": peer.state_dict(), "params": dict(params)},
               folder / "weights.pt")
    inference.predict(torch.zeros(1, 80, 1), model_dir=str(folder), device=device)  # load, cache

    def predict(mel: torch.Tensor, steps: int) -> torch.Tensor:
        return inference.predict(mel, model_dir=str(folder), device=device,
                                 fast_sampling=steps == 6)[0]

    return predict


def peer_case(steps: int, seconds: int, batch: int, runs: int,
              peer: Callable[[torch.Tensor, int], torch.Tensor], model: torch.nn.Module,
              sampler: Sampler, device: torch.device) -> dict:
    """Check agreement with the peer (``peer(mel, steps)``), then time both alternately."""
    hop = model.hop_length
    frames = round(seconds * PEER_RATE / hop)
    mel = torch.rand(batch, model.n_mels, frames,
                     generator=torch.Generator().manual_seed(3)).to(device)
    audio_seconds = batch * frames * hop / PEER_RATE
    torch.manual_seed(7)
    want = peer(mel, steps)
    got = sampler.sample(model, mel, torch.Generator(device).manual_seed(7))
    diff = float((got - want).abs().max())
    times: dict[str, list[float]] = {"peer": [], "vocfw": []}
    for _ in range(runs):
        times["peer"].append(timed(lambda: peer(mel, steps)) / audio_seconds)
        times["vocfw"].append(timed(lambda: sync(sampler.sample(model, mel))) / audio_seconds)
    peer_rtf, ours_rtf = (statistics.median(times[key]) for key in ("peer", "vocfw"))
    result = {"steps": steps, "seconds": seconds, "batch": batch, "dtype": "fp32",
              "runs": runs, "max_abs_diff": diff, "peer_rtf": peer_rtf, "vocfw_rtf": ours_rtf,
              "speedup": peer_rtf / ours_rtf, "rtf_runs": times, "load": os.getloadavg()}
    print(f"peer case {type(model).__name__}: steps {steps} {seconds:2d} s batch {batch} fp32 "
          f"threads {torch.get_num_threads()} compile off: max|diff| {diff:.1e}  peer RTF "
          f"{peer_rtf:.3f}  vocfw RTF {ours_rtf:.3f}  x{peer_rtf / ours_rtf:.2f}  load "
          f"{os.getloadavg()[0]:.1f}",
          flush=True)
    return result


def peer_pair(
    name: str, folder: Path, device: torch.device
) -> tuple[Callable[[torch.Tensor, int], torch.Tensor], torch.nn.Module]:
    """lmnt's ``predict(mel, steps)`` for ``name`` set up in ``folder``, and vocfw's model with
    the same weights."""
    setup, convert = ((wavegrad_setup, import_lmnt_wavegrad) if name == "wavegrad"
                      else (peer_setup, import_lmnt))
    predict = setup(folder, device)
    convert(folder / "weights.pt", folder / "run")
    return predict, prepared(load_components(folder / "run")[0].model.to(device))


def prepared(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in eval mode on its fast sampling path, as ``vocfw predict`` runs it."""
    model.eval()
    model.prepare_for_inference()
    return model


def case_sampler(name: str, steps: int) -> Sampler:
    """vocfw's sampler for a peer case: 6 steps (fast) or 50 (DiffWave's full schedule)."""
    if name == "wavegrad":
        return WaveGradDiffusion(inference_schedule="fast")
    return DDPM(inference_schedule="fast" if steps == 6 else "full")


def sync(value: torch.Tensor) -> torch.Tensor:
    """Wait for the device, so a timing covers the work."""
    if value.is_cuda:
        torch.cuda.synchronize()
    return value


def sample(model: DiffWave, mel: torch.Tensor, precision: str, seed: int) -> torch.Tensor:
    """One vocfw fast-schedule sample, fp32 or under bf16 autocast."""
    sampler = DDPM(inference_schedule="fast")
    generator = torch.Generator(mel.device).manual_seed(seed)
    with torch.autocast(mel.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        return sync(sampler.sample(model, mel, generator))


def own_case(steps: int, seconds: int, batch: int, runs: int, device: torch.device) -> dict:
    """vocfw's default model: fp32 and (where native) bf16 timed alternately, and output
    distances."""
    torch.manual_seed(0)
    model = DiffWave().to(device)
    torch.nn.init.normal_(model.output_projection.weight, std=0.1)
    prepared(model)
    frames = round(seconds * OWN_RATE / HOP)
    mel = torch.randn(batch, 100, frames, generator=torch.Generator().manual_seed(3)).to(device)
    audio_seconds = batch * frames * HOP / OWN_RATE
    precisions = ("fp32", "bf16") if native_bf16(device) else ("fp32",)
    out = {precision: sample(model, mel, precision, 7) for precision in precisions}
    times: dict[str, list[float]] = {precision: [] for precision in precisions}
    for _ in range(runs):
        for precision in times:
            times[precision].append(timed(lambda p=precision: sample(model, mel, p, 7))
                                    / audio_seconds)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    one_thread = sample(model, mel, "fp32", 7)
    torch.set_num_threads(threads)
    other_noise = sample(model, mel, "fp32", 8)

    def distance(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(np.mean([log_mel_l1(x.cpu().numpy(), y.cpu().numpy(), OWN_RATE)
                              for x, y in zip(a, b, strict=True)]))

    result = {"steps": steps, "seconds": seconds, "batch": batch, "runs": runs,
              "rtf": {key: statistics.median(value) for key, value in times.items()},
              "rtf_runs": times, "load": os.getloadavg(),
              "log_mel_l1_bf16_vs_fp32": distance(out["bf16"], out["fp32"])
              if "bf16" in out else None,
              "log_mel_l1_fp32_1_vs_all_threads": distance(one_thread, out["fp32"]),
              "log_mel_l1_fp32_other_noise": distance(other_noise, out["fp32"])}
    bf16 = (f"bf16 {result['rtf']['bf16']:.3f}; log-mel L1 bf16-fp32 "
            f"{result['log_mel_l1_bf16_vs_fp32']:.4f}" if "bf16" in out
            else "bf16 not timed (not native here); log-mel L1")
    print(f"own case: steps {steps} {seconds:2d} s batch {batch} threads {threads} compile off:"
          f" RTF fp32 {result['rtf']['fp32']:.3f}  {bf16}, fp32 1-{threads} threads "
          f"{result['log_mel_l1_fp32_1_vs_all_threads']:.4f}, fp32 other noise "
          f"{result['log_mel_l1_fp32_other_noise']:.4f}  load {os.getloadavg()[0]:.1f}",
          flush=True)
    return result


def framewave_case(seconds: int, batch: int, runs: int, device: torch.device) -> dict:
    """FrameWave + FlowMatching (fp32, bf16) and the default DiffWave's 6-step fast schedule
    (fp32) on the same mels, timed alternately."""
    torch.manual_seed(0)
    framewave, diffwave = prepared(FrameWave().to(device)), prepared(DiffWave().to(device))
    torch.nn.init.normal_(diffwave.output_projection.weight, std=0.1)
    flow, ddpm = FlowMatching(steps=FLOW_STEPS), DDPM(inference_schedule="fast")
    frames = round(seconds * OWN_RATE / HOP)
    mel = torch.randn(batch, 100, frames, generator=torch.Generator().manual_seed(3)).to(device)
    audio_seconds = batch * frames * HOP / OWN_RATE

    def run(model: torch.nn.Module, sampler: Sampler, bf16: bool) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return sync(sampler.sample(model, mel, torch.Generator(device).manual_seed(7)))

    cases = {"framewave_fp32": lambda: run(framewave, flow, False),
             "framewave_bf16": lambda: run(framewave, flow, True),
             "diffwave_fp32": lambda: run(diffwave, ddpm, False)}
    for case in cases.values():
        case()  # warm-up
    times: dict[str, list[float]] = {key: [] for key in cases}
    for _ in range(runs):
        for key, case in cases.items():
            times[key].append(timed(case) / audio_seconds)
    rtf = {key: statistics.median(value) for key, value in times.items()}
    result = {"steps": FLOW_STEPS, "seconds": seconds, "batch": batch, "runs": runs, "rtf": rtf,
              "rtf_runs": times, "native_bf16": native_bf16(device),
              "speedup": rtf["diffwave_fp32"] / rtf["framewave_fp32"], "load": os.getloadavg()}
    print(f"framewave case: {seconds:2d} s batch {batch}: RTF fp32 {rtf['framewave_fp32']:.4f}"
          f" bf16 {rtf['framewave_bf16']:.4f} ({'native' if result['native_bf16'] else 'emulated'})"
          f"; DiffWave fp32 {rtf['diffwave_fp32']:.3f}; x{result['speedup']:.1f}  load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    return result


def probe_components(model: str) -> Components:
    """The model :func:`memory_probe` vocodes with: default DiffWave with one DDPM step, or
    default FrameWave with FlowMatching's default steps."""
    if model == "framewave":
        return Components(MelConfig(), prepared(FrameWave()), FlowMatching(steps=FLOW_STEPS))
    return Components(MelConfig(), prepared(DiffWave()), DDPM(inference_schedule=[0.5]))


def memory_probe(seconds: int, precision: str, device: str, model: str) -> None:
    """Vocode ``seconds`` of mel through ``vocode``; print max RSS in MiB."""
    torch.manual_seed(0)
    components = probe_components(model)
    mel = torch.randn(100, round(seconds * OWN_RATE / HOP))
    vocode(components, [mel], batch_size=4, device=device, precision=precision,
           chunk_frames=round(10 * OWN_RATE / HOP))
    peak = peak_rss_mib()
    if torch.cuda.is_available() and device != "cpu":
        peak = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps({"seconds": seconds, "precision": precision, "peak_mib": peak}))


def memory(device: str, lengths: list[int], allocator: str, model: str) -> list[dict]:
    """Peak memory of :func:`memory_probe` for inputs of each of ``lengths`` seconds, each in a
    fresh process, in fp32 and (where native) bf16."""
    rows = []
    for precision in ("fp32", "bf16") if native_bf16(torch.device(device)) else ("fp32",):
        for seconds in lengths:
            command = [sys.executable, __file__, "--memory-probe", str(seconds),
                       "--precision", precision, "--device", device, "--allocator", allocator,
                       "--model", model]
            text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(text.strip().splitlines()[-1]))
            print(f"memory: {seconds} s input, {precision}, 10 s chunks, batch 4: peak "
                  f"{rows[-1]['peak_mib']:.0f} MiB", flush=True)
    return rows


def framewave_table(rows: list[dict]) -> list[str]:
    """The FrameWave rows: its RTF in fp32 and bf16 against the default DiffWave's fp32."""
    if not rows:
        return []
    bf16 = "native" if rows[0]["native_bf16"] else "emulated: no native bf16 here"
    lines = [f"FrameWave (256 x 6, 24 kHz, 100 mels) with FlowMatching, {FLOW_STEPS} Euler "
             f"steps, random weights, against {PEERS['framewave']} in fp32, same mels; bf16 "
             f"autocast {bf16}:", "",
             "| audio | batch | runs | FrameWave RTF fp32 | FrameWave RTF bf16 | DiffWave RTF "
             "fp32 | FrameWave fp32 speed-up |", "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['seconds']} s | {r['batch']} | {r['runs']} | "
              f"{r['rtf']['framewave_fp32']:.4f} | {r['rtf']['framewave_bf16']:.4f} | "
              f"{r['rtf']['diffwave_fp32']:.3f} | {r['speedup']:.1f}x |" for r in rows]
    return lines


def markdown(info: dict, peers: list[dict], own: list[dict], mem: list[dict],
             peer_name: str = PEERS["diffwave"], framewave: list[dict] = ()) -> str:
    threads = info["torch_threads"]
    lines = [f"Machine: {info['machine']}; {threads} torch threads, torch {info['torch']}, "
             f"torch.compile off; {ALLOCATORS[info['allocator']]}; "
             f"load average {info['load_average'][0]:.1f} before, "
             f"{info.get('load_average_after', [0])[0]:.1f} after (shared machine). Medians of "
             f"the timed runs after one checked warm-up run; RTF = compute s / audio s.", ""]
    if peers:
        lines += [f"{peer_name} and vocfw with the same weights and noise, fp32:", "",
                  "| steps | audio | batch | runs | max abs diff | lmnt RTF | vocfw RTF | "
                  "speed-up |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {c['steps']} | {c['seconds']} s | {c['batch']} | {c['runs']} | "
                  f"{c['max_abs_diff']:.1e} | {c['peer_rtf']:.3f} | {c['vocfw_rtf']:.3f} | "
                  f"{c['speedup']:.2f}x |" for c in peers]
    if own:
        lines += ["", "vocfw default model (24 kHz, 100 mels, 30 x 64), fast schedule; log-mel "
                  "L1 (recipe mel, mean |difference| of natural-log magnitudes):", "",
                  "| steps | audio | batch | runs | RTF fp32 | RTF bf16 | bf16 vs fp32 | "
                  f"fp32 1 vs {threads} threads | fp32 other noise |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {o['steps']} | {o['seconds']} s | {o['batch']} | {o['runs']} | "
                  f"{o['rtf']['fp32']:.3f} | {bf16_cells(o)} | "
                  f"{o['log_mel_l1_fp32_1_vs_all_threads']:.4f} | "
                  f"{o['log_mel_l1_fp32_other_noise']:.4f} |" for o in own]
    lines += framewave_table(list(framewave))
    if mem:
        steps = f"{FLOW_STEPS} FlowMatching steps" if framewave else "one sampling step"
        lines += ["", f"Peak memory vocoding one long input with `vocode` (10 s chunks, batch 4, "
                  f"{steps}; peak resident memory (VmHWM) of a fresh process, or CUDA peak "
                  f"allocation):", "",
                  "| input | precision | peak MiB |", "|---:|---|---:|"]
        lines += [f"| {m['seconds']} s | {m['precision']} | {m['peak_mib']:.0f} |" for m in mem]
    return "\n".join(lines) + "\n"


def bf16_cells(case: dict) -> str:
    """The bf16 RTF and distance cells of an own case, or why it has none."""
    if case["log_mel_l1_bf16_vs_fp32"] is None:
        return "not native | -"
    return f"{case['rtf']['bf16']:.3f} | {case['log_mel_l1_bf16_vs_fp32']:.4f}"


def parse_case(text: str) -> tuple[int, int, int]:
    steps, seconds, batch = (int(part) for part in text.split(":"))
    if steps not in (6, 50):
        raise argparse.ArgumentTypeError("steps must be 6 (fast) or 50 (full)")
    return steps, seconds, batch


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(PEERS), default="diffwave",
                        help="the architecture timed against lmnt's package")
    parser.add_argument("--quick", action="store_true",
                        help="only 6 steps, 1 s, batch 1, and no memory probe")
    parser.add_argument("--case", type=parse_case, action="append",
                        help="peer case STEPS:SECONDS:BATCH, repeatable")
    parser.add_argument("--own", type=parse_case, action="append",
                        help="own-model case (fast schedule) SECONDS as above, repeatable")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probe")
    parser.add_argument("--memory-seconds", type=lambda text: [int(x) for x in text.split(",")],
                        default=list(MEMORY_SECONDS),
                        help="input lengths of the memory probe, comma-separated seconds")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per implementation")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--allocator", choices=("default", "retained"), default="default",
                        help="default: glibc's settings, as vocfw samples; retained: this "
                             "process (both sides) keeps freed memory, as vocfw trains")
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.allocator == "retained":
        retain_freed_memory()
    if args.memory_probe:
        memory_probe(args.memory_probe, args.precision, args.device, args.model)
        return
    device = torch.device(args.device)
    peer_cases = QUICK_CASES if args.quick else args.case or PEER_CASES
    if args.model == "wavegrad" and any(case[0] != 6 for case in peer_cases):
        raise SystemExit("--model wavegrad times the 6-step schedule only (cases 6:SECONDS:BATCH)")
    own_cases = QUICK_CASES if args.quick else args.own or OWN_CASES
    info = {"machine": describe(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "compile": False, "load_average": os.getloadavg(),
            "allocator": args.allocator}
    print(info, flush=True)
    peers: list[dict] = []
    own: list[dict] = []
    mem: list[dict] = []
    framewave: list[dict] = []

    stem = "inference" if args.model == "diffwave" else f"inference-{args.model}"

    def save() -> None:  # after every case, so a long run reports what it has finished
        info["load_average_after"] = os.getloadavg()
        write_json(args.output / f"{stem}.json",
                   {"machine": info, "peer_cases": peers, "own_cases": own, "memory": mem,
                    "framewave_cases": framewave})
        write_text(args.output / f"{stem}.md",
                   markdown(info, peers, own, mem, PEERS[args.model], framewave))

    if args.model == "framewave":
        for _, seconds, batch in own_cases:
            framewave.append(framewave_case(seconds, batch, args.runs, device))
            save()
        if not (args.quick or args.no_memory):
            mem.extend(memory(args.device, args.memory_seconds, args.allocator, args.model))
            save()
        print(markdown(info, peers, own, mem, PEERS[args.model], framewave))
        return

    for case in own_cases if args.model == "diffwave" else []:
        own.append(own_case(*case, args.runs, device))
        save()
    with tempfile.TemporaryDirectory() as tmp:
        predict, model = peer_pair(args.model, Path(tmp), device)
        for case in peer_cases:
            sampler = case_sampler(args.model, case[0])
            peers.append(peer_case(*case, args.runs, predict, model, sampler, device))
            save()
    if not (args.quick or args.no_memory or args.model == "wavegrad"):
        mem.extend(memory(args.device, args.memory_seconds, args.allocator, args.model))
        save()
    print(markdown(info, peers, own, mem, PEERS[args.model]))


if __name__ == "__main__":
    main()
