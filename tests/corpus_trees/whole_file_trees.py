"""Tiny synthetic trees of the corpora that ship whole clips: M4Singer, Opencpop, OpenSinger,
PopBuTFy, PopCS, LJSpeech, VCTK, LibriTTS and a generic audio folder.

Each builder writes the corpus's real layout, naming patterns and metadata formats (with the
files a loader must ignore) under ``dest`` and returns the uid -> (singer, split) map a correct
loader yields. Clips are 0.25 s tones, so each tree holds a few seconds of audio.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from corpus_trees import CorpusFixture
from vocfw.core.testing.fixture import tone, write_audio

CLIP_SECONDS = 0.25


def _audio(path: Path, rate: int, seed: int = 0) -> Path:
    """Write one short clip; ogg goes through soundfile's default (Vorbis) encoding."""
    audio = tone(CLIP_SECONDS, rate, freq=150.0 + 15 * (seed % 16), seed=seed)  # (L,)
    if path.suffix == ".ogg":
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), audio, rate)
        return path
    return write_audio(path, audio, rate)


def _text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def build_m4singer(dest: Path) -> CorpusFixture:
    """M4Singer: ``meta.json`` items, ``{Singer}#{Song}/{NNNN}.wav`` with .mid/.TextGrid, a
    song with spaces and an unlisted folder."""
    root = dest / "m4singer"
    songs = [("Alto-1", "美错", 2, "test"), ("Bass-1", "十年", 1, "test"),
             ("Alto-2", "七里香", 2, "train"), ("Soprano-1", "Let It Go", 2, "train")]
    meta, expected = [], {}
    for singer, song, clips, split in songs:
        for k in range(clips):
            clip = f"{k:04d}"
            folder = root / f"{singer}#{song}"
            _audio(folder / f"{clip}.wav", 24000, seed=len(meta))
            _text(folder / f"{clip}.TextGrid", 'File type = "ooTextFile"\n')
            (folder / f"{clip}.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0")
            meta.append({"item_name": f"{singer}#{song}#{clip}", "txt": "你好", "singer": singer,
                         "phs": ["n", "i", "h", "ao"], "ph_dur": [0.05, 0.07, 0.05, 0.08],
                         "notes": [60, 60, 62, 62], "notes_dur": [0.12, 0.12, 0.13, 0.13],
                         "is_slur": [0, 0, 0, 0], "wav_fn": f"{singer}#{song}/{clip}.wav"})
            expected[f"{singer}_{song.replace(' ', '-')}_{clip}"] = (singer, split)
    _audio(root / "Alto-3#晴天" / "0000.wav", 24000)
    _text(root / "meta.json", json.dumps(meta, ensure_ascii=False, indent=1))
    return CorpusFixture("m4singer", root, expected)


def build_opencpop(dest: Path) -> CorpusFixture:
    """Opencpop: ``segments/wavs`` phrases listed in pipe-separated train.txt/test.txt, plus the
    unread full songs, transcriptions and an unlisted phrase."""
    root = dest / "Opencpop"
    segments = root / "segments"
    lists = {"test": ["2001000001", "2001000002"], "train": ["2044000001", "2044000002"]}
    expected = {}
    for split, ids in lists.items():
        lines = [f"{uid}|感受停在我发端的指尖|g an sh ou t ing|D#4/Eb4 D#4/Eb4 D4|"
                 f"0.253030 0.253030 0.26|0.05 0.203030 0.1|0 0 0" for uid in ids]
        _text(segments / f"{split}.txt", "\n".join(lines) + "\n")
        for uid in ids:
            _audio(segments / "wavs" / f"{uid}.wav", 44100, seed=int(uid[-1]))
            expected[uid] = ("female1", split)
    _audio(segments / "wavs" / "2044000003.wav", 44100)
    _text(segments / "transcriptions.txt", "2001000001|感受停在我发端的指尖|g an\n")
    _audio(root / "wavs" / "2001.wav", 44100)
    _text(root / "textgrids" / "2001.TextGrid", 'File type = "ooTextFile"\n')
    (root / "midis").mkdir()
    (root / "midis" / "2001.midi").write_bytes(b"MThd")
    _text(root / "readme.md", "# Opencpop\n")
    _text(root / "TERMS_OF_ACCESS", "terms\n")
    return CorpusFixture("opencpop", root, expected)


def build_opensinger(dest: Path) -> CorpusFixture:
    """OpenSinger: ``ManRaw``/``WomanRaw`` song folders with .lab/.txt, a song with ``_``."""
    root = dest / "OpenSinger"
    songs = [("Man", "0", "大鱼", 2, "test"), ("Man", "3", "星晴", 1, "train"),
             ("Woman", "39", "mojito", 1, "test"), ("Woman", "44", "see_you_again", 2, "train")]
    expected = {}
    for gender, singer_id, song, clips, split in songs:
        folder = root / f"{gender}Raw" / f"{singer_id}_{song}"
        for k in range(clips):
            stem = f"{singer_id}_{song}_{k}"
            _audio(folder / f"{stem}.wav", 24000, seed=len(expected))
            _text(folder / f"{stem}.lab", "0 1250000 sil\n")
            _text(folder / f"{stem}.txt", "歌词\n")
            expected[f"{gender}_{singer_id}_{song}_{k}"] = (f"{gender}_{singer_id}", split)
    _text(root / "LICENSE", "license\n")
    _text(root / "README.md", "# OpenSinger\n")
    return CorpusFixture("opensinger", root, expected)


def build_popbutfy(dest: Path) -> CorpusFixture:
    """PopBuTFy: ``data/{Singer}#singing#{Song}`` mp3 clips, one wav-only folder, one clip in
    both formats, and the top-level ``text_labels`` and ``TERMS_OF_ACCESS``."""
    root = dest / "PopBuTFy"
    songs = [("Female1", "you_are_my_sunshine_Professional", ".mp3", 2, "test"),
             ("Female1", "you_are_my_sunshine_Amateur", ".mp3", 1, "train"),
             ("Male2", "Lemon_Tree_Professional", ".mp3", 1, "test"),
             ("Male3", "Hey_Jude_Amateur", ".wav", 2, "train")]
    expected = {}
    for singer, song, suffix, clips, split in songs:
        folder = root / "data" / f"{singer}#singing#{song}"
        for k in range(clips):
            _audio(folder / f"{folder.name}_{k}{suffix}", 22050, seed=len(expected))
            expected[f"{singer}#{song}#{k}"] = (singer, split)
    _audio(root / "data" / "Female1#singing#you_are_my_sunshine_Amateur"
           / "Female1#singing#you_are_my_sunshine_Amateur_0.wav", 22050)
    _text(root / "text_labels", "Female1#singing#you_are_my_sunshine_Professional_0 you\n")
    _text(root / "TERMS_OF_ACCESS", "terms\n")
    return CorpusFixture("popbutfy", root, expected)


def build_popcs(dest: Path) -> CorpusFixture:
    """PopCS: ``popcs/popcs-{Song}/{NNNN}_wf0.wav`` with TextGrid/txt/_ph.txt beside."""
    root = dest / "PopCS"
    songs = [("明天会更好", 2, "test"), ("欧若拉", 1, "test"), ("小酒窝", 2, "train")]
    expected = {}
    for song, clips, split in songs:
        folder = root / "popcs" / f"popcs-{song}"
        for k in range(clips):
            clip = f"{k:04d}"
            _audio(folder / f"{clip}_wf0.wav", 24000, seed=len(expected))
            _text(folder / f"{clip}.TextGrid", 'File type = "ooTextFile"\n')
            _text(folder / f"{clip}.txt", "歌词\n")
            _text(folder / f"{clip}_ph.txt", "g e c i\n")
            expected[f"{song}_{clip}"] = ("female1", split)
    _text(root / "TERMS_OF_ACCESS", "terms\n")
    return CorpusFixture("popcs", root, expected)


def build_ljspeech(dest: Path) -> CorpusFixture:
    """LJSpeech: 22 clips in ``wavs/`` (the last one sorted is test) and ``metadata.csv``."""
    root = dest / "LJSpeech-1.1"
    stems = [f"LJ{chapter:03d}-{k:04d}" for chapter in (2, 1) for k in range(1, 12)]
    for seed, stem in enumerate(stems):
        _audio(root / "wavs" / f"{stem}.wav", 22050, seed=seed)
    _text(root / "metadata.csv", "".join(f"{s}|Printing, in the only sense|printing\n"
                                         for s in stems))
    _text(root / "README", "LJ Speech Dataset\n")
    ordered = sorted(stems)
    n_test = len(ordered) // 20
    expected = {stem: ("female1", "test" if i >= len(ordered) - n_test else "train")
                for i, stem in enumerate(ordered)}
    return CorpusFixture("ljspeech", root, expected)


def build_vctk(dest: Path) -> CorpusFixture:
    """VCTK 0.92: 48 kHz mic1/mic2 flac, ``speaker-info.txt`` (header, an ``s5`` row, a
    speaker not on disk), a mic1-only speaker, ``log.txt``, ``txt/`` and ``update.txt``."""
    root = dest / "VCTK-Corpus-0.92"
    speakers = [("p225", "23", "F", "English    Southern  England", 3, ("mic1", "mic2")),
                ("p226", "22", "M", "English    Surrey", 2, ("mic1", "mic2")),
                ("p280", "25", "F", "French     France (mic2 files unavailable)", 4, ("mic1",)),
                ("s5", "22", "F", "British    Southern  England", 2, ("mic1", "mic2"))]
    rows = ["ID  AGE  GENDER  ACCENTS  REGION COMMENTS "]
    expected = {}
    for spk, age, gender, rest, sentences, mics in speakers:
        rows.append(f"{spk:<5} {age}  {gender}    {rest}")
        singer = f"{'female' if gender == 'F' else 'male'}_{spk}"
        files = [f"{n:03d}_{mic}" for n in range(1, sentences + 1) for mic in mics]
        for i, name in enumerate(sorted(files)):
            _audio(root / "wav48_silence_trimmed" / spk / f"{spk}_{name}.flac", 48000, seed=i)
            expected[f"{singer}#{name}"] = (singer, "test" if i < 3 else "train")
        _text(root / "txt" / spk / f"{spk}_001.txt", "Please call Stella.\n")
    rows.append("p227  38  M    English    Cumbria")
    _text(root / "speaker-info.txt", "\n".join(rows) + "\n")
    _text(root / "wav48_silence_trimmed" / "log.txt", "trimmed with a 25 dB threshold\n")
    _text(root / "update.txt", "0.92 update\n")
    _text(root / "README.txt", "CSTR VCTK Corpus\n")
    return CorpusFixture("vctk", root, expected)


def build_libritts(dest: Path) -> CorpusFixture:
    """LibriTTS: train-clean-100, test-clean and dev-clean with .normalized.txt/.original.txt,
    chapter .trans.tsv/.book.tsv, and the top-level documentation files."""
    root = dest / "LibriTTS"
    items = [("train-clean-100", "103", "1241", "000000_000001", "Matthew Cuthbert is surprised"),
             ("train-clean-100", "103", "1241", "000000_000002", "Missus Rachel Lynde lived"),
             ("train-clean-100", "1034", "121119", "000001_000000", "He said nothing"),
             ("test-clean", "1089", "134686", "000001_000001", "He hoped there would be stew"),
             ("dev-clean", "1272", "128104", "000001_000000", "Mister Quilter is the apostle")]
    splits = {"train-clean-100": "train", "test-clean": "test", "dev-clean": "valid"}
    expected = {}
    for seed, (subset, spk, chapter, para_sent, text) in enumerate(items):
        folder = root / subset / spk / chapter
        stem = f"{spk}_{chapter}_{para_sent}"
        _audio(folder / f"{stem}.wav", 24000, seed=seed)
        _text(folder / f"{stem}.normalized.txt", text)
        _text(folder / f"{stem}.original.txt", text.upper())
        _text(folder / f"{spk}_{chapter}.trans.tsv", f"{stem}\t{text}\t{text}\n")
        _text(folder / f"{spk}_{chapter}.book.tsv", f"{stem}\t{text}\n")
        expected[f"{subset}#{spk}#{chapter}#{stem}"] = (spk, splits[subset])
    for name in ("BOOKS.txt", "CHAPTERS.txt", "SPEAKERS.txt", "speakers.tsv", "reader_book.tsv",
                 "eval_sentences10.tsv", "LICENSE.txt", "NOTE.txt", "README_librispeech.txt",
                 "README_libritts.txt"):
        _text(root / name, ";\n")
    return CorpusFixture("libritts", root, expected)


def build_folder(dest: Path, test_percent: int = 5) -> CorpusFixture:
    """A generic audio folder: wav/flac/mp3/ogg at several depths, files directly in the root,
    and non-audio and hidden files to ignore. Splits follow the SHA-1 rule for ``test_percent``.
    """
    root = dest / "my_recordings"
    files = ["intro.wav", "alice/03.ogg", "alice/take1/01.wav", "alice/take1/02.flac",
             "bob/01.mp3", "bob/02.wav", "carol/song.wav"]
    singers = {}
    for seed, name in enumerate(files):
        relative = Path(name)
        _audio(root / relative, 16000, seed=seed)
        uid = "#".join(relative.with_suffix("").parts)
        singers[uid] = relative.parts[0] if len(relative.parts) > 1 else root.name
    _text(root / "notes.txt", "session notes\n")
    _text(root / "alice" / "cover.jpg", "not audio\n")
    _audio(root / ".cache" / "scratch.wav", 16000)
    _audio(root / "bob" / ".01.wav", 16000)

    def digest(uid: str) -> int:
        return int(hashlib.sha1(uid.encode("utf-8")).hexdigest(), 16)

    test = {uid for uid in singers if digest(uid) % 100 < test_percent}
    test = test or {min(singers, key=digest)}
    expected = {uid: (singer, "test" if uid in test else "train")
                for uid, singer in singers.items()}
    return CorpusFixture("folder", root, expected)


BUILDERS: dict[str, Callable[[Path], CorpusFixture]] = {
    "m4singer": build_m4singer,
    "opencpop": build_opencpop,
    "opensinger": build_opensinger,
    "popbutfy": build_popbutfy,
    "popcs": build_popcs,
    "ljspeech": build_ljspeech,
    "vctk": build_vctk,
    "libritts": build_libritts,
    "folder": build_folder,
}
