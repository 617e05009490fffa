"""A generic corpus: any tree of audio files, one singer per top-level folder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from vocfw.core.audio.io import AUDIO_EXTENSIONS
from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance, uid_problem
from vocfw.core.settings import SettingError


def uid_hash(uid: str) -> int:
    """The integer SHA-1 of a uid, which fixes the uid's place in the hash-based split.

    Args:
        uid: the utterance id.

    Returns:
        ``int(sha1(uid).hexdigest(), 16)``.
    """
    return int(hashlib.sha1(uid.encode("utf-8")).hexdigest(), 16)


@dataclass
class AudioFolder(Corpus):
    """Every wav, flac, mp3 and ogg file below ``root`` (hidden files and folders skipped).

    ``Singer`` is the top-level folder a file sits in, or the root folder's own name for files
    directly in ``root``; ``Uid`` is the path relative to ``root`` with ``#`` for separators
    and no extension (``alice/take1/01.wav`` -> ``alice#take1#01``). A file is test when
    ``uid_hash(uid) % 100 < test_percent``; with two or more files the test split is never
    empty (the file of lowest hash is then held out).

    Args:
        root: the folder holding the audio tree.
        dataset: the dataset name (defaults to ``folder``).
        test_percent: the share of files, in percent, held out as the test split.

    Raises:
        SettingError: ``test_percent`` is not 0 to 100.
        CorpusLayoutError: ``root`` is not a folder.
    """

    name: ClassVar[str] = "folder"
    description: ClassVar[str] = "any folder tree of wav/flac/mp3/ogg files, singer = top folder"

    test_percent: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.test_percent <= 100:
            raise SettingError(f"folder corpus: test_percent must be 0..100, got "
                               f"{self.test_percent}")
        super().__post_init__()

    def utterances(self) -> list[Utterance]:
        """Walk the tree and split it by uid hash.

        Returns:
            One utterance per audio file, sorted by uid.

        Raises:
            CorpusLayoutError: the tree holds no audio file.
        """
        records: dict[str, tuple[str, Path]] = {}
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root)
            if (path.suffix.lower() not in AUDIO_EXTENSIONS or not path.is_file()
                    or any(part.startswith(".") for part in relative.parts)):
                continue
            uid = "#".join(relative.with_suffix("").parts)
            if uid_problem(uid) is not None:
                self.skip(path, f"its path makes no usable uid: {uid_problem(uid)}")
                continue
            if uid in records:
                self.skip(path, f"same uid as {records[uid][1].name} (only the extension differs)",
                          uid)
                continue
            singer = relative.parts[0] if len(relative.parts) > 1 else self.root.name
            records[uid] = (singer, path)
        if not records:
            raise CorpusLayoutError(
                self.name, self.root,
                f"no utterances: no {', '.join(AUDIO_EXTENSIONS)} files below it",
            )
        test = {uid for uid in records if uid_hash(uid) % 100 < self.test_percent}
        if not test and len(records) >= 2:
            test = {min(records, key=uid_hash)}
        return [
            Utterance(self.dataset, singer, uid, path, "test" if uid in test else "train")
            for uid, (singer, path) in sorted(records.items())
        ]
