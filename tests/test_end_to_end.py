"""The whole job through the command line: corpora as downloaded -> features -> training ->
vocoding in all three modes -> evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from corpus_trees.whole_file_trees import build_ljspeech, build_opencpop

from vocfw.cli.main import main

HOP = 256


@pytest.mark.slow
def test_preprocess_fit_predict_evaluate(tmp_path: Path) -> None:
    lj = build_ljspeech(tmp_path / "raw")
    cpop = build_opencpop(tmp_path / "raw")
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"ljspeech": str(lj.root), "opencpop": str(cpop.root)},
                 "processed_dir": str(tmp_path / "data")},
        "model": {"class_path": "DiffWave",
                  "init_args": {"residual_layers": 2, "residual_channels": 8}},
        "sampler": {"class_path": "DDPM", "init_args": {"inference_schedule": "fast"}},
        "trainer": {"log_dir": str(tmp_path / "runs"), "batch_size": 4, "max_steps": 3,
                    "eval_audio": False, "log_every_steps": 1},
    }))
    assert main(["preprocess", "--config", str(config)]) == 0
    for fixture in (lj, cpop):
        test_uids = {u for u, (_, split) in fixture.expected.items() if split == "test"}
        listed = json.loads((tmp_path / "data" / fixture.name / "test.json").read_text())
        assert {item["Uid"] for item in listed} == test_uids

    assert main(["fit", "--config", str(config), "--name", "tiny"]) == 0
    run = tmp_path / "runs" / "tiny"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["init_args"]["residual_layers"] == 2
    assert list((run / "checkpoint").glob("epoch-*_step-0000003_loss-*"))

    def check_outputs(result: Path, mels: dict[str, Path]) -> None:
        """Every prediction and its ground truth is frames x hop long; evaluation scores all."""
        for uid, mel_path in mels.items():
            frames = np.load(mel_path).shape[1]
            for kind in ("pred", "gt"):
                audio, rate = sf.read(result / kind / f"{uid}.wav")
                assert rate == 24000 and audio.shape == (frames * HOP,), (kind, uid)
        assert main(["evaluate", "--reference", str(result / "gt"),
                     "--generated", str(result / "pred"), "--output", str(result / "eval")]) == 0
        rows = (result / "eval" / "metrics.csv").read_text().strip().splitlines()
        assert len(rows) == len(mels) + 1

    processed = tmp_path / "data" / "ljspeech"
    test_items = json.loads((processed / "test.json").read_text())
    result = tmp_path / "out" / "dataset"
    assert main(["predict", "--run", str(run), "--mode", "dataset", "--datasets", "ljspeech",
                 "opencpop", "--output", str(result)]) == 0
    check_outputs(result, {
        item["Uid"]: tmp_path / "data" / name / "mels" / f"{item['Uid']}.npy"
        for name in ("ljspeech", "opencpop")
        for item in json.loads((tmp_path / "data" / name / "test.json").read_text())
    })

    result = tmp_path / "out" / "feature"
    assert main(["predict", "--run", str(run), "--mode", "feature", "--feature_dir",
                 str(processed), "--output", str(result)]) == 0
    mels = {p.stem: p for p in (processed / "mels").glob("*.npy")}
    check_outputs(result, mels)

    result = tmp_path / "out" / "audio"
    wavs = lj.root / "wavs"
    assert main(["predict", "--run", str(run), "--mode", "audio", "--audio_dir", str(wavs),
                 "--output", str(result)]) == 0
    assert {p.stem for p in (result / "pred").glob("*.wav")} == {p.stem for p in wavs.glob("*.wav")}
    for item in test_items:
        assert (result / "pred" / f"{item['Uid']}.wav").exists()


def test_fit_without_features_names_the_folder_and_the_command(tmp_path: Path, capsys) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"ljspeech": str(tmp_path / "nowhere")},
                 "processed_dir": str(tmp_path / "data")},
        "trainer": {"log_dir": str(tmp_path / "runs")},
    }))
    assert main(["fit", "--config", str(config), "--name", "x"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "data" / "ljspeech") in err
    assert "vocfw preprocess" in err


def test_preprocess_of_a_missing_corpus_is_one_clear_error(tmp_path: Path, capsys) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"vctk": str(tmp_path / "VCTK-Corpus-0.92")},
                 "processed_dir": str(tmp_path / "data")},
    }))
    assert main(["preprocess", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "vctk" in err and str(tmp_path / "VCTK-Corpus-0.92") in err
    assert "Traceback" not in err
