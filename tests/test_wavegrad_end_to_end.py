"""A tiny WaveGrad through the command line on lmnt-com/wavegrad's features: preprocess, fit,
and predict in all three modes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from corpus_trees.whole_file_trees import build_ljspeech

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig

FEATURES = MelConfig.lmnt_wavegrad()


@pytest.mark.slow
def test_preprocess_fit_predict_a_tiny_wavegrad(tmp_path: Path) -> None:
    lj = build_ljspeech(tmp_path / "raw")
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"ljspeech": str(lj.root)}, "processed_dir": str(tmp_path / "data"),
                 "features": FEATURES.to_dict()},
        "model": {"class_path": "WaveGrad", "init_args": {"base_channels": 2}},
        # init_args in full: see test_naming_a_sampler_keeps_its_own_defaults
        "sampler": {"class_path": "WaveGradDiffusion",
                    "init_args": {"beta_start": 1e-6, "beta_end": 0.01, "num_steps": 1000,
                                  "inference_schedule": "fast"}},
        "trainer": {"log_dir": str(tmp_path / "runs"), "batch_size": 4, "max_steps": 3,
                    "eval_audio": False, "log_every_steps": 1},
    }))
    assert main(["preprocess", "--config", str(config)]) == 0
    assert main(["fit", "--config", str(config), "--name", "tiny"]) == 0
    run = tmp_path / "runs" / "tiny"
    (checkpoint,) = (run / "checkpoint").glob("epoch-*_step-0000003_loss-*")
    components = json.loads((checkpoint / "components.json").read_text())
    assert components["features"] == FEATURES.to_dict()
    assert components["model"]["init_args"] == {"n_mels": 128, "hop_length": 300,
                                                "base_channels": 2}
    assert components["sampler"]["init_args"]["num_steps"] == 1000

    processed = tmp_path / "data" / "ljspeech"
    mels = {p.stem: p for p in (processed / "mels").glob("*.npy")}
    test_uids = [item["Uid"] for item in json.loads((processed / "test.json").read_text())]
    for mode, option, source, uids in (
        ("dataset", "--datasets", "ljspeech", test_uids),
        ("feature", "--feature_dir", str(processed), list(mels)),
    ):
        result = tmp_path / "out" / mode
        assert main(["predict", "--run", str(run), "--mode", mode, option, source,
                     "--output", str(result)]) == 0
        for uid in uids:
            audio, rate = sf.read(result / "pred" / f"{uid}.wav")
            assert rate == 22050 and audio.shape == (np.load(mels[uid]).shape[1] * 300,)
    result = tmp_path / "out" / "audio"
    wavs = lj.root / "wavs"
    assert main(["predict", "--run", str(run), "--mode", "audio", "--audio_dir", str(wavs),
                 "--output", str(result), "--precision", "bf16"]) == 0
    assert {p.stem for p in (result / "pred").glob("*.wav")} == {p.stem for p in wavs.glob("*.wav")}


def test_naming_a_sampler_keeps_its_own_defaults(tmp_path: Path) -> None:
    from vocfw.cli.parser import build_parser, parse

    config = tmp_path / "exp.yaml"
    config.write_text("sampler: {class_path: WaveGradDiffusion}\nmodel: {class_path: WaveGrad}\n")
    parser, experiments = build_parser()
    cfg = parse(parser, experiments, ["fit", "--config", str(config),
                                      "--sampler.inference_schedule", "full"])
    sampler = cfg.fit.sampler.init_args
    assert (sampler.num_steps, sampler.beta_start, sampler.beta_end) == (1000, 1e-6, 0.01)
    assert sampler.inference_schedule == "full"
    assert cfg.fit.model.init_args.hop_length == cfg.fit.data.features.hop_length
    ddpm = parse(parser, experiments, ["fit"]).fit.sampler
    assert ddpm.class_path.endswith("DDPM") and ddpm.init_args.num_steps == 50
