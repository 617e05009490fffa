"""PJS: one male singer's 100 short Japanese songs, trimmed and cut into overlapping thirds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF

from vocfw.core.audio.io import AudioError, audio_info, load_audio
from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance

CORPUS_FOLDER = "PJS_corpus_ver1.1"
SONG_PATTERN = "pjs*_song.wav"
TEST_SONGS = frozenset({"pjs001", "pjs002", "pjs003"})
SINGER = "male1"
PIECES = 3
OVERLAP = 1.0  # seconds each piece runs on into the next


def voiced_span(audio: np.ndarray, sample_rate: int) -> tuple[int, int] | None:
    """Find the voiced part of a recording with ``torchaudio.functional.vad``, run on the
    signal and then on the reversed signal.

    Args:
        audio: (L,) mono waveform.
        sample_rate: its sample rate in Hz.

    Returns:
        ``(first, last)`` sample bounds of the voiced part, or ``None`` if none was found.
    """
    wave = torch.from_numpy(audio)  # (L,)
    forward = AF.vad(wave, sample_rate)  # (L - lead,)
    if forward.numel() == 0:
        return None
    backward = AF.vad(forward.flip(-1), sample_rate)  # (L - lead - tail,) reversed
    first = wave.numel() - forward.numel()
    return first, first + backward.numel()


def voiced_seconds(path: Path) -> tuple[float, float]:
    """Decode a recording at its own sample rate and find its voiced span.

    Args:
        path: the audio file.

    Returns:
        ``(start, end)`` of the voiced part in seconds.

    Raises:
        AudioError: the file is unreadable, or no voiced audio was found in it.
    """
    sample_rate, _ = audio_info(path)
    span = voiced_span(load_audio(path, sample_rate), sample_rate)
    if span is None:
        raise AudioError(path, "no voiced audio found")
    return span[0] / sample_rate, span[1] / sample_rate


def overlapping_thirds(start: float, end: float) -> list[tuple[float, float]]:
    """Cut ``[start, end)`` into three pieces: piece i starts at ``start + i * L / 3`` and
    lasts ``L / 3 + 1`` s, clipped at ``end``.

    Args:
        start: start of the trimmed recording in seconds.
        end: its end in seconds.

    Returns:
        The three ``(start, end)`` pieces in seconds.
    """
    third = (end - start) / PIECES
    return [(start + i * third, min(end, start + (i + 1) * third + OVERLAP)) for i in range(PIECES)]


class PJS(Corpus):
    """PJS: point ``root`` at the folder holding ``PJS_corpus_ver1.1/`` or at that folder.

    Each ``pjs{NNN}/pjs{NNN}_song.wav`` is trimmed of leading and trailing silence and
    described as three overlapping segments; nothing is written to disk. Speech wavs, labels,
    scores and background noise are not read.
    """

    name = "pjs"
    description = "PJS Japanese singing (one male singer), trimmed and cut into thirds"
    inner_folder = CORPUS_FOLDER

    def utterances(self) -> list[Utterance]:
        """Describe the three trimmed, overlapping pieces of every song.

        Returns:
            Records sorted by uid ``pjs{NNN}_song_{i}``, singer ``male1``; the pieces of
            pjs001, pjs002 and pjs003 are the test split.

        Raises:
            CorpusLayoutError: no ``pjs*_song.wav`` exists under the root.
        """
        songs = sorted(self.root.rglob(SONG_PATTERN))
        if not songs:
            raise CorpusLayoutError(
                self.name, self.root, f"{SONG_PATTERN} files in pjs{{NNN}}/ folders; point at "
                f"the folder holding {CORPUS_FOLDER}/ or at that folder"
            )
        records: list[Utterance] = []
        seen: dict[str, Path] = {}
        for song in songs:
            if song.stem in seen:
                self.skip(song, f"a second copy of {seen[song.stem]}; its uids would collide")
                continue
            seen[song.stem] = song
            try:
                span = voiced_seconds(song)
            except AudioError as exc:
                self.skip(song, exc.reason)
                continue
            split = "test" if song.stem.removesuffix("_song") in TEST_SONGS else "train"
            records.extend(
                Utterance(self.dataset, SINGER, f"{song.stem}_{i}", song, split, a, b)
                for i, (a, b) in enumerate(overlapping_thirds(*span))
            )
        return sorted(records, key=lambda record: record.uid)
