"""Fuzzing what vocfw reads from disk (mels, waveforms, audio, processed metadata, corpus
metadata): any content gives a result or one of vocfw's named errors, never another exception."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from corpus_trees import CorpusFixture, segmented_trees, whole_file_trees
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vocfw.core.audio.io import load_audio
from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.data.config import DataConfig
from vocfw.core.data.dataset import Item, list_items, load_item
from vocfw.core.data.layout import feature_differences, read_split
from vocfw.core.errors import VocfwError
from vocfw.core.infer.inputs import Input, load_input
from vocfw.core.registry import build_registry

FEATURES = MelConfig(sample_rate=16000, n_mels=20, f_max=8000.0)
EXTRACTOR = MelSpectrogram(FEATURES)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))  # raise it for a deeper search
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def outcome(read: Callable[[], object]) -> str:
    """Run a reader: ``ok`` or ``named error``; any other exception fails the test."""
    try:
        read()
    except VocfwError as exc:
        assert str(exc)
        return "named error"
    return "ok"


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


ARRAYS = hnp.arrays(
    dtype=st.one_of(hnp.scalar_dtypes(), hnp.unicode_string_dtypes(max_len=4),
                    hnp.byte_string_dtypes(max_len=4)),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=24),
)
NPY_CONTENT = st.one_of(st.binary(max_size=300), ARRAYS.map(npy_bytes),
                        st.binary(max_size=60).map(lambda b: b"\x93NUMPY\x01\x00" + b))


@FUZZ
@given(mel=NPY_CONTENT, audio=NPY_CONTENT)
def test_mel_and_waveform_npy_files(tmp_path: Path, mel: bytes, audio: bytes) -> None:
    (tmp_path / "mels").mkdir(exist_ok=True)
    (tmp_path / "audios").mkdir(exist_ok=True)
    (tmp_path / "mels" / "u.npy").write_bytes(mel)
    (tmp_path / "audios" / "u.npy").write_bytes(audio)
    item = Input("u", tmp_path / "mels" / "u.npy", tmp_path / "audios" / "u.npy")
    outcome(lambda: load_input(item, EXTRACTOR, FEATURES.n_mels))
    training = Item("d", "u", tmp_path / "mels" / "u.npy", tmp_path / "audios" / "u.npy")
    outcome(lambda: load_item(training, FEATURES.n_mels))


def wav_bytes(samples: np.ndarray, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, 16000, format="WAV", subtype=subtype)
    return buffer.getvalue()


AUDIO_CONTENT = st.one_of(
    st.binary(max_size=400),
    st.binary(max_size=200).map(lambda b: b"RIFF\x24\x00\x00\x00WAVEfmt " + b),
    st.binary(max_size=200).map(lambda b: b"fLaC" + b),
    st.tuples(hnp.arrays(np.float32, st.integers(0, 64)), st.sampled_from(["FLOAT", "PCM_16"]))
    .map(lambda args: wav_bytes(*args)),
)


@FUZZ
@given(content=AUDIO_CONTENT, suffix=st.sampled_from([".wav", ".flac", ".WAV"]))
def test_audio_files(tmp_path: Path, content: bytes, suffix: str) -> None:
    path = tmp_path / f"clip{suffix}"
    path.write_bytes(content)
    outcome(lambda: load_audio(path, 16000))
    outcome(lambda: load_input(Input("clip", path), EXTRACTOR, FEATURES.n_mels))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["Uid", "Dataset", "Duration", "n_mels", "sample_rate", "style", "x"]),
        inner, max_size=4),
    max_leaves=12,
)
JSON_TEXT = st.one_of(st.text(max_size=80), JSON_VALUES.map(json.dumps),
                      st.lists(st.fixed_dictionaries({"Uid": JSON_VALUES})).map(json.dumps))


@FUZZ
@given(split=JSON_TEXT, features=JSON_TEXT, raw=st.binary(max_size=40))
def test_processed_metadata(tmp_path: Path, split: str, features: str, raw: bytes) -> None:
    folder = tmp_path / "data" / "d"
    (folder / "mels").mkdir(parents=True, exist_ok=True)
    (folder / "train.json").write_text(split, encoding="utf-8")
    (folder / "test.json").write_bytes(raw)
    (folder / "features.json").write_text(features, encoding="utf-8")
    outcome(lambda: read_split(folder, "train.json"))
    outcome(lambda: read_split(folder, "test.json"))
    outcome(lambda: feature_differences(folder, FEATURES))
    data = DataConfig(datasets={"d": "unused"}, processed_dir=str(tmp_path / "data"))
    outcome(lambda: list_items(data, "train", FEATURES, FEATURES.n_mels))


# corpus -> (tree builder, the metadata file its loader reads, relative to the fixture root)
CORPUS_METADATA = {
    "vctk": (whole_file_trees.build_vctk, "speaker-info.txt"),
    "m4singer": (whole_file_trees.build_m4singer, "meta.json"),
    "opencpop": (whole_file_trees.build_opencpop, "segments/train.txt"),
    "libritts": (whole_file_trees.build_libritts,
                 "train-clean-100/103/1241/103_1241_000000_000001.normalized.txt"),
    "csd_txt": (segmented_trees.build_csd, "english/txt/en004a.txt"),
    "csd_csv": (segmented_trees.build_csd, "english/csv/en004a.csv"),
}
TREES: dict[str, CorpusFixture] = {}


@cache
def corpus_class(name: str) -> type:
    return build_registry().entries["corpora"][name].cls


TEXTS = st.one_of(st.binary(max_size=200), st.text(max_size=120).map(str.encode),
                  JSON_TEXT.map(str.encode),
                  st.lists(st.text("abcp0123456789|#/._ ,-FM\t", max_size=16), max_size=6)
                  .map(lambda lines: "\n".join(lines).encode()))


@FUZZ
@given(case=st.sampled_from(sorted(CORPUS_METADATA)), content=TEXTS)
def test_corpus_metadata_files(
    tmp_path_factory: pytest.TempPathFactory, case: str, content: bytes
) -> None:
    build, relative = CORPUS_METADATA[case]
    if case not in TREES:  # built once per session; each example restores the file it fuzzes
        TREES[case] = build(tmp_path_factory.mktemp(case))
    fixture = TREES[case]
    metadata = fixture.root / relative
    original = metadata.read_bytes()
    metadata.write_bytes(content)
    try:
        outcome(lambda: corpus_class(fixture.name)(fixture.root).utterances())
    finally:
        metadata.write_bytes(original)


def test_the_fuzzed_trees_are_readable_unfuzzed(tmp_path: Path) -> None:
    for case, (build, _) in CORPUS_METADATA.items():
        fixture = build(tmp_path / case)
        corpus = corpus_class(fixture.name)(fixture.root)
        assert {u.uid for u in corpus.utterances()} == set(fixture.expected)
        shutil.rmtree(tmp_path / case)
