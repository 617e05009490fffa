"""``vocfw export onnx``: a trained vocoder as ONNX graphs, its sampler's loop as JSON and a
runtime that vocodes with them using only numpy and onnxruntime (see :mod:`.runtime`).

The folder written::

    condition.onnx   (B, M, T) mel -> condition_0, ... (once per mel)
    step.onnx        (B, N) audio, (1,) time, condition_0, ... -> (B, N) output (every step)
    prior.onnx       (B, M, T) mel, (B, N) noise -> (B, N) prior noise (samplers with a prior)
    vocoder.json     features, graphs, the sampler's loop and its per-step coefficients
    vocode.py        the runtime
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from vocfw.core import __version__
from vocfw.core.atomic import atomic_dir, write_json
from vocfw.core.components import Components
from vocfw.core.export import runtime
from vocfw.core.export.graphs import (
    CONDITION_GRAPH,
    PRIOR_GRAPH,
    STEP_GRAPH,
    ExportError,
    export_network,
    export_prior,
)
from vocfw.core.export.plan import sampler_plan
from vocfw.core.infer.sampler_choice import override_sampler
from vocfw.core.runs.checkpoint import checkpoint_holding, load_components
from vocfw.core.runs.schedules import read_schedule, run_of_checkpoint

RUNTIME_FILE = "vocode.py"
NEEDED = ("onnx", "onnxscript", "onnxruntime")  # the ``onnx`` extra


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse an output folder the export may not write.

    Raises:
        ExportError: it lies in a run's checkpoint folders, or it exists and ``overwrite`` is
            off, or it is something other than an earlier export or an empty folder.
    """
    holder = checkpoint_holding(output / runtime.PLAN_FILE)
    if holder is not None:
        raise ExportError(f"{output}: lies inside checkpoint folder {holder}; exports are never "
                          f"written into a run's checkpoint folders")
    if not (output.exists() or output.is_symlink()):
        return
    earlier = output.is_dir() and (output / runtime.PLAN_FILE).is_file()
    if not overwrite:
        raise ExportError(f"{output}: already exists; choose another output or pass "
                          f"--overwrite to replace {'the export' if earlier else 'it'}")
    if output.is_symlink() or not output.is_dir() or not (earlier or not any(output.iterdir())):
        raise ExportError(f"{output}: is not an ONNX export folder ({runtime.PLAN_FILE} "
                          f"missing), so --overwrite does not replace it; choose another output")


def _check_extra() -> None:
    """Raises: ExportError: a package of the ``onnx`` extra is missing."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"the ONNX export needs {', '.join(missing)}: install the extra with "
                          f"pip install 'vocfw[onnx]'")


def write_export(components: Components, folder: Path, checkpoint: str) -> None:
    """Write the graphs, ``vocoder.json`` and the runtime of ``components`` into ``folder``.

    The sampler's part comes first, so a refused sampler costs no network export.

    Args:
        components: the loaded vocoder (model in eval mode on the CPU, not prepared).
        folder: an existing, empty folder.
        checkpoint: the checkpoint folder's name, recorded in ``vocoder.json``.

    Raises:
        ExportError: a sampler whose loop the runtime does not implement, or a part that
            does not export.
    """
    write_sampler(components, folder, checkpoint)
    export_network(components.model, folder)


def write_sampler(components: Components, folder: Path, checkpoint: str) -> None:
    """Write the sampler's part of an export, what goes beside the network's graphs
    (:func:`~.graphs.export_network`): its prior graph (when it has one), ``vocoder.json``
    and the runtime.

    Args:
        components: the loaded vocoder.
        folder: the export folder.
        checkpoint: the checkpoint folder's name, recorded in ``vocoder.json``.

    Raises:
        ExportError: a sampler whose loop the runtime does not implement, or a prior that does
            not export.
    """
    model, sampler = components.model, components.sampler
    plan = sampler_plan(sampler, model)
    if plan["prior"]:
        export_prior(sampler.prior, model, f"{plan['sampler']}.prior", folder)
    write_json(folder / runtime.PLAN_FILE, {
        "format": runtime.FORMAT, "vocfw": __version__, "checkpoint": checkpoint,
        "model": type(model).__name__, "time_input": model.time_input,
        "n_mels": model.n_mels, "hop_length": model.hop_length,
        "features": components.features.to_dict(),
        "graphs": {"condition": CONDITION_GRAPH, "step": STEP_GRAPH,
                   "prior": PRIOR_GRAPH if plan["prior"] else None},
        **plan})
    shutil.copyfile(Path(runtime.__file__), folder / RUNTIME_FILE)


def export_onnx(
    run: Path,
    output: Path,
    overwrite: bool = False,
    use_ema: bool = True,
    sampler: str | None = None,
    sampler_args: dict[str, Any] | None = None,
    schedule: str | None = None,
) -> Path:
    """Export a trained vocoder to ONNX with a runtime that needs only numpy and onnxruntime.

    Args:
        run: run directory (its newest checkpoint), ``checkpoint/`` folder or one checkpoint.
        output: the folder to write; it must not exist unless ``overwrite``.
        overwrite: replace an earlier export in ``output``.
        use_ema: export the moving-average weights when the checkpoint has them.
        sampler: a registered sampler's class name to export instead of the run's own.
        sampler_args: sampler constructor arguments to change, e.g.
            ``{"inference_schedule": "fast"}`` (as ``vocfw predict --sampler.KEY VALUE``).
        schedule: a schedule stored with the run by ``vocfw search-schedule``, whose betas
            become the sampler's ``inference_schedule``.

    Returns:
        ``output``.

    Raises:
        ExportError: a missing ``onnx`` extra, an output that may not be written, a sampler
            the runtime cannot run (saying why), or a part that does not export.
        CheckpointError: no usable checkpoint at ``run``.
        SamplerChoiceError, ScheduleError, SpecError: a bad sampler choice or schedule.
    """
    output = Path(output)
    check_output(output, overwrite)
    _check_extra()
    components, folder = load_components(run, use_ema=use_ema)
    stored = (read_schedule(run_of_checkpoint(folder), schedule)
              if schedule is not None else None)
    if sampler is not None or sampler_args or stored is not None:
        override_sampler(components, folder, sampler, dict(sampler_args or {}), stored)
    with atomic_dir(output) as tmp:
        write_export(components, tmp, folder.name)
        if output.exists():  # an earlier export check_output let go: replaced only now
            shutil.rmtree(output)
    return output
