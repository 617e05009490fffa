"""No config makes vocfw import a module it has not registered, whichever route the config
takes (file, dotted key, nested file, standard input, abbreviation, environment variable,
``Any``-typed value), and YAML is read only within bounds on size and nesting."""

from __future__ import annotations

import io
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_running import run
from jsonargparse import ArgumentError, ArgumentParser
from peak_memory import vocfw_measured

from vocfw.cli.parser import build_parser
from vocfw.core.config_safety import (
    MAX_DEPTH,
    ConfigBoundsError,
    load_yaml,
    registered_imports_only,
)
from vocfw.core.registry import build_registry

PROBE_SOURCE = """
from pathlib import Path
Path({marker!r}).write_text("imported")


class Net:
    pass
"""
# a config whose aliases expand to 9**9 strings (gigabytes) from a few hundred bytes
BOMB = "".join(
    ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n',
     *(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(1, 9))]
)
DEEP_LIST = "[" * 20_000 + "]" * 20_000
# vocfw fit --help peaks near 700 MiB (torch and the plugins imported); a refused bomb adds
# next to nothing, an expanded one gigabytes
PEAK_BOUND_MIB = 1500
# ``python -m vocfw.cli.main`` warns that the package imported the module first
QUIET = {**os.environ, "PYTHONWARNINGS": "ignore::RuntimeWarning:runpy"}


@dataclass(frozen=True)
class Probe:
    """A module beside the config that records being imported by writing ``marker``."""

    name: str
    marker: Path

    def assert_not_imported(self) -> None:
        assert self.name not in sys.modules, f"{self.name} was imported"
        assert not self.marker.exists()


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Probe]:
    """A uniquely named probe module in the working folder, which is also on ``sys.path``."""
    name = f"vocfw_probe_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "marker.txt"
    (tmp_path / f"{name}.py").write_text(PROBE_SOURCE.format(marker=str(marker)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield Probe(name, marker)
    sys.modules.pop(name, None)


def assert_one_line_error(code: int, err: str, *names: str) -> str:
    """The command failed with exactly one line on standard error, naming each of ``names``."""
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------ every import route


def test_a_dotted_class_path_key_imports_nothing(probe: Probe, tmp_path: Path, capsys) -> None:
    config = write(tmp_path / "exp.yaml",
                   f"data:\n  processed_dir: d\nmodel.class_path: {probe.name}.Net\n")
    code, _, err = run(["fit", "--config", str(config), "--name", "r1"], capsys)
    probe.assert_not_imported()
    assert_one_line_error(code, err, f"{probe.name}.Net", "registered")


def test_a_nested_model_config_file_imports_nothing(probe: Probe, tmp_path: Path, capsys) -> None:
    base = write(tmp_path / "base.yaml", "data:\n  processed_dir: d\n")
    evil = write(tmp_path / "evil_model.yaml", f"class_path: {probe.name}.Foo\n")
    code, _, err = run(["fit", "--config", str(base), "--model", str(evil), "--name", "r1"], capsys)
    probe.assert_not_imported()
    assert_one_line_error(code, err, f"{probe.name}.Foo")


def test_a_config_from_standard_input_imports_nothing(
    probe: Probe, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"model:\n  class_path: {probe.name}.Net\n"))
    code, _, err = run(["fit", "--config", "-", "--name", "r1"], capsys)
    probe.assert_not_imported()
    assert_one_line_error(code, err, "standard input", f"{probe.name}.Net")


@pytest.mark.parametrize("command", ["fit", "preprocess"])
@pytest.mark.parametrize("spelling", [["--conf", "{}"], ["--co={}"], ["-c{}"]])
def test_abbreviated_config_options_import_nothing(
    probe: Probe, tmp_path: Path, capsys, command: str, spelling: list[str]
) -> None:
    config = write(tmp_path / "exp.yaml", f"model:\n  class_path: {probe.name}.Net\n")
    argv = [command, *(part.format(config) for part in spelling)]
    code, _, err = run([*argv, "--name", "r1"] if command == "fit" else argv, capsys)
    probe.assert_not_imported()
    assert_one_line_error(code, err)


def test_a_config_named_by_an_environment_variable_imports_nothing(
    probe: Probe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    config = write(tmp_path / "plain_evil.yaml", f"model:\n  class_path: {probe.name}.Net\n")
    monkeypatch.setenv("JSONARGPARSE_DEFAULT_ENV", "true")
    monkeypatch.setenv("VOCFW_FIT__CONFIG", str(config))
    code, _, err = run(["fit"], capsys)
    probe.assert_not_imported()
    assert_one_line_error(code, err, f"{probe.name}.Net")


def test_a_class_in_predict_sampler_args_imports_nothing(
    probe: Probe, tmp_path: Path, capsys
) -> None:
    config = write(tmp_path / "f.yaml", (
        f"run: {tmp_path / 'nowhere'}\nmode: feature\nfeature_dir: {tmp_path}\n"
        f"sampler_args: {{inference_schedule: {{class_path: {probe.name}.Foo}}}}\n"))
    code, _, err = run(["predict", "-c", str(config)], capsys)
    probe.assert_not_imported()
    assert_one_line_error(code, err)


def test_a_class_in_the_preprocess_features_imports_nothing(
    probe: Probe, tmp_path: Path, capsys
) -> None:
    config = write(tmp_path / "exp.yaml", f"data: {{features: {{class_path: {probe.name}.Foo}}}}\n")
    code, _, err = run(["preprocess", "--config", str(config)], capsys)
    probe.assert_not_imported()
    assert_one_line_error(code, err, str(config), f"{probe.name}.Foo")


@pytest.mark.parametrize("argv", [
    ["fit", "--model", "{}.Net", "--name", "r1"],
    ["fit", "--sampler", "{{class_path: {}.Net}}", "--name", "r1"],
    ["fit", "--model.help", "{}.Net"],
])
def test_class_options_on_the_command_line_import_nothing(
    probe: Probe, capsys, argv: list[str]
) -> None:
    code, _, err = run([part.format(probe.name) for part in argv], capsys)
    probe.assert_not_imported()
    assert_one_line_error(code, err, f"{probe.name}.Net")


def test_the_import_policy_holds_only_while_vocfw_parses(probe: Probe) -> None:
    """Other users of jsonargparse in the process, and classes registered later, are not
    affected once a command is done."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--cls", type=type)
    with registered_imports_only(build_registry()), pytest.raises(ArgumentError):
        parser.parse_args(["--cls", f"{probe.name}.Net"])
    probe.assert_not_imported()
    assert parser.parse_args(["--cls", f"{probe.name}.Net"]).cls.__name__ == "Net"
    assert probe.marker.exists()


# ------------------------------------------------------------------------ messages and limits


def test_an_unregistered_class_is_one_line_naming_the_file_and_the_class(
    probe: Probe, tmp_path: Path, capsys
) -> None:
    config = write(tmp_path / "exp.yaml", f"model:\n  class_path: {probe.name}.Net\n")
    code, _, err = run(["fit", "--config", str(config), "--name", "r1"], capsys)
    line = assert_one_line_error(code, err, str(config), f"model: '{probe.name}.Net'")
    assert "is not a registered class" in line and "nothing was imported" in line


def test_an_unknown_config_key_is_one_line_naming_it(tmp_path: Path, capsys) -> None:
    config = write(tmp_path / "exp.yaml", "data:\n  processed_dir: d\nbogus_key: 1\n")
    code, _, err = run(["fit", "--config", str(config), "--name", "r1"], capsys)
    assert_one_line_error(code, err, "'bogus_key'")


def test_registered_classes_still_parse_by_every_name(tmp_path: Path) -> None:
    parser, _ = build_parser()
    for model in ("DiffWave", "vocfw.plugins.models.DiffWave",
                  "vocfw.plugins.models.diffwave.DiffWave"):
        config = write(tmp_path / "exp.yaml", f"model:\n  class_path: {model}\n")
        cfg = parser.parse_args(["fit", "--config", str(config)])
        assert cfg.fit.model.class_path.endswith("DiffWave")


def test_aliases_within_the_budget_are_read(tmp_path: Path) -> None:
    config = write(tmp_path / "exp.yaml", (
        "data:\n  features: {n_mels: &bands 80}\n"
        "model:\n  class_path: DiffWave\n  init_args: {n_mels: *bands}\n"))
    parser, _ = build_parser()
    cfg = parser.parse_args(["fit", "--config", str(config)])
    assert cfg.fit.model.init_args.n_mels == 80


def test_yaml_past_the_bounds_is_refused_before_it_is_built() -> None:
    with pytest.raises(ConfigBoundsError, match="aliases") as bomb:
        load_yaml(BOMB, "bomb.yaml")
    with pytest.raises(ConfigBoundsError, match="deeper") as deep:
        load_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "deep.yaml")
    with pytest.raises(ConfigBoundsError, match="deeper"):
        load_yaml("a:\n" + "".join(f"{'  ' * level}k:\n" for level in range(1, MAX_DEPTH + 1)))
    load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(ConfigBoundsError, match="contains it"):
        load_yaml("a: &a [*a]\n")  # a list that holds itself
    for error, name in ((bomb.value, "bomb.yaml"), (deep.value, "deep.yaml")):
        assert isinstance(error, ValueError) and name in str(error) and "\n" not in str(error)
    assert load_yaml("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}


def test_an_alias_bomb_in_a_value_read_as_yaml_is_one_line_naming_the_key(
    tmp_path: Path, capsys
) -> None:
    """A quoted string is read as YAML again where the key takes a number; a smaller bomb
    (9**7 strings) keeps this process safe should the bound ever fail."""
    bomb = "".join(BOMB.splitlines(keepends=True)[:7])
    config = write(tmp_path / "exp.yaml", f"seed: {json.dumps(bomb)}\n")
    code, _, err = run(["fit", "--config", str(config), "--name", "r1"], capsys)
    assert_one_line_error(code, err, str(config), '"seed"', "aliases expand past")


@pytest.mark.parametrize("config", [
    f"data:\n  processed_dir: d\nbogus: {DEEP_LIST}\n",
    "data:\n  processed_dir: d\nbogus:\n" + "".join(f"{'  ' * n}k:\n" for n in range(1, 100)),
])
def test_deep_nesting_in_a_config_is_one_line_naming_the_file(
    tmp_path: Path, capsys, config: str
) -> None:
    path = write(tmp_path / "deep.yaml", config)
    code, _, err = run(["fit", "--config", str(path), "--name", "r1"], capsys)
    assert_one_line_error(code, err, str(path))
    assert "Traceback" not in err


@pytest.mark.slow
def test_an_alias_bomb_under_an_unknown_key_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    bomb = write(tmp_path / "bomb.yaml", BOMB)
    measured = vocfw_measured("fit", "--config", str(bomb), "--name", "r1",
                              ceiling_mib=4 * PEAK_BOUND_MIB, timeout=120, cwd=tmp_path,
                              env=QUIET)
    assert not measured.killed and measured.peak_mib < PEAK_BOUND_MIB, measured.peak_mib
    assert_one_line_error(measured.returncode, measured.stderr, str(bomb), "aliases")


@pytest.mark.slow
def test_a_deeply_nested_list_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    deep = write(tmp_path / "deep.yaml", f"bogus: {DEEP_LIST}\n")
    measured = vocfw_measured("fit", "--config", str(deep), "--name", "r1",
                              ceiling_mib=4 * PEAK_BOUND_MIB, timeout=120, cwd=tmp_path,
                              env=QUIET)
    assert not measured.killed and measured.peak_mib < PEAK_BOUND_MIB, measured.peak_mib
    assert_one_line_error(measured.returncode, measured.stderr, str(deep))
