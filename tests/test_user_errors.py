"""Bad input to preprocess, fit and evaluate is one error line naming the file or key, exit
status 1: a corpus option, a duplicate or unusable uid, a device, a seed, a launch environment,
a damaged feature file, an evaluation rate; the named errors behind them keep their built-in
bases."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig
from vocfw.core.converters import Converter, ConverterError
from vocfw.core.corpus import UtteranceError
from vocfw.core.data.dataset import CropDataset
from vocfw.core.errors import VocfwError
from vocfw.core.evaluate import metrics, mos
from vocfw.core.settings import SettingError
from vocfw.core.testing.fixture import tone, write_audio
from vocfw.core.testing.processed import tiny_diffwave_spec, write_processed_dataset

RATE = 16000
FEATURES = MelConfig(n_mels=20)
LAUNCH_VARIABLES = ("RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command line; assert exit status 1 and one error line, and return it."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(lines) == 1 and "error" in lines[0], err
    return lines[0]


def write_config(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def audio_tree(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        write_audio(root / name, tone(0.2, RATE, seed=i), RATE)
    return root


def preprocess_config(tmp_path: Path, datasets: dict, **data: object) -> str:
    return write_config(tmp_path, {"data": {"datasets": datasets, **data,
                                            "processed_dir": str(tmp_path / "data")}})


def fit_config(tmp_path: Path, **trainer: object) -> str:
    """A tiny DiffWave over one processed dataset, ``ds``, that trains one step on the CPU."""
    write_processed_dataset(tmp_path / "data", "ds", FEATURES, {"train": [0.3], "test": [0.3]})
    spec = tiny_diffwave_spec(FEATURES)
    return write_config(tmp_path, {
        "data": {"datasets": {"ds": str(tmp_path)}, "processed_dir": str(tmp_path / "data"),
                 "features": FEATURES.to_dict()},
        "model": spec["model"], "sampler": spec["sampler"],
        "trainer": {"log_dir": str(tmp_path / "runs"), "batch_size": 1, "crop_frames": 4,
                    "max_steps": 1, "eval_audio": False, "device": "cpu", **trainer},
    })


# ------------------------------------------------------------------- preprocess: data config


def test_a_duration_filter_that_drops_everything_names_both_keys(tmp_path: Path, capsys) -> None:
    config = preprocess_config(tmp_path, {"folder": str(tmp_path / "corpus")}, min_duration=5.0,
                               max_duration=1.0)
    line = refused(["preprocess", "--config", config], capsys)
    assert "data.min_duration" in line and "data.max_duration" in line


@pytest.mark.parametrize(("init_args", "named"), [
    ({"test_percent": 500}, "data.datasets.mine.init_args: folder corpus: test_percent"),
    ({"test_percent": "many"}, "data.datasets.mine.init_args.test_percent: expected int"),
    ({"tset_percent": 5}, "data.datasets.mine.init_args: "),
])
def test_a_corpus_option_it_cannot_use_names_the_key(
    init_args: dict, named: str, tmp_path: Path, capsys
) -> None:
    root = audio_tree(tmp_path / "corpus", ["a/1.wav", "a/2.wav"])
    config = preprocess_config(tmp_path, {"mine": {"class_path": "folder",
                                                   "init_args": {"root": str(root),
                                                                 **init_args}}})
    assert named in refused(["preprocess", "--config", config], capsys)


def test_a_corpus_spec_without_its_folder_names_the_key(tmp_path: Path, capsys) -> None:
    config = preprocess_config(tmp_path, {"mine": {"class_path": "folder", "init_args": {}}})
    line = refused(["preprocess", "--config", config], capsys)
    assert "data.datasets.mine.init_args.root" in line


def test_slicer_settings_that_cannot_work_together_name_the_key(tmp_path: Path, capsys) -> None:
    config = preprocess_config(tmp_path, {"opera": {
        "class_path": "opera", "init_args": {"root": str(audio_tree(tmp_path / "opera", [])),
                                             "min_length_ms": 1.0}}})
    line = refused(["preprocess", "--config", config], capsys)
    assert "data.datasets.opera.init_args" in line and "min_length_ms" in line


# ------------------------------------------------------------- preprocess: what loaders yield


def test_a_uid_two_song_folders_share_names_the_file(tmp_path: Path, capsys) -> None:
    root = audio_tree(tmp_path / "popbutfy" / "data",
                      ["Alice#singing#Song/Alice#singing#Song_1.wav",
                       "Alice#speech#Song/Alice#speech#Song_1.wav"])
    config = preprocess_config(tmp_path, {"popbutfy": str(root)})
    line = refused(["preprocess", "--config", config], capsys)
    assert "Alice#Song#1" in line and "twice" in line and ".wav" in line


def test_a_uid_too_long_for_a_file_name_names_the_file(tmp_path: Path, capsys) -> None:
    stem = "x" * 190
    chapter = tmp_path / "libritts" / "train-clean-100" / "19" / "198"
    audio_tree(chapter, [f"{stem}.wav"])
    (chapter / f"{stem}.normalized.txt").write_text("words\n", encoding="utf-8")
    config = preprocess_config(tmp_path, {"libritts": str(tmp_path / "libritts")})
    line = refused(["preprocess", "--config", config], capsys)
    assert str(chapter / f"{stem}.wav") in line and "longer than" in line


def test_a_device_torch_does_not_know_names_the_option(tmp_path: Path, capsys) -> None:
    root = audio_tree(tmp_path / "corpus", ["a/1.wav"])
    config = preprocess_config(tmp_path, {"folder": str(root)})
    line = refused(["preprocess", "--config", config, "--device", "quantum"], capsys)
    assert "device 'quantum'" in line


# ------------------------------------------------------------------------------------- fit


@pytest.mark.parametrize(("setting", "value"), [("lr_decay", 2.0), ("adam_betas", [1.5, 0.9])])
def test_a_trainer_setting_out_of_range_names_the_key(
    setting: str, value: object, tmp_path: Path, capsys
) -> None:
    config = fit_config(tmp_path, **{setting: value})
    line = refused(["fit", "--config", config, "--name", "run"], capsys)
    assert f"trainer.{setting}" in line


def test_a_seed_beyond_32_bits_names_the_option(tmp_path: Path, capsys) -> None:
    config = fit_config(tmp_path)
    line = refused(["fit", "--config", config, "--name", "run", "--seed", "-1"], capsys)
    assert line.startswith("vocfw fit: error: seed:")


def test_a_launch_environment_accelerate_refuses_names_it(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in LAUNCH_VARIABLES:  # accelerate sets some of them: restored after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("WORLD_SIZE", "3")
    # set, so accelerate leaves it and this process's thread count alone
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS",
                                                         str(torch.get_num_threads())))
    config = fit_config(tmp_path)
    line = refused(["fit", "--config", config, "--name", "run"], capsys)
    assert "WORLD_SIZE" in line and "3" in line and "trainer.device cpu" in line


def test_a_damaged_mel_file_names_the_file(tmp_path: Path, capsys) -> None:
    config = fit_config(tmp_path)
    damaged = tmp_path / "data" / "ds" / "mels" / "ds_train_0.npy"
    damaged.write_bytes(b"not an array")
    line = refused(["fit", "--config", config, "--name", "run"], capsys)
    assert str(damaged) in line


def test_crops_of_no_frames_are_a_setting_error() -> None:
    with pytest.raises(SettingError, match="trainer.crop_frames"):
        CropDataset([], FEATURES, crop_frames=0, seed=0)


# -------------------------------------------------------------------------------- evaluate


def test_an_evaluation_rate_that_is_not_positive_names_the_option(
    tmp_path: Path, capsys
) -> None:
    for side in ("reference", "generated"):
        audio_tree(tmp_path / side, ["a.wav"])
    line = refused(["evaluate", "--reference", str(tmp_path / "reference"), "--generated",
                    str(tmp_path / "generated"), "--sample_rate", "-5"], capsys)
    assert "--sample_rate" in line and "-5" in line


def test_a_metric_without_a_value_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    silence = np.zeros(RATE, np.float32)
    with pytest.raises(metrics.MetricError, match="digital silence"):
        metrics.pesq_wb(silence, silence, RATE)
    with pytest.raises(metrics.MetricError, match="no voiced frame"):
        metrics.vuv_f1(np.zeros(5, bool), np.zeros(5, bool))
    with pytest.raises(metrics.MetricError, match="empty waveform"):
        mos.dnsmos(np.zeros(0, np.float32), RATE)
    monkeypatch.setattr(mos, "_speechmos_dnsmos", lambda: None)
    mos._model.cache_clear()
    with pytest.raises(mos.MosUnavailableError, match="vocfw\\[mos\\]") as missing:
        mos.dnsmos(silence, RATE)
    mos._model.cache_clear()
    assert isinstance(missing.value, ImportError) and isinstance(missing.value, VocfwError)


# ------------------------------------------------------------------ converters and records


def test_a_malformed_converter_is_a_named_error_and_a_plugin_warning(
    fake_distribution, capsys
) -> None:
    with pytest.raises(ConverterError, match="name 'a b'"):
        Converter("a b", "import", lambda source: source)
    fake_distribution("vocfw-sideways", """
        from pathlib import Path

        from vocfw.core import hookimpl
        from vocfw.core.converters import Converter

        def copy(source: Path) -> Path:
            return source

        @hookimpl
        def vocfw_register_converters():
            return [Converter("copy", "sideways", copy)]
    """)
    code = main(["plugins"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    [warning] = [line for line in err.splitlines() if "vocfw-sideways" in line]
    assert "ConverterError" in warning and "direction must be one of" in warning


def test_named_errors_keep_their_builtin_bases() -> None:
    for error in (ConverterError, UtteranceError, metrics.MetricError):
        assert issubclass(error, VocfwError) and issubclass(error, ValueError)
