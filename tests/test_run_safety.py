"""Runs and written files are safe: no command damages a run it did not make, written files
follow the umask, damaged files and failed writes are one line naming the file, and leftovers of
killed saves are cleaned up."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_runs import SMALL, SPEC, fit_config, tiny_data

from vocfw.cli.main import main
from vocfw.core import atomic
from vocfw.core.data.config import DataConfig
from vocfw.core.runs.checkpoint import (
    COMPONENTS_FILE,
    CheckpointError,
    load_components,
    load_weights,
    save_weights,
)
from vocfw.core.runs.train_state import OPTIMIZER_FILE, load_training_state
from vocfw.core.train.trainer import Trainer


@pytest.fixture
def data(tmp_path: Path) -> DataConfig:
    return tiny_data(tmp_path)



def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------ fit into an existing run


@pytest.mark.slow
def test_fit_refuses_an_existing_run_unless_resuming_or_overwriting(
    data: DataConfig, tmp_path: Path, capsys
) -> None:
    config = fit_config(tmp_path)
    assert main(["fit", "--config", str(config), "--name", "old"]) == 0
    run = tmp_path / "runs" / "old"
    before = snapshot(run)
    capsys.readouterr()
    assert main(["fit", "--config", str(config), "--name", "old", "--seed", "3"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(run) in err and "--overwrite" in err
    assert snapshot(run) == before
    assert main(["fit", "--config", str(config), "--name", "old", "--resume_type", "resume",
                 "--checkpoint", str(run), "--trainer.max_steps", "2"]) == 0
    assert list((run / "checkpoint").glob("epoch-*_step-0000002_*"))
    assert main(["fit", "--config", str(config), "--name", "old", "--overwrite"]) == 0
    names = sorted(p.name for p in (run / "checkpoint").iterdir())
    assert len(names) == 1 and "_step-0000001_" in names[0]


def test_fit_into_an_existing_folder_with_other_files_is_refused(
    data: DataConfig, tmp_path: Path
) -> None:
    run = tmp_path / "mine"
    run.mkdir()
    (run / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match=str(run)):
        Trainer(max_steps=1, **SMALL).fit(run, data, SPEC, "", seed=1)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_overwrite_refuses_a_folder_that_holds_no_run(data: DataConfig, tmp_path: Path) -> None:
    run = tmp_path / "mine"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / "thesis.pdf").write_text("keep")
    (run / "config.yaml").write_text("title: my notes\n")
    with pytest.raises(FileExistsError, match="no vocfw run") as error:
        Trainer(max_steps=1, **SMALL).fit(run, data, SPEC, "", seed=1, overwrite=True)
    assert str(run) in str(error.value)
    assert (run / "checkpoint" / "thesis.pdf").read_text() == "keep"
    assert (run / "config.yaml").read_text() == "title: my notes\n"


# ------------------------------------------------------------------------------------- umask


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        atomic.write_json(tmp_path / "a.json", {"a": 1})
        atomic.save_npy(tmp_path / "a.npy", np.zeros(3))
        atomic.write_wav(tmp_path / "a.wav", np.zeros(100), 16000)
        save_weights(tmp_path / "w.safetensors", {"w": torch.zeros(2)})
        with atomic.atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "inside.txt").write_text("x")
    finally:
        os.umask(previous)
    for name in ("a.txt", "a.json", "a.npy", "a.wav", "w.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o777 & ~umask


# ------------------------------------------------------------------------ damaged checkpoints


@pytest.mark.slow
def test_damaged_training_state_and_weights_name_the_file(
    data: DataConfig, tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    last = Trainer(max_steps=1, **SMALL).fit(run, data, SPEC, "", seed=1)
    (last / OPTIMIZER_FILE).write_bytes(b"PK\x03\x04 not a torch file")
    with pytest.raises(CheckpointError) as error:
        load_training_state(last)
    assert str(last / OPTIMIZER_FILE) in str(error.value) and "\n" not in str(error.value)

    weights = last / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError) as error:
        load_weights(weights)
    assert str(weights) in str(error.value) and "\n" not in str(error.value)
    capsys.readouterr()
    assert main(["predict", "--run", str(run), "--mode", "feature",
                 "--feature_dir", str(tmp_path / "data" / "alpha")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(weights) in err


def test_invalid_components_json_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint" / "epoch-0000_step-0000001_loss-0.100000"
    folder.mkdir(parents=True)
    save_weights(folder / "model.safetensors", {"w": torch.zeros(1)})
    (folder / COMPONENTS_FILE).write_text('{"model":\n', encoding="utf-8")
    with pytest.raises(CheckpointError) as error:
        load_components(tmp_path)
    assert str(folder / COMPONENTS_FILE) in str(error.value) and "JSON" in str(error.value)


# ------------------------------------------------------------------------------ failed writes


def test_a_full_disk_is_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(atomic.os, "fsync", no_space)
        with pytest.raises(OSError) as error:
            atomic.write_json(tmp_path / "out" / "a.json", {"a": 1})
    assert str(tmp_path / "out" / "a.json") in str(error.value)
    assert "No space left" in str(error.value)
    assert list((tmp_path / "out").iterdir()) == []

    source = tmp_path / "w.pt"
    torch.save({"model": tiny_state()}, source)
    with monkeypatch.context() as patch:
        patch.setattr(atomic.os, "fsync", no_space)
        patch.setattr("vocfw.core.runs.checkpoint.save_file", lambda *a: no_space(0))
        code = main(["convert", "lmnt", "--checkpoint", str(source),
                     "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "No space left" in err
    assert str(tmp_path / "run" / "checkpoint") in err
    assert not list((tmp_path / "run" / "checkpoint").iterdir())


def test_a_read_only_output_folder_is_one_line(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "w.pt"
    torch.save({"model": tiny_state()}, source)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    if os.geteuid() == 0:  # permissions do not bind root: fail the way they fail for others

        def denied(prefix: str, dir: Path) -> str:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), f"{dir}/{prefix}x")

        monkeypatch.setattr(atomic.tempfile, "mkdtemp", denied)
    try:
        assert main(["convert", "lmnt", "--checkpoint", str(source), "--output", str(out)]) == 1
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err


def test_an_unwritable_target_names_the_target_not_the_temporary(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError) as error:
        atomic.write_text(blocker / "sub" / "a.txt", "x")
    assert str(blocker / "sub" / "a.txt") in str(error.value)
    assert atomic.TMP_PREFIX not in str(error.value)


def tiny_state() -> dict[str, torch.Tensor]:
    from vocfw.plugins.models.diffwave import DiffWave

    return DiffWave(n_mels=20, residual_layers=2, residual_channels=4,
                    dilation_cycle_length=1).state_dict()


# ---------------------------------------------------------------------- leftovers and options


@pytest.mark.slow
def test_temporary_folders_of_killed_saves_are_removed(data: DataConfig, tmp_path: Path) -> None:
    checkpoints = tmp_path / "run" / "checkpoint"
    Trainer(max_steps=1, **SMALL).fit(tmp_path / "run", data, SPEC, "", seed=1)
    killed = checkpoints / ".tmp-k1ll3d_x"
    killed.mkdir()
    (killed / "model.safetensors").write_bytes(b"half")
    foreign = [checkpoints / ".tmp-not-ours-at-all", checkpoints / "user-notes"]
    for path in foreign:
        path.mkdir()
    Trainer(max_steps=2, **SMALL).fit(tmp_path / "run", data, SPEC, "", resume_type="resume",
                                      checkpoint=tmp_path / "run", seed=1)
    assert not killed.exists()
    assert all(path.is_dir() for path in foreign)


@pytest.mark.slow
def test_overwrite_is_a_bare_flag(tmp_path: Path) -> None:
    source = tmp_path / "w.pt"
    torch.save({"model": tiny_state()}, source)
    assert main(["convert", "lmnt", "--checkpoint", str(source),
                 "--output", str(tmp_path / "run")]) == 0
    (tmp_path / "mels").mkdir()
    np.save(tmp_path / "mels" / "u.npy", np.zeros((20, 4), dtype=np.float32))
    args = ["predict", "--run", str(tmp_path / "run"), "--mode", "feature", "--feature_dir",
            str(tmp_path), "--sampler.inference_schedule", "[0.1,0.2]", "--progress", "false"]
    assert main(args) == 0
    wav = tmp_path / "run" / "result" / "pred" / "u.wav"
    before = wav.stat().st_mtime_ns
    assert main([*args, "--overwrite"]) == 0
    assert wav.stat().st_mtime_ns != before


@pytest.mark.parametrize("key, value", [("n_mels", 30), ("hop_length", 128)])
def test_a_model_setting_that_conflicts_with_the_features_is_refused(
    tmp_path: Path, capsys, key: str, value: int
) -> None:
    config = fit_config(tmp_path, **{key: value})
    assert main(["fit", "--config", str(config), "--name", "x"]) == 1
    err = capsys.readouterr().err
    assert f"model.init_args.{key}" in err and f"data.features.{key}" in err and str(config) in err
    assert main(["fit", "--config", str(fit_config(tmp_path)), "--name", "x",
                 f"--model.init_args.{key}", str(value)]) == 1
    assert "command line" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "x").exists()
