"""The run directory of ``vocfw fit``: what it holds, when it may be written, and its config.

Layout::

    {run_dir}/config.yaml        the resolved fit config
    {run_dir}/log/               TensorBoard event files
    {run_dir}/checkpoint/        checkpoint folders and evaluation audio (see checkpoint)
    {run_dir}/schedules/         NAME.json: inference schedules ``vocfw search-schedule`` found,
                                 for ``predict --schedule NAME`` (see schedules); kept when fit
                                 overwrites the run
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from vocfw.core.atomic import write_text
from vocfw.core.data.config import DataConfig
from vocfw.core.runs.checkpoint import CHECKPOINT_DIR

CONFIG_FILE = "config.yaml"
LOG_DIR = "log"
RUN_PARTS = (CONFIG_FILE, LOG_DIR, CHECKPOINT_DIR)  # what fit writes into a run directory


def check_run_dir(
    run_dir: Path, source: Path | None, resume_type: str | None, overwrite: bool
) -> bool:
    """Whether ``fit`` may write into ``run_dir``; true when the old run must be cleared first.

    An empty or missing folder is free; a run resumed into itself continues in place.

    Raises:
        FileExistsError: the folder holds files and neither case applies, or ``overwrite``
            would delete the checkpoint being loaded.
    """
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
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
    return True


def clear_run_dir(run_dir: Path) -> None:
    """Delete what an earlier ``fit`` wrote into ``run_dir`` (nothing else)."""
    for name in RUN_PARTS:
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
