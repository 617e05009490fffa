"""CSD, the Children's Song Dataset: English and Korean songs cut into phrases by their
syllable transcripts and note tables."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from vocfw.core.audio.io import AudioError, audio_duration
from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance

LANGUAGES = ("english", "korean")
TEST_SONGS = frozenset({"en_004a", "en_042b", "kr_013a", "kr_045b"})
PADDING = 0.1  # seconds of context kept before and after each phrase
CSV_COLUMNS = ("start", "end", "pitch", "syllable")


@dataclass(frozen=True)
class Note:
    """One row of a CSD note table: a sung syllable.

    Attributes:
        start: onset in seconds.
        end: offset in seconds.
        syllable: the syllable token, its phonemes joined with ``_``.
    """

    start: float
    end: float
    syllable: str


def read_phrases(path: Path) -> list[list[str]]:
    """Read a CSD ``txt`` file: one phrase of space-separated syllable tokens per line.

    Args:
        path: the ``txt/{song}.txt`` file.

    Returns:
        The syllable tokens of each non-empty line.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise CorpusLayoutError(CSD.name, path, f"UTF-8 text ({exc})") from None
    return [tokens for tokens in (line.split() for line in lines) if tokens]


def read_notes(path: Path) -> list[Note]:
    """Read a CSD ``csv`` note table with the header ``start,end,pitch,syllable``.

    Args:
        path: the ``csv/{song}.csv`` file.

    Returns:
        The notes in file order.

    Raises:
        CorpusLayoutError: a column is missing or a time is not a number.
    """
    try:
        reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
        header, rows = reader.fieldnames or [], list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CorpusLayoutError(CSD.name, path, f"UTF-8 CSV text ({exc})") from None
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise CorpusLayoutError(
            CSD.name, path, f"a header row with the columns {','.join(CSV_COLUMNS)} "
            f"(missing: {', '.join(missing)})"
        )
    notes = []
    for row_number, row in enumerate(rows, start=2):
        try:
            note = Note(float(row["start"]), float(row["end"]), row["syllable"].strip())
        except (TypeError, ValueError, AttributeError):
            note = None
        if note is None or not (math.isfinite(note.start) and math.isfinite(note.end)):
            raise CorpusLayoutError(
                CSD.name, path, f"line {row_number}: start and end in seconds as finite numbers"
            )
        notes.append(note)
    return notes


def phrase_spans(
    phrases: list[list[str]], notes: list[Note], txt: Path
) -> list[tuple[float, float]]:
    """Match each phrase to its run of notes and return its unpadded time span.

    The k-th phrase of n tokens takes the next n notes; its first and last tokens must equal
    those notes' syllables.

    Args:
        phrases: the syllable tokens of each phrase, from :func:`read_phrases`.
        notes: the note table, from :func:`read_notes`.
        txt: the phrase file, named in errors.

    Returns:
        ``(start of the first note, end of the last note)`` per phrase, in seconds.

    Raises:
        CorpusLayoutError: the phrases need more notes than the table holds, or a phrase's
            first or last syllable does not match its notes.
    """
    spans, cursor = [], 0
    for line, tokens in enumerate(phrases, start=1):
        run = notes[cursor : cursor + len(tokens)]
        if len(run) < len(tokens):
            raise CorpusLayoutError(
                CSD.name, txt, f"phrase {line} needs {len(tokens)} notes but the csv has only "
                f"{len(run)} left"
            )
        for token, note, side in ((tokens[0], run[0], "first"), (tokens[-1], run[-1], "last")):
            if token != note.syllable:
                raise CorpusLayoutError(
                    CSD.name, txt, f"phrase {line}: {side} syllable {token!r} to match the "
                    f"csv note {note.syllable!r}"
                )
        spans.append((run[0].start, run[-1].end))
        cursor += len(tokens)
    return spans


class CSD(Corpus):
    """CSD: point ``root`` at the folder holding ``english/`` and ``korean/``.

    Each ``{lang}/wav/{song}.wav`` is described as phrases (padded by 0.1 s) from
    ``{lang}/txt/{song}.txt`` and ``{lang}/csv/{song}.csv``; nothing is written to disk.
    """

    name = "csd"
    description = "Children's Song Dataset (English and Korean songs cut into phrases)"

    def utterances(self) -> list[Utterance]:
        """Describe every phrase of every song.

        Returns:
            One segment per phrase, uid ``{lang}_{song}_{k:04d}``, singer ``Female1_{lang}``;
            the songs en004a, en042b, kr013a and kr045b are the test split.

        Raises:
            CorpusLayoutError: a song's txt or csv file is missing or inconsistent, or no
                ``{english,korean}/wav/*.wav`` exists under the root.
        """
        wavs = [
            wav
            for language in LANGUAGES
            if (self.root / language / "wav").is_dir()
            for wav in sorted((self.root / language / "wav").glob("*.wav"))
        ]
        if not wavs:
            raise CorpusLayoutError(
                self.name, self.root, "english/wav/*.wav or korean/wav/*.wav; point at the CSD "
                "folder that holds english/ and korean/"
            )
        records = []
        for wav in wavs:
            records.extend(self._song(wav))
        return records

    def _song(self, wav: Path) -> list[Utterance]:
        """The phrases of one song, or none if its audio is unreadable."""
        try:
            duration = audio_duration(wav)
        except AudioError as exc:
            self.skip(wav, exc.reason)
            return []
        folder, stem = wav.parent.parent, wav.stem
        txt = self.require(folder / "txt" / f"{stem}.txt", f"the phrase transcript of {wav.name}")
        table = self.require(folder / "csv" / f"{stem}.csv", f"the note table of {wav.name}")
        language, song = stem[:2], stem[2:]
        split = "test" if f"{language}_{song}" in TEST_SONGS else "train"
        records = []
        for k, (start, end) in enumerate(phrase_spans(read_phrases(txt), read_notes(table), txt)):
            uid = f"{language}_{song}_{k:04d}"
            start, end = max(0.0, start - PADDING), min(duration, end + PADDING)
            if start >= end:
                self.skip(wav, f"phrase {k + 1} lies outside the {duration:.2f} s of audio", uid)
                continue
            records.append(
                Utterance(self.dataset, f"Female1_{language}", uid, wav, split, start, end)
            )
        return records
