"""The ONNX graphs of a trained vocoder: the mel conditioning, the per-step network and the
sampler's prior, each exported once by torch's ONNX exporter (``torch.export`` based).

Shapes: B batch, M mel bands, T frames, N = T * hop samples; B and T stay free in every graph.

The conditioning a model computes once per utterance (:meth:`Vocoder.condition`) is any nest
of tensors, lists, tuples and dataclasses; it leaves the conditioning graph as a flat list of
tensors (``condition_0``, ...) and the step graph rebuilds the nest from them, so the runtime
passes them through without knowing what they are.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vocfw.core.errors import VocfwError
from vocfw.core.model import Vocoder

OPSET = 18
TRACE_BATCH = 2  # traced batch size (above 1, so the batch stays a free dimension)
TRACE_FRAMES = 16  # traced mel length; a second length tells which sizes follow it
CONDITION_GRAPH, STEP_GRAPH, PRIOR_GRAPH = "condition.onnx", "step.onnx", "prior.onnx"


class ExportError(VocfwError, ValueError):
    """A vocoder cannot be exported: a sampler whose loop the runtime does not implement, a
    part the ONNX exporter cannot translate, or an output folder that may not be written."""


def flatten(value: Any, where: str = "condition") -> list[torch.Tensor]:
    """The tensors of a nest of tensors, lists, tuples, dataclasses and ``None``, in order.

    Raises:
        ExportError: the nest holds anything else (naming its type).
    """
    if isinstance(value, torch.Tensor):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [t for f in dataclasses.fields(value)
                for t in flatten(getattr(value, f.name), f"{where}.{f.name}")]
    if isinstance(value, list | tuple):
        return [t for i, item in enumerate(value) for t in flatten(item, f"{where}[{i}]")]
    if value is None:
        return []
    raise ExportError(f"{where} is a {type(value).__name__}; the ONNX export passes only "
                      f"tensors (in lists, tuples or dataclasses) between the graphs")


def rebuild(template: Any, tensors: Iterator[torch.Tensor]) -> Any:
    """``template``'s nest (see :func:`flatten`) with its tensors taken from ``tensors``."""
    if isinstance(template, torch.Tensor):
        return next(tensors)
    if dataclasses.is_dataclass(template) and not isinstance(template, type):
        return dataclasses.replace(template, **{
            f.name: rebuild(getattr(template, f.name), tensors)
            for f in dataclasses.fields(template) if f.init})
    if isinstance(template, list | tuple):
        return type(template)(rebuild(item, tensors) for item in template)
    return template


class _Condition(nn.Module):
    """(B, M, T) mel -> the model's conditioning as a flat tuple of tensors."""

    def __init__(self, model: Vocoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(flatten(self.model.condition(mel)))


class _Step(nn.Module):
    """(B, N) audio, (1,) time and the flat conditioning -> (B, N) network output."""

    def __init__(self, model: Vocoder, template: Any) -> None:
        super().__init__()
        self.model, self.template = model, template

    def forward(self, audio: torch.Tensor, time: torch.Tensor,
                condition: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.model.denoise(audio, time, rebuild(self.template, iter(condition)))


class _Prior(nn.Module):
    """(B, M, T) mel and (B, N) standard normal noise -> (B, N) the sampler's prior noise."""

    def __init__(self, prior: Callable[[torch.Tensor, int], Callable], hop_length: int) -> None:
        super().__init__()
        self.prior, self.hop_length = prior, hop_length

    def forward(self, mel: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.prior(mel, self.hop_length)(noise)


def _sizes(model: Vocoder, frames: int) -> list[torch.Size]:
    """Shapes of the model's flat conditioning of a (TRACE_BATCH, M, frames) mel."""
    mel = torch.zeros(TRACE_BATCH, model.n_mels, frames)
    return [t.shape for t in flatten(model.condition(mel))]


def _condition_dims(model: Vocoder, batch: Any, frames: Any) -> list[dict[int, Any]]:
    """The free dimensions of each conditioning tensor: dim 0 is the batch where it has the
    mel's batch size, and a dim growing by k per frame is k x frames.

    Raises:
        ExportError: a size that changes with the mel's length but not in proportion.
    """
    dims = []
    short, long = _sizes(model, TRACE_FRAMES), _sizes(model, TRACE_FRAMES + 1)
    for index, (a, b) in enumerate(zip(short, long, strict=True)):
        free: dict[int, Any] = {0: batch} if a and a[0] == TRACE_BATCH else {}
        for d in range(1, len(a)):
            per_frame = b[d] - a[d]
            if per_frame and a[d] != per_frame * TRACE_FRAMES:
                raise ExportError(f"condition_{index}: size {a[d]} of dim {d} is not "
                                  f"proportional to the mel's {TRACE_FRAMES} frames")
            if per_frame:
                free[d] = frames * per_frame if per_frame > 1 else frames
        dims.append(free)
    return dims


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's progress warnings and log lines."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _export(module: nn.Module, args: tuple, path: Path, names: tuple[Sequence[str],
            Sequence[str]], dynamic: tuple, what: str) -> None:
    """Export ``module`` called on ``args`` to ``path`` as one self-contained ONNX file.

    Raises:
        ExportError: the exporter failed (its first line of explanation is kept).
    """
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(module.eval(), args, str(path), dynamo=True, opset_version=OPSET,
                              input_names=list(names[0]), output_names=list(names[1]),
                              dynamic_shapes=dynamic, external_data=False, verbose=False)
    except Exception as exc:  # the exporter raises many kinds; each means "cannot export"
        raise ExportError(f"{what} cannot be exported to ONNX: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """The first cause the exporter's long message names (its lines ``<class 'X'>: why``),
    else its first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [repr(exc)]
    cause = next((line for line in lines if line.startswith("<class ")), lines[0])
    return cause.split(">: ", 1)[-1]


def export_network(model: Vocoder, folder: Path) -> None:
    """Write the model's conditioning graph and step graph into ``folder``.

    Args:
        model: the trained network, in eval mode on the CPU, on its reference (unprepared)
            path.
        folder: where ``condition.onnx`` (inputs ``mel``; outputs ``condition_0``, ...) and
            ``step.onnx`` (inputs ``audio``, ``time``, ``condition_0``, ...; output
            ``output``) go.

    Raises:
        ExportError: the conditioning holds more than tensors, or a graph does not export.
    """
    batch, frames = torch.export.Dim("batch", min=1), torch.export.Dim("frames", min=2)
    mel = torch.randn(TRACE_BATCH, model.n_mels, TRACE_FRAMES)  # (B, M, T)
    with torch.no_grad():
        template = model.condition(mel)
    condition = flatten(template)
    names = [f"condition_{i}" for i in range(len(condition))]
    cond_dims = _condition_dims(model, batch, frames)
    name = type(model).__name__
    _export(_Condition(model), (mel,), folder / CONDITION_GRAPH, (["mel"], names),
            ({0: batch, 2: frames},), f"{name}.condition")
    audio = torch.randn(TRACE_BATCH, TRACE_FRAMES * model.hop_length)  # (B, N)
    time = torch.full((1,), 0.5)  # (1,)
    _export(_Step(model, template), (audio, time, tuple(condition)), folder / STEP_GRAPH,
            (["audio", "time", *names], ["output"]),
            ({0: batch, 1: frames * model.hop_length}, None, tuple(cond_dims)),
            f"{name}.denoise")


def export_prior(prior: Callable[[torch.Tensor, int], Callable], model: Vocoder, what: str,
                 folder: Path) -> None:
    """Write ``prior.onnx`` into ``folder``: inputs ``mel`` (B, M, T) and ``noise`` (B, N),
    output ``prior`` (B, N), ``prior(mel, hop_length)(noise)``.

    Raises:
        ExportError: the prior does not export (``what`` names it).
    """
    batch, frames = torch.export.Dim("batch", min=1), torch.export.Dim("frames", min=2)
    mel = torch.randn(TRACE_BATCH, model.n_mels, TRACE_FRAMES) - 4.0  # (B, M, T)
    noise = torch.randn(TRACE_BATCH, TRACE_FRAMES * model.hop_length)  # (B, N)
    _export(_Prior(prior, model.hop_length), (mel, noise), folder / PRIOR_GRAPH,
            (["mel", "noise"], ["prior"]),
            ({0: batch, 2: frames}, {0: batch, 1: frames * model.hop_length}), what)
