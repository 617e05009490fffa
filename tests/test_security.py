"""Nothing read from disk runs code: class paths in stored specs and config files resolve only
against registered classes, and nothing else is imported or opened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import SpecError, normalise_spec
from vocfw.core.runs.checkpoint import COMPONENTS_FILE, load_components, save_weights
from vocfw.core.testing.processed import tiny_diffwave_spec
from vocfw.plugins.models.diffwave import DiffWave

FEATURES = MelConfig(n_mels=20)
CHECKPOINT = "epoch-0000_step-0000001_loss-0.100000"
ZEN = "Beautiful is better than ugly"
EVIL_SOURCE = """
from pathlib import Path
Path({marker!r}).write_text("ran")

class Evil:
    pass

DiffWave = Evil
DDPM = Evil
"""


def write_run(run: Path, model_path: str | None = None, sampler_path: str | None = None,
              raw: str | None = None) -> Path:
    """A run directory whose only checkpoint stores a spec naming the given class paths."""
    folder = run / "checkpoint" / CHECKPOINT
    folder.mkdir(parents=True)
    spec = normalise_spec(tiny_diffwave_spec(FEATURES))
    save_weights(folder / "model.safetensors", DiffWave(**spec["model"]["init_args"]).state_dict())
    if model_path is not None:
        spec["model"]["class_path"] = model_path
    if sampler_path is not None:
        spec["sampler"]["class_path"] = sampler_path
    text = raw if raw is not None else json.dumps(spec)
    (folder / COMPONENTS_FILE).write_text(text, encoding="utf-8")
    return folder


def run_python(
    script: str, cwd: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    env = {**os.environ, "BROWSER": "true", "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, *args, *([] if args else ["-c", script])],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


UNREGISTERED = [
    ("model", "vocfw_extra.Evil"), ("model", "vocfw_extra.DiffWave"),
    ("sampler", "vocfw_extra.DDPM"), ("model", "this.X"), ("model", "antigravity.X"),
    ("sampler", "this.DDPM"), ("model", "vocfw.plugins.models.diffwave.Evil"),
]


@pytest.mark.slow
def test_unregistered_class_paths_are_refused_and_never_imported(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    (tmp_path / "vocfw_extra.py").write_text(EVIL_SOURCE.format(marker=str(marker)))
    for k, (part, path) in enumerate(UNREGISTERED):
        write_run(tmp_path / f"run{k}", **{f"{part}_path": path})
    script = textwrap.dedent(f"""
        import sys
        from vocfw.core.runs.checkpoint import load_components
        from vocfw.core.components import SpecError
        from vocfw.plugins.models.diffwave_convert import export_lmnt
        for k in range({len(UNREGISTERED)}):
            for load in (load_components, lambda run: export_lmnt(run, "out.pt")):
                try:
                    load(f"run{{k}}")
                    print("LOADED", k)
                except SpecError as exc:
                    assert "\\n" not in str(exc), str(exc)
                    print("REFUSED", k, exc)
        print("IMPORTED", sorted({{"vocfw_extra", "this", "antigravity"}} & set(sys.modules)))
    """)
    result = run_python(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("REFUSED") == 2 * len(UNREGISTERED), result.stdout
    assert "LOADED" not in result.stdout
    assert "IMPORTED []" in result.stdout
    assert "is not a registered" in result.stdout and "components.json" in result.stdout
    assert ZEN not in result.stdout + result.stderr
    assert not marker.exists() and not (tmp_path / "out.pt").exists()


@pytest.mark.slow
def test_predict_in_a_run_folder_with_a_module_beside_it_runs_nothing(tmp_path: Path) -> None:
    """The README's ``python -m vocfw.cli.main predict --run .`` puts the run folder on sys.path."""
    run = tmp_path / "downloaded"
    write_run(run, model_path="vocfw_extra.DiffWave")
    marker = tmp_path / "marker.txt"
    (run / "vocfw_extra.py").write_text(EVIL_SOURCE.format(marker=str(marker)))
    (run / "mels").mkdir()
    result = run_python("", run, "-m", "vocfw.cli.main", "predict", "--run", ".",
                        "--mode", "feature", "--feature_dir", ".")
    assert result.returncode == 1
    assert not marker.exists()
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and "vocfw_extra.DiffWave" in lines[0] and "registered" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_string_spec_is_never_opened(tmp_path: Path) -> None:
    """A named pipe where a spec belongs would hang any reader; it must not even be opened."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    spec = normalise_spec(tiny_diffwave_spec(FEATURES))
    spec["model"] = str(pipe)
    write_run(tmp_path / "run", raw=json.dumps(spec))
    script = textwrap.dedent("""
        from vocfw.core.runs.checkpoint import load_components
        from vocfw.core.components import SpecError
        try:
            load_components("run")
        except SpecError as exc:
            print("REFUSED", exc)
    """)
    result = run_python(script, tmp_path, timeout=60)
    assert "REFUSED" in result.stdout, result.stdout + result.stderr
    assert "model" in result.stdout and "expected" in result.stdout


@pytest.mark.parametrize("part", ["model", "sampler", "features"])
def test_non_dict_specs_are_refused_without_reading_the_path(tmp_path: Path, part: str) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("SECRET-CONTENT: 1\n")
    spec = normalise_spec(tiny_diffwave_spec(FEATURES))
    spec[part] = str(secret)
    folder = write_run(tmp_path / "run", raw=json.dumps(spec))
    with pytest.raises(SpecError) as error:
        load_components(tmp_path / "run")
    message = str(error.value)
    assert "SECRET" not in message and part in message and str(folder / COMPONENTS_FILE) in message


@pytest.mark.parametrize("text", ["[1, 2]", '"model"', "{}", '{"model": {}, "sampler": {}}',
                                  '{"features": {}, "model": {"class_path": 3}, "sampler": {}}'])
def test_malformed_specs_are_one_named_error(tmp_path: Path, text: str) -> None:
    folder = write_run(tmp_path / "run", raw=text)
    with pytest.raises(SpecError) as error:
        load_components(folder)
    assert str(folder / COMPONENTS_FILE) in str(error.value)
    assert "\n" not in str(error.value)


def test_nested_class_paths_in_init_args_are_refused(tmp_path: Path) -> None:
    spec = normalise_spec(tiny_diffwave_spec(FEATURES))
    spec["model"]["init_args"]["extra"] = {"class_path": "this.X"}
    folder = write_run(tmp_path / "run", raw=json.dumps(spec))
    with pytest.raises(SpecError, match="init_args"):
        load_components(folder)
    assert "this" not in sys.modules


@pytest.mark.parametrize("path", ["DiffWave", "vocfw.plugins.models.DiffWave",
                                  "vocfw.plugins.models.diffwave.DiffWave"])
def test_registered_names_and_their_import_paths_load(tmp_path: Path, path: str) -> None:
    write_run(tmp_path / "run", model_path=path)
    components, _ = load_components(tmp_path / "run")
    assert type(components.model) is DiffWave


def test_fit_config_files_naming_unregistered_classes_are_refused(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "marker.txt"
    (tmp_path / "evil_mod.py").write_text(EVIL_SOURCE.format(marker=str(marker)))
    sys.path.insert(0, str(tmp_path))
    try:
        for model in ({"class_path": "evil_mod.DiffWave"}, "evil_mod.DiffWave",
                      str(tmp_path / "model.yaml")):
            config = tmp_path / "config.yaml"
            config.write_text(yaml.safe_dump({"model": model}))
            assert main(["fit", "--config", str(config), "--name", "x"]) == 1
            err = capsys.readouterr().err
            assert str(config) in err and "registered" in err
    finally:
        sys.path.remove(str(tmp_path))
    assert "evil_mod" not in sys.modules and not marker.exists()
