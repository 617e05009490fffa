"""Mel spectrograms to waveforms: batching, padding, chunking and cross-fading around a sampler.

An utterance longer than ``chunk_frames`` is cut into chunks that overlap by ``overlap_frames``;
every chunk is sampled like a short utterance and neighbours are cross-faded over their
overlap, so the network never sees more than ``chunk_frames`` frames (rounded up to a multiple
of ``PAD_FRAMES``) at once and peak memory does not grow with the input length.

Same input, same output: every utterance (or chunk) is right-padded with the feature log floor
(silence) to its own length rounded up to a multiple of ``PAD_FRAMES``, only pieces of equal
padded length share a batch, and each piece's noise comes from its own generator, seeded from
(seed, key, chunk index). So a waveform depends only on its mel, its key, the seed and the
model, never on what else is vocoded, the batch size or the order. The output is trimmed back
to ``frames * hop`` samples.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from vocfw.core.audio.npy import REAL_KINDS
from vocfw.core.components import Components
from vocfw.core.errors import VocfwError
from vocfw.core.infer.options import DEFAULT_BATCH_SIZE
from vocfw.core.infer.precision import Precision, autocast, resolve_precision
from vocfw.core.model import Vocoder
from vocfw.core.seed import DEFAULT_SEED
from vocfw.core.settings import SettingError, resolve_device

MIN_OVERLAP_FRAMES = 4
PAD_FRAMES = 32  # pieces are padded to a multiple of this many frames
Crossfade = Literal["equal_power", "linear"]


class MelError(VocfwError, ValueError):
    """A mel spectrogram cannot be vocoded (wrong shape, band count or values)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"{name}: {reason}")


def check_mel(mel: np.ndarray | torch.Tensor, n_mels: int, name: str) -> torch.Tensor:
    """Validate one mel spectrogram and return it as a float32 CPU tensor.

    Args:
        mel: (M, T) log-mel spectrogram.
        n_mels: bands the model expects.
        name: what to call the mel in errors (usually its file).

    Returns:
        (M, T) float32 tensor.

    Raises:
        MelError: not real numbers (string, object, bool, complex or record dtype), not 2-D,
            no frames, ``M != n_mels``, or NaN / infinite values.
    """
    if isinstance(mel, np.ndarray):
        if mel.dtype.kind not in REAL_KINDS:
            raise MelError(name, f"has dtype {mel.dtype}; expected real numbers (float or int)")
        mel = mel.astype(mel.dtype.newbyteorder("="), copy=False)
    tensor = torch.as_tensor(mel).detach().cpu()
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise MelError(name, f"has dtype {tensor.dtype}; expected real numbers (float or int)")
    if tensor.dim() != 2:
        raise MelError(name, f"expected a 2-D (bands, frames) mel, got shape {tuple(tensor.shape)}")
    if tensor.shape[0] != n_mels:
        raise MelError(
            name, f"has {tensor.shape[0]} mel bands but the model expects {n_mels}"
        )
    if tensor.shape[1] == 0:
        raise MelError(name, "has no frames")
    tensor = tensor.float()
    if not bool(torch.isfinite(tensor).all()):
        raise MelError(name, "contains NaN or infinite values")
    return tensor


def check_batch_size(batch_size: int) -> None:
    """Raises: SettingError: ``batch_size`` is below 1."""
    if batch_size < 1:
        raise SettingError(f"batch_size={batch_size}: expected at least 1")


def min_overlap_frames(model: Vocoder) -> int:
    """Frames of overlap that cover the model's receptive field.

    Raises:
        SettingError: the model states no receptive field, so it cannot be chunked.
    """
    if model.receptive_field is None:
        raise SettingError(f"chunking: {type(model).__name__} states no receptive_field, so no "
                           f"chunk overlap is known to hide the chunk edges; vocode whole inputs")
    return math.ceil(model.receptive_field / model.hop_length)


def plan_chunks(
    frames: int, chunk_frames: int | None, overlap_frames: int
) -> list[tuple[int, int]]:
    """Split ``frames`` into ``[start, stop)`` chunks of at most ``chunk_frames`` frames
    (``None``: one chunk), in order. Consecutive chunks overlap by exactly ``overlap_frames``;
    the last one is shorter when the length does not divide evenly, but always longer than the
    overlap."""
    if chunk_frames is None or frames <= chunk_frames:
        return [(0, frames)]
    stride = chunk_frames - overlap_frames
    chunks = [(0, chunk_frames)]
    while chunks[-1][1] < frames:
        start = chunks[-1][0] + stride
        chunks.append((start, min(start + chunk_frames, frames)))
    return chunks


def fade_curves(samples: int, shape: Crossfade) -> tuple[np.ndarray, np.ndarray]:
    """(fade_in, fade_out) gains over an overlap of ``samples`` samples, each (samples,)
    float32: ``equal_power`` (sine/cosine: constant power for uncorrelated signals) or
    ``linear`` (gains sum to one: constant amplitude for identical signals)."""
    t = (np.arange(samples, dtype=np.float64) + 0.5) / max(samples, 1)
    if shape == "linear":
        fade_in, fade_out = t, 1.0 - t
    else:
        fade_in, fade_out = np.sin(0.5 * np.pi * t), np.cos(0.5 * np.pi * t)
    return fade_in.astype(np.float32), fade_out.astype(np.float32)


def default_overlap_frames(model: Vocoder) -> int:
    """The chunk overlap used unless one is given: the model's receptive field in frames, at
    least ``MIN_OVERLAP_FRAMES``; chunks must be at least twice as long."""
    return max(min_overlap_frames(model), MIN_OVERLAP_FRAMES)


def chunk_frames_for(components: Components, chunk_seconds: float | None) -> int | None:
    """``chunk_seconds`` in frames (``None``: whole mels); raises :class:`SettingError`,
    stating the shortest allowed, when shorter than twice the model's chunk overlap."""
    if chunk_seconds is None:
        return None
    features = components.features
    least = 2 * default_overlap_frames(components.model)
    frames = chunk_seconds * features.sample_rate / features.hop_length
    if not (math.isfinite(frames) and round(frames) >= least):
        shortest = least * features.hop_length / features.sample_rate
        raise SettingError(f"chunk_seconds={chunk_seconds:g}: expected at least {shortest:g} s "
                           f"(twice the model's chunk overlap of {least // 2} frames), or none "
                           f"for whole mels")
    return round(frames)


def check_chunking(model: Vocoder, chunk_frames: int | None, overlap_frames: int | None) -> int:
    """Validate the chunk settings and return the overlap to use (0 for whole inputs of a
    model that states no receptive field)."""
    if chunk_frames is None and model.receptive_field is None:
        return 0
    least = min_overlap_frames(model)
    overlap = default_overlap_frames(model) if overlap_frames is None else overlap_frames
    if overlap < least:
        raise SettingError(
            f"overlap_frames={overlap} is below the model's receptive field "
            f"({model.receptive_field} samples = {least} frames of {model.hop_length})"
        )
    if chunk_frames is not None and chunk_frames < max(2 * overlap, 1):
        raise SettingError(
            f"chunk_frames={chunk_frames} must be at least twice overlap_frames={overlap}"
        )
    return overlap


def noise_generator(seed: int, key: str, chunk: int, device: torch.device) -> torch.Generator:
    """The generator of one piece's noise, seeded from ``f"{seed}:{key}:{chunk}"`` by SHA-256
    (the same in every process and Python version)."""
    digest = hashlib.sha256(f"{seed}:{key}:{chunk}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def mel_key(mel: torch.Tensor) -> str:
    """A key for a mel that has none: a digest of its shape and values."""
    digest = hashlib.sha256(str(tuple(mel.shape)).encode())
    digest.update(mel.numpy().tobytes())
    return digest.hexdigest()[:32]


def padded_frames(frames: int) -> int:
    """``frames`` rounded up to a multiple of ``PAD_FRAMES``."""
    return -(-frames // PAD_FRAMES) * PAD_FRAMES


Piece = tuple[int, int, int, int]  # (mel index, chunk index, start frame, stop frame)


def plan_batches(pieces: list[Piece], batch_size: int) -> list[list[Piece]]:
    """Batches of at most ``batch_size`` pieces of equal padded length, in length order."""
    ordered = sorted(pieces, key=lambda piece: padded_frames(piece[3] - piece[2]))
    batches: list[list[Piece]] = []
    for piece in ordered:
        last = batches[-1] if batches else None
        if (last is None or len(last) == batch_size
                or padded_frames(last[0][3] - last[0][2]) != padded_frames(piece[3] - piece[2])):
            batches.append([piece])
        else:
            last.append(piece)
    return batches


def vocode(
    components: Components,
    mels: Sequence[np.ndarray | torch.Tensor],
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device = "cpu",
    seed: int = DEFAULT_SEED,
    keys: Sequence[str] | None = None,
    chunk_frames: int | None = None,
    overlap_frames: int | None = None,
    crossfade: Crossfade = "equal_power",
    names: Sequence[str] | None = None,
    precision: Precision = "auto",
) -> list[np.ndarray]:
    """Generate one waveform per mel spectrogram.

    Args:
        components: the trained vocoder (its model is moved to ``device``).
        mels: (M, T) log-mel spectrograms, any lengths.
        batch_size: utterances or chunks sampled together.
        device: ``cpu``, ``cuda``, ``cuda:1``, ... or ``auto``.
        seed: with each mel's key, seeds that mel's noise.
        keys: one identity per mel (predict uses uids); a waveform depends only on its mel,
            key, seed and the model. Default: a digest of each mel's values.
        chunk_frames: longest stretch of frames sampled at once (``None``: whole utterances).
        overlap_frames: overlap of neighbouring chunks (``None``: the model's receptive
            field in frames, at least 4).
        crossfade: gain curves over each overlap, ``equal_power`` or ``linear``.
        names: what to call each mel in errors (default ``mel #i``).
        precision: ``auto`` (``bf16`` where the device runs it natively, else ``fp32``),
            ``fp32``, or ``bf16``/``fp16`` autocast for the network (faster on CPUs with
            bfloat16 units and on GPUs; the output differs slightly from fp32).

    Returns:
        (T * hop,) float32 waveforms, in the order of ``mels``.

    Raises:
        MelError: a mel is not (n_mels, T) with finite real values; the message names it.
        SettingError: bad batch or chunk settings, chunking a model that states no
            receptive field, or an unavailable device.
        ValueError: not one key per mel.
    """
    model = components.model
    check_batch_size(batch_size)
    overlap = check_chunking(model, chunk_frames, overlap_frames)
    names = list(names) if names is not None else [f"mel #{i}" for i in range(len(mels))]
    checked = [check_mel(mel, model.n_mels, name) for mel, name in zip(mels, names, strict=True)]
    keys = list(keys) if keys is not None else [mel_key(mel) for mel in checked]
    if len(keys) != len(checked):
        raise ValueError(f"vocode: got {len(keys)} keys for {len(checked)} mels")
    device = resolve_device(device)
    model.to(device).eval()
    pieces = [
        (index, chunk, start, stop)
        for index, mel in enumerate(checked)
        for chunk, (start, stop) in enumerate(plan_chunks(mel.shape[1], chunk_frames, overlap))
    ]
    outputs = [np.zeros(mel.shape[1] * model.hop_length, dtype=np.float32) for mel in checked]
    fades = fade_curves(overlap * model.hop_length, crossfade)
    with torch.inference_mode(), autocast(resolve_precision(precision, device), device):
        for group in plan_batches(pieces, batch_size):
            generators = [noise_generator(seed, keys[index], chunk, device)
                          for index, chunk, _, _ in group]
            audio = sample_group(components, checked, group, generators, device)  # (B, T*hop)
            for row, (index, _, start, stop) in enumerate(group):
                add_piece(outputs[index], audio[row], start, stop, model.hop_length, fades,
                          fade_in=start > 0, fade_out=stop < checked[index].shape[1])
    return outputs


def sample_group(components: Components, mels: list[torch.Tensor], group: list[Piece],
                 generators: list[torch.Generator], device: torch.device) -> np.ndarray:
    """Sample one batch of pieces, each padded with the log floor to the group's padded
    length; returns (B, padded * hop) float32 waveforms."""
    model, log_floor = components.model, components.features.log_floor
    frames = padded_frames(group[0][3] - group[0][2])
    batch = torch.full((len(group), model.n_mels, frames), log_floor)  # (B, M, T)
    for row, (index, _, start, stop) in enumerate(group):
        batch[row, :, : stop - start] = mels[index][:, start:stop]
    audio = components.sampler.sample(model, batch.to(device), generator=generators)
    return audio.float().cpu().numpy()  # (B, T*hop)


def add_piece(output: np.ndarray, audio: np.ndarray, start: int, stop: int, hop: int,
              fades: tuple[np.ndarray, np.ndarray], fade_in: bool, fade_out: bool) -> None:
    """Cross-fade one sampled piece (padded (N,) audio) into ``output`` at frames
    ``[start, stop)``, its first overlap faded in if ``fade_in``, its last out if ``fade_out``."""
    piece = audio[: (stop - start) * hop].copy()  # (len*hop,)
    if fade_in:
        piece[: fades[0].size] *= fades[0]
    if fade_out:
        piece[piece.size - fades[1].size:] *= fades[1]
    output[start * hop: stop * hop] += piece
