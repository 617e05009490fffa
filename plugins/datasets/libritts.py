"""LibriTTS: ``{subset}/{spk}/{chapter}/{stem}.wav`` with one-line ``.normalized.txt``
transcripts."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance

SUBSET_SPLITS = (("test", "test"), ("train", "train"), ("dev", "valid"))


def subset_split(subset: str) -> str | None:
    """The split of a LibriTTS subset folder (``train-clean-100`` -> ``train``).

    Args:
        subset: the subset folder name.

    Returns:
        ``test``, ``train`` or ``valid`` (for ``dev-*``), or ``None`` for any other folder.
    """
    return next((split for key, split in SUBSET_SPLITS if key in subset), None)


class LibriTTS(Corpus):
    """LibriTTS (multi-speaker English audiobooks, 24 kHz), whichever subsets are present.

    ``Singer`` is the speaker id and ``Uid`` is ``{subset}#{spk}#{chapter}#{stem}``; ``Text`` is
    the normalized transcript. ``train-*`` subsets are train, ``test-*`` test and ``dev-*`` the
    ``valid`` split; other top-level entries are ignored.
    """

    name: ClassVar[str] = "libritts"
    description: ClassVar[str] = "LibriTTS multi-speaker English speech with transcripts"

    def utterances(self) -> list[Utterance]:
        """Scan ``{subset}/{spk}/{chapter}/*.wav`` of every train, test and dev subset.

        Returns:
            One utterance per wav, sorted by subset, speaker, chapter and file name.

        Raises:
            CorpusLayoutError: a wav has no ``.normalized.txt`` holding exactly one line, or no
                subset folder holds a wav.
        """
        found: list[Utterance] = []
        for subset_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            split = subset_split(subset_dir.name)
            if split is None:
                continue
            for path in sorted(subset_dir.glob("*/*/*.wav")):
                chapter_dir = path.parent
                speaker = chapter_dir.parent.name
                uid = f"{subset_dir.name}#{speaker}#{chapter_dir.name}#{path.stem}"
                text = self._transcript(chapter_dir / f"{path.stem}.normalized.txt")
                found.append(Utterance(self.dataset, speaker, uid, path, split, text=text))
        if not found:
            raise CorpusLayoutError(
                self.name, self.root,
                "no utterances: expected train-*, test-* or dev-* subset folders holding "
                "{spk}/{chapter}/*.wav",
            )
        return found

    def _transcript(self, path: Path) -> str:
        self.require(path, "the utterance's normalized transcript (one line)")
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(lines) != 1:
            raise CorpusLayoutError(self.name, path, f"exactly one line, found {len(lines)}")
        return lines[0].strip()
