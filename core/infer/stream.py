"""Streaming vocoding: mel frames in as they arrive, final audio out as soon as it is known.

A stream cuts its input into the chunks :func:`~vocfw.core.infer.vocode.plan_chunks` cuts the
whole mel into, samples each chunk as soon as its last frame has arrived, with the noise of
the same (seed, key, chunk index) generator and the same padding, and cross-fades neighbours
as :func:`~vocfw.core.infer.vocode.vocode` does. So the audio of a stream equals vocoding the
whole mel at once with the same seed, key and chunk length: bit for bit with batch size 1,
and up to batched kernels' rounding otherwise; whatever blocks the frames arrive in.

Latency: once a chunk's last frame has arrived, its audio up to the next chunk's start is
final and returned; the rest, its overlap with the next chunk, waits for that chunk's
cross-fade. So the first audio comes when ``chunk_frames`` frames have arrived (the model's
receptive field, as the overlap, plus one chunk stride), and the audio of frame ``t`` is out
by the time frame ``t + chunk_frames - 1`` has arrived. ``finish`` returns the rest.
"""

from __future__ import annotations

import numpy as np
import torch

from vocfw.core.components import Components
from vocfw.core.errors import VocfwError
from vocfw.core.infer.options import Key, call_keys
from vocfw.core.infer.precision import Precision, autocast
from vocfw.core.infer.vocode import (
    MelError,
    add_piece,
    check_chunking,
    check_mel,
    fade_curves,
    min_overlap_frames,
    noise_generator,
    sample_group,
)
from vocfw.core.settings import SettingError

STREAM_KEY = "stream"  # a stream's default key: the whole mel's digest is not known up front


class StreamError(VocfwError, RuntimeError):
    """A stream used after ``finish``."""


class MelStream:
    """Vocodes a mel frame block by frame block (from ``LoadedVocoder.stream``).

    Args:
        components: the vocoder (its model is moved to ``device``).
        chunk_frames: frames sampled at once; also the latency.
        seed: with ``key``, seeds each chunk's noise, as in ``vocode``.
        key: the mel's identity (a str, or an int: 5 is ``"5"``).
        device: where the network runs.
        precision: a resolved precision (``fp32``, ``bf16`` or ``fp16``).

    Attributes:
        chunk_frames: frames sampled at once.
        overlap_frames: frames neighbouring chunks share (the model's receptive field).
        frames_received: frames pushed so far.

    Raises:
        SettingError: no ``chunk_frames``, a model that states no receptive field, chunks
            shorter than twice the overlap, or a key that is not a str or int.
    """

    def __init__(self, components: Components, chunk_frames: int | None, seed: int, key: Key,
                 device: torch.device, precision: Precision) -> None:
        model = components.model
        if chunk_frames is None:
            min_overlap_frames(model)  # a model that states no receptive field: that error
            raise SettingError("stream: needs a chunk length: chunk_seconds of load() or of "
                               "stream()")
        self.overlap_frames = check_chunking(model, chunk_frames, None)
        (self.key,) = call_keys(key, 1)
        self.components, self.chunk_frames, self.seed = components, chunk_frames, seed
        self.device, self.precision = device, precision
        self.frames_received = 0
        self._fades = fade_curves(self.overlap_frames * model.hop_length, "equal_power")
        self._stride = chunk_frames - self.overlap_frames
        self._mel = torch.zeros(model.n_mels, 0)  # (M, t): the frames from _origin on
        self._origin = 0  # the first frame whose audio is not yet returned
        self._chunks = 0  # chunks sampled
        self._tail: np.ndarray | None = None  # the last chunk's overlap with the next, unfaded
        self._pushes = 0
        self._finished = False
        model.to(device).eval()

    @property
    def hop_length(self) -> int:
        """Audio samples per mel frame."""
        return self.components.model.hop_length

    @property
    def latency_frames(self) -> int:
        """Frames that must arrive before the audio of the first is out: ``chunk_frames``."""
        return self.chunk_frames

    @property
    def latency_seconds(self) -> float:
        """``latency_frames`` in seconds of audio (computing time not included)."""
        return self.chunk_frames * self.hop_length / self.components.features.sample_rate

    def push(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """Take the next frames and return the audio they make final.

        Args:
            frames: (M, t) log-mel frames in the run's feature scale, t >= 1.

        Returns:
            (n * hop,) float32 audio of the next n frames, n >= 0 (empty while a chunk fills).

        Raises:
            MelError: not (n_mels, t) with t >= 1 and finite real values (named
                ``stream push #i``).
            StreamError: the stream is finished.
        """
        self._check_open()
        mel = check_mel(frames, self.components.model.n_mels, f"stream push #{self._pushes}")
        self._pushes += 1
        self._mel = torch.cat([self._mel, mel], dim=1)  # (M, t)
        self.frames_received += mel.shape[1]
        ready = [np.zeros(0, np.float32)]
        while self._origin + self.chunk_frames <= self.frames_received:  # a chunk is full
            ready.append(self._next_chunk(self._origin + self.chunk_frames, last=False))
        return np.concatenate(ready)

    def finish(self) -> np.ndarray:
        """End the input and return the rest of the audio.

        Returns:
            (n * hop,) float32 audio of the frames not yet returned.

        Raises:
            MelError: no frames were pushed.
            StreamError: the stream is finished.
        """
        self._check_open()
        self._finished = True
        if self.frames_received == 0:
            raise MelError("stream", "has no frames")
        held = self.overlap_frames if self._chunks else 0  # frames covered by the held tail
        if self.frames_received > self._origin + held:  # a last, shorter chunk
            return self._next_chunk(self.frames_received, last=True)
        tail, self._tail = self._tail, None
        return tail.copy()  # the last chunk ended with the input: its end is not faded

    def _next_chunk(self, stop: int, last: bool) -> np.ndarray:
        """Sample the next chunk, frames ``[_origin, stop)``, and return the audio it makes
        final: up to the next chunk's start, or to ``stop`` when it is the last."""
        hop, start = self.hop_length, self._origin
        end = stop if last else start + self._stride
        generator = noise_generator(self.seed, self.key, self._chunks, self.device)
        piece = (0, self._chunks, 0, stop - start)  # frames of self._mel
        with torch.inference_mode(), autocast(self.precision, self.device):
            audio = sample_group(self.components, [self._mel], [piece], [generator],
                                 self.device)[0]  # (padded * hop,)
        out = np.zeros((end - start) * hop, np.float32)
        if self._tail is not None:  # the previous chunk's overlap, faded out under this one
            add_piece(out, self._tail, 0, self.overlap_frames, hop, self._fades, False, True)
        add_piece(out, audio, 0, end - start, hop, self._fades, start > 0, False)
        self._tail = None if last else audio[(end - start) * hop: (stop - start) * hop]
        self._chunks += 1
        self._mel = self._mel[:, end - start:]  # (M, t): from the next chunk's start on
        self._origin = end
        return out

    def _check_open(self) -> None:
        """Raises: StreamError: ``finish`` was called."""
        if self._finished:
            raise StreamError("stream: finished; start a new one with voc.stream()")
