"""Each value set once: the preprocess and fit schemas, and the linked diffusion step count."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vocfw.cli.main import main
from vocfw.cli.parser import build_parser
from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import SpecError, build_components, normalise_spec
from vocfw.core.testing.processed import tiny_diffwave_spec

FIT_KEYS = {"data", "model", "sampler", "trainer", "seed", "name", "resume_type", "checkpoint",
            "overwrite"}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


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
