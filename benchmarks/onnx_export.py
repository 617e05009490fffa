"""ONNX export speed: the exported runtime (numpy + onnxruntime) against torch, same weights.

Each model is built at its default size with random weights, written as a run and exported
with ``vocfw.core.export.onnx.export_onnx`` (not timed); then each case vocodes one mel of the
given length with torch (the run's sampler on the prepared model, fp32, as ``vocfw predict
--precision fp32`` samples) and with the export's ``OnnxVocoder``, timed alternately, and
reports medians as real-time factors (compute seconds per audio second; lower is faster) and
their ratio. Before timing, both vocode the mel from the same noise and the largest difference
of the two waveforms is reported (the export's tolerance is 1e-4).

Models: DiffWave default (24 kHz, 100 mels, 30 x 64) with DDPM at its default ``full``
schedule (50 steps; ``--diffwave-schedule fast`` for 6), and FrameWave at
``tests/configs/framewave.yaml``'s size with FlowMatching's 4 Euler steps.

    python benchmarks/onnx_export.py                  # 1 s and 10 s, 3 runs each
    python benchmarks/onnx_export.py --threads 1      # one thread on both sides
    python benchmarks/onnx_export.py --smoke          # tiny models, 0.2 s, one run; nothing saved

Results go to ``benchmarks/results/onnx.{json,md}``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import describe, save_results

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import Components
from vocfw.core.export.onnx import export_onnx
from vocfw.core.export.runtime import OnnxVocoder
from vocfw.core.runs.checkpoint import WEIGHTS_FILE, load_components, save_weights
from vocfw.core.testing.contract_checks import perturb
from vocfw.core.testing.processed import write_tiny_run

FEATURES = MelConfig()  # 24 kHz, hop 256, 100 mels
MODELS = {  # name -> (model class and init args, sampler class and init args)
    "DiffWave": ({"class_path": "DiffWave", "init_args": {}},
                 {"class_path": "DDPM", "init_args": {}}),
    "FrameWave": ({"class_path": "FrameWave",
                   "init_args": {"channels": 256, "hidden": 768, "layers": 6}},
                  {"class_path": "FlowMatching", "init_args": {"steps": 4}}),
}
SMOKE_MODELS = {
    "DiffWave": ({"class_path": "DiffWave",
                  "init_args": {"residual_layers": 2, "residual_channels": 8}},
                 {"class_path": "DDPM", "init_args": {"inference_schedule": "fast"}}),
    "FrameWave": ({"class_path": "FrameWave",
                   "init_args": {"channels": 8, "hidden": 16, "layers": 1}},
                  {"class_path": "FlowMatching", "init_args": {"steps": 2}}),
}


def export(folder: Path, model: dict, sampler: dict) -> tuple[Components, Path, str]:
    """A random-weight run of ``model`` and ``sampler``, its export, and the sampler's name
    with its step count."""
    model = {"class_path": model["class_path"], "init_args": {
        **model["init_args"], "n_mels": FEATURES.n_mels, "hop_length": FEATURES.hop_length}}
    run = write_tiny_run(folder / "run", {"features": FEATURES.to_dict(), "model": model,
                                          "sampler": sampler})
    components, checkpoint = load_components(run)
    perturb(components.model)  # no zero-initialised output layer: outputs depend on the input
    save_weights(checkpoint / WEIGHTS_FILE, components.model.state_dict())
    components.model.prepare_for_inference()
    exported = export_onnx(run, folder / "onnx")
    sampler = components.sampler
    return components, exported, f"{type(sampler).__name__} {sampler.num_inference_steps}"


def case(components: Components, exported: Path, seconds: float, runs: int,
         threads: int | None) -> dict:
    """Time torch and the runtime on one (M, T) mel of ``seconds`` of audio."""
    vocoder = OnnxVocoder(exported, threads=threads)
    frames = max(2, round(seconds * FEATURES.sample_rate / FEATURES.hop_length))
    mel = -6.0 + 2.0 * torch.randn(FEATURES.n_mels, frames, generator=torch.Generator()
                                   .manual_seed(0))  # (M, T)
    model, sampler = components.model, components.sampler

    def with_torch(seed: int) -> np.ndarray:
        generator = torch.Generator().manual_seed(seed)
        with torch.inference_mode():
            return sampler.sample(model, mel[None], generator=[generator])[0].numpy()

    replay = torch.Generator().manual_seed(0)
    noise = [torch.randn(frames * FEATURES.hop_length, generator=replay).numpy()
             for _ in range(vocoder.noise_draws)]
    difference = float(np.abs(with_torch(0) - vocoder(mel.numpy(), noise=noise)).max())
    times: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
    for run in range(runs):  # alternately, so drift hits both sides alike
        start = time.perf_counter()
        with_torch(run)
        times["torch"].append(time.perf_counter() - start)
        start = time.perf_counter()
        vocoder(mel.numpy(), seed=run)
        times["onnxruntime"].append(time.perf_counter() - start)
    audio = frames * FEATURES.hop_length / FEATURES.sample_rate
    rtf = {side: statistics.median(values) / audio for side, values in times.items()}
    return {"seconds": seconds, "runs": runs, "max_difference": difference,
            "rtf_torch": rtf["torch"], "rtf_onnxruntime": rtf["onnxruntime"],
            "speedup": rtf["torch"] / rtf["onnxruntime"]}


def table(info: dict, rows: list[dict]) -> str:
    """The results as Markdown."""
    lines = [f"# ONNX runtime against torch ({info['machine']}; threads: {info['threads']})", "",
             "| model | sampler | audio s | torch RTF | onnxruntime RTF | torch / ort | "
             "max abs diff |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['sampler']} | {r['seconds']:g} | {r['rtf_torch']:.4f} | "
              f"{r['rtf_onnxruntime']:.4f} | {r['speedup']:.2f} | {r['max_difference']:.1e} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of both sides (default: each library's own choice)")
    parser.add_argument("--diffwave-schedule", choices=("full", "fast"), default="full")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny models, 0.2 s, one run, nothing saved (checks the script)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    models = SMOKE_MODELS if args.smoke else MODELS
    if not args.smoke:
        models["DiffWave"][1]["init_args"]["inference_schedule"] = args.diffwave_schedule
    seconds, runs = ([0.2], 1) if args.smoke else (args.seconds, args.runs)
    info = {"machine": describe(), "threads": args.threads or "default"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, sampler) in models.items():
            components, exported, label = export(Path(tmp) / name, model, sampler)
            for length in seconds:
                rows.append({"model": name, "sampler": label,
                             **case(components, exported, length, runs, args.threads)})
    if args.smoke:
        print(table(info, rows))
    else:
        save_results("onnx", {**info, "cases": rows}, table(info, rows))


if __name__ == "__main__":
    main()
