"""``vocfw distill``: train a student that samples in K steps from a frozen teacher run, with a
registered :class:`~vocfw.core.distiller.Distiller`, into an ordinary run.

The student is the teacher's features and model with the sampler the distiller names, started
from the teacher's weights (its moving average when it kept one) and trained by
:meth:`Trainer.fit <vocfw.core.train.trainer.Trainer.fit>` with the distiller's loss in place
of the sampler's, so checkpoints, logs, validation, ``accelerate launch`` and exact resume are
``fit``'s. The teacher is frozen and moved to each process's device, never wrapped. Its
``components.json`` holds, besides the parts, the ``distillation`` record::

    {"teacher": checkpoint folder, "weights": file name, "sha256": digest of that file,
     "method": {"class_path", "init_args"}, "steps": K}
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from jsonargparse import ArgumentParser

from vocfw.core.components import (
    CLASS_KEYS,
    RECORD,
    Components,
    build_components,
    one_line,
    refuse_nested_classes,
)
from vocfw.core.data.config import DataConfig
from vocfw.core.distiller import Distiller
from vocfw.core.errors import SpecError, VocfwError
from vocfw.core.registry import Registry, current_registry
from vocfw.core.runs.checkpoint import (
    EMA_FILE,
    WEIGHTS_FILE,
    load_components,
    read_components,
    resolve_checkpoint,
)
from vocfw.core.runs.run_dir import run_path
from vocfw.core.seed import DEFAULT_SEED
from vocfw.core.settings import SettingError
from vocfw.core.train.parts import Objective
from vocfw.core.train.trainer import Trainer

RECORDED = ("sha256", "method", "steps")  # what a resumed distillation must share


class DistillError(VocfwError, ValueError):
    """A teacher that cannot be distilled as asked, or a resume that is not the same
    distillation."""


def sha256_of(path: Path) -> str:
    """The hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_teacher(teacher: Path) -> tuple[Components, Path, Path]:
    """The teacher's components (moving-average weights when kept), frozen.

    Returns:
        The components, the checkpoint folder and the weights file loaded.

    Raises:
        DistillError: missing, damaged, or naming an unregistered class (one line naming it).
    """
    try:
        components, folder = load_components(teacher)
    except VocfwError as exc:
        raise DistillError(f"teacher {teacher}: cannot be loaded: {one_line(exc)}") from None
    components.model.eval().requires_grad_(False)
    weights = folder / (EMA_FILE if (folder / EMA_FILE).is_file() else WEIGHTS_FILE)
    return components, folder, weights


def build_distiller(method: object, registry: Registry) -> tuple[Distiller, dict]:
    """Build a registered distiller from ``{"class_path", "init_args"}``; nothing is imported.

    Returns:
        The distiller and its spec with every default filled in.

    Raises:
        SpecError: not such a mapping, an unregistered class, or arguments it refuses.
    """
    if not isinstance(method, dict) or "class_path" not in method or set(method) - CLASS_KEYS:
        raise SpecError(f"method: expected a mapping with class_path (and optionally "
                        f"init_args), got {method!r}")
    cls = registry.resolve("distillers", method["class_path"], "method.class_path")
    init_args = method.get("init_args") or {}
    refuse_nested_classes(init_args, "method.init_args")
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(Distiller, "method", required=True)
    path = f"{cls.__module__}.{cls.__qualname__}"
    try:
        cfg = parser.parse_object({"method": {"class_path": path, "init_args": init_args}})
        return parser.instantiate(cfg).method, cfg["method"].as_dict()
    except Exception as exc:  # jsonargparse and the class's own checks raise many types
        raise SpecError(f"method {cls.__name__}: {one_line(exc)}") from None


def choose_distiller(method: dict | None, teacher: Components, folder: Path,
                     registry: Registry) -> tuple[Distiller, dict]:
    """The distiller ``method`` names, or without one the first registered distiller that
    accepts the teacher with its default options.

    Raises:
        DistillError: the distiller refuses the teacher, or none accepts it (with the reasons).
    """
    if method is not None:
        distiller, spec = build_distiller(method, registry)
        reason = distiller.teacher_incompatibility(teacher)
        if reason is not None:
            raise DistillError(f"teacher {folder}: {type(distiller).__name__} cannot distill "
                               f"it: {reason}")
        return distiller, spec
    reasons = []
    for name in registry.entries["distillers"]:
        try:
            distiller, spec = build_distiller({"class_path": name}, registry)
        except SpecError as exc:  # needs options: only chosen by name
            reasons.append(f"{name} needs options ({exc})")
            continue
        reason = distiller.teacher_incompatibility(teacher)
        if reason is None:
            return distiller, spec
        reasons.append(f"{name}: {reason}")
    raise DistillError(f"teacher {folder}: no registered distiller can distill it ("
                       f"{'; '.join(reasons) or 'none is registered'})")


def student_spec(teacher: Components, folder: Path, weights: Path, distiller: Distiller,
                 method: dict, steps: int) -> dict:
    """The student's component spec: the teacher's features and model, the distiller's
    sampler and the ``distillation`` record.

    Raises:
        DistillError: the distiller finds no ``steps``-step sampler for the teacher.
    """
    try:
        sampler = distiller.student_sampler(teacher, steps)
    except ValueError as exc:
        raise DistillError(f"teacher {folder}: {type(distiller).__name__} cannot make a "
                           f"{steps}-step student: {one_line(exc)}") from None
    record = {"teacher": str(folder.resolve()), "weights": weights.name,
              "sha256": sha256_of(weights), "method": method, "steps": steps}
    return {"features": teacher.spec["features"], "model": teacher.spec["model"],
            "sampler": sampler, RECORD: record}


def check_same_distillation(run_dir: Path, record: dict) -> None:
    """Refuse resuming ``run_dir`` with another teacher, method or step count.

    Raises:
        DistillError: naming each difference.
    """
    stored = read_components(resolve_checkpoint(run_dir)).get(RECORD)
    if not isinstance(stored, dict):
        raise DistillError(f"{run_dir}: holds no {RECORD} record, so it is not a distilled "
                           f"run; continue it with vocfw fit --resume_type resume")
    differences = [f"{key} {stored.get(key)!r} there and {record[key]!r} here"
                   for key in RECORDED if stored.get(key) != record[key]]
    if differences:
        raise DistillError(f"{run_dir}: was distilled otherwise than asked now ("
                           f"{'; '.join(differences)}); resume with its teacher, method and "
                           f"--steps, or start another --name")


def objective_of(distiller: Distiller, student: Components, teacher: Components) -> Objective:
    """The training objective: ``distiller``'s loss with the teacher on the batch's device."""

    def objective(model: torch.nn.Module, audio: torch.Tensor, mel: torch.Tensor,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        teacher.model.to(audio.device)
        return distiller.loss(model, student.sampler, teacher, audio, mel, generator)

    return objective


def distill(trainer: Trainer, data: DataConfig, teacher: Path, steps: int, name: str,
            config_text: str = "", method: dict | None = None, seed: int = DEFAULT_SEED,
            resume: bool = False, overwrite: bool = False,
            registry: Registry | None = None) -> Path:
    """Distill ``teacher`` into the student run ``{trainer.log_dir}/{name}``.

    Args:
        trainer: the training settings (as ``fit``'s).
        data: the processed data to distill on.
        teacher: its run directory, ``checkpoint/`` folder or checkpoint folder.
        steps: K, the student's sampling steps (at least 1).
        name: the student run's name.
        config_text: the resolved config, stored as the run's ``config.yaml``.
        method: ``{"class_path", "init_args"}`` of a registered distiller (``None``: the first
            that accepts the teacher).
        seed: seed of every draw, as ``fit``'s.
        resume: continue the student run exactly (same teacher weights, method and K).
        overwrite: replace an existing run of that name.
        registry: the registered classes (default: the process's registry).

    Returns:
        The last checkpoint folder written.

    Raises:
        SettingError: ``steps`` below 1.
        DistillError: see :func:`load_teacher`, :func:`choose_distiller`,
            :func:`student_spec` and :func:`check_same_distillation`.
        Everything :meth:`Trainer.fit <vocfw.core.train.trainer.Trainer.fit>` raises.
    """
    if steps < 1:
        raise SettingError(f"steps: the student's sampling steps must be at least 1, got {steps}")
    registry = registry or current_registry()
    components, folder, weights = load_teacher(Path(teacher))
    distiller, method_spec = choose_distiller(method, components, folder, registry)
    spec = student_spec(components, folder, weights, distiller, method_spec, steps)
    student = build_components(spec, f"student of {folder}", registry)
    run_dir = run_path(trainer.log_dir, name)
    if resume:
        check_same_distillation(run_dir, spec[RECORD])
    return trainer.fit(
        run_dir, data, spec, config_text, resume_type="resume" if resume else None,
        checkpoint=run_dir if resume else None, seed=seed, overwrite=overwrite,
        objective=objective_of(distiller, student, components),
        initial_weights=components.model.state_dict())
