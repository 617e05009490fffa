"""OpenSinger: phrase-level wavs in ``{Gender}Raw/{id}_{song}/{id}_{song}_{k}.wav``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance

TEST_SONGS = {("Man", "0", "大鱼"), ("Man", "21", "丑八怪"), ("Woman", "39", "mojito"),
              ("Woman", "40", "易燃易爆炸")}


class OpenSinger(Corpus):
    """OpenSinger (Mandarin, 66 singers): ``ManRaw/`` and ``WomanRaw/`` song folders.

    ``Singer`` is ``{Man|Woman}_{id}`` and ``Uid`` is ``{Singer}_{song}_{k}``. Song names may
    contain ``_`` (the folder name is split at its first ``_`` only) and clips of any length are
    kept. The four golden songs (Man 0 大鱼, Man 21 丑八怪, Woman 39 mojito, Woman 40 易燃易爆炸)
    are the test split.
    """

    name: ClassVar[str] = "opensinger"
    description: ClassVar[str] = "OpenSinger Mandarin multi-singer singing corpus (ManRaw/WomanRaw)"

    def utterances(self) -> list[Utterance]:
        """Scan ``*Raw/{id}_{song}/*.wav``.

        Returns:
            One utterance per clip, sorted by uid.

        Raises:
            CorpusLayoutError: the tree holds no ``*Raw`` folder with song clips.
        """
        found: list[Utterance] = []
        for gender_dir in sorted(p for p in self.root.glob("?*Raw") if p.is_dir()):
            for song_dir in sorted(p for p in gender_dir.iterdir() if p.is_dir()):
                found.extend(self._song(gender_dir.name[:-3], song_dir))
        if not found:
            raise CorpusLayoutError(
                self.name, self.root,
                "no utterances: expected ManRaw/ or WomanRaw/ holding {id}_{song}/*.wav",
            )
        return sorted(found, key=lambda utt: utt.uid)

    def _song(self, gender: str, song_dir: Path) -> list[Utterance]:
        singer_id, sep, song = song_dir.name.partition("_")
        if not (sep and singer_id and song):
            self.skip(song_dir, "song folder name must read '{singerId}_{songName}'")
            return []
        singer = f"{gender}_{singer_id}"
        split = "test" if (gender, singer_id, song) in TEST_SONGS else "train"
        found = []
        for path in sorted(song_dir.glob("*.wav")):
            prefix, _, clip = path.stem.rpartition("_")
            if prefix != song_dir.name or not clip:
                self.skip(path, f"clip name must read '{song_dir.name}_{{k}}.wav'")
                continue
            uid = f"{singer}_{song}_{clip}"
            found.append(Utterance(self.dataset, singer, uid, path, split, song=song))
        return found

