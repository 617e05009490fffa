"""The whole-file corpus loaders read synthetic trees in the real layouts exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from corpus_trees import CorpusFixture
from corpus_trees.whole_file_trees import BUILDERS, build_folder

from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance
from vocfw.core.testing.fixture import write_audio
from vocfw.plugins.datasets.folder import AudioFolder
from vocfw.plugins.datasets.libritts import LibriTTS
from vocfw.plugins.datasets.ljspeech import LJSpeech
from vocfw.plugins.datasets.m4singer import M4Singer
from vocfw.plugins.datasets.opencpop import Opencpop
from vocfw.plugins.datasets.opensinger import OpenSinger
from vocfw.plugins.datasets.popbutfy import PopBuTFy
from vocfw.plugins.datasets.popcs import PopCS
from vocfw.plugins.datasets.vctk import VCTK

LOADERS: dict[str, type[Corpus]] = {
    cls.name: cls
    for cls in (M4Singer, Opencpop, OpenSinger, PopBuTFy, PopCS, LJSpeech, VCTK, LibriTTS,
                AudioFolder)
}


def snapshot(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path below ``root`` with (is_dir, mtime_ns, size)."""
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_mtime_ns, p.stat().st_size)
            for p in root.rglob("*")}


def load(name: str, root: Path, **kwargs: object) -> tuple[Corpus, dict[str, Utterance]]:
    corpus = LOADERS[name](root, **kwargs)
    return corpus, {utt.uid: utt for utt in corpus.utterances()}


@pytest.fixture
def built(request: pytest.FixtureRequest, tmp_path: Path) -> CorpusFixture:
    return BUILDERS[request.param](tmp_path)


def test_every_loader_has_a_fixture_builder() -> None:
    assert set(BUILDERS) == set(LOADERS)


@pytest.mark.parametrize("built", sorted(BUILDERS), indirect=True)
def test_loader_yields_exactly_the_expected_records(built: CorpusFixture) -> None:
    before = snapshot(built.root)
    corpus = LOADERS[built.name](built.root)
    utterances = corpus.utterances()
    assert {u.uid: (u.singer, u.split) for u in utterances} == built.expected
    assert len(utterances) == len(built.expected)
    assert corpus.skipped == []
    for utt in utterances:
        assert utt.dataset == built.name
        assert utt.path.is_absolute() and utt.path.is_file()
        assert built.root in utt.path.parents
    assert {"train", "test"} <= {u.split for u in utterances}
    assert corpus.utterances() == utterances
    assert snapshot(built.root) == before


@pytest.mark.parametrize("name", ["opencpop", "vctk"])
def test_dataset_name_is_configurable(tmp_path: Path, name: str) -> None:
    fixture = BUILDERS[name](tmp_path)
    _, utts = load(name, fixture.root, dataset=f"{name}_v2")
    assert {u.dataset for u in utts.values()} == {f"{name}_v2"}


def test_m4singer_spot_checks(tmp_path: Path) -> None:
    root = BUILDERS["m4singer"](tmp_path).root
    _, utts = load("m4singer", root)
    first = utts["Alto-1_美错_0000"]
    assert (first.singer, first.song, first.split) == ("Alto-1", "美错", "test")
    assert first.path == root / "Alto-1#美错" / "0000.wav"
    spaced = utts["Soprano-1_Let-It-Go_0001"]
    assert (spaced.song, spaced.split) == ("Let It Go", "train")
    assert spaced.path == root / "Soprano-1#Let It Go" / "0001.wav"
    assert not any(uid.startswith("Alto-3") for uid in utts)


def test_m4singer_listed_but_missing_wav_is_skipped(tmp_path: Path) -> None:
    root = BUILDERS["m4singer"](tmp_path).root
    missing = root / "Alto-2#七里香" / "0001.wav"
    missing.unlink()
    corpus, utts = load("m4singer", root)
    assert "Alto-2_七里香_0001" not in utts and "Alto-2_七里香_0000" in utts
    assert [(s.path, s.uid) for s in corpus.skipped] == [(missing, "Alto-2_七里香_0001")]
    assert "missing" in corpus.skipped[0].reason


def test_opencpop_spot_checks_and_missing_wav(tmp_path: Path) -> None:
    root = BUILDERS["opencpop"](tmp_path).root
    _, utts = load("opencpop", root)
    first = utts["2001000001"]
    assert (first.singer, first.split) == ("female1", "test")
    assert first.path == root / "segments" / "wavs" / "2001000001.wav"
    assert utts["2044000001"].split == "train" and "2044000003" not in utts
    (root / "segments" / "wavs" / "2044000002.wav").unlink()
    corpus, utts = load("opencpop", root)
    assert "2044000002" not in utts
    assert [s.uid for s in corpus.skipped] == ["2044000002"]


def test_opensinger_spot_checks_and_long_clip_kept(tmp_path: Path) -> None:
    root = BUILDERS["opensinger"](tmp_path).root
    folder = root / "WomanRaw" / "44_see_you_again"
    write_audio(folder / "44_see_you_again_2.wav", np.zeros(8000 * 31, np.float32), 8000)
    _, utts = load("opensinger", root)
    assert (utts["Man_0_大鱼_0"].singer, utts["Man_0_大鱼_0"].split) == ("Man_0", "test")
    long_clip = utts["Woman_44_see_you_again_2"]
    assert (long_clip.singer, long_clip.song, long_clip.split) == ("Woman_44", "see_you_again",
                                                                  "train")


def test_popbutfy_spot_checks(tmp_path: Path) -> None:
    root = BUILDERS["popbutfy"](tmp_path).root
    _, utts = load("popbutfy", root)
    golden = utts["Female1#you_are_my_sunshine_Professional#0"]
    assert (golden.singer, golden.song, golden.split) == (
        "Female1", "you_are_my_sunshine_Professional", "test")
    assert utts["Female1#you_are_my_sunshine_Amateur#0"].path.suffix == ".mp3"
    assert utts["Male3#Hey_Jude_Amateur#1"].path.suffix == ".wav"
    assert utts["Female1#you_are_my_sunshine_Professional#1"].uid != golden.uid


def test_popcs_and_ljspeech_and_libritts_spot_checks(tmp_path: Path) -> None:
    _, popcs = load("popcs", BUILDERS["popcs"](tmp_path / "a").root)
    assert (popcs["明天会更好_0000"].song, popcs["明天会更好_0000"].split) == ("明天会更好", "test")
    assert popcs["小酒窝_0001"].split == "train"
    _, lj = load("ljspeech", BUILDERS["ljspeech"](tmp_path / "b").root)
    assert [uid for uid, u in lj.items() if u.split == "test"] == ["LJ002-0011"]
    _, libri = load("libritts", BUILDERS["libritts"](tmp_path / "c").root)
    first = libri["train-clean-100#103#1241#103_1241_000000_000001"]
    assert (first.singer, first.split, first.text) == ("103", "train",
                                                       "Matthew Cuthbert is surprised")
    assert libri["dev-clean#1272#128104#1272_128104_000001_000000"].split == "valid"
    assert libri["test-clean#1089#134686#1089_134686_000001_000001"].split == "test"


def test_vctk_spot_checks(tmp_path: Path) -> None:
    root = BUILDERS["vctk"](tmp_path).root
    _, utts = load("vctk", root)
    first = utts["female_p225#001_mic1"]
    assert (first.singer, first.split) == ("female_p225", "test")
    assert first.path == root / "wav48_silence_trimmed" / "p225" / "p225_001_mic1.flac"
    assert utts["female_p225#001_mic2"].split == "test"
    assert utts["female_p225#002_mic2"].split == "train"
    assert utts["male_p226#001_mic1"].singer == "male_p226"
    assert utts["female_s5#002_mic2"].singer == "female_s5"
    assert not any(uid.startswith("female_p280") and uid.endswith("mic2") for uid in utts)


def test_vctk_speaker_missing_from_speaker_info_is_skipped(tmp_path: Path) -> None:
    root = BUILDERS["vctk"](tmp_path).root
    info = root / "speaker-info.txt"
    info.write_text("".join(line for line in info.read_text().splitlines(keepends=True)
                            if not line.startswith("p226")))
    corpus, utts = load("vctk", root)
    assert not any("p226" in uid for uid in utts) and "female_p225#001_mic1" in utts
    assert len(corpus.skipped) == 4
    assert all("p226" in s.reason for s in corpus.skipped)


@pytest.mark.parametrize(("name", "inner"), [("popbutfy", "data"), ("popcs", "popcs")])
def test_root_or_subfolder_is_accepted(tmp_path: Path, name: str, inner: str) -> None:
    fixture = BUILDERS[name](tmp_path)
    _, from_root = load(name, fixture.root)
    _, from_inner = load(name, fixture.root / inner)
    assert from_root == from_inner
    assert {uid: (u.singer, u.split) for uid, u in from_root.items()} == fixture.expected


@pytest.mark.parametrize(("name", "required"), [
    ("vctk", "speaker-info.txt"),
    ("m4singer", "meta.json"),
    ("opencpop", "segments/train.txt"),
    ("opencpop", "segments/test.txt"),
    ("libritts", "train-clean-100/103/1241/103_1241_000000_000001.normalized.txt"),
])
def test_missing_required_file_names_it(tmp_path: Path, name: str, required: str) -> None:
    fixture = BUILDERS[name](tmp_path)
    (fixture.root / required).unlink()
    with pytest.raises(CorpusLayoutError) as info:
        LOADERS[name](fixture.root).utterances()
    assert info.value.path == fixture.root / required
    assert name in str(info.value) and Path(required).name in str(info.value)


def test_libritts_transcript_with_two_lines_is_an_error(tmp_path: Path) -> None:
    root = BUILDERS["libritts"](tmp_path).root
    transcript = root / "test-clean/1089/134686/1089_134686_000001_000001.normalized.txt"
    transcript.write_text("He hoped\nthere would be stew\n", encoding="utf-8")
    with pytest.raises(CorpusLayoutError, match="exactly one line"):
        LibriTTS(root).utterances()


@pytest.mark.parametrize(("name", "off", "says"), [
    ("opensinger", "ManRaw", "no utterances"),
    ("libritts", "train-clean-100", "no utterances"),
    ("popcs", "popcs/popcs-明天会更好", "no utterances"),
    ("popbutfy", "..", "no utterances"),
    ("ljspeech", "..", "wavs/ folder"),
    ("m4singer", "Alto-1#美错", "meta.json"),
    ("vctk", "wav48_silence_trimmed", "speaker-info.txt"),
    ("opencpop", "segments", "train segment list"),
])
def test_corpus_pointed_one_level_off_is_a_clear_error(
    tmp_path: Path, name: str, off: str, says: str
) -> None:
    fixture = BUILDERS[name](tmp_path / "corpus")
    with pytest.raises(CorpusLayoutError) as info:
        LOADERS[name](fixture.root / off).utterances()
    assert str(info.value).startswith(f"{name}: ") and says in str(info.value)


def test_vctk_without_speaker_folders_says_so(tmp_path: Path) -> None:
    root = BUILDERS["vctk"](tmp_path).root
    for speaker in (root / "wav48_silence_trimmed").iterdir():
        if speaker.is_dir():
            shutil.rmtree(speaker)
    with pytest.raises(CorpusLayoutError, match="no speaker folders"):
        VCTK(root).utterances()


def test_folder_split_is_deterministic_and_never_empty(tmp_path: Path) -> None:
    first = build_folder(tmp_path / "one")
    second = build_folder(tmp_path / "two")
    _, a = load("folder", first.root)
    _, b = load("folder", second.root)
    assert {uid: u.split for uid, u in a.items()} == {uid: u.split for uid, u in b.items()}
    assert any(u.split == "test" for u in a.values())
    assert a["intro"].singer == "my_recordings" and a["alice#take1#02"].singer == "alice"
    assert a["alice#take1#02"].path.suffix == ".flac"
    _, none_asked = load("folder", first.root, test_percent=0)
    assert sum(u.split == "test" for u in none_asked.values()) == 1
    _, all_test = load("folder", first.root, test_percent=100)
    assert {u.split for u in all_test.values()} == {"test"}


def test_folder_split_follows_the_hash_rule_for_another_percent(tmp_path: Path) -> None:
    fixture = build_folder(tmp_path, test_percent=40)
    _, utts = load("folder", fixture.root, test_percent=40)
    assert {uid: (u.singer, u.split) for uid, u in utts.items()} == fixture.expected


def test_folder_same_stem_twice_is_skipped_and_bad_percent_rejected(tmp_path: Path) -> None:
    root = build_folder(tmp_path).root
    duplicate = write_audio(root / "carol" / "song.flac", np.zeros(1600, np.float32), 16000)
    corpus, utts = load("folder", root)
    assert utts["carol#song"].path == duplicate
    assert [(s.uid, s.path) for s in corpus.skipped] == [("carol#song", root / "carol/song.wav")]
    with pytest.raises(ValueError, match="test_percent"):
        AudioFolder(root, test_percent=101)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match="no utterances"):
        AudioFolder(empty).utterances()
