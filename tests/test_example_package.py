"""The example plugin package, from source to ``vocfw fit`` and ``vocfw predict``.

It is built and installed into a temporary folder (no network: the build uses the installed
setuptools), then used by subprocesses that have that folder on their path, exactly as an
outside package is used; vocfw itself is not changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from vocfw.core.testing.fixture import tone
from vocfw.core.testing.processed import write_tiny_run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "vocfw-plugin-example"
DIST = "vocfw-plugin-example"


def install(tmp_path: Path) -> dict[str, str]:
    """Build the example from a copy of its source into ``tmp_path/site``; the environment
    of a process that sees it."""
    source = tmp_path / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site), str(source)],
                   check=True)
    return {**os.environ, "PYTHONPATH": str(site)}


BROKEN = """
import torch

from vocfw.core import hookimpl
from vocfw.core.sampler import Sampler


class Broken(Sampler):
    def training_loss(self, model, audio, mel, generator=None):
        return torch.tensor(float("nan"))

    def sample(self, model, mel, generator=None):
        return torch.full((mel.shape[0], 1), float("nan"))


@hookimpl
def vocfw_register_samplers():
    return [Broken]
"""


def install_broken_beside(site: Path) -> None:
    """Install an unrelated plugin distribution whose sampler breaks every contract."""
    (site / "broken_plugin.py").write_text(BROKEN, encoding="utf-8")
    info = site / "broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text("[vocfw]\nbroken = broken_plugin\n",
                                           encoding="utf-8")


def vocfw(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vocfw.cli.main", *args], env=env, cwd=cwd,
                          capture_output=True, text=True)


def write_clips(root: Path) -> Path:
    (root / "wavs").mkdir(parents=True)
    for speaker in ("anna", "ben"):
        for take in range(4):
            sf.write(root / "wavs" / f"{speaker}_{take:02d}.wav",
                     tone(0.3, 24000, freq=180.0 + 20 * take, seed=take), 24000)
    return root


@pytest.mark.slow
def test_example_package_from_source_to_fit_and_predict(tmp_path: Path) -> None:
    env = install(tmp_path)
    listing = json.loads(vocfw(env, tmp_path, "plugins", "--json").stdout)
    [plugin] = [p for p in listing["plugins"] if p["distribution"] == DIST]
    assert plugin["plugin"] == f"{DIST}:vocfw-plugin-example" and plugin["version"] == "0.1.0"
    assert [m["name"] for m in plugin["models"]] == ["TinyWave"]
    assert [s["name"] for s in plugin["samplers"]] == ["CosineDiffusion"]
    assert [c["name"] for c in plugin["corpora"]] == ["speakerclips"]
    assert plugin["converters"] == [] and listing["failures"] == []

    install_broken_beside(tmp_path / "site")  # the example's own tests must not see it
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(EXAMPLE / "tests")], env=env, cwd=tmp_path,
                           capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr

    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"clips": {"class_path": "speakerclips", "init_args": {
                     "root": str(write_clips(tmp_path / "raw")), "test_every": 2}}},
                 "processed_dir": str(tmp_path / "data")},
        "model": {"class_path": "TinyWave", "init_args": {"channels": 8}},
        "sampler": {"class_path": "CosineDiffusion", "init_args": {"inference_steps": 3}},
        "trainer": {"log_dir": str(tmp_path / "runs"), "batch_size": 2, "max_steps": 3,
                    "eval_audio": False},
    }))
    for command in (["preprocess", "--config", str(config)],
                    ["fit", "--config", str(config), "--name", "tiny"]):
        done = vocfw(env, tmp_path, *command)
        assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "tiny"
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["class_path"].endswith(
        "TinyWave")
    processed = tmp_path / "data" / "clips"
    done = vocfw(env, tmp_path, "predict", "--run", str(run), "--mode", "feature",
                 "--feature_dir", str(processed), "--output", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    for mel in (processed / "mels").glob("*.npy"):
        audio, rate = sf.read(tmp_path / "out" / "pred" / f"{mel.stem}.wav")
        assert rate == 24000 and audio.shape == (np.load(mel).shape[1] * 256,)

    ddpm_run = write_tiny_run(tmp_path / "ddpm", {
        "features": {}, "model": {"class_path": "DiffWave", "init_args": {
            "residual_layers": 2, "residual_channels": 8}},
        "sampler": {"class_path": "DDPM", "init_args": {"inference_schedule": "fast"}}})
    done = vocfw(env, tmp_path, "predict", "--run", str(ddpm_run), "--mode", "feature",
                 "--feature_dir", str(processed), "--output", str(tmp_path / "cosine"),
                 "--sampler", "CosineDiffusion")
    assert done.returncode == 1 and ("--sampler CosineDiffusion cannot vocode with this model: "
                                     "the model was trained with DDPM") in done.stderr

    refused = vocfw(env, tmp_path, "convert", "export-lmnt", "--run", str(run),
                    "--output", str(tmp_path / "weights.pt"))
    assert refused.returncode == 1 and "DiffWave" in refused.stderr
    assert not (tmp_path / "weights.pt").exists()
