"""NUS-48E: twelve singers, each reading and singing four songs, cut at silences."""

from __future__ import annotations

from dataclasses import dataclass

from vocfw.core.audio.io import AudioError
from vocfw.core.corpus import CorpusLayoutError, Utterance
from vocfw.plugins.datasets.slicer import SilenceSlicedCorpus, silence_segments

STYLES = ("read", "sing")
TEST_SONGS = frozenset({("ADIZ_read", "01"), ("MCUR_sing", "10"), ("JLEE_read", "08"),
                        ("SAMF_sing", "18")})


@dataclass
class NUS48E(SilenceSlicedCorpus):
    """NUS-48E: point ``root`` at the folder holding the singer folders (``ADIZ/``, ...).

    Each ``{SINGER}/{read,sing}/{song}.wav`` is cut at its silences into segments; nothing is
    written to disk. The ``.txt`` annotations are not read.

    The slicer options of :class:`SilenceSlicedCorpus` are settable; the defaults are the
    recipe's (threshold -40 dB, at most 4000 ms of silence kept around a cut).
    """

    name = "nus48e"
    description = "NUS-48E sung and spoken lyrics (12 singers), cut at silences"

    threshold_db: float = -40.0
    max_sil_kept_ms: float = 4000.0

    def utterances(self) -> list[Utterance]:
        """Describe every silence-sliced piece of every recording.

        Returns:
            One segment per piece, singer ``{SINGER}_{style}``, uid ``{singer}#{song}#{i:04d}``;
            (ADIZ_read, 01), (MCUR_sing, 10), (JLEE_read, 08) and (SAMF_sing, 18) are the test
            split.

        Raises:
            CorpusLayoutError: no ``{SINGER}/{read,sing}/*.wav`` exists under the root.
        """
        wavs = [
            wav
            for singer in sorted(self.root.iterdir())
            for style in STYLES
            if (singer / style).is_dir()
            for wav in sorted((singer / style).glob("*.wav"))
        ]
        if not wavs:
            raise CorpusLayoutError(
                self.name, self.root, "singer folders (ADIZ/, JLEE/, ...) with read/*.wav or "
                "sing/*.wav; point at the NUS-48E folder that holds them"
            )
        records = []
        for wav in wavs:
            try:
                segments = silence_segments(wav, self.slicer)
            except AudioError as exc:
                self.skip(wav, exc.reason)
                continue
            singer, song = f"{wav.parent.parent.name}_{wav.parent.name}", wav.stem
            split = "test" if (singer, song) in TEST_SONGS else "train"
            records.extend(
                Utterance(self.dataset, singer, f"{singer}#{song}#{i:04d}", wav, split, a, b)
                for i, (a, b) in enumerate(segments)
            )
        return records
