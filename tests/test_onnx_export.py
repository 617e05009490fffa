"""The ONNX export: every built-in model with every sampler the runtime runs vocodes, through
the copied numpy/onnxruntime runtime, what torch's sampler makes from the same noise (within
1e-4); the runtime works with torch unimportable; unsupported samplers and unsafe outputs are
refused in one line; ``vocfw export onnx`` writes a folder end to end."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
import wave
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import Components, build_sampler
from vocfw.core.errors import VocfwError
from vocfw.core.export.graphs import ExportError, export_network
from vocfw.core.export.onnx import RUNTIME_FILE, check_output, write_export, write_sampler
from vocfw.core.export.plan import sampler_plan
from vocfw.core.export.runtime import PLAN_FILE
from vocfw.core.runs.checkpoint import CHECKPOINT_DIR, WEIGHTS_FILE, load_components, save_weights
from vocfw.core.testing.processed import tiny_diffwave_spec, write_tiny_run
from vocfw.plugins.samplers.ddpm import DDPM

TOLERANCE = 1e-4
FEATURES = MelConfig(sample_rate=8000, n_fft=256, hop_length=64, win_length=256, n_mels=20,
                     f_max=4000.0)
MODELS = {  # model class -> (its tiny init args, the sampler its run is trained with)
    "DiffWave": ({"residual_layers": 2, "residual_channels": 8}, "DDPM"),
    "WaveGrad": ({"base_channels": 4}, "WaveGradDiffusion"),
    "FrameWave": ({"channels": 8, "hidden": 16, "layers": 2}, "FlowMatching"),
}
CASES = [  # (model, sampler, init args)
    ("DiffWave", "DDPM", {}),
    ("DiffWave", "DDPM", {"inference_schedule": "fast"}),
    ("DiffWave", "DDIM", {"inference_steps": 4}),
    ("DiffWave", "DDIM", {"inference_steps": 4, "eta": 0.5}),
    ("DiffWave", "DDPM", {"inference_schedule": "fast", "eta": 0.0}),
    ("DiffWave", "PriorGrad", {"inference_schedule": "fast"}),
    ("DiffWave", "PriorGrad", {"inference_schedule": "fast", "eta": 0.5}),
    ("WaveGrad", "WaveGradDiffusion", {}),
    ("WaveGrad", "DDIM", {"num_steps": 1000, "beta_start": 1e-6, "beta_end": 0.01,
                          "inference_steps": 3}),
    ("FrameWave", "FlowMatching", {"steps": 4}),
    ("FrameWave", "FlowMatching", {"steps": 2, "solver": "midpoint"}),
    ("FrameWave", "FlowMatching", {"steps": 2, "noise_prior": "energy"}),
]


def write_run(root: Path, model: str) -> Path:
    """A run of a tiny ``model`` whose zero-initialised weights (DiffWave's output layer,
    FrameWave's head and modulation) are made random, so that its output depends on every
    input, and whose WaveGrad output layer is scaled down, so that its samples are not all
    clipped."""
    init_args, sampler = MODELS[model]
    spec = tiny_diffwave_spec(FEATURES)
    spec["model"] = {"class_path": model, "init_args": {
        **init_args, "n_mels": FEATURES.n_mels, "hop_length": FEATURES.hop_length}}
    spec["sampler"] = {"class_path": sampler, "init_args": {}}
    run = write_tiny_run(root / model, spec)
    components, folder = load_components(run)
    generator = torch.Generator().manual_seed(1)
    state = {key: value if value.any() else 0.05 * torch.randn(value.shape, generator=generator)
             for key, value in components.model.state_dict().items()}
    if model == "WaveGrad":
        state["last_conv.weight"] = 0.01 * state["last_conv.weight"]
    save_weights(folder / WEIGHTS_FILE, state)
    return run


@pytest.fixture(scope="module")
def networks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Components, Path]]:
    """Per model: its loaded run and a folder holding its exported network graphs."""
    root = tmp_path_factory.mktemp("networks")
    exported = {}
    for model in MODELS:
        components, _ = load_components(write_run(root, model))
        graphs = root / model / "graphs"
        graphs.mkdir()
        export_network(components.model, graphs)
        exported[model] = components, graphs
    return exported


def load_runtime(folder: Path) -> ModuleType:
    """The runtime file copied into an export folder, imported as a module."""
    spec = importlib.util.spec_from_file_location(f"vocode_{folder.name}", folder / RUNTIME_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_reference(components: Components, mel: torch.Tensor, draws: int, seed: int
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The sampler's (N,) output for a (M, T) mel from one generator, and the ``draws``
    standard normal (N,) arrays that generator gives in order; fails unless the sampler took
    exactly those draws."""
    generator = torch.Generator().manual_seed(seed)
    audio = components.sampler.sample(components.model, mel[None], generator=[generator])
    replay = torch.Generator().manual_seed(seed)
    noise = [torch.randn(mel.shape[1] * FEATURES.hop_length, generator=replay).numpy()
             for _ in range(draws)]
    assert torch.equal(generator.get_state(), replay.get_state()), "noise draws differ"
    return audio[0].numpy(), noise


def export_case(networks: dict, tmp_path: Path, model: str, sampler: str, args: dict
                ) -> tuple[Components, Path]:
    """The export of ``model`` with ``sampler(**args)``: the model's graphs plus this
    sampler's part."""
    components, graphs = networks[model]
    components = replace(components, spec=dict(components.spec))
    build_sampler(components, {"class_path": sampler, "init_args": args}, "test")
    folder = tmp_path / "export"
    shutil.copytree(graphs, folder)
    write_sampler(components, folder, "test")
    return components, folder


def mel_of(frames: int, seed: int = 0) -> torch.Tensor:
    """A (M, frames) log-mel in the features' range."""
    generator = torch.Generator().manual_seed(seed)
    return -6.0 + 2.0 * torch.randn(FEATURES.n_mels, frames, generator=generator)


@pytest.mark.slow
@pytest.mark.parametrize(("model", "sampler", "args"), CASES,
                         ids=[f"{m}-{s}-{'-'.join(map(str, a.values()))}" for m, s, a in CASES])
def test_runtime_equals_torch_for_the_same_noise(networks, tmp_path: Path, model: str,
                                                  sampler: str, args: dict) -> None:
    components, folder = export_case(networks, tmp_path, model, sampler, args)
    vocoder = load_runtime(folder).OnnxVocoder(folder)
    assert vocoder.noise_draws == sampler_plan(components.sampler, components.model)[
        "noise_draws"]
    for frames in (7, 19):  # lengths other than the traced one
        mel = mel_of(frames, seed=frames)
        reference, noise = torch_reference(components, mel, vocoder.noise_draws, seed=frames)
        audio = vocoder(mel.numpy(), noise=noise)
        assert audio.shape == reference.shape == (frames * FEATURES.hop_length,)
        assert np.mean(np.abs(reference) < 0.999) > 0.5, "reference mostly clipped"
        assert np.abs(audio - reference).max() < TOLERANCE
    batch = np.stack([mel_of(7, 1).numpy(), mel_of(7, 2).numpy()])  # (2, M, 7)
    drawn = vocoder(batch, seed=3)
    assert drawn.shape == (2, 7 * FEATURES.hop_length) and np.all(np.abs(drawn) <= 1.0)
    assert np.array_equal(drawn, vocoder(batch, seed=3))


BLOCKED = textwrap.dedent("""
    import sys

    class Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "vocfw"):
                raise ImportError(f"{name} is blocked")
            return None

    sys.meta_path.insert(0, Blocked())
    folder, mel, noise, out, wav = sys.argv[1:]
    sys.path.insert(0, folder)
    import numpy as np
    import vocode

    vocoder = vocode.OnnxVocoder(folder)
    np.save(out, vocoder(np.load(mel), noise=list(np.load(noise))))
    vocode.main([mel, wav, "--seed", "1"])
    assert not any(name.split(".")[0] == "torch" for name in sys.modules)
""")


@pytest.mark.slow
def test_the_runtime_vocodes_with_torch_unimportable(networks, tmp_path: Path) -> None:
    components, folder = export_case(networks, tmp_path, "DiffWave", "PriorGrad",
                                     {"inference_schedule": "fast"})
    assert (folder / "prior.onnx").is_file()
    mel = mel_of(11)
    reference, noise = torch_reference(components, mel, 6, seed=4)
    paths = {name: tmp_path / f"{name}.npy" for name in ("mel", "noise", "out")}
    np.save(paths["mel"], mel.numpy())
    np.save(paths["noise"], np.stack(noise))
    wav = tmp_path / "out.wav"
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED, str(folder), str(paths["mel"]), str(paths["noise"]),
         str(paths["out"]), str(wav)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert np.abs(np.load(paths["out"]) - reference).max() < TOLERANCE
    with wave.open(str(wav)) as written:
        assert written.getframerate() == FEATURES.sample_rate
        assert written.getnframes() == 11 * FEATURES.hop_length


class Unlisted(DDPM):
    """A DDPM whose sampling loop is its own."""

    def sample(self, model: torch.nn.Module, mel: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        return super().sample(model, mel, generator)


def test_a_sampler_with_its_own_loop_is_refused_before_any_graph(tmp_path: Path) -> None:
    components, _ = load_components(write_tiny_run(tmp_path / "run",
                                                   tiny_diffwave_spec(FEATURES)))
    components.sampler = Unlisted()
    folder = tmp_path / "export"
    folder.mkdir()
    with pytest.raises(ExportError, match="sampler Unlisted: its sampling loop") as caught:
        write_export(components, folder, "test")
    assert isinstance(caught.value, VocfwError) and "\n" not in str(caught.value)
    assert not any(folder.iterdir())


@pytest.mark.slow
def test_specgrad_is_refused_in_one_line(networks, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="SpecGrad.prior cannot be exported") as caught:
        export_case(networks, tmp_path, "DiffWave", "SpecGrad", {"lifter": 8})
    assert "\n" not in str(caught.value)


def test_outputs_that_are_not_earlier_exports_are_never_replaced(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("precious", encoding="utf-8")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / PLAN_FILE).write_text("{}", encoding="utf-8")
    for output in (notes, earlier):
        with pytest.raises(ExportError, match="already exists"):
            check_output(output, overwrite=False)
    with pytest.raises(ExportError, match="is not an ONNX export folder"):
        check_output(notes, overwrite=True)
    check_output(earlier, overwrite=True)
    check_output(tmp_path / "new", overwrite=False)
    run = write_tiny_run(tmp_path / "run", tiny_diffwave_spec(FEATURES))
    [checkpoint] = (run / CHECKPOINT_DIR).iterdir()
    with pytest.raises(ExportError, match="inside checkpoint folder"):
        check_output(checkpoint / "onnx", overwrite=True)
    assert (notes / "keep.txt").read_text(encoding="utf-8") == "precious"


@pytest.mark.slow
def test_the_command_exports_refuses_to_replace_and_overwrites(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path, "DiffWave")
    output = tmp_path / "onnx"
    argv = ["export", "onnx", "--run", str(run), "--output", str(output),
            "--sampler.inference_schedule", "fast"]
    assert main(argv) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    plan = json.loads((output / PLAN_FILE).read_text(encoding="utf-8"))
    assert (plan["sampler"], plan["loop"], len(plan["steps"])) == ("DDPM", "ancestral", 6)
    assert {p.name for p in output.iterdir()} == {"condition.onnx", "step.onnx", PLAN_FILE,
                                                  RUNTIME_FILE}
    assert main(argv) == 1
    assert "already exists" in capsys.readouterr().err
    assert main([*argv[:-2], "--sampler", "DDIM", "--overwrite"]) == 0
    plan = json.loads((output / PLAN_FILE).read_text(encoding="utf-8"))
    assert (plan["sampler"], plan["loop"], len(plan["steps"])) == ("DDIM", "ddim", 10)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
