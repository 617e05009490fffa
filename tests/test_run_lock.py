"""One writer per run directory: a second ``fit`` on a run in use is refused in one line, and a
killed holder never leaves the run locked."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from vocfw.cli.main import main
from vocfw.core.audio.mel import MelConfig
from vocfw.core.errors import VocfwError
from vocfw.core.runs.run_dir import LOCK_FILE, RunInUseError, run_lock
from vocfw.core.testing.processed import write_processed_dataset

FEATURES = MelConfig(n_mels=20)

HOLDER = """
import sys, time
from pathlib import Path
from vocfw.core.runs.run_dir import run_lock

with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def fit_config(tmp_path: Path) -> Path:
    write_processed_dataset(tmp_path / "data", "alpha", FEATURES,
                            {"train": [0.3, 0.4], "test": [0.2]})
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"alpha": "a"}, "processed_dir": str(tmp_path / "data"),
                 "features": FEATURES.to_dict()},
        "model": {"class_path": "DiffWave",
                  "init_args": {"residual_layers": 2, "residual_channels": 8}},
        "trainer": {"log_dir": str(tmp_path / "runs"), "max_steps": 1, "batch_size": 2,
                    "crop_frames": 8, "eval_audio": False, "device": "cpu"},
    }))
    return config


def start(args: list[str], tmp_path: Path, ready: Callable[[], bool]) -> subprocess.Popen:
    process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None and ready(), process.communicate(timeout=30)
    return process


def test_the_lock_is_exclusive_and_leaves_nothing_behind(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "C"
    with run_lock(run):
        assert (run / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(RunInUseError) as error, run_lock(run):
            pass
        message = str(error.value)
        assert isinstance(error.value, VocfwError) and isinstance(error.value, OSError)
        assert str(run) in message and str(os.getpid()) in message and "\n" not in message
    assert not run.exists()  # made only for the lock: removed with it
    run.mkdir(parents=True)
    with run_lock(run):
        (run / "config.yaml").write_text("x")
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]


def test_a_run_locked_by_another_process_is_refused_until_it_is_killed(
    tmp_path: Path, capsys
) -> None:
    config = fit_config(tmp_path)
    run = tmp_path / "runs" / "C"
    (tmp_path / "holder.py").write_text(textwrap.dedent(HOLDER))
    holder = start([sys.executable, str(tmp_path / "holder.py"), str(run)], tmp_path,
                   lambda: (run / LOCK_FILE).is_file())
    try:
        assert main(["fit", "--config", str(config), "--name", "C"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(run) in err and str(holder.pid) in err
        assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert main(["fit", "--config", str(config), "--name", "C"]) == 0  # not stuck
    assert not (run / LOCK_FILE).exists()


@pytest.mark.slow
def test_a_second_fit_while_the_first_trains_is_refused(tmp_path: Path, capsys) -> None:
    config = fit_config(tmp_path)
    run = tmp_path / "runs" / "C"
    first = start(
        [sys.executable, "-m", "vocfw.cli.main", "fit", "--config", str(config), "--name", "C",
         "--trainer.max_steps", "1000000", "--trainer.save_every_steps", "1"],
        tmp_path, lambda: any((run / "checkpoint").glob("epoch-*")),
    )
    try:
        assert main(["fit", "--config", str(config), "--name", "C", "--resume_type", "resume",
                     "--checkpoint", str(run)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(run) in err and "in use" in err
        assert len(list((run / "log").iterdir())) == 1  # one event file: the first run's
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    assert main(["fit", "--config", str(config), "--name", "C", "--overwrite"]) == 0
    assert len(list((run / "checkpoint").glob("epoch-*"))) == 1


@pytest.mark.slow
def test_with_two_processes_only_the_main_one_locks_and_a_refusal_stops_both(
    tmp_path: Path
) -> None:
    config = fit_config(tmp_path)
    run = tmp_path / "runs" / "C"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", str(port),
               "-m", "vocfw.cli.main", "fit", "--config", str(config), "--name", "C"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    with run_lock(run):
        refused = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert refused.returncode != 0
    assert refused.stderr.count(f"vocfw fit: error: {run}: in use") == 2  # each process: one line
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list((run / "log").iterdir())) == 1 and not (run / LOCK_FILE).exists()
