"""Opera: monophonic Chinese and Western opera singing, cut at silences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vocfw.core.audio.io import AudioError, list_audio_files
from vocfw.core.corpus import CorpusLayoutError, Utterance
from vocfw.plugins.datasets.slicer import SilenceSlicedCorpus, silence_segments

LANGUAGES = ("chinese", "western")
TEST_SONGS = frozenset({("fem_01", "neg_1"), ("fem_12", "pos_3"), ("male_02", "neg_1"),
                        ("male_11", "pos_2")})


@dataclass
class Opera(SilenceSlicedCorpus):
    """Opera: point ``root`` at the corpus folder or at its ``monophonic/`` folder, the one
    holding ``chinese/`` and ``western/``.

    Each ``{language}/{singer}/{song}.wav`` is cut at its silences into segments; nothing is
    written to disk. ``polyphonic/`` and the spreadsheet are not read. Singers of both
    languages share one namespace; a singer and song already seen in ``chinese/`` is skipped
    in ``western/``.

    The slicer options of :class:`SilenceSlicedCorpus` are settable; the defaults are the
    recipe's (threshold -30 dB, at most 3000 ms of silence kept around a cut).
    """

    name = "opera"
    description = "Chinese and Western opera singing (monophonic part), cut at silences"
    inner_folder = "monophonic"

    threshold_db: float = -30.0
    max_sil_kept_ms: float = 3000.0

    def utterances(self) -> list[Utterance]:
        """Describe every silence-sliced piece of every recording.

        Returns:
            One segment per piece, singer = the singer folder, uid
            ``{singer}#{song}#{i:04d}``; (fem_01, neg_1), (fem_12, pos_3), (male_02, neg_1) and
            (male_11, pos_2) are the test split.

        Raises:
            CorpusLayoutError: no ``{chinese,western}/{singer}/`` audio file exists.
        """
        files = [
            audio
            for language in LANGUAGES
            if (self.root / language).is_dir()
            for singer in sorted((self.root / language).iterdir())
            if singer.is_dir()
            for audio in list_audio_files(singer)
        ]
        if not files:
            raise CorpusLayoutError(
                self.name, self.root, "chinese/{singer}/*.wav or western/{singer}/*.wav; point "
                "at the Opera folder or its monophonic/ folder"
            )
        records: list[Utterance] = []
        seen: dict[tuple[str, str], Path] = {}
        for audio in files:
            singer, song = audio.parent.name, audio.stem
            if (singer, song) in seen:
                self.skip(audio, f"same singer and song as {seen[singer, song]}; its uids would "
                          "collide")
                continue
            seen[singer, song] = audio
            try:
                segments = silence_segments(audio, self.slicer)
            except AudioError as exc:
                self.skip(audio, exc.reason)
                continue
            split = "test" if (singer, song) in TEST_SONGS else "train"
            records.extend(
                Utterance(self.dataset, singer, f"{singer}#{song}#{i:04d}", audio, split, a, b)
                for i, (a, b) in enumerate(segments)
            )
        return records
