"""Every error vocfw raises for input it cannot use is a VocfwError, printed as one line; any
other exception is a bug, printed with its traceback and a line saying so."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from vocfw.core.errors import VocfwError

cli_main = importlib.import_module("vocfw.cli.main")  # the package re-exports main()

ROOT = Path(__file__).resolve().parents[1]
# an AssertionError on purpose: it reports a plugin failing the contract kit, not bad input
EXEMPT = {"ContractError"}


def _error_classes() -> list[tuple[str, str]]:
    found = []
    for folder in ("core", "cli", "plugins"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found += [(path.relative_to(ROOT).as_posix(), node.name)
                      for node in ast.walk(tree)
                      if isinstance(node, ast.ClassDef) and node.name.endswith("Error")]
    return found


@pytest.mark.parametrize(("path", "name"), _error_classes(), ids=lambda v: v)
def test_every_error_class_is_a_vocfw_error(path: str, name: str) -> None:
    module = importlib.import_module("vocfw." + path.removesuffix(".py").replace("/", "."))
    cls = getattr(module, name)
    if path.startswith("core/testing/") and name in EXEMPT:
        assert issubclass(cls, AssertionError) and not issubclass(cls, VocfwError)
        return
    assert issubclass(cls, VocfwError), f"{path}: {name} does not derive from VocfwError"
    builtin = [base for base in cls.__mro__ if base.__module__ == "builtins"]
    assert cls is VocfwError or builtin[0] is not Exception, f"{name} refines no built-in error"


def test_an_unexpected_exception_is_a_traceback_and_a_bug_line(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def broken(*args, **kwargs) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli_main.commands, "run_plugins", broken)
    code = cli_main.main(["plugins"])
    err = capsys.readouterr().err
    assert code == cli_main.BUG_STATUS == 70
    assert "Traceback" in err and "ZeroDivisionError: a bug" in err
    assert err.strip().splitlines()[-1].startswith("vocfw plugins: internal error: this is a bug")


@pytest.mark.parametrize("error", [ValueError("bad"), KeyError("bad")])
def test_a_builtin_error_is_no_longer_taken_for_bad_input(
    monkeypatch: pytest.MonkeyPatch, capsys, error: Exception
) -> None:
    def broken(*args, **kwargs) -> int:
        raise error

    monkeypatch.setattr(cli_main.commands, "run_plugins", broken)
    assert cli_main.main(["plugins"]) == 70
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("error", [VocfwError("x.yaml: expected a mapping"),
                                   FileNotFoundError("x.yaml: no such file")])
def test_bad_input_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys, error: Exception) -> None:
    def failing(*args, **kwargs) -> int:
        raise error

    monkeypatch.setattr(cli_main.commands, "run_plugins", failing)
    assert cli_main.main(["plugins"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
