"""The corpora that are segmented or picked by name: CSD, KiSing, NUS-48E, Opera and PJS.

Each loader reads a synthetic tree in the real layout and must yield exactly the recipe's
uids, singers and splits, describe cuts as segments without writing into the corpus, and
report unreadable audio while loading the rest.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from corpus_trees import CorpusFixture, phrases
from corpus_trees.segmented_trees import BUILDERS, CSD_SONGS

from vocfw.core.audio.io import audio_duration
from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance
from vocfw.core.testing.fixture import write_audio
from vocfw.plugins.datasets.csd import CSD
from vocfw.plugins.datasets.kising import KiSing
from vocfw.plugins.datasets.nus48e import NUS48E
from vocfw.plugins.datasets.opera import Opera
from vocfw.plugins.datasets.pjs import PJS
from vocfw.plugins.datasets.slicer import Slicer

LOADERS: dict[str, type[Corpus]] = {
    "csd": CSD, "kising": KiSing, "nus48e": NUS48E, "opera": Opera, "pjs": PJS,
}
SEGMENTED = ["csd", "nus48e", "opera", "pjs"]
# Other folders the user may point at, given the fixture's root.
OTHER_ROOTS: dict[str, Callable[[Path], Path]] = {
    "kising": lambda root: root.parent,
    "opera": lambda root: root.parent,
    "pjs": lambda root: root / "PJS_corpus_ver1.1",
}


def build(name: str, tmp_path: Path) -> CorpusFixture:
    return BUILDERS[name](tmp_path / "raw")


def load(name: str, root: Path) -> tuple[Corpus, list[Utterance]]:
    corpus = LOADERS[name](root)
    return corpus, corpus.utterances()


def by_uid(records: list[Utterance]) -> dict[str, Utterance]:
    return {record.uid: record for record in records}


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("name", list(LOADERS))
def test_inventory_matches_the_recipe(name: str, tmp_path: Path) -> None:
    fixture = build(name, tmp_path)
    corpus, records = load(name, fixture.root)
    assert {r.uid: (r.singer, r.split) for r in records} == fixture.expected
    assert len(records) == len(fixture.expected)
    assert {r.dataset for r in records} == {name}
    assert all(r.path.is_absolute() and r.path.is_file() for r in records)
    assert corpus.skipped == []


@pytest.mark.parametrize("name", list(LOADERS))
def test_dataset_name_is_configurable(name: str, tmp_path: Path) -> None:
    fixture = build(name, tmp_path)
    records = LOADERS[name](fixture.root, dataset=f"{name}_v2").utterances()
    assert {r.dataset for r in records} == {f"{name}_v2"}


@pytest.mark.parametrize("name", SEGMENTED)
def test_segments_lie_within_their_files(name: str, tmp_path: Path) -> None:
    _, records = load(name, build(name, tmp_path).root)
    for record in records:
        assert record.start is not None and record.end is not None
        assert 0.0 <= record.start < record.end <= audio_duration(record.path) + 1e-9


def test_kising_uses_whole_files(tmp_path: Path) -> None:
    _, records = load("kising", build("kising", tmp_path).root)
    assert all(r.start is None and r.end is None for r in records)


@pytest.mark.parametrize("name", list(OTHER_ROOTS))
def test_root_or_subfolder_are_both_accepted(name: str, tmp_path: Path) -> None:
    fixture = build(name, tmp_path)
    _, records = load(name, fixture.root)
    _, again = load(name, OTHER_ROOTS[name](fixture.root))
    assert again == records


@pytest.mark.parametrize("name", list(LOADERS))
def test_loading_leaves_the_corpus_untouched(name: str, tmp_path: Path) -> None:
    fixture = build(name, tmp_path)
    before = snapshot(tmp_path / "raw")
    load(name, fixture.root)
    assert snapshot(tmp_path / "raw") == before


@pytest.mark.parametrize("name", list(LOADERS))
def test_corrupt_audio_is_skipped_and_the_rest_load(name: str, tmp_path: Path) -> None:
    fixture = build(name, tmp_path)
    _, records = load(name, fixture.root)
    victim = next(r.path for r in records if r.split == "train")
    lost = {r.uid for r in records if r.path == victim}
    victim.write_bytes(np.random.default_rng(0).bytes(4000))
    corpus, again = load(name, fixture.root)
    assert {r.uid for r in again} == set(fixture.expected) - lost
    assert [item.path for item in corpus.skipped] == [victim]
    assert corpus.skipped[0].reason


@pytest.mark.parametrize("name", list(LOADERS))
def test_a_tree_without_recordings_is_a_layout_error(name: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusLayoutError, match=rf"^{name}: .*point at"):
        load(name, tmp_path / "empty")


def test_csd_golden_song_and_padding(tmp_path: Path) -> None:
    fixture = build("csd", tmp_path)
    _, records = load("csd", fixture.root)
    record = by_uid(records)["en_004a_0001"]
    assert (record.singer, record.split) == ("Female1_en", "test")
    assert record.path == fixture.root / "english" / "wav" / "en004a.wav"
    with open(fixture.root / "english" / "csv" / "en004a.csv", encoding="utf-8") as handle:
        notes = list(csv.DictReader(handle))
    first = len(CSD_SONGS["english"]["en004a"][0])
    last = first + len(CSD_SONGS["english"]["en004a"][1]) - 1
    assert record.start == pytest.approx(float(notes[first]["start"]) - 0.1)
    assert record.end == pytest.approx(float(notes[last]["end"]) + 0.1)
    assert by_uid(records)["kr_002b_0000"].singer == "Female1_kr"


def test_csd_start_is_clamped_at_zero(tmp_path: Path) -> None:
    fixture = build("csd", tmp_path)
    table = fixture.root / "english" / "csv" / "en001a.csv"
    lines = table.read_text(encoding="utf-8").splitlines()
    lines[1] = "0.0500," + lines[1].split(",", 1)[1]
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, records = load("csd", fixture.root)
    assert by_uid(records)["en_001a_0000"].start == 0.0


def test_csd_missing_csv_is_a_layout_error_naming_it(tmp_path: Path) -> None:
    fixture = build("csd", tmp_path)
    table = fixture.root / "korean" / "csv" / "kr013a.csv"
    table.unlink()
    with pytest.raises(CorpusLayoutError, match="kr013a.csv") as raised:
        load("csd", fixture.root)
    assert raised.value.path == table and raised.value.corpus == "csd"


def test_csd_transcript_that_disagrees_with_the_notes_is_a_layout_error(tmp_path: Path) -> None:
    fixture = build("csd", tmp_path)
    transcript = fixture.root / "english" / "txt" / "en001a.txt"
    transcript.write_text("w_r_o_ng k_eo_l l_i_t\ns_t_aa_r h_au\n", encoding="utf-8")
    with pytest.raises(CorpusLayoutError, match=r"en001a\.txt.*phrase 1.*'w_r_o_ng'"):
        load("csd", fixture.root)


def test_kising_golden_ids_and_a_wrong_folder(tmp_path: Path) -> None:
    fixture = build("kising", tmp_path)
    records = by_uid(load("kising", fixture.root)[1])
    assert (records["421_0040"].singer, records["421_0040"].split) == ("female1", "test")
    assert records["425_0001"].split == "train"
    with pytest.raises(CorpusLayoutError, match="song folders"):
        load("kising", fixture.root / "421")


def test_nus48e_uids_and_styles(tmp_path: Path) -> None:
    records = by_uid(load("nus48e", build("nus48e", tmp_path).root)[1])
    assert (records["ADIZ_read#01#0000"].singer, records["ADIZ_read#01#0000"].split) == (
        "ADIZ_read", "test")
    assert records["ADIZ_sing#01#0000"].split == "train"
    pieces = [records[f"ADIZ_read#01#{i:04d}"] for i in range(3)]
    assert [p.end for p in pieces[:-1]] == [p.start for p in pieces[1:]]


def test_opera_same_singer_and_song_in_both_languages_is_reported(tmp_path: Path) -> None:
    fixture = build("opera", tmp_path)
    twin = fixture.root / "western" / "fem_01" / "neg_1.wav"
    twin.parent.mkdir()
    shutil.copy(fixture.root / "chinese" / "fem_01" / "neg_1.wav", twin)
    corpus, records = load("opera", fixture.root)
    assert {r.uid for r in records} == set(fixture.expected)
    assert [item.path for item in corpus.skipped] == [twin]
    assert by_uid(records)["fem_01#neg_1#0000"].path.parent.parent.name == "chinese"


def test_pjs_pieces_are_trimmed_overlapping_thirds(tmp_path: Path) -> None:
    fixture = build("pjs", tmp_path)
    records = load("pjs", fixture.root)[1]
    assert [r.uid for r in records] == sorted(r.uid for r in records)
    assert by_uid(records)["pjs001_song_2"].split == "test"
    assert by_uid(records)["pjs004_song_0"].split == "train"
    for song in ("pjs001", "pjs004"):
        first, middle, last = (by_uid(records)[f"{song}_song_{i}"] for i in range(3))
        duration = audio_duration(first.path)
        assert first.start > 0.0 and last.end < duration  # silent edges trimmed
        third = (last.end - first.start) / 3
        assert middle.start == pytest.approx(first.start + third)
        assert last.start == pytest.approx(first.start + 2 * third)
        assert first.end - middle.start == pytest.approx(1.0)
        assert middle.end - last.start == pytest.approx(1.0)


def test_silent_recordings_are_skipped(tmp_path: Path) -> None:
    fixture = build("pjs", tmp_path)
    song = fixture.root / "PJS_corpus_ver1.1" / "pjs004" / "pjs004_song.wav"
    write_audio(song, np.zeros(3 * 48000, np.float32), 48000)
    corpus, records = load("pjs", fixture.root)
    assert {r.uid for r in records} == {u for u in fixture.expected if "pjs004" not in u}
    assert [(item.path, item.reason) for item in corpus.skipped] == [
        (song, "no voiced audio found")]
    fixture = build("nus48e", tmp_path / "nus")
    quiet = fixture.root / "ADIZ" / "sing" / "01.wav"
    write_audio(quiet, np.zeros(6 * 16000, np.float32), 16000)
    corpus, records = load("nus48e", fixture.root)
    assert "ADIZ_sing#01#0000" not in by_uid(records)
    assert [item.path for item in corpus.skipped] == [quiet]
    assert "silent throughout" in corpus.skipped[0].reason


def test_slicer_cuts_inside_long_enough_gaps_only() -> None:
    rate, lead, gap = 16000, 0.2, 0.5
    durations = [5.5, 2.0, 5.5, 1.0]
    audio = phrases(durations, gap, rate, lead=lead)
    pieces = Slicer(threshold_db=-40.0, max_sil_kept_ms=4000.0).pieces(audio, rate)
    gap_starts = [lead + sum(durations[: k + 1]) + k * gap for k in range(len(durations) - 1)]
    # The 2 s phrase is too short to end a piece, so only the first and third gaps are cut.
    assert len(pieces) == 3
    assert pieces[0][0] == 0 and pieces[-1][1] == audio.size
    for (_, end), (start, _), k in zip(pieces[:-1], pieces[1:], (0, 2), strict=True):
        assert end == start
        assert gap_starts[k] * rate <= end <= (gap_starts[k] + gap) * rate


def test_slicer_keeps_at_most_max_sil_kept_of_a_long_silence() -> None:
    rate = 16000
    audio = phrases([6.0, 3.0], 12.0, rate)
    pieces = Slicer(threshold_db=-30.0, max_sil_kept_ms=3000.0).pieces(audio, rate)
    slack = 0.05  # the RMS window reaches a few hops into the silence
    assert len(pieces) == 2
    assert pieces[0][1] <= (0.2 + 6.0 + 3.0 + slack) * rate
    assert pieces[1][0] >= (0.2 + 6.0 + 12.0 - 3.0 - slack) * rate


def test_slicer_leaves_short_audio_whole_and_checks_settings() -> None:
    audio = phrases([1.0, 1.0], 0.5, 16000)
    assert Slicer().pieces(audio, 16000) == [(0, audio.size)]
    with pytest.raises(ValueError, match="min_length_ms >= min_interval_ms"):
        Slicer(min_length_ms=100.0, min_interval_ms=300.0)


@pytest.mark.parametrize("name", ["nus48e", "opera"])
def test_slicer_settings_are_corpus_options(name: str, tmp_path: Path) -> None:
    fixture = build(name, tmp_path)
    default = LOADERS[name](fixture.root).utterances()
    whole = LOADERS[name](fixture.root, min_length_ms=60_000.0).utterances()
    assert len(default) == len(fixture.expected)
    recordings = {(u.singer, u.path) for u in default}
    assert len(whole) == len(recordings) < len(default)
    recipe = {"nus48e": (-40.0, 4000.0), "opera": (-30.0, 3000.0)}[name]
    slicer = LOADERS[name](fixture.root).slicer
    assert (slicer.threshold_db, slicer.max_sil_kept_ms) == recipe
    assert LOADERS[name](fixture.root, threshold_db=-12.5).slicer.threshold_db == -12.5
