"""The single checks the contract kit (:mod:`vocfw.core.testing.contracts`) runs over built
components: the network's calls, the saved-and-reloaded run, the receptive field, chunked
vocoding, and a model and sampler trained and sampled together.

Shapes: B batch, M mel bands, T frames, N = T * hop_length samples.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from vocfw.core.components import Components
from vocfw.core.infer.vocode import plan_chunks, vocode
from vocfw.core.model import Vocoder
from vocfw.core.runs.checkpoint import checkpoint_dirname, load_components, write_checkpoint
from vocfw.core.sampler import Generators, Sampler

BATCH = 2
CHUNK_TOLERANCE = 1e-4
"""Absolute and relative tolerance of chunked against whole-input vocoding: float rounding
only, since both run the same float32 network on the same context."""
SAVED_SUFFIXES = (".safetensors", ".json")


class ContractError(AssertionError):
    """A plugin class does not honour the contract of its base class."""


def expect(condition: bool, cls: type, message: str) -> None:
    """Raise :class:`ContractError` naming ``cls`` with ``message`` unless ``condition``."""
    if not condition:
        raise ContractError(f"{cls.__module__}.{cls.__qualname__}: {message}")


def random_mel(n_mels: int, frames: int, seed: int = 0, batch: int = BATCH) -> torch.Tensor:
    """(batch, M, T) log-mel-like values around -4."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch, n_mels, frames), generator=generator) - 4.0  # (B, M, T)


def times(model: Vocoder) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Time inputs of the model's kind: per-row values, other per-row values (fractional
    steps), then one value shared by the batch."""
    if model.time_input == "noise_level":
        return torch.tensor([1.0, 0.5]), torch.tensor([0.05, 0.93]), torch.tensor([0.7])
    if model.time_input == "flow_time":
        return torch.tensor([0.0, 0.5]), torch.tensor([0.25, 0.99]), torch.tensor([0.7])
    return torch.tensor([0, 1]), torch.tensor([0.5, 1.25]), torch.tensor([1])


def perturb(model: Vocoder, seed: int = 0) -> None:
    """Add seeded noise to every weight, so that zero-initialised layers (an output projection
    that starts at zero) do not hide what an output depends on."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))


def check_denoise(model: Vocoder, mel: torch.Tensor) -> None:
    """Shapes, condition/denoise agreement, every kind of time input, a wrong mel size."""
    cls = type(model)
    samples = mel.shape[-1] * model.hop_length
    audio = torch.randn((BATCH, samples), generator=torch.Generator().manual_seed(1))  # (B, N)
    model.eval()
    with torch.no_grad():
        condition = model.condition(mel)
        for time in times(model):
            out = model.denoise(audio, time, condition)  # (B, N)
            expect(tuple(out.shape) == (BATCH, samples), cls,
                   f"denoise returned shape {tuple(out.shape)} for times {time.tolist()}, "
                   f"expected {(BATCH, samples)}")
            expect(bool(torch.isfinite(out).all()), cls,
                   f"denoise returned non-finite values for times {time.tolist()}")
        time = times(model)[0]
        expect(torch.allclose(model(audio, time, mel), model.denoise(audio, time, condition)),
               cls, "forward(audio, time, mel) differs from denoise(audio, time, condition(mel))")
    try:
        model.condition(mel[:, :-1])
    except ValueError:
        return
    expect(False, cls, f"condition accepted {mel.shape[1] - 1} mel bands instead of "
           f"{model.n_mels} without raising ValueError")


def saved_and_reloaded(components: Components, folder: Path) -> Components:
    """Save ``components`` as a checkpoint under ``folder`` the way training does, check that
    only safetensors and JSON were written, and load them back the way ``predict`` does."""
    cls = type(components.model)
    checkpoint = folder / "checkpoint" / checkpoint_dirname(0, 0, 0.0)
    write_checkpoint(checkpoint, components.spec, components.model.state_dict())
    for path in sorted(checkpoint.rglob("*")):
        expect(path.suffix in SAVED_SUFFIXES, cls,
               f"saving wrote {path.name}, which is not safetensors or JSON")
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        else:
            load_file(str(path))
    return load_components(folder)[0]


def check_reload(built: Components, loaded: Components, mel: torch.Tensor) -> None:
    """The reloaded network computes what the built one does, and its sampler samples the
    same waveforms from the same seed."""
    model, cls = built.model.eval(), type(built.model)
    audio = torch.randn((BATCH, mel.shape[-1] * model.hop_length),
                        generator=torch.Generator().manual_seed(2))  # (B, N)
    time = times(model)[0]
    with torch.no_grad():
        same = torch.equal(loaded.model(audio, time, mel), model(audio, time, mel))
    expect(same, cls, "the model saved as a checkpoint and loaded again computes differently")
    waves = [c.sampler.sample(c.model, mel, torch.Generator().manual_seed(3))
             for c in (built, loaded)]
    expect(torch.equal(*waves), type(built.sampler),
           "the sampler saved with a checkpoint and loaded again samples differently")


def measured_receptive_field(model: Vocoder, frames: int) -> int:
    """Samples that the output sample in the middle of ``frames`` frames depends on, through
    the noisy audio or the mel (nonzero gradients, first to last, the mel's in whole frames)."""
    mel = random_mel(model.n_mels, frames, seed=4, batch=1).requires_grad_()  # (1, M, T)
    audio = torch.randn((1, frames * model.hop_length),
                        generator=torch.Generator().manual_seed(5)).requires_grad_()  # (1, N)
    model.eval()
    out = model.denoise(audio, times(model)[2], model.condition(mel))  # (1, N)
    out[0, out.shape[1] // 2].backward()
    spans = [0]
    for grad, unit in ((audio.grad[0], 1), (mel.grad[0].abs().sum(dim=0), model.hop_length)):
        where = torch.nonzero(grad).flatten()
        if where.numel():
            spans.append(int(where[-1] - where[0] + 1) * unit)
    return max(spans)


def check_receptive_field(model: Vocoder) -> int:
    """The model's stated receptive field, checked to cover the measured one."""
    cls, stated = type(model), model.receptive_field
    frames = 2 * math.ceil((stated or 0) / model.hop_length) + 16
    measured = measured_receptive_field(model, frames)
    expect(stated is not None, cls, f"receptive_field is not stated; an output sample was "
           f"measured to depend on {measured} samples: return at least that")
    expect(measured <= stated, cls, f"receptive_field states {stated} samples, but an output "
           f"sample was measured to depend on {measured}")
    return stated


class OnePass(Sampler):
    """A deterministic probe: one network evaluation on an input made from the mel alone (each
    frame's mean level times a fixed within-frame pattern), so that any difference between
    chunked and whole-input vocoding comes from the network's context."""

    steps_argument = None

    def training_loss(self, model: Vocoder, audio: torch.Tensor, mel: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError("the probe only samples")

    @torch.no_grad()
    def sample(self, model: Vocoder, mel: torch.Tensor,
               generator: Generators = None) -> torch.Tensor:
        """(B, M, T) mel -> (B, T * hop) one network output."""
        hop = model.hop_length
        level = torch.tanh(mel.mean(dim=1) + 4.0)  # (B, T)
        pattern = torch.sin(torch.arange(hop, device=mel.device) * 0.7)  # (hop,)
        audio = (level[:, :, None] * pattern).flatten(1)  # (B, N)
        return model.denoise(audio, times(model)[2].to(mel.device), model.condition(mel))


def check_chunking(components: Components) -> None:
    """Chunked vocoding equals whole-input vocoding (within :data:`CHUNK_TOLERANCE`) wherever
    a sample lies more than the receptive field from every chunk edge."""
    model = components.model
    field = check_receptive_field(model)
    probe = Components(components.features, model, OnePass(), components.spec)
    overlap = max(math.ceil(field / model.hop_length), 4)
    chunk = 3 * overlap + 2
    frames = 3 * chunk
    mel = random_mel(model.n_mels, frames, seed=6, batch=1)[0]  # (M, T)
    settings = {"crossfade": "linear", "precision": "fp32", "keys": ["probe"]}
    whole = vocode(probe, [mel], **settings)[0]  # (T * hop,)
    chunked = vocode(probe, [mel], chunk_frames=chunk, **settings)[0]  # (T * hop,)
    keep = np.ones(whole.size, dtype=bool)
    for start, stop in plan_chunks(frames, chunk, overlap):
        for edge in {start, stop} - {0}:
            keep[max(edge * model.hop_length - field, 0): edge * model.hop_length + field] = False
    expect(bool(keep.any()), type(model), "no sample lies beyond the receptive field of every "
           "chunk edge")
    expect(np.allclose(chunked[keep], whole[keep], rtol=CHUNK_TOLERANCE, atol=CHUNK_TOLERANCE),
           type(model), f"chunked vocoding differs from whole-input vocoding more than "
           f"{field} samples (receptive_field) away from the chunk edges")


class Wrapper(torch.nn.Module):
    """What distributed training hands a sampler: the network held as ``.module``, calls
    forwarded, attributes not (as DistributedDataParallel does)."""

    def __init__(self, module: Vocoder) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.module(*args)


def wrapped_loss(model: Vocoder, sampler: Sampler, audio: torch.Tensor, mel: torch.Tensor,
                 names: str) -> torch.Tensor:
    """The training loss through a distributed-training wrapper, which must equal the bare
    network's loss from the same draws."""
    try:
        loss = sampler.training_loss(Wrapper(model), audio, mel,
                                     torch.Generator().manual_seed(0))
    except AttributeError as error:
        raise ContractError(
            f"{names}: training_loss failed on a network wrapped for distributed training "
            f"({error}); read the network's attributes through "
            f"vocfw.core.sampler.network_of(model)") from error
    bare = sampler.training_loss(model, audio, mel, torch.Generator().manual_seed(0))
    expect(torch.equal(loss.detach(), bare.detach()), type(sampler),
           f"{names}: training_loss differs through a distributed-training wrapper")
    return loss


def check_pair(model: Vocoder, sampler: Sampler, mel: torch.Tensor) -> None:
    """One training step and one sample of ``model`` with ``sampler``."""
    names = f"model {type(model).__name__} with sampler {type(sampler).__name__}"
    cls = type(model)
    model.train()
    audio = torch.rand((BATCH, mel.shape[-1] * model.hop_length)) * 1.6 - 0.8  # (B, N)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    loss = wrapped_loss(model, sampler, audio, mel, names)
    expect(loss.dim() == 0 and bool(torch.isfinite(loss)), type(sampler),
           f"{names}: training_loss must be a finite scalar, got {loss!r}")
    expect(loss.requires_grad, cls, f"{names}: the loss does not depend on the parameters")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)  # as training does: a loss's scale is its own
    torch.optim.SGD(params, lr=1e-2).step()
    expect(any(not torch.equal(b, p) for b, p in zip(before, params, strict=True)), cls,
           f"{names}: one training step changed no parameter")
    model.eval()
    waves = sampler.sample(model, mel, torch.Generator().manual_seed(0))
    expected = (BATCH, mel.shape[-1] * model.hop_length)
    expect(tuple(waves.shape) == expected, type(sampler),
           f"{names}: sample returned shape {tuple(waves.shape)}, expected {expected}")
    expect(bool(torch.isfinite(waves).all()) and float(waves.abs().max()) <= 1.0,
           type(sampler), f"{names}: samples must be finite and within [-1, 1]")


def check_rows(sampler: Sampler, model: Vocoder, mel: torch.Tensor) -> None:
    """Seeded output repeats, and with one generator per row a row ignores the others."""
    cls = type(sampler)

    def rows(seeds: list[int], batch: torch.Tensor) -> torch.Tensor:
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        return sampler.sample(model, batch, generators)

    first = sampler.sample(model, mel, torch.Generator().manual_seed(5))
    expect(torch.equal(first, sampler.sample(model, mel, torch.Generator().manual_seed(5))),
           cls, "sample gives different output for the same seeded generator")
    pair = rows([7, 8], mel)
    # equal up to float rounding, which batch size may change (outputs lie in [-1, 1])
    expect(torch.allclose(pair[1:], rows([8], mel[1:]), atol=1e-4), cls,
           "with one generator per row, a row's output depends on the other rows")
