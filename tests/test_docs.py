"""The README and the pages under docs/: their config examples parse, their links resolve, and
the hook reference quotes every hook's exact signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from config_reading import build_config, read_config

from vocfw.core import hookspecs

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEXTS = {page.relative_to(ROOT).as_posix(): page.read_text(encoding="utf-8") for page in PAGES}
YAML_BLOCKS = [block for text in TEXTS.values()
               for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]
LINKS = [(name, target) for name, text in TEXTS.items()
         for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", text)]


def test_docs_have_config_examples() -> None:
    assert len(YAML_BLOCKS) >= 3


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.splitlines()[0] for b in YAML_BLOCKS])
def test_config_examples_parse(block: str, tmp_path: Path) -> None:
    named = re.match(r"# (tests/configs/\S+\.yaml)", block)
    if named:
        assert (ROOT / named.group(1)).read_text(encoding="utf-8") == block
    path = tmp_path / "example.yaml"
    path.write_text(block)
    fit, datasets, features = read_config(path)
    components = build_config(path)  # as fit builds them: sampler and model checked together
    assert components.model.n_mels == components.features.n_mels == features.n_mels
    assert datasets and fit.data.datasets == datasets


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p}->{t}" for p, t in LINKS])
def test_links_between_pages_resolve(page: str, target: str) -> None:
    assert ((ROOT / page).parent / target).is_file(), f"{page} links to missing {target}"


def test_readme_links_every_docs_page() -> None:
    linked = {target for page, target in LINKS if page == "README.md"}
    assert {f"docs/{page.name}" for page in PAGES[1:]} <= linked


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    hooks = [name for name in dir(hookspecs) if name.startswith("vocfw_")]
    assert hooks
    for name in hooks:
        signature = inspect.signature(getattr(hookspecs, name))
        assert f"#### `{name}{signature}`".replace("'", "") in TEXTS["docs/plugins.md"], name
