"""The shape of the source tree: modules and functions small enough to read on a screen, and
plugins that use each other only through public names, as an outside package would."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(path for folder in ("core", "cli", "plugins")
                 for path in (ROOT / folder).rglob("*.py"))
MAX_MODULE_LINES = 300
MAX_FUNCTION_CODE_LINES = 60


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _code_lines(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function body that hold code: no docstring, comment or blank line."""
    first = node.body[0]
    start = first.lineno
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
            first.value.value, str):
        start = first.end_lineno + 1
    body = lines[start - 1:node.end_lineno]
    return sum(1 for line in body if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_modules_and_functions_fit_on_a_screen(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{path.name}: {len(lines)} lines"
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            count = _code_lines(lines, node)
            assert count <= MAX_FUNCTION_CODE_LINES, f"{path.name}: {node.name} has {count}"


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every ``from module import name`` in ``path``."""
    return [(node.module or "", alias.name) for node in ast.walk(_tree(path))
            if isinstance(node, ast.ImportFrom) for alias in node.names]


PLUGIN_SOURCES = [path for path in SOURCES if path.parts[len(ROOT.parts)] == "plugins"]


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_plugins_import_no_private_name_of_another_module(path: Path) -> None:
    private = [f"{module}.{name}" for module, name in _imports(path)
               if module.startswith("vocfw.") and name.startswith("_")]
    assert not private, f"{path.name} imports private names {private}"


@pytest.mark.parametrize("path", [p for p in PLUGIN_SOURCES if "models" in p.parts],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_model_plugins_import_no_sampler_plugin(path: Path) -> None:
    samplers = [module for module, _ in _imports(path)
                if module.startswith("vocfw.plugins.samplers")]
    assert not samplers, f"{path.name} imports {samplers}; name samplers by registered name"


def test_the_cli_imports_no_plugin() -> None:
    for path in (ROOT / "cli").rglob("*.py"):
        plugins = [module for module, _ in _imports(path) if module.startswith("vocfw.plugins")]
        assert not plugins, f"{path.name} imports {plugins}; name classes by registered name"
