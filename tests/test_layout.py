"""Packaging: everything lives under ``vocfw``; no bare top-level package leaks out."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("bare", ["core", "cli", "plugins"])
def test_no_bare_top_level_module_is_importable(bare: str, tmp_path: Path) -> None:
    """Asked from a folder outside the checkout, as an installed package is used."""
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({bare!r}) is not None)"
    assert subprocess.run([sys.executable, "-c", probe], cwd=tmp_path).returncode == 0


def test_vocfw_modules_come_from_this_tree() -> None:
    import vocfw.core.registry

    assert Path(vocfw.core.registry.__file__).resolve() == ROOT / "core" / "registry.py"


@pytest.mark.slow
def test_wheel_holds_only_vocfw_python_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
         "-q", "-w", str(tmp_path)],
        check=True,
    )
    [wheel] = tmp_path.glob("vocfw-*.whl")
    names = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")]
    assert names, "the wheel holds no Python files"
    assert all(n.startswith("vocfw/") for n in names), [n for n in names if "vocfw/" not in n]
    expected = {"vocfw/core/registry.py", "vocfw/cli/main.py",
                "vocfw/plugins/models/diffwave.py", "vocfw/plugins/samplers/ddpm.py",
                "vocfw/plugins/datasets/vctk.py"}
    assert expected <= set(names)
    entry_points = next(n for n in zipfile.ZipFile(wheel).namelist()
                        if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[vocfw]" in text and "vocfw.plugins.models" in text


def imported_modules(source: str, package: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` statement in ``source`` names, as an
    absolute dotted name (relative imports resolved against ``package``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules_importing(root: Path, folder: str, forbidden: tuple[str, ...]) -> dict[str, list]:
    """Modules under ``root/folder`` (installed as ``vocfw.{folder}``) that import one of
    ``forbidden`` or something inside it."""
    offenders = {}
    for path in sorted((root / folder).rglob("*.py")):
        package = ".".join(["vocfw", *path.relative_to(root).parent.parts])
        bad = sorted(
            name for name in imported_modules(path.read_text(encoding="utf-8"), package)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        if bad:
            offenders[path.relative_to(root).as_posix()] = bad
    return offenders


def test_core_imports_neither_cli_nor_plugins() -> None:
    """Imports run one way: cli -> core <- plugins."""
    assert modules_importing(ROOT, "core", ("vocfw.cli", "vocfw.plugins")) == {}


def test_inference_does_not_import_training() -> None:
    assert modules_importing(ROOT, "core/infer", ("vocfw.core.train",)) == {}


def test_the_import_scan_finds_every_form_of_import(tmp_path: Path) -> None:
    (tmp_path / "core" / "data").mkdir(parents=True)
    (tmp_path / "core" / "ok.py").write_text("import os\nfrom vocfw.core import seed\n")
    (tmp_path / "core" / "data" / "a.py").write_text("from ...cli import main\n")
    (tmp_path / "core" / "data" / "b.py").write_text("def f():\n    import vocfw.plugins.models\n")
    (tmp_path / "core" / "c.py").write_text("from vocfw.cli.parser import build_parser\n")
    assert modules_importing(tmp_path, "core", ("vocfw.cli", "vocfw.plugins")) == {
        "core/c.py": ["vocfw.cli.parser", "vocfw.cli.parser.build_parser"],
        "core/data/a.py": ["vocfw.cli", "vocfw.cli.main"],
        "core/data/b.py": ["vocfw.plugins.models"],
    }
