"""Size limits: a tiny file or a stored spec that asks for a huge network, schedule or feature
size is refused with one line before anything of that size is allocated.

The bombs run in a subprocess whose peak memory is measured (``tests/peak_memory.py``): a refusal
costs no more than vocfw's own imports (about 750 MiB of torch, librosa and the plugins on the
machines this was written on), so it must stay under ``BOUND_MIB``; before these limits each of
them passed 2 GiB (where the measurement kills it).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import peak_memory
import pytest
import torch

from vocfw.cli.main import main
from vocfw.core.audio.mel import FEATURE_LIMITS, FeatureError, MelConfig
from vocfw.core.components import SpecError, build_components, build_sampler
from vocfw.core.diffusion import DiffusionProcess
from vocfw.core.errors import VocfwError
from vocfw.core.registry import build_registry
from vocfw.core.runs.checkpoint import COMPONENTS_FILE, load_components
from vocfw.core.runs.convert_toolkit import ConversionError
from vocfw.core.testing.processed import tiny_diffwave_spec, write_tiny_run
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_convert import import_amphion, import_lmnt
from vocfw.plugins.models.framewave import FrameWave
from vocfw.plugins.models.wavegrad import WaveGrad

BOUND_MIB = 1024  # the most a refused bomb may take: vocfw's imports plus 256 MiB or more
CEILING_MIB = 2048  # where a measured command is killed
PARAMETER_BUDGET = 2**26  # the largest model the built-in limits allow (256 MiB of float32)
FEATURES = MelConfig(n_mels=20)
QUIET = {**os.environ, "PYTHONWARNINGS": "ignore::RuntimeWarning:runpy"}




def stride0_state(model_cls: type, **args: int) -> dict[str, torch.Tensor]:
    """A state dict of ``model_cls(**args)``'s shapes whose tensors are expanded views of one
    number: a few bytes on disk, however large the shapes."""
    with torch.device("meta"):
        shapes = {key: value.shape for key, value in model_cls(**args).state_dict().items()}
    return {key: torch.zeros(1).expand(shape) for key, shape in shapes.items()}


def measured(*argv: str) -> peak_memory.Measured:
    return peak_memory.vocfw_measured(*argv, ceiling_mib=CEILING_MIB, timeout=300, env=QUIET)


def assert_refused_cheaply(result: peak_memory.Measured, *needles: str) -> None:
    """Exit status 1, one line on stderr holding every needle, and a peak under the bound."""
    assert not result.killed, f"passed {CEILING_MIB} MiB: {result.stderr[-2000:]}"
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert all(needle in lines[0] for needle in needles), lines[0]
    assert result.peak_mib < BOUND_MIB, f"peak {result.peak_mib:.0f} MiB"


def stored_run(run: Path, edit: dict[str, dict]) -> Path:
    """A tiny DiffWave run whose ``components.json`` is then edited: ``{part: {key: value}}``
    (``features`` keys, or a model's or sampler's init_args)."""
    write_tiny_run(run, tiny_diffwave_spec(FEATURES))
    [path] = run.glob(f"checkpoint/*/{COMPONENTS_FILE}")
    spec = json.loads(path.read_text())
    for part, values in edit.items():
        (spec[part] if part == "features" else spec[part]["init_args"]).update(values)
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("edit, key", [
    ({"model": {"residual_channels": 30000}}, "residual_channels"),
    ({"model": {"residual_layers": 10_000_000}}, "residual_layers"),
    ({"model": {"num_steps": 10**9}, "sampler": {"num_steps": 10**9}}, "num_steps"),
    ({"features": {"n_fft": 134217728}}, "n_fft"),
], ids=["channels", "layers", "steps", "n_fft"])
def test_predict_refuses_oversized_stored_specs_in_bounded_memory(
    tmp_path: Path, edit: dict, key: str
) -> None:
    path = stored_run(tmp_path / "run", edit)
    (tmp_path / "mels").mkdir()
    result = measured("predict", "--run", str(tmp_path / "run"), "--mode", "feature",
                      "--feature_dir", str(tmp_path / "mels"))
    assert_refused_cheaply(result, str(path), key)


@pytest.mark.slow
def test_a_stride0_lmnt_checkpoint_of_a_huge_diffwave_is_refused_in_bounded_memory(
    tmp_path: Path
) -> None:
    source = tmp_path / "weights.pt"
    torch.save({"model": stride0_state(DiffWave, n_mels=80, residual_layers=2,
                                       residual_channels=12000, dilation_cycle_length=2)}, source)
    assert source.stat().st_size < 16_000
    result = measured("convert", "lmnt", "--checkpoint", str(source),
                      "--output", str(tmp_path / "run"))
    assert_refused_cheaply(result, str(source), "residual_channels")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_stride0_lmnt_wavegrad_checkpoint_of_a_huge_wavegrad_is_refused_in_bounded_memory(
    tmp_path: Path
) -> None:
    source = tmp_path / "weights.pt"
    torch.save({"model": stride0_state(WaveGrad, n_mels=128, hop_length=300,
                                       base_channels=2048)}, source)
    result = measured("convert", "lmnt-wavegrad", "--checkpoint", str(source),
                      "--output", str(tmp_path / "run"))
    assert_refused_cheaply(result, str(source), "base_channels")


@pytest.mark.slow
def test_a_huge_stride0_tensor_under_an_unexpected_key_is_never_read(tmp_path: Path) -> None:
    folder = tmp_path / "epoch-0001_step-0000100_loss-0.100000"
    folder.mkdir()
    state = {**DiffWave(n_mels=100, residual_layers=2, residual_channels=4).state_dict(),
             "extra.weight": torch.zeros(1).expand(45_000, 45_000)}
    torch.save(state, folder / "pytorch_model.bin")
    result = measured("convert", "amphion", "--folder", str(folder),
                      "--output", str(tmp_path / "run"))
    assert_refused_cheaply(result, "pytorch_model.bin", "extra.weight")


LIMITED = [(DiffWave, "model", key) for key in DiffWave.size_limits] + [
    (WaveGrad, "model", key) for key in WaveGrad.size_limits]


@pytest.mark.parametrize("cls, part, key", LIMITED,
                         ids=[f"{cls.__name__}.{key}" for cls, _, key in LIMITED])
def test_each_model_size_limit_is_checked_before_the_model_is_built(
    tmp_path: Path, cls: type, part: str, key: str
) -> None:
    limit = cls.size_limits[key]
    spec = tiny_diffwave_spec(FEATURES)
    if cls is WaveGrad:
        spec["model"] = {"class_path": "WaveGrad", "init_args": {
            "n_mels": 20, "hop_length": 256, "base_channels": 2}}
        spec["sampler"]["class_path"] = "WaveGradDiffusion"
    spec["model"]["init_args"][key] = limit + 1
    if key == "num_steps":
        spec["sampler"]["init_args"]["num_steps"] = limit + 1
    with pytest.raises(SpecError) as error:
        build_components(spec, "stored.json")
    message = str(error.value)
    assert message.startswith("stored.json: ") and key in message and f"{limit:,}" in message
    assert cls.__name__ in message and "\n" not in message
    assert isinstance(error.value, VocfwError)


@pytest.mark.slow
def test_a_sampler_size_limit_is_checked_when_another_sampler_is_chosen() -> None:
    spec = {"features": FEATURES.to_dict(),
            "model": {"class_path": "WaveGrad",
                      "init_args": {"n_mels": 20, "hop_length": 256, "base_channels": 2}},
            "sampler": {"class_path": "WaveGradDiffusion", "init_args": {}}}
    components = build_components(spec)
    with pytest.raises(SpecError, match=r"num_steps.*10,000"):
        build_sampler(components, {"class_path": "WaveGradDiffusion",
                                   "init_args": {"num_steps": 10_001}}, "--sampler")


def test_stored_limits_are_checked_after_strings_become_numbers(tmp_path: Path) -> None:
    path = stored_run(tmp_path / "run", {"model": {"residual_channels": "257"}})
    with pytest.raises(SpecError, match="residual_channels") as error:
        load_components(tmp_path / "run")
    assert str(path) in str(error.value)


def test_the_built_in_limits_keep_every_model_under_the_parameter_budget() -> None:
    for cls in (DiffWave, WaveGrad, FrameWave):
        with torch.device("meta"):
            largest = cls(**cls.size_limits)
        assert sum(p.numel() for p in largest.parameters()) < PARAMETER_BUDGET, cls.__name__
    samplers = [entry.cls for entry in build_registry().entries["samplers"].values()
                if issubclass(entry.cls, DiffusionProcess)]
    assert len(samplers) >= 5 and all(cls.size_limits["num_steps"] == 10_000 for cls in samplers)


@pytest.mark.parametrize("key", sorted(FEATURE_LIMITS))
def test_each_feature_size_is_bounded_with_a_one_line_error(key: str) -> None:
    limit = FEATURE_LIMITS[key]
    largest = {key: limit, **({"f_max": None} if key == "sample_rate" else {})}
    assert getattr(MelConfig(**largest), key) == limit
    with pytest.raises(FeatureError) as error:
        MelConfig(**{**largest, key: limit + 1})
    assert isinstance(error.value, ValueError) and isinstance(error.value, VocfwError)
    message = str(error.value)
    assert f"features.{key}" in message and f"{limit:,}" in message and "\n" not in message


@pytest.mark.parametrize("f_min, f_max", [(-1.0, 8000.0), (float("nan"), None), (12000.0, None)])
def test_the_lowest_mel_frequency_must_lie_below_the_highest(f_min: float, f_max: float) -> None:
    with pytest.raises(FeatureError, match="f_min"):
        MelConfig(f_min=f_min, f_max=f_max)


def test_the_n_fft_of_a_stored_spec_is_one_line_naming_it(tmp_path: Path) -> None:
    path = stored_run(tmp_path / "run", {"features": {"n_fft": 134217728}})
    with pytest.raises(SpecError, match="n_fft") as error:
        load_components(tmp_path / "run")
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_an_lmnt_checkpoint_is_refused_on_its_declared_sizes(tmp_path: Path) -> None:
    source = tmp_path / "weights.pt"
    torch.save({"model": stride0_state(DiffWave, n_mels=80, residual_layers=2,
                                       residual_channels=257)}, source)
    with pytest.raises(ConversionError, match=r"residual_channels.*256") as error:
        import_lmnt(source, tmp_path / "run")
    assert str(source) in str(error.value) and isinstance(error.value, VocfwError)
    assert not (tmp_path / "run").exists()


def test_an_lmnt_n_fft_beyond_the_feature_limit_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "weights.pt"
    torch.save({"model": DiffWave(n_mels=80, residual_layers=2, residual_channels=4).state_dict(),
                "params": {"n_fft": 134217728}}, source)
    with pytest.raises(ConversionError, match="n_fft") as error:
        import_lmnt(source, tmp_path / "run")
    assert str(source) in str(error.value) and "\n" not in str(error.value)


def test_compressed_entries_in_a_torch_file_are_refused(tmp_path: Path) -> None:
    """torch.save stores its entries uncompressed; a deflated one could inflate a thousandfold."""
    plain, packed = tmp_path / "plain.bin", tmp_path / "epoch-0001_step-0000001_loss-0.100000"
    torch.save(DiffWave(n_mels=100, residual_layers=2, residual_channels=4).state_dict(), plain)
    packed.mkdir()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(packed / "pytorch_model.bin", "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(ConversionError, match="compressed") as error:
        import_amphion(packed, tmp_path / "run")
    assert str(packed / "pytorch_model.bin") in str(error.value)


def test_a_checkpoint_holding_code_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    source = tmp_path / "evil.pt"
    torch.save({"model": {}, "params": {"x": Path("a")}}, source)
    assert main(["convert", "lmnt", "--checkpoint", str(source),
                 "--output", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(source) in err and "pathlib.PosixPath" in err and "trusted source" not in err
