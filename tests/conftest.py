"""Shared fixtures: fake third-party distributions found through importlib.metadata.

Before anything is collected, torchaudio must load beside the installed torch: a mismatched
binary pair would otherwise fail every test that imports vocfw, so the run stops with one line.
"""

from __future__ import annotations

import gc
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonargparse import _typehints


def pytest_configure(config: pytest.Config) -> None:
    """Stop at once, in one line, when torchaudio cannot load its extension."""
    import torch

    try:
        import torchaudio  # noqa: F401
    except (ImportError, OSError) as exc:
        pytest.exit(
            f"torchaudio cannot be imported beside torch {torch.__version__} ({exc}); "
            "install the torch/torchaudio pair pinned in pyproject.toml",
            returncode=3,
        )


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Factory: write a plugin module and a dist-info folder declaring it in the ``vocfw``
    entry-point group, put them on ``sys.path``, and return the module's unique name."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created: list[str] = []

    def make(distribution: str, source: str, plugin: str | None = None) -> str:
        module = f"fake_{distribution.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = site / f"{distribution.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.2.3\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[vocfw]\n{plugin or distribution} = {module}\n", encoding="utf-8"
        )
        created.append(module)
        return module

    yield make
    for module in created:
        sys.modules.pop(module, None)
    # jsonargparse keeps a parser per class it has instantiated (a private cache): drop it, so the
    # plugin classes go too and their names stay unique for later tests, whatever the order
    _typehints._cached_class_parsers.clear()
    gc.collect()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` where no CUDA device is present."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """``precision="auto"`` resolves to ``fp32`` in every test, whatever this machine's CPU or
    GPU, so expected outputs do not depend on the hardware; tests of ``auto`` patch it back."""
    monkeypatch.setattr("vocfw.core.infer.precision.native_bf16", lambda device: False)
