"""M4Singer: phrase-level wavs listed by the corpus's ``meta.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance, uid_problem

TEST_SONGS = {("Alto-1", "美错"), ("Bass-1", "十年"), ("Soprano-2", "同桌的你"),
              ("Tenor-5", "爱笑的眼睛")}


class M4Singer(Corpus):
    """M4Singer (20 singers, 4 voice parts): ``{Singer}#{Song}/{NNNN}.wav`` listed in ``meta.json``.

    ``Uid`` is ``{Singer}_{Song}_{NNNN}``, with spaces in song names written as ``-``. A song
    folder is looked up under its listed name, else with its spaces written as ``-``. The
    four golden songs (Alto-1 美错, Bass-1 十年, Soprano-2 同桌的你, Tenor-5 爱笑的眼睛) are
    the test split.
    """

    name: ClassVar[str] = "m4singer"
    description: ClassVar[str] = "M4Singer multi-singer Mandarin singing corpus (meta.json items)"

    def utterances(self) -> list[Utterance]:
        """Read ``meta.json`` and resolve each item to its wav.

        Returns:
            One utterance per listed item whose wav exists, sorted by uid.

        Raises:
            CorpusLayoutError: ``meta.json`` is missing, is not a JSON list, or lists no item.
        """
        meta = self.require(self.root / "meta.json", "meta.json, the JSON list of corpus items")
        items = self._read_meta(meta)
        found: dict[str, Utterance] = {}
        for index, item in enumerate(items):
            name = item.get("item_name") if isinstance(item, dict) else None
            parts = name.split("#") if isinstance(name, str) else []
            if len(parts) != 3 or not all(parts):
                self.skip(meta, f"item {index}: item_name must read '{{Singer}}#{{Song}}#{{NNNN}}'")
                continue
            singer, song, clip = parts
            uid = f"{singer}_{song.replace(' ', '-')}_{clip}"
            if uid_problem(uid) is not None or "/" in name or "\\" in name:
                self.skip(meta, f"item {index}: {name!r} does not name a safe file path")
                continue
            path = self._wav_path(singer, song, clip)
            if uid in found:
                self.skip(path, f"item {index}: {name!r} is listed twice in meta.json", uid)
            elif not path.is_file():
                self.skip(path, f"listed in meta.json as {name!r} but the wav is missing", uid)
            else:
                split = "test" if (singer, song) in TEST_SONGS else "train"
                found[uid] = Utterance(self.dataset, singer, uid, path, split, song=song)
        if not found:
            raise CorpusLayoutError(
                self.name, meta, "no utterances: no listed item has its wav on disk"
            )
        return [found[uid] for uid in sorted(found)]

    def _read_meta(self, meta: Path) -> list:
        try:
            items = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorpusLayoutError(self.name, meta, f"a readable JSON list ({exc})") from None
        if not isinstance(items, list) or not items:
            raise CorpusLayoutError(self.name, meta, "a non-empty JSON list of items")
        return items

    def _wav_path(self, singer: str, song: str, clip: str) -> Path:
        path = self.root / f"{singer}#{song}" / f"{clip}.wav"
        dashed = self.root / f"{singer}#{song.replace(' ', '-')}" / f"{clip}.wav"
        return dashed if not path.is_file() and dashed.is_file() else path
