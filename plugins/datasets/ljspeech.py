"""LJSpeech: single-speaker read English clips in ``wavs/``."""

from __future__ import annotations

from typing import ClassVar

from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance

SINGER = "female1"
TEST_SHARE = 20  # the last N // 20 (5 %) of the sorted clips are test


class LJSpeech(Corpus):
    """LJSpeech-1.1 (13,100 clips of one female speaker): ``wavs/LJ{NNN}-{NNNN}.wav``.

    ``Uid`` is the file stem. The clips are sorted by name and the last ``N // 20`` of them are
    the test split. ``metadata.csv`` is not read.
    """

    name: ClassVar[str] = "ljspeech"
    description: ClassVar[str] = "LJSpeech-1.1 single-speaker English speech (wavs/)"

    def utterances(self) -> list[Utterance]:
        """List ``wavs/*.wav`` in sorted order and hold out the last 5 %.

        Returns:
            One utterance per clip, sorted by uid.

        Raises:
            CorpusLayoutError: there is no ``wavs/`` folder, or it holds no wav.
        """
        wavs = self.require(self.root / "wavs", "the wavs/ folder of LJSpeech clips")
        paths = sorted(p for p in wavs.glob("*.wav") if p.is_file())
        if not paths:
            raise CorpusLayoutError(self.name, wavs, "no utterances: no LJ*.wav clips in it")
        first_test = len(paths) - len(paths) // TEST_SHARE
        return [
            Utterance(self.dataset, SINGER, path.stem, path, "test" if i >= first_test else "train")
            for i, path in enumerate(paths)
        ]
