"""The run directory of ``vocfw fit``: where it is, who may write it, what it holds, its config.

Layout::

    {run_dir}/config.yaml        the resolved fit config
    {run_dir}/log/               TensorBoard event files
    {run_dir}/checkpoint/        checkpoint folders and evaluation audio (see checkpoint)
    {run_dir}/schedules/         NAME.json: inference schedules ``vocfw search-schedule`` found,
                                 for ``predict --schedule NAME`` (see schedules); kept when fit
                                 overwrites the run
    {run_dir}/.lock              while a command writes the run: its process id (see run_lock)
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import yaml

from vocfw.core.atomic import is_temporary, remove_stale_temporaries, write_text
from vocfw.core.config_safety import load_yaml
from vocfw.core.corpus import uid_problem
from vocfw.core.data.config import DataConfig
from vocfw.core.errors import VocfwError
from vocfw.core.runs.checkpoint import CHECKPOINT_DIR, parse_checkpoint_name
from vocfw.core.runs.train_state import EVAL_AUDIO_INFIX

CONFIG_FILE = "config.yaml"
LOG_DIR = "log"
LOCK_FILE = ".lock"
RUN_PARTS = (CONFIG_FILE, LOG_DIR, CHECKPOINT_DIR)  # what fit writes into a run directory
EVENT_FILE_PREFIX = "events.out.tfevents."  # TensorBoard's event files under log/


class RunNameError(VocfwError, ValueError):
    """A run name that is not one folder name (it would place the run outside its log_dir)."""


class RunInUseError(VocfwError, OSError):
    """Another process is writing the run directory."""


def run_path(log_dir: Path | str, name: str) -> Path:
    """The run directory ``{log_dir}/{name}``.

    Raises:
        RunNameError: ``name`` is not one folder name (empty, ``.``, ``..``, or holding a path
            separator), so the run would not be a folder of ``log_dir``.
    """
    if uid_problem(name) is not None:
        raise RunNameError(f"--name {name!r}: expected a run name, one folder name made under "
                           f"trainer.log_dir ({log_dir}), not a path")
    return Path(log_dir) / name


def _lock_file(path: Path) -> int:
    """Open and ``flock`` ``path`` (made with its folder when missing); the descriptor.

    Raises:
        RunInUseError: another process holds the lock.
    """
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunInUseError(
                f"{path.parent}: in use by another vocfw process (pid {holder}, holding "
                f"{path}); wait for it to end, or choose another --name"
            ) from None
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:  # else a releasing holder removed the file between open and lock: retry
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Be the one writer of ``run_dir`` while the block runs.

    The lock is an ``flock`` on ``{run_dir}/.lock``, which the system releases when its holder
    ends however it ends, so a killed process never leaves a run locked. The file names the
    holder's process id; it is removed on release, and so is ``run_dir`` when the lock made
    it and it is still empty.

    Raises:
        RunInUseError: another process holds the lock (one line naming the run and the pid).
    """
    made = not run_dir.exists()
    fd = _lock_file(run_dir / LOCK_FILE)
    try:
        yield
    finally:
        (run_dir / LOCK_FILE).unlink(missing_ok=True)
        os.close(fd)
        if made:
            with suppress(OSError):
                run_dir.rmdir()


def check_run_dir(
    run_dir: Path, source: Path | None, resume_type: str | None, overwrite: bool
) -> bool:
    """Whether ``fit`` may write into ``run_dir``; true when the old run must be cleared first.

    A missing folder, or one holding nothing but the lock and temporaries of killed writes, is
    free; a run resumed into itself continues in place.

    Raises:
        FileExistsError: the folder holds files and neither case applies, or ``overwrite``
            would delete the checkpoint being loaded.
    """
    if not run_dir.is_dir() or all(p.name == LOCK_FILE or is_temporary(p)
                                   for p in run_dir.iterdir()):
        return False
    inside = source is not None and run_dir.resolve() in source.resolve().parents
    if inside and overwrite:
        raise FileExistsError(f"{run_dir}: cannot overwrite the run that {source} is loaded from")
    if inside and resume_type == "resume":
        return False
    if not overwrite:
        raise FileExistsError(
            f"{run_dir}: not empty (an earlier run?); choose another --name, resume it with "
            f"--resume_type resume --checkpoint {run_dir}, or pass --overwrite to replace its "
            f"{', '.join(RUN_PARTS)}"
        )
    foreign = _foreign_entry(run_dir)
    if foreign is not None:
        raise FileExistsError(
            f"{run_dir}: holds no vocfw run ({foreign} was not written by fit); --overwrite "
            f"replaces only a run fit wrote: choose another --name"
        )
    return True


def _foreign_entry(run_dir: Path) -> Path | None:
    """The first path among ``run_dir``'s :data:`RUN_PARTS` that ``fit`` did not write, or
    ``None``: a config.yaml that is not a fit config (empty, or a mapping with a ``trainer``
    section), a ``log/`` file that is not a TensorBoard event file, a ``checkpoint/`` entry not
    named after a checkpoint."""
    config, log, checkpoints = (run_dir / name for name in RUN_PARTS)
    if config.exists() and not _is_fit_config(config):
        return config
    for folder in (log, checkpoints):
        if folder.exists() and not folder.is_dir():
            return folder
    events = (path for path in log.rglob("*") if not path.is_dir())
    for path in [*events, *(checkpoints.iterdir() if checkpoints.is_dir() else ())]:
        fit_wrote = (path.name.startswith(EVENT_FILE_PREFIX) if path.parent != checkpoints
                     else _named_after_a_checkpoint(path))
        if not (fit_wrote or is_temporary(path)):
            return path
    return None


def _is_fit_config(path: Path) -> bool:
    """``path`` holds nothing, or a YAML mapping with a ``trainer`` section."""
    try:
        text = path.read_text(encoding="utf-8")
        return not text.strip() or "trainer" in (load_yaml(text, str(path)) or {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError, VocfwError, TypeError):
        return False


def _named_after_a_checkpoint(path: Path) -> bool:
    """A checkpoint folder, or a file of its evaluation audio (``{checkpoint}_eval_audio_*``)."""
    return parse_checkpoint_name(path.name.split(EVAL_AUDIO_INFIX, 1)[0]) is not None


def prepare_run_dir(run_dir: Path, clear: bool) -> None:
    """Remove the temporaries killed writes left in ``run_dir`` and its ``checkpoint/`` (only
    vocfw's own temporary names), and with ``clear`` what an earlier ``fit`` wrote (nothing
    else). Call it only while holding :func:`run_lock`."""
    for folder in (run_dir, run_dir / CHECKPOINT_DIR):
        remove_stale_temporaries(folder)
    for name in RUN_PARTS if clear else ():
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def write_config(run_dir: Path, config_text: str) -> None:
    """Store the resolved config as ``{run_dir}/config.yaml`` (atomically)."""
    write_text(run_dir / CONFIG_FILE, config_text)


def _run_data(run: Path, key: str) -> object | None:
    """``data.{key}`` of ``{run}/config.yaml``, or ``None`` when unreadable or absent."""
    try:
        config = yaml.safe_load((run / CONFIG_FILE).read_text(encoding="utf-8"))
        return config["data"][key]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return None


def run_processed_dir(run: Path) -> Path:
    """``data.processed_dir`` of ``{run}/config.yaml`` when readable, else ``data``."""
    value = _run_data(run, "processed_dir")
    return Path(value) if isinstance(value, str) else Path(DataConfig.processed_dir)


def run_datasets(run: Path) -> list[str]:
    """The dataset names of ``data.datasets`` in ``{run}/config.yaml`` (none when unreadable)."""
    value = _run_data(run, "datasets")
    return [str(name) for name in value] if isinstance(value, dict) else []
