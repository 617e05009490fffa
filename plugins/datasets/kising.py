"""KiSing: one singer's songs, one folder of phrase wavs per song."""

from __future__ import annotations

from vocfw.core.audio.io import AudioError, audio_info
from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance

TEST_SONGS = frozenset({"421", "424", "431"})
SINGER = "female1"


class KiSing(Corpus):
    """KiSing: point ``root`` at the KiSing folder or at its ``clean/`` folder, the one whose
    sub-folders (``421/``, ``422/``, ...) hold the wavs. Files are used whole."""

    name = "kising"
    description = "KiSing (one singer's songs, one folder of wavs per song)"
    inner_folder = "clean"

    def utterances(self) -> list[Utterance]:
        """Describe every wav of every song folder.

        Returns:
            One record per file, uid ``{song}_{stem}``, singer ``female1``; the songs 421, 424
            and 431 are the test split.

        Raises:
            CorpusLayoutError: no song folder holds a wav.
        """
        songs = [d for d in sorted(self.root.iterdir()) if d.is_dir()]
        wavs = [wav for song in songs for wav in sorted(song.glob("*.wav"))]
        if not wavs:
            raise CorpusLayoutError(
                self.name, self.root, "song folders (421/, 422/, ...) holding .wav files; point "
                "at the KiSing folder or its clean/ folder"
            )
        records = []
        for wav in wavs:
            try:
                audio_info(wav)
            except AudioError as exc:
                self.skip(wav, exc.reason)
                continue
            song = wav.parent.name
            split = "test" if song in TEST_SONGS else "train"
            records.append(Utterance(self.dataset, SINGER, f"{song}_{wav.stem}", wav, split))
        return records
