"""VCTK 0.92: ``wav48_silence_trimmed/{spk}/{spk}_{NNN}_{mic}.flac`` with genders from
``speaker-info.txt``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from vocfw.core.audio.io import AUDIO_EXTENSIONS
from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance

AUDIO_DIR = "wav48_silence_trimmed"
GENDERS = {"F": "female", "M": "male"}
TEST_PER_SPEAKER = 3


class VCTK(Corpus):
    """VCTK-Corpus-0.92 (110 English speakers, two microphones).

    ``Singer`` is ``{female|male}_{spk}`` (gender from ``speaker-info.txt``) and ``Uid`` is
    ``{Singer}#{NNN}_{mic}``; the mic1 and mic2 recordings are separate utterances. Per speaker,
    the first three files in sorted order are the test split.
    """

    name: ClassVar[str] = "vctk"
    description: ClassVar[str] = "VCTK 0.92 multi-speaker English speech (mic1 and mic2 flac)"

    def utterances(self) -> list[Utterance]:
        """Read the speaker genders, then every speaker folder's recordings.

        Returns:
            One utterance per recording of a listed speaker, sorted by speaker and file name.

        Raises:
            CorpusLayoutError: ``speaker-info.txt`` or ``wav48_silence_trimmed/`` is missing,
                or no speaker folder holds a recording.
        """
        genders = self._genders(self.require(
            self.root / "speaker-info.txt", "speaker-info.txt, the speaker id/age/gender table"
        ))
        audio = self.require(self.root / AUDIO_DIR, f"the {AUDIO_DIR}/ folder of speaker folders")
        found: list[Utterance] = []
        for speaker_dir in sorted(p for p in audio.iterdir() if p.is_dir()):
            found.extend(self._speaker(speaker_dir, genders))
        if not found:
            raise CorpusLayoutError(
                self.name, audio,
                f"no utterances: no speaker folders with recordings under {AUDIO_DIR}",
            )
        return found

    def _genders(self, info: Path) -> dict[str, str]:
        lines = info.read_text(encoding="utf-8", errors="replace").splitlines()
        genders = {}
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if not fields or fields[0].upper() == "ID":
                continue
            if len(fields) < 3 or fields[2] not in GENDERS:
                raise CorpusLayoutError(
                    self.name, info, f"line {number}: 'ID AGE GENDER ...' with gender F or M"
                )
            genders[fields[0]] = GENDERS[fields[2]]
        return genders

    def _speaker(self, speaker_dir: Path, genders: dict[str, str]) -> list[Utterance]:
        speaker = speaker_dir.name
        paths = sorted(p for p in speaker_dir.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
        if speaker not in genders:
            for path in paths:
                self.skip(path, f"speaker {speaker} is not listed in speaker-info.txt")
            return []
        singer = f"{genders[speaker]}_{speaker}"
        found = []
        for path in paths:
            if not path.stem.startswith(f"{speaker}_"):
                self.skip(path, f"recording name must read '{speaker}_{{NNN}}_{{mic}}'")
                continue
            uid = f"{singer}#{path.stem[len(speaker) + 1:]}"
            split = "test" if len(found) < TEST_PER_SPEAKER else "train"
            found.append(Utterance(self.dataset, singer, uid, path, split))
        return found
