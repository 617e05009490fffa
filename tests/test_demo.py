"""``vocfw demo``: the whole job on the generated corpus, in miniature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vocfw.cli.main import main

pytestmark = pytest.mark.slow


def test_demo_runs_every_stage(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out), "--clips", "20", "--max_steps", "2",
                 "--examples", "2", "--batch_size", "2"]) == 0
    assert len(list((out / "corpus" / "LJSpeech-1.1" / "wavs").glob("LJ001-*.wav"))) == 20
    assert (out / "ckpts" / "demo" / "config.yaml").is_file()
    for mode, files in (("dataset", 1), ("feature", 2), ("audio", 2)):
        summary = json.loads((out / "result" / mode / "eval" / "summary.json").read_text())
        assert len(list((out / "result" / mode / "pred").glob("*.wav"))) == files, mode
        assert summary, mode
    printed, logged = capsys.readouterr()
    assert "demo finished" in printed and str(out / "result") in printed
    assert "\r" not in logged  # progress on a non-terminal: whole lines, now and then
    assert len((printed + logged).splitlines()) < 300
