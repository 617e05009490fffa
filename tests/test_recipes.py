"""The ready configs under recipes/: each is read as ``vocfw fit`` and ``vocfw preprocess`` read
it and builds its model and sampler; every built-in corpus has one 24 kHz recipe and every
singing corpus one at its native rate; every built-in model trains and vocodes at 44.1 and
48 kHz."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from config_reading import build_config, read_config

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig
from vocfw.core.registry import current_registry
from vocfw.core.testing.fixture import tone, write_audio

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))  # one per corpus and rate
MODEL_CONFIGS = sorted((ROOT / "recipes" / "models").glob("*.yaml"))  # one per model and rate
CONFIGS = RECIPES + MODEL_CONFIGS
NATIVE_RATES = {  # the singing corpora as recorded (recipes/README.md)
    "csd": 44100, "kising": 44100, "m4singer": 48000, "nus48e": 44100, "opencpop": 44100,
    "opensinger": 24000, "opera": 44100, "pjs": 48000, "popbutfy": 44100, "popcs": 24000,
}
RECIPE_RATE = MelConfig().sample_rate
HIGH_RATES = (44100, 48000)
TINY = {  # init_args that make each built-in model small enough to train in seconds
    "DiffWave": {"residual_layers": 2, "residual_channels": 8, "dilation_cycle_length": 2},
    "WaveGrad": {"base_channels": 2},
    "FrameWave": {"channels": 8, "hidden": 16, "layers": 1},
}


def corpus_names(datasets: dict[str, str]) -> set[str]:
    """The registered corpus each ``data.datasets`` key reads with."""
    registry = current_registry()
    return {registry.corpus_for(key).name for key in datasets}


def builtin(kind: str) -> set[str]:
    """The keys of the classes of ``kind`` that vocfw itself registers."""
    entries = current_registry().entries[kind]
    return {key for key, entry in entries.items() if entry.module.startswith("vocfw.plugins.")}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.relative_to(ROOT).as_posix() for p in CONFIGS])
def test_config_parses_and_builds(path: Path) -> None:
    _, datasets, features = read_config(path)
    components = build_config(path)
    assert components.features == features
    assert path.read_text().startswith(f"# {path.relative_to(ROOT).as_posix()}: ")
    assert len(datasets) == 1 and corpus_names(datasets) <= builtin("corpora")
    assert all(root.startswith("/data/") for root in datasets.values())
    model = components.model
    assert (model.n_mels, model.hop_length) == (features.n_mels, features.hop_length)
    if features.sample_rate != RECIPE_RATE:
        assert features.f_max == features.sample_rate / 2


def test_configs_of_one_rate_share_its_features() -> None:
    by_rate: dict[int, list[MelConfig]] = {}
    for path in CONFIGS:
        features = read_config(path)[2]
        by_rate.setdefault(features.sample_rate, []).append(features)
    assert set(by_rate) == {RECIPE_RATE, *HIGH_RATES}
    assert set(by_rate[RECIPE_RATE]) == {MelConfig()}
    for rate in HIGH_RATES:
        assert len(set(by_rate[rate])) == 1, rate


def recipes_by_corpus() -> dict[str, list[int]]:
    """Corpus -> the sample rates of its recipes (recipes/*.yaml)."""
    rates: dict[str, list[int]] = {}
    for path in RECIPES:
        _, datasets, features = read_config(path)
        (name,) = corpus_names(datasets)
        rates.setdefault(name, []).append(features.sample_rate)
    return rates


def test_every_builtin_corpus_has_one_24khz_recipe_and_singing_ones_their_native_rate() -> None:
    rates = recipes_by_corpus()
    assert set(rates) == builtin("corpora")
    for name, found in rates.items():
        assert found.count(RECIPE_RATE) == 1, name
        native = NATIVE_RATES.get(name, RECIPE_RATE)
        assert set(found) == {RECIPE_RATE, native}, name
        assert len(found) == len(set(found)), name


def test_model_configs_cover_every_builtin_model_at_44_1_and_48_khz() -> None:
    built = {(fit.model.class_path.rsplit(".", 1)[-1], features.sample_rate)
             for fit, _, features in map(read_config, MODEL_CONFIGS)}
    assert len(built) == len(MODEL_CONFIGS)
    assert built == {(model, rate) for model in builtin("models") for rate in HIGH_RATES}
    assert set(TINY) == builtin("models")


def test_recipes_quoted_in_the_docs_are_the_files() -> None:
    quoted = [block for page in sorted((ROOT / "docs").glob("*.md"))
              for block in re.findall(r"```yaml\n(# recipes/\S+\.yaml.*?)```",
                                      page.read_text(encoding="utf-8"), re.S)]
    assert quoted
    for block in quoted:
        name = block.split()[1].rstrip(":")
        assert (ROOT / name).read_text(encoding="utf-8") == block, name


@pytest.fixture(scope="module")
def corpus_at(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """Factory: a folder holding ``corpus/``, three short tones recorded at ``rate``, and room
    for their features; made once per rate."""
    made: dict[int, Path] = {}

    def make(rate: int) -> Path:
        if rate not in made:
            made[rate] = tmp_path_factory.mktemp(f"rate{rate}")
            for k in range(3):
                write_audio(made[rate] / "corpus" / "singer" / f"clip{k}.wav",
                            tone(0.8, rate, 180.0 + 40 * k, seed=k), rate)
        return made[rate]

    return make


@pytest.mark.parametrize("path", MODEL_CONFIGS, ids=[p.stem for p in MODEL_CONFIGS])
def test_native_rate_fit_and_predict(path: Path, corpus_at: Callable[[int], Path],
                                     tmp_path: Path) -> None:
    """A tiny model of each config trained a few steps and vocoding at the config's rate."""
    config = yaml.safe_load(path.read_text())
    rate, hop = config["data"]["features"]["sample_rate"], config["data"]["features"]["hop_length"]
    folder = corpus_at(rate)
    config["data"].update(datasets={"folder": str(folder / "corpus")},
                          processed_dir=str(folder / "data"))
    model = config["model"]
    model["init_args"] = {**model.get("init_args", {}), **TINY[model["class_path"]]}
    config["trainer"] = {"log_dir": str(tmp_path / "runs"), "batch_size": 2, "max_steps": 2,
                         "crop_frames": 8, "eval_audio": False, "log_every_steps": 1}
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(yaml.safe_dump(config))
    assert main(["preprocess", "--config", str(experiment)]) == 0
    assert main(["fit", "--config", str(experiment), "--name", "tiny"]) == 0
    run = tmp_path / "runs" / "tiny"

    samples = int(0.5 * rate) + 37  # not a whole number of hops
    write_audio(tmp_path / "in" / "take.wav", tone(samples / rate, rate, 300.0), rate)
    out = tmp_path / "out"
    assert main(["predict", "--run", str(run), "--mode", "audio",
                 "--audio_dir", str(tmp_path / "in"), "--output", str(out)]) == 0
    audio, written_rate = sf.read(out / "pred" / "take.wav")
    assert written_rate == rate
    assert audio.shape == (samples // hop * hop,)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0


def test_the_recipes_readme_links_every_config() -> None:
    readme = ROOT / "recipes" / "README.md"
    linked = set(re.findall(r"\]\(([^)]+\.yaml)\)", readme.read_text(encoding="utf-8")))
    assert {path.relative_to(readme.parent).as_posix() for path in CONFIGS} == linked
