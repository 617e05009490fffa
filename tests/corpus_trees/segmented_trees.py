"""Tiny synthetic trees of the corpora whose recordings are cut into segments or picked by
name: CSD, KiSing, NUS-48E, Opera and PJS.

Each builder writes the real folder layout, file naming and metadata formats (plus files a
loader must ignore) under ``dest`` and returns the folder the recipe configures as the dataset
path, with the uid -> (singer, split) map a correct loader yields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from corpus_trees import CorpusFixture, phrases
from vocfw.core.testing.fixture import tone, write_audio

NOTE = 0.35  # seconds per sung syllable in the CSD fixture
NOTE_GAP = 0.05  # seconds between notes of one phrase
PHRASE_REST = 0.5  # seconds between CSD phrases
FIRST_NOTE = 0.3  # seconds of silence before the first note
GAP = 0.5  # seconds of digital silence between sliced phrases (the slicers need >= 0.3 s)
MIDI_HEADER = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0"

CSD_SONGS: dict[str, dict[str, list[list[str]]]] = {
    "english": {
        "en001a": [["t_w_i_ng", "k_eo_l", "l_i_t"], ["s_t_aa_r", "h_au"]],
        "en004a": [["m_ae", "r_i"], ["h_ae_d", "ax", "l_i", "t_ax_l"], ["l_ae_m"]],
    },
    "korean": {
        "kr002b": [["s_a", "n_e"], ["t_o", "k_i", "ya"]],
        "kr013a": [["g_o", "m_a", "s_e"], ["m_a_ri"]],
    },
}
KISING_SONGS = {"421": ["0040", "0041"], "424": ["0013"], "425": ["0001", "0002"]}
# (singer, style, song) -> phrase durations; every phrase but the last is over 5 s, so the
# slicer cuts after each of them and the number of pieces is the number of phrases.
NUS48E_SONGS = {
    ("ADIZ", "read", "01"): [5.5, 5.5, 2.0],
    ("ADIZ", "sing", "01"): [2.5],
    ("JLEE", "read", "02"): [5.5, 1.5],
    ("MCUR", "sing", "10"): [3.0],
}
NUS48E_TEST = {("ADIZ_read", "01"), ("MCUR_sing", "10"), ("JLEE_read", "08"), ("SAMF_sing", "18")}
# (language, singer, song) -> phrase durations, built the same way.
OPERA_SONGS = {
    ("chinese", "fem_01", "neg_1"): [5.5, 2.0],
    ("chinese", "fem_01", "pos_2"): [3.0],
    ("chinese", "male_02", "neg_1"): [2.5],
    ("western", "fem_03", "pos_1"): [5.5, 5.5, 1.5],
}
OPERA_TEST = {("fem_01", "neg_1"), ("fem_12", "pos_3"), ("male_02", "neg_1"), ("male_11", "pos_2")}
PJS_SONGS = ("pjs001", "pjs002", "pjs003", "pjs004")
PJS_EDGE = 0.8  # seconds of silence before and after each PJS song


def _csd_song(
    folder: Path, stem: str, song: list[list[str]], sample_rate: int, seed: int
) -> None:
    """Write one CSD song: wav, txt (a blank line between phrases), csv, and ignored files."""
    rows, time = [], FIRST_NOTE
    for phrase in song:
        for syllable in phrase:
            rows.append((time, time + NOTE, 60 + len(rows) % 12, syllable))
            time += NOTE + NOTE_GAP
        time += PHRASE_REST
    audio = np.zeros(int(round((time + 0.3) * sample_rate)), np.float32)  # (L,)
    for k, (start, end, pitch, _) in enumerate(rows):
        first = int(round(start * sample_rate))
        note = tone(end - start, sample_rate, 440 * 2 ** ((pitch - 69) / 12), seed + k)
        audio[first : first + note.size] = note
    write_audio(folder / "wav" / f"{stem}.wav", audio, sample_rate)
    (folder / "txt").mkdir(exist_ok=True)
    (folder / "txt" / f"{stem}.txt").write_text(
        "\n\n".join(" ".join(phrase) for phrase in song) + "\n", encoding="utf-8"
    )
    (folder / "csv").mkdir(exist_ok=True)
    table = ["start,end,pitch,syllable"] + [f"{a:.4f},{b:.4f},{p},{s}" for a, b, p, s in rows]
    (folder / "csv" / f"{stem}.csv").write_text("\n".join(table) + "\n", encoding="utf-8")
    for sub, suffix, data in (("mid", ".mid", MIDI_HEADER), ("lyric", ".txt", b"la la\n")):
        (folder / sub).mkdir(exist_ok=True)
        (folder / sub / f"{stem}{suffix}").write_bytes(data)


def build_csd(dest: Path) -> CorpusFixture:
    """Write a CSD tree: two English and two Korean songs, one of each a golden test song.

    Args:
        dest: an empty folder to write into.

    Returns:
        The fixture; its root holds ``english/`` and ``korean/``.
    """
    root, expected = dest / "CSD", {}
    for language, songs in CSD_SONGS.items():
        folder = root / language
        for seed, (stem, song) in enumerate(songs.items()):
            _csd_song(folder, stem, song, 44100, seed * 10)
            split = "test" if stem in ("en004a", "kr013a") else "train"
            for k in range(len(song)):
                expected[f"{stem[:2]}_{stem[2:]}_{k:04d}"] = (f"Female1_{stem[:2]}", split)
        meta = {stem: {"title": stem, "singer": "Female1"} for stem in songs}
        (folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return CorpusFixture("csd", root, expected)


def build_kising(dest: Path) -> CorpusFixture:
    """Write a KiSing tree: song folders 421 and 424 (test) and 425 (train) under ``clean/``.

    Args:
        dest: an empty folder to write into.

    Returns:
        The fixture; its root is the ``clean/`` folder.
    """
    root, expected = dest / "KiSing" / "clean", {}
    (dest / "KiSing").mkdir(parents=True)
    (dest / "KiSing" / "README.md").write_text("# KiSing\n", encoding="utf-8")
    for seed, (song, stems) in enumerate(KISING_SONGS.items()):
        for k, stem in enumerate(stems):
            write_audio(root / song / f"{stem}.wav", tone(1.0, 16000, seed=seed + k), 16000)
            split = "test" if song in ("421", "424", "431") else "train"
            expected[f"{song}_{stem}"] = ("female1", split)
    return CorpusFixture("kising", root, expected)


def build_nus48e(dest: Path) -> CorpusFixture:
    """Write a NUS-48E tree: read and sung recordings of three singers, with silences.

    Args:
        dest: an empty folder to write into.

    Returns:
        The fixture; its root holds the singer folders and ``README.txt``.
    """
    root, expected = dest / "nus48e", {}
    for seed, ((singer, style, song), durations) in enumerate(NUS48E_SONGS.items()):
        folder = root / singer / style
        write_audio(folder / f"{song}.wav", phrases(durations, GAP, 16000, seed=seed), 16000)
        (folder / f"{song}.txt").write_text("0.0 0.5 sil\n0.5 1.0 ah\n", encoding="utf-8")
        label = f"{singer}_{style}"
        split = "test" if (label, song) in NUS48E_TEST else "train"
        for i in range(len(durations)):
            expected[f"{label}#{song}#{i:04d}"] = (label, split)
    (root / "README.txt").write_text("NUS-48E sung and spoken lyrics corpus\n", encoding="utf-8")
    return CorpusFixture("nus48e", root, expected)


def build_opera(dest: Path) -> CorpusFixture:
    """Write an Opera tree: Chinese and Western singers under ``monophonic/``, plus the
    ignored ``polyphonic/`` folder and spreadsheet.

    Args:
        dest: an empty folder to write into.

    Returns:
        The fixture; its root is the ``monophonic/`` folder.
    """
    top, expected = dest / "Opera", {}
    root = top / "monophonic"
    for seed, ((language, singer, song), durations) in enumerate(OPERA_SONGS.items()):
        audio = phrases(durations, GAP, 16000, seed=seed)
        write_audio(root / language / singer / f"{song}.wav", audio, 16000)
        split = "test" if (singer, song) in OPERA_TEST else "train"
        for i in range(len(durations)):
            expected[f"{singer}#{song}#{i:04d}"] = (singer, split)
    write_audio(top / "polyphonic" / "chinese" / "duet_01" / "neg_1.wav", tone(0.5, 16000), 16000)
    (top / "CrossculturalDataSet.xlsx").write_bytes(b"PK\x03\x04")
    return CorpusFixture("opera", root, expected)


def build_pjs(dest: Path) -> CorpusFixture:
    """Write a PJS tree: four songs with silent edges (three of them golden test songs), their
    speech recordings, labels and scores, and the background-noise folder.

    Args:
        dest: an empty folder to write into.

    Returns:
        The fixture; its root is the folder holding ``PJS_corpus_ver1.1/``.
    """
    root, expected = dest / "PJS", {}
    corpus, rate = root / "PJS_corpus_ver1.1", 48000
    edge = np.zeros(int(PJS_EDGE * rate), np.float32)
    for seed, song in enumerate(PJS_SONGS):
        audio = np.concatenate([edge, tone(4.0, rate, 200.0 + 20 * seed, seed), edge])
        write_audio(corpus / song / f"{song}_song.wav", audio, rate)
        write_audio(corpus / song / f"{song}_speech.wav", tone(1.0, rate, 120.0, seed), rate)
        (corpus / song / f"{song}.lab").write_text("0 1000000 pau\n", encoding="utf-8")
        (corpus / song / f"{song}.txt").write_text("uta\n", encoding="utf-8")
        (corpus / song / f"{song}.mid").write_bytes(MIDI_HEADER)
        (corpus / song / f"{song}.musicxml").write_text("<score-partwise/>\n", encoding="utf-8")
        split = "test" if song in ("pjs001", "pjs002", "pjs003") else "train"
        for i in range(3):
            expected[f"{song}_song_{i}"] = ("male1", split)
    noise = corpus / "background_noise"
    write_audio(noise / "background_20200530.wav", 0.001 * tone(1.0, rate), rate)
    (noise / "recording_date.txt").write_text("2020-05-30\n", encoding="utf-8")
    (corpus / "README.md").write_text("# PJS corpus\n", encoding="utf-8")
    return CorpusFixture("pjs", root, expected)


BUILDERS: dict[str, Callable[[Path], CorpusFixture]] = {
    "csd": build_csd,
    "kising": build_kising,
    "nus48e": build_nus48e,
    "opera": build_opera,
    "pjs": build_pjs,
}
