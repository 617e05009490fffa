"""Packaging: everything lives under ``vocfw``; no bare top-level package leaks out."""

from __future__ import annotations

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
