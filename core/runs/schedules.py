"""Inference noise schedules stored with a run: the one writer and reader of ``schedules/``.

``vocfw search-schedule`` writes, and ``vocfw predict --schedule`` and ``load(schedule=)`` read,
``{run}/schedules/{name}.json``: a JSON object with

| key | value |
|---|---|
| ``betas`` | the schedule: a non-empty list of betas in (0, 1), in sampling-schedule order |
| ``steps`` | how many betas |
| ``score`` | the schedule's mean ``metric`` on the search utterances (lower is better) |
| ``start_score`` / ``start_betas`` | the same for the schedule the search started from |
| ``metric`` | the score's name (``log_mel_l1``: :func:`vocfw.core.evaluate.metrics.log_mel_l1`) |
| ``seed`` | seed of the sampling noise the scores were taken with |
| ``utterances`` | uids of the test utterances scored |
| ``checkpoint`` | the checkpoint folder the search vocoded with |
| ``sampler`` | class name of the sampler searched |
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vocfw.core.atomic import write_json
from vocfw.core.components import one_line
from vocfw.core.errors import VocfwError
from vocfw.core.runs.checkpoint import CHECKPOINT_DIR

SCHEDULES_DIR = "schedules"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ScheduleError(VocfwError, ValueError):
    """A stored schedule is missing, badly named or not of the expected form."""


@dataclass(frozen=True)
class StoredSchedule:
    """A searched inference schedule and how it was found (the keys of the file).

    Attributes:
        betas: the schedule, in sampling-schedule order.
        score: its mean ``metric`` on ``utterances``.
        start_betas: the schedule the search started from.
        start_score: its mean ``metric`` on ``utterances``.
        seed: seed of the sampling noise.
        utterances: uids of the test utterances scored.
        checkpoint: the checkpoint folder the search vocoded with.
        sampler: class name of the sampler searched.
        metric: the score's name.
        path: the file it was read from or written to (not stored in it).
    """

    betas: list[float]
    score: float
    start_betas: list[float]
    start_score: float
    seed: int
    utterances: list[str]
    checkpoint: str
    sampler: str
    metric: str = "log_mel_l1"
    path: Path | None = None

    @property
    def steps(self) -> int:
        """Sampling steps of the schedule."""
        return len(self.betas)

    def to_dict(self) -> dict:
        """The file's JSON object."""
        return {"betas": self.betas, "steps": self.steps, "score": self.score,
                "start_score": self.start_score, "start_betas": self.start_betas,
                "metric": self.metric, "seed": self.seed, "utterances": self.utterances,
                "checkpoint": self.checkpoint, "sampler": self.sampler}


def schedule_path(run: Path, name: str) -> Path:
    """``{run}/schedules/{name}.json``.

    Raises:
        ScheduleError: ``name`` is not a plain file stem (letters, digits, ``_ . -``, not
            starting with ``.``, ``_`` or ``-``).
    """
    if not NAME_RE.match(name):
        raise ScheduleError(f"schedule name {name!r}: expected letters, digits, '_', '.' or '-' "
                            f"(starting with a letter or digit)")
    return Path(run) / SCHEDULES_DIR / f"{name}.json"


def list_schedules(run: Path) -> list[str]:
    """Names of the schedules stored with ``run``, sorted."""
    folder = Path(run) / SCHEDULES_DIR
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if NAME_RE.match(p.stem))


def check_free(run: Path, name: str, overwrite: bool) -> Path:
    """The path for a new schedule ``name``.

    Raises:
        ScheduleError: a bad name, or the schedule exists and ``overwrite`` is off.
    """
    path = schedule_path(run, name)
    if path.exists() and not overwrite:
        raise ScheduleError(f"{path}: schedule {name!r} exists; choose another --name or pass "
                            f"--overwrite to replace it")
    return path


def write_schedule(run: Path, name: str, schedule: StoredSchedule, overwrite: bool) -> Path:
    """Store ``schedule`` as ``{run}/schedules/{name}.json`` (atomically); returns the path.

    Raises:
        ScheduleError: a bad name, or the schedule exists and ``overwrite`` is off.
    """
    path = check_free(run, name, overwrite)
    write_json(path, schedule.to_dict())
    return path


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _betas(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > 0
            and all(_number(b) and 0.0 < b < 1.0 for b in value))


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# key -> (check, what is expected)
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "betas": (_betas, "a non-empty list of numbers in (0, 1)"),
    "steps": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "score": (_number, "a number"),
    "start_betas": (_betas, "a non-empty list of numbers in (0, 1)"),
    "start_score": (_number, "a number"),
    "metric": (lambda v: isinstance(v, str), "a string"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "utterances": (_strings, "a list of strings"),
    "checkpoint": (lambda v: isinstance(v, str), "a string"),
    "sampler": (lambda v: isinstance(v, str), "a string"),
}


def _parse(path: Path, data: Any) -> StoredSchedule:
    """Check a schedule file's JSON object key by key (see :data:`FIELDS`)."""
    if not isinstance(data, dict):
        raise ScheduleError(f"{path}: expected a JSON object, got {type(data).__name__}")
    for key, (check, expected) in FIELDS.items():
        if key not in data:
            raise ScheduleError(f"{path}: missing key {key!r} ({expected})")
        if not check(data[key]):
            raise ScheduleError(f"{path}: key {key!r}: expected {expected}, got "
                                f"{json.dumps(data[key])[:80]}")
    if data["steps"] != len(data["betas"]):
        raise ScheduleError(f"{path}: key 'steps' is {data['steps']} but 'betas' holds "
                            f"{len(data['betas'])}")
    values = {key: data[key] for key in FIELDS if key != "steps"}
    values["betas"] = [float(b) for b in values["betas"]]
    values["start_betas"] = [float(b) for b in values["start_betas"]]
    values["score"], values["start_score"] = float(data["score"]), float(data["start_score"])
    return StoredSchedule(**values, path=path)


def read_schedule(run: Path, name: str) -> StoredSchedule:
    """Read the schedule ``name`` stored with ``run``.

    Raises:
        ScheduleError: no such schedule (the message lists the stored ones), or the file is
            unreadable, not JSON, or lacks a key or has one of the wrong form (named).
    """
    path = schedule_path(run, name)
    if not path.is_file():
        stored = list_schedules(run)
        available = ", ".join(stored) if stored else "none; vocfw search-schedule makes them"
        raise ScheduleError(f"{path}: run {run} has no schedule {name!r} (stored: {available})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ScheduleError(f"{path}: not readable as UTF-8 JSON ({one_line(exc)})") from None
    return _parse(path, data)


def run_of_checkpoint(folder: Path) -> Path:
    """The run directory a checkpoint folder belongs to (the parent of its ``checkpoint/``).

    Raises:
        ScheduleError: ``folder`` does not lie in a ``checkpoint/`` folder.
    """
    folder = Path(folder)
    if folder.parent.name != CHECKPOINT_DIR:
        raise ScheduleError(f"{folder}: not inside a run's {CHECKPOINT_DIR}/ folder, so it has no "
                            f"run {SCHEDULES_DIR}/ to read a schedule from")
    return folder.parent.parent

