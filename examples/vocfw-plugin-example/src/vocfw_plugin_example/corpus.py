"""SpeakerClips: a flat folder of ``{speaker}_{take}.wav`` clips."""

from __future__ import annotations

from dataclasses import dataclass

from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance


@dataclass
class SpeakerClips(Corpus):
    """Every ``wavs/{speaker}_{take}.wav`` under ``root``; the speaker is the part before the
    first ``_``. Every ``test_every``-th clip of a speaker (in name order) is test.

    Args:
        root: the folder holding ``wavs/``.
        dataset: the dataset name (defaults to ``speakerclips``).
        test_every: one clip in this many of each speaker goes to the test split.
    """

    name = "speakerclips"
    description = "a flat folder of {speaker}_{take}.wav clips"

    test_every: int = 4

    def utterances(self) -> list[Utterance]:
        """Read ``wavs/``.

        Raises:
            CorpusLayoutError: ``wavs/`` is missing or holds no ``{speaker}_{take}.wav``.
        """
        wavs = sorted(self.require(self.root / "wavs", "a wavs/ folder").glob("*_*.wav"))
        if not wavs:
            raise CorpusLayoutError(self.name, self.root / "wavs", "{speaker}_{take}.wav clips")
        seen: dict[str, int] = {}
        records = []
        for wav in wavs:
            speaker = wav.stem.split("_", 1)[0]
            index = seen[speaker] = seen.get(speaker, -1) + 1
            split = "test" if index % self.test_every == self.test_every - 1 else "train"
            records.append(Utterance(self.dataset, speaker, wav.stem, wav, split))
        return records
