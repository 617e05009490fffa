"""The command line: subcommands, plugin listing, configs and their round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_running import run

from vocfw.cli.parser import build_parser
from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import SpecError, build_components, normalise_spec
from vocfw.core.testing.processed import tiny_diffwave_spec
from vocfw.plugins.models.diffwave import DiffWave

ROOT = Path(__file__).resolve().parents[1]
TOYS = (ROOT / "tests" / "fake_plugins" / "toys.py").read_text(encoding="utf-8")


def test_help_lists_the_subcommands(capsys) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for command in ("preprocess", "fit", "predict", "evaluate", "convert", "plugins", "demo"):
        assert command in out


def test_plugins_lists_builtins_with_distribution_and_modules(capsys) -> None:
    code, out, _ = run(["plugins", "--json"], capsys)
    assert code == 0
    listing = json.loads(out)
    by_name = {p["entry_point"]: p for p in listing["plugins"]}
    assert by_name["vocfw-builtin-models"]["distribution"] == "vocfw"
    assert by_name["vocfw-builtin-models"]["plugin"] == "vocfw:vocfw-builtin-models"
    assert by_name["vocfw-builtin-models"]["models"] == [
        {"name": "DiffWave", "class": "DiffWave", "module": "vocfw.plugins.models.diffwave"},
        {"name": "FrameWave", "class": "FrameWave", "module": "vocfw.plugins.models.framewave"},
        {"name": "WaveGrad", "class": "WaveGrad", "module": "vocfw.plugins.models.wavegrad"},
    ]
    corpora = {c["name"] for c in by_name["vocfw-builtin-datasets"]["corpora"]}
    assert corpora >= {"vctk", "csd", "libritts"}
    code, text, _ = run(["plugins"], capsys)
    assert "vocfw.plugins.samplers.ddpm.DDPM" in text
    assert "vocfw.plugins.samplers.wavegrad.WaveGradDiffusion" in text


def test_plugin_that_registers_nothing_is_listed_as_such(fake_distribution, capsys) -> None:
    fake_distribution("vocfw-empty", "", plugin="empty")
    code, out, _ = run(["plugins", "--json"], capsys)
    assert code == 0
    [empty] = [p for p in json.loads(out)["plugins"] if p["distribution"] == "vocfw-empty"]
    assert empty["plugin"] == "vocfw-empty:empty" and empty["version"] == "1.2.3"
    assert empty["corpora"] == empty["models"] == empty["samplers"] == []
    code, text, _ = run(["plugins"], capsys)
    assert "vocfw-empty:empty  (distribution vocfw-empty 1.2.3)\n  registers nothing" in text


UPPERCASE = """
    from pathlib import Path

    from vocfw.core import hookimpl
    from vocfw.core.converters import Converter

    def shout(source: Path, output: Path, times: int = 1) -> Path:
        \"\"\"Write the source text in capitals.

        Args:
            source: a text file.
            output: the file to write.
            times: how often to repeat it.
        \"\"\"
        Path(output).write_text(Path(source).read_text().upper() * times)
        return Path(output)

    @hookimpl
    def vocfw_register_converters():
        return [Converter("shout", "export", shout, "text -> capitals"),
                Converter("lmnt", "import", shout)]
"""


def test_converter_of_an_outside_plugin_is_offered_and_runs(
    fake_distribution, tmp_path: Path, capsys
) -> None:
    fake_distribution("vocfw-shout", UPPERCASE)
    code, out, _ = run(["convert", "--help"], capsys)
    assert code == 0
    assert "text -> capitals (export, from vocfw-shout)" in out
    assert "(import, from vocfw)" in out  # the built-in lmnt converter stays
    code, out, _ = run(["convert", "shout", "--help"], capsys)
    assert "--times" in out and "how often to repeat it" in out
    (tmp_path / "in.txt").write_text("quiet")
    code, out, err = run(["convert", "shout", "--source", str(tmp_path / "in.txt"),
                          "--output", str(tmp_path / "out.txt"), "--times", "2"], capsys)
    assert code == 0, err
    assert (tmp_path / "out.txt").read_text() == "QUIETQUIET"
    assert "converter 'lmnt', which plugin 'vocfw:vocfw-builtin-models' of distribution " \
           "'vocfw' already registered" in err
    code, out, _ = run(["plugins", "--json"], capsys)
    [shout] = [p for p in json.loads(out)["plugins"] if p["distribution"] == "vocfw-shout"]
    [converter] = shout["converters"]
    assert converter["name"] == "shout" and converter["direction"] == "export"
    assert converter["function"].endswith(".shout")


def test_converter_records_are_checked() -> None:
    from vocfw.core.converters import Converter

    with pytest.raises(ValueError, match="direction must be one of"):
        Converter("x", "sideways", print)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"parameters \['a'\] .* no type annotation"):
        Converter("x", "import", lambda a: a)


def test_third_party_classes_are_listed_and_selectable_by_short_name(
    fake_distribution, tmp_path: Path, capsys
) -> None:
    module = fake_distribution("vocfw-toys", TOYS)
    code, out, _ = run(["plugins", "--json"], capsys)
    toys = next(p for p in json.loads(out)["plugins"] if p["distribution"] == "vocfw-toys")
    assert toys["models"][0] == {"name": "ToyVocoder", "class": "ToyVocoder", "module": module}
    assert toys["corpora"][0]["name"] == "toycorpus"
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"class_path": "ToyVocoder", "init_args": {"width": 7}},
        "sampler": {"class_path": "ToySampler", "init_args": {"steps": 5}},
    }))
    parser, _ = build_parser()
    cfg = parser.parse_args(["fit", "--config", str(config)])
    init = parser.instantiate(cfg).fit
    assert type(init.model).__name__ == "ToyVocoder" and init.model.scale.numel() == 7
    assert init.model.n_mels == 100
    assert type(init.sampler).__name__ == "ToySampler" and init.sampler.steps == 5


@pytest.mark.parametrize("command", ["fit", "preprocess", "predict"])
def test_print_config_round_trips(command: str, tmp_path: Path, capsys) -> None:
    extra = ["--run", "somewhere", "--mode", "feature"] if command == "predict" else []
    code, first, _ = run([command, *extra, "--print_config"], capsys)
    assert code == 0
    path = tmp_path / "config.yaml"
    path.write_text(first)
    code, second, _ = run([command, "--config", str(path), "--print_config"], capsys)
    assert code == 0
    assert second == first


def test_fit_print_config_has_the_recipe_defaults(capsys) -> None:
    _, out, _ = run(["fit", "--print_config"], capsys)
    cfg = yaml.safe_load(out)
    assert cfg["data"]["features"] == {
        "sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "win_length": 1024,
        "n_mels": 100, "f_min": 0.0, "f_max": 12000.0, "style": "recipe",
    }
    assert cfg["model"]["class_path"] in ("vocfw.plugins.models.DiffWave",
                                          "vocfw.plugins.models.diffwave.DiffWave")
    assert cfg["model"]["init_args"]["residual_layers"] == 30
    assert cfg["model"]["init_args"]["residual_channels"] == 64
    assert cfg["sampler"]["class_path"].endswith(".DDPM")
    assert cfg["sampler"]["init_args"]["beta_end"] == 0.05
    trainer = cfg["trainer"]
    assert trainer["batch_size"] == 32 and trainer["learning_rate"] == 2e-4
    assert trainer["lr_decay"] == 0.999 and list(trainer["adam_betas"]) == [0.8, 0.99]
    assert cfg["seed"] == 114514


def test_linked_feature_settings_reach_the_model(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"data": {"features": {"n_mels": 80, "hop_length": 300}}}))
    parser, _ = build_parser()
    cfg = parser.parse_args(["fit", "--config", str(config)])
    assert cfg.fit.model.init_args.n_mels == 80
    assert cfg.fit.model.init_args.hop_length == 300


def test_bad_config_value_names_the_key(tmp_path: Path, capsys) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"trainer": {"batch_size": "many"}}))
    code, _, err = run(["fit", "--config", str(config), "--name", "x"], capsys)
    assert code != 0
    assert "batch_size" in err


def test_fit_without_name_is_a_clear_error(capsys) -> None:
    code, _, err = run(["fit"], capsys)
    assert code != 0
    assert "--name" in err


# ------------------------------------------------- each value set once: schemas and links

FIT_KEYS = {"data", "model", "sampler", "trainer", "seed", "name", "resume_type", "checkpoint",
            "overwrite"}


def test_each_command_prints_only_the_options_it_reads(capsys) -> None:
    code, out, _ = run(["fit", "--print_config"], capsys)
    assert code == 0 and set(yaml.safe_load(out)) == FIT_KEYS
    assert out.count("num_workers:") == 1 and out.count("device:") == 1  # the trainer's
    code, out, _ = run(["preprocess", "--print_config"], capsys)
    assert code == 0 and set(yaml.safe_load(out)) == {"data", "num_workers", "device"}


def test_one_experiment_file_serves_preprocess_and_fit(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"ljspeech": "corpus"}, "features": {"n_mels": 80}},
        "model": {"class_path": "DiffWave", "init_args": {"residual_layers": 2}},
        "sampler": {"class_path": "DDPM"}, "trainer": {"batch_size": 2}, "seed": 3,
        "name": "run", "num_workers": 2, "device": "cpu",
    }))
    parser, _ = build_parser()
    pre = parser.parse_args(["preprocess", "--config", str(config)]).preprocess
    assert pre.num_workers == 2 and pre.data.features.n_mels == 80 and "model" in pre
    fit = parser.parse_args(["fit", "--config", str(config)]).fit
    assert fit.seed == 3 and fit.trainer.batch_size == 2 and fit.model.init_args.n_mels == 80


def test_preprocess_never_builds_the_model_section_it_ignores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    monkeypatch.setattr(DiffWave, "__init__", lambda self, **kwargs: built.append(kwargs))
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"ljspeech": "corpus"}},
        "model": {"class_path": "vocfw.plugins.models.diffwave.DiffWave",
                  "init_args": {"residual_layers": 2}},
    }))
    parser, experiments = build_parser()
    pre = parser.parse_args(["preprocess", "--config", str(config)]).preprocess
    init = experiments["preprocess"].instantiate(pre)
    assert built == []
    assert not isinstance(init.model, DiffWave)
    assert init.model["init_args"]["residual_layers"] == 2  # kept as parsed values


def test_the_sampler_step_count_reaches_the_model(tmp_path: Path) -> None:
    parser, _ = build_parser()
    cfg = parser.parse_args(["fit", "--sampler.init_args.num_steps", "200"])
    assert cfg.fit.model.init_args.num_steps == 200
    init = parser.instantiate(cfg).fit
    assert init.model.diffusion_embedding.embedding.shape[0] == 200
    assert len(init.sampler.train_betas) == 200


def test_a_model_step_count_other_than_the_sampler_is_one_clear_line(
    tmp_path: Path, capsys
) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"class_path": "DiffWave", "init_args": {"num_steps": 50}},
        "sampler": {"class_path": "DDPM", "init_args": {"num_steps": 200}},
    }))
    code, _, err = run(["fit", "--config", str(config), "--name", "x"], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "model.init_args.num_steps is 50" in err and "sampler.init_args.num_steps is 200" in err


@pytest.mark.parametrize("build", [build_components, normalise_spec])
def test_a_stored_spec_with_two_step_counts_is_refused(build) -> None:
    spec = tiny_diffwave_spec(MelConfig(n_mels=20))
    spec["model"]["init_args"]["num_steps"] = 50
    spec["sampler"]["init_args"]["num_steps"] = 200
    with pytest.raises(SpecError, match="set num_steps once, under sampler") as error:
        build(spec, "run/components.json")
    assert "\n" not in str(error.value) and "run/components.json" in str(error.value)
    spec["model"]["init_args"]["num_steps"] = 200
    assert build(spec, "run/components.json") is not None
