"""PopCS: phrase-level ``popcs-{Song}/{NNNN}_wf0.wav`` files."""

from __future__ import annotations

from typing import ClassVar

from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance

SINGER = "female1"
PREFIX = "popcs-"
TEST_SONGS = {"明天会更好", "欧若拉", "虫儿飞", "隐形的翅膀"}


class PopCS(Corpus):
    """PopCS (one female Mandarin singer): ``popcs/popcs-{Song}/{NNNN}_wf0.wav``.

    ``Uid`` is ``{Song}_{NNNN}``; the songs 明天会更好, 欧若拉, 虫儿飞 and 隐形的翅膀 are the
    test split. The configured path may be the corpus root or its ``popcs/`` folder.
    """

    name: ClassVar[str] = "popcs"
    description: ClassVar[str] = "PopCS Mandarin female pop singing corpus (popcs-{Song} folders)"
    inner_folder: ClassVar[str] = "popcs"

    def utterances(self) -> list[Utterance]:
        """Scan each ``popcs-{Song}`` folder for ``{NNNN}_wf0.wav`` clips.

        Returns:
            One utterance per clip, sorted by uid.

        Raises:
            CorpusLayoutError: no ``popcs-{Song}`` folder holds a clip.
        """
        found: list[Utterance] = []
        for song_dir in sorted(p for p in self.root.glob(f"{PREFIX}?*") if p.is_dir()):
            song = song_dir.name[len(PREFIX):]
            split = "test" if song in TEST_SONGS else "train"
            for path in sorted(song_dir.glob("*.wav")):
                clip, _, kind = path.stem.partition("_")
                if kind != "wf0" or not clip:
                    self.skip(path, "PopCS audio must be named {NNNN}_wf0.wav")
                    continue
                uid = f"{song}_{clip}"
                found.append(Utterance(self.dataset, SINGER, uid, path, split, song=song))
        if not found:
            raise CorpusLayoutError(
                self.name, self.root,
                "no utterances: expected popcs-{Song}/ folders of {NNNN}_wf0.wav clips",
            )
        return found
