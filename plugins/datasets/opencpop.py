"""Opencpop: pre-cut phrases in ``segments/wavs``, split by ``segments/train.txt`` and
``segments/test.txt``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance, uid_problem

SINGER = "female1"


class Opencpop(Corpus):
    """Opencpop (one female singer, 100 songs): ``segments/wavs/{id}.wav``.

    The corpus's own lists fix the split: ids in ``segments/train.txt`` are train, ids in
    ``segments/test.txt`` are test (field 0 of each pipe-separated line).
    """

    name: ClassVar[str] = "opencpop"
    description: ClassVar[str] = "Opencpop Mandarin female singing corpus (segments/ phrases)"

    def utterances(self) -> list[Utterance]:
        """Read the two segment lists and resolve each id to its wav.

        Returns:
            One utterance per listed id whose wav exists, sorted by uid.

        Raises:
            CorpusLayoutError: ``segments/train.txt`` or ``segments/test.txt`` is missing, or
                no listed id has its wav.
        """
        segments = self.root / "segments"
        lists = {
            split: self.require(segments / f"{split}.txt", f"the Opencpop {split} segment list")
            for split in ("train", "test")
        }
        found: dict[str, Utterance] = {}
        for split, listing in lists.items():
            for uid in self._ids(listing):
                path = segments / "wavs" / f"{uid}.wav"
                if uid_problem(uid) is not None:
                    self.skip(listing, f"segment id: {uid_problem(uid)}")
                elif uid in found:
                    self.skip(listing, f"segment {uid} is listed more than once", uid)
                elif not path.is_file():
                    self.skip(path, f"listed in {listing.name} but the wav is missing", uid)
                else:
                    found[uid] = Utterance(self.dataset, SINGER, uid, path, split)
        if not found:
            raise CorpusLayoutError(
                self.name, segments, "no utterances: no train.txt/test.txt id has its wav in wavs/"
            )
        return [found[uid] for uid in sorted(found)]

    def _ids(self, listing: Path) -> list[str]:
        lines = listing.read_text(encoding="utf-8", errors="replace").splitlines()
        return [line.split("|", 1)[0].strip() for line in lines if line.strip()]
