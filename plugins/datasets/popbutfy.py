"""PopBuTFy: ``{Singer}#singing#{Song}/{Singer}#singing#{Song}_{k}.mp3`` song folders."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance

TEST_SONGS = {("Female1", "you_are_my_sunshine_Professional"),
              ("Female4", "Someone_Like_You_Professional"), ("Male2", "Lemon_Tree_Professional"),
              ("Male5", "can_you_feel_the_love_tonight_Professional")}
SUFFIXES = (".mp3", ".wav")  # in order of preference for one clip


class PopBuTFy(Corpus):
    """PopBuTFy (English pop, amateur and professional takes): clips under ``data/``.

    ``Singer`` is the folder name's first ``#`` field, ``Song`` its last (with the
    ``_Amateur``/``_Professional`` suffix) and ``Uid`` is ``{Singer}#{Song}#{k}``. A clip is read
    from its mp3, or from a wav of the same name when there is no mp3. The four golden
    professional songs are the test split. The configured path may be the corpus root or its
    ``data/`` folder.
    """

    name: ClassVar[str] = "popbutfy"
    description: ClassVar[str] = "PopBuTFy English pop singing corpus (amateur/professional takes)"
    inner_folder: ClassVar[str] = "data"

    def utterances(self) -> list[Utterance]:
        """Scan each ``{Singer}#...#{Song}`` folder for its clips.

        Returns:
            One utterance per clip, sorted by uid.

        Raises:
            CorpusLayoutError: no song folder holds an mp3 or wav clip.
        """
        found: list[Utterance] = []
        for song_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and "#" in p.name):
            found.extend(self._song(song_dir))
        if not found:
            raise CorpusLayoutError(
                self.name, self.root,
                "no utterances: expected {Singer}#singing#{Song}/ folders of mp3 or wav clips",
            )
        return sorted(found, key=lambda utt: utt.uid)

    def _song(self, song_dir: Path) -> list[Utterance]:
        fields = song_dir.name.split("#")
        singer, song = fields[0], fields[-1]
        if not (singer and song):
            self.skip(song_dir, "song folder name must read '{Singer}#singing#{Song}'")
            return []
        clips: dict[str, Path] = {}
        for suffix in reversed(SUFFIXES):
            clips.update({p.stem: p for p in song_dir.glob(f"*{suffix}")})
        split = "test" if (singer, song) in TEST_SONGS else "train"
        found = []
        for stem, path in sorted(clips.items()):
            prefix, _, clip = stem.rpartition("_")
            if prefix != song_dir.name or not clip:
                self.skip(path, f"clip name must read '{song_dir.name}_{{k}}{path.suffix}'")
                continue
            uid = f"{singer}#{song}#{clip}"
            found.append(Utterance(self.dataset, singer, uid, path, split, song=song))
        return found
