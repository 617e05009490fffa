"""The Python API: load a trained vocoder once, then turn mels into audio and audio into mels.

>>> from vocfw.core import load
>>> voc = load("ckpts/vocoder/my_vocoder")        # doctest: +SKIP
>>> audio = voc(voc.mel(wave, sample_rate=44100))  # doctest: +SKIP

``vocfw predict`` vocodes through the same object, so a mel vocoded here with the same key and
seed gives the same samples as predict's output for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vocfw.core.audio.io import resample
from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.components import Components
from vocfw.core.infer.options import (
    DEFAULTS,
    Key,
    VocodeOptions,
    call_keys,
    positive_rate,
)
from vocfw.core.infer.precision import Precision, resolve_precision
from vocfw.core.infer.sampler_choice import override_sampler
from vocfw.core.infer.stream import STREAM_KEY, MelStream
from vocfw.core.infer.vocode import MelError, check_batch_size, chunk_frames_for, vocode
from vocfw.core.runs.checkpoint import load_components
from vocfw.core.runs.schedules import read_schedule, run_of_checkpoint
from vocfw.core.seed import DEFAULT_SEED
from vocfw.core.settings import resolve_device

MelLike = np.ndarray | torch.Tensor


class LoadedVocoder:
    """A trained vocoder with its feature settings, ready to call.

    Attributes:
        checkpoint: the checkpoint folder the weights came from.
        components: the rebuilt model, sampler and feature settings.
        options: the options it was loaded with.
        device: where the network runs (``options.device`` resolved).
        precision: ``fp32``, or ``bf16``/``fp16`` autocast (``options.precision`` resolved for
            the device).
        chunk_frames: longest stretch of frames sampled at once (``options.chunk_seconds`` in
            frames; ``None``: whole mels), so memory does not grow with the mel's length.
        extractor: the run's mel analysis (what ``mel`` uses).

    Raises:
        SettingError: too short a ``chunk_seconds`` (the message states the shortest).
    """

    def __init__(self, components: Components, checkpoint: Path, options: VocodeOptions,
                 device: torch.device) -> None:
        self.components, self.checkpoint, self.options = components, checkpoint, options
        self.device = device
        self.precision: Precision = resolve_precision(options.precision, device)
        self.chunk_frames = chunk_frames_for(components, options.chunk_seconds)
        self.extractor = MelSpectrogram(components.features)

    @property
    def batch_size(self) -> int:
        """Mels (or chunks) sampled together."""
        return self.options.batch_size

    @property
    def features(self) -> MelConfig:
        """The run's feature settings (what ``mel`` computes and ``__call__`` expects)."""
        return self.components.features

    @property
    def sample_rate(self) -> int:
        """Sample rate of the generated audio, in Hz."""
        return self.features.sample_rate

    @property
    def hop_length(self) -> int:
        """Audio samples per mel frame."""
        return self.features.hop_length

    @property
    def n_mels(self) -> int:
        """Mel bands the model expects."""
        return self.components.model.n_mels

    @property
    def steps(self) -> int:
        """Sampling steps of the current sampler."""
        return self.components.sampler.num_inference_steps

    def with_sampler(self, sampler: str | None = None, **init_args: Any) -> LoadedVocoder:
        """A copy that samples differently; the weights are shared, not copied.

        Args:
            sampler: a registered sampler's class name (``None``: the current sampler's class).
            init_args: its constructor arguments to change, e.g. ``inference_schedule="fast"``
                (the ``--sampler NAME --sampler.KEY VALUE`` choices of predict); the others
                keep the run's values where the constructor takes them.

        Raises:
            ValueError: an unknown sampler or argument, or a sampler that cannot vocode with
                this model (saying why).
        """
        components = replace(self.components)  # the sampler is rebuilt, the model shared
        override_sampler(components, self.checkpoint, sampler, init_args)
        return LoadedVocoder(components, self.checkpoint, self.options, self.device)

    def mel(self, audio: MelLike, sample_rate: int) -> torch.Tensor:
        """Analyse audio with the run's own feature settings.

        Args:
            audio: (L,) or (B, L) waveform in [-1, 1].
            sample_rate: its rate in Hz; it is resampled to ``self.sample_rate`` first.

        Returns:
            (M, T) or (B, M, T) float32 log-mel, ``T = features.num_frames(L')``.

        Raises:
            SettingError: ``sample_rate`` is not a positive whole number.
            ValueError: not 1-D or 2-D, non-finite samples, or too short for the window.
        """
        sample_rate = positive_rate(sample_rate)
        wave = np.asarray(audio.detach().cpu() if isinstance(audio, torch.Tensor) else audio,
                          dtype=np.float32)
        if wave.ndim not in (1, 2):
            raise ValueError(f"audio: expected (samples,) or (batch, samples), got shape "
                             f"{wave.shape}")
        if not np.all(np.isfinite(wave)):
            raise ValueError("audio: contains NaN or infinite samples")
        if sample_rate != self.sample_rate:
            rows = wave.reshape(-1, wave.shape[-1])
            wave = np.stack([resample(row, sample_rate, self.sample_rate) for row in rows]
                            ).reshape(*wave.shape[:-1], -1)
        if wave.shape[-1] <= self.features.n_fft:
            raise ValueError(f"audio: {wave.shape[-1]} samples is too short for the "
                             f"{self.features.n_fft}-point analysis window")
        with torch.inference_mode():
            return self.extractor(torch.from_numpy(np.ascontiguousarray(wave)))

    def vocode(self, mels: Sequence[MelLike], seed: int = DEFAULT_SEED,
               keys: Sequence[str] | None = None,
               names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Vocode (M, T_i) mels of any lengths; the engine under ``__call__`` and predict.

        Args:
            mels: (M, T_i) log-mels in the run's feature scale.
            seed: with each mel's key, seeds that mel's noise.
            keys: one identity per mel (default: a digest of its values); an output depends
                only on its mel, key, seed and the model.
            names: what to call each mel in errors (default ``mel #i``).

        Returns:
            (T_i * hop,) float32 waveforms.

        Raises:
            MelError: a mel is not (n_mels, T) with finite real values.
        """
        return vocode(self.components, mels, self.batch_size, self.device, seed=seed, keys=keys,
                      chunk_frames=self.chunk_frames, names=names, precision=self.precision)

    def stream(self, seed: int = DEFAULT_SEED, key: Key = STREAM_KEY,
               chunk_seconds: float | None = None) -> MelStream:
        """Vocode mel frames as they arrive: push (M, t) blocks, get back the audio made final
        so far; the whole equals ``self(mel, seed=seed, key=key)`` with these chunks.

        Args:
            seed, key: as for ``__call__``; the key is fixed up front (default ``"stream"``).
            chunk_seconds: chunk length, which is the latency (``None``: this vocoder's).

        Returns:
            A :class:`~vocfw.core.infer.stream.MelStream`.

        Raises:
            SettingError: no or too short a chunk, a model that states no receptive field, or
                a bad key.
        """
        frames = (self.chunk_frames if chunk_seconds is None
                  else chunk_frames_for(self.components, chunk_seconds))
        return MelStream(self.components, frames, seed, key, self.device, self.precision)

    def __call__(
        self,
        mel: MelLike | Sequence[MelLike],
        seed: int = DEFAULT_SEED,
        key: Key | Sequence[Key] | None = None,
        sampler: dict[str, Any] | None = None,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Turn a mel, a batch of mels or a list of mels of any lengths into audio.

        A batch gives what calling on each mel alone gives, up to batched kernels' rounding in
        the last float bits: within one 16-bit step (2^-15; differences of 1.5e-7 were seen).

        Args:
            mel: (M, T) or (B, M, T) tensor or array in the run's own feature scale, or a list
                (or tuple) of (M, T_i) ones.
            seed: seed of the sampling noise; same mel, key and seed give the same audio.
            key: the mel's identity (one per mel for a batch or list; a str, or an int: 5 is
                ``"5"``) mixed into its noise seed; default a digest of the mel's values.
                ``vocfw predict`` uses each file's uid.
            sampler: sample this call with another sampler: ``with_sampler``'s arguments as a
                dict, e.g. ``{"inference_schedule": "fast"}`` or ``{"sampler": "DDPM"}``.

        Returns:
            (T * hop,) or (B, T * hop) float32 waveform on the CPU (a list: (T_i * hop,) each).

        Raises:
            MelError: not a tensor, array or list of them, an empty list, not 2-D or 3-D, the
                wrong band count, no frames, or NaN/infinite values.
            SettingError: keys that are not str or int, or not one per mel.
        """
        if sampler is not None:
            return self.with_sampler(**sampler)(mel, seed=seed, key=key)
        if isinstance(mel, list | tuple):
            if not mel:
                raise MelError("mel", "an empty list holds no mels")
            names = [f"mel[{i}]" for i in range(len(mel))]
            audio = self.vocode(mel, seed=seed, keys=call_keys(key, len(mel)), names=names)
            return [torch.from_numpy(wave) for wave in audio]
        shape = tuple(getattr(mel, "shape", ()))
        if len(shape) not in (2, 3):
            raise MelError("mel", f"expected (bands, frames) or (batch, bands, frames), got "
                                  f"shape {shape} of {type(mel).__name__}")
        batch = [mel] if len(shape) == 2 else list(mel)
        names = ["mel"] if len(shape) == 2 else [f"mel[{i}]" for i in range(len(batch))]
        audio = self.vocode(batch, seed=seed, keys=call_keys(key, len(batch)), names=names)
        out = torch.from_numpy(np.stack(audio))  # (B, T*hop)
        return out[0] if len(shape) == 2 else out


def load(
    path: Path | str,
    device: str = DEFAULTS.device,
    precision: Precision = DEFAULTS.precision,
    use_ema: bool = DEFAULTS.use_ema,
    sampler: str | None = DEFAULTS.sampler,
    sampler_args: dict[str, Any] | None = DEFAULTS.sampler_args,
    schedule: str | None = DEFAULTS.schedule,
    chunk_seconds: float | None = DEFAULTS.chunk_seconds,
    batch_size: int = DEFAULTS.batch_size,
) -> LoadedVocoder:
    """Load a trained vocoder from a run directory or checkpoint folder.

    Args:
        path: run directory (its newest checkpoint), ``checkpoint/`` folder or one checkpoint.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...
        precision: ``auto`` (``bf16`` where the device runs bfloat16 natively: AVX-512 BF16
            or AMX CPUs, most CUDA GPUs; else ``fp32``), ``fp32`` (exact), or ``bf16``/``fp16``
            autocast (faster where native, slightly different output).
        use_ema: use the moving-average weights when the checkpoint has them.
        sampler: a registered sampler's class name to vocode with instead of the run's own.
        sampler_args: sampler constructor arguments to change, e.g.
            ``{"inference_schedule": "fast"}`` (see ``LoadedVocoder.with_sampler``).
        schedule: sample along a schedule stored with the run by ``vocfw search-schedule``
            (``{run}/schedules/{schedule}.json``, the run holding the checkpoint): its betas
            become the sampler's ``inference_schedule``.
        chunk_seconds: vocode long mels in overlapping chunks of this many seconds, so memory
            does not grow with length; at least twice the model's chunk overlap (``None``:
            whole mels).
        batch_size: mels (or chunks) sampled together.

    Returns:
        The vocoder, ready to call.

    Raises:
        CheckpointError: no usable checkpoint at ``path``.
        SettingError: ``batch_size`` below 1, a device not available here, or too short a
            ``chunk_seconds`` (the message states the shortest).
        ValueError: a bad sampler, or a schedule that is not stored (the message lists the
            stored ones), unreadable, or not for this sampler.
    """
    return load_vocoder(path, VocodeOptions(
        device=device, precision=precision, use_ema=use_ema, sampler=sampler,
        sampler_args=sampler_args, schedule=schedule, chunk_seconds=chunk_seconds,
        batch_size=batch_size))


def load_vocoder(path: Path | str, options: VocodeOptions) -> LoadedVocoder:
    """:func:`load` with its options as one object (what ``vocfw predict`` loads with).

    Raises:
        CheckpointError, SettingError, ValueError: as :func:`load`.
    """
    check_batch_size(options.batch_size)
    device = resolve_device(options.device)
    components, folder = load_components(path, use_ema=options.use_ema)
    components.model.prepare_for_inference()
    stored = (read_schedule(run_of_checkpoint(folder), options.schedule)
              if options.schedule is not None else None)
    if options.sampler is not None or options.sampler_args or stored is not None:
        override_sampler(components, folder, options.sampler, dict(options.sampler_args or {}),
                         stored)
    return LoadedVocoder(components, folder, options, device)
