"""The preprocessing engine on a small synthetic corpus."""

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import vocfw.core.data.preprocess as engine
from vocfw.core.audio.mel import MelConfig
from vocfw.core.corpus import Corpus, CorpusLayoutError, Utterance
from vocfw.core.data.config import DataConfig
from vocfw.core.data.preprocess import FeaturesMismatchError, preprocess
from vocfw.core.registry import Registry
from vocfw.core.testing.fixture import tone, write_audio

SR = 24000

# uid -> (split, singer, seconds, source rate)
WHOLE = {
    "a1": ("train", "alice", 1.0, SR),
    "a2": ("train", "alice", 0.5, SR),
    "b1": ("train", "bob", 0.8, 44100),
    "t1": ("test", "alice", 0.6, SR),
    "t2": ("test", "bob", 0.7, 22050),
    "v1": ("valid", "carol", 0.4, SR),
}
# uid -> (split, singer, start, end) within long.wav (3 s)
SEGMENTS = {"s1": ("train", "carol", 0.5, 1.5), "s2": ("test", "carol", 1.5, 2.75)}
BAD = {"corrupt", "empty", "sbad"}


class ToyCorpus(Corpus):
    """``{split}/{singer}/{uid}.wav`` (+ ``{uid}.txt`` transcript) and ``segments.json``."""

    name = "toy"

    def utterances(self) -> list[Utterance]:
        utts = []
        for path in sorted(self.root.glob("*/*/*.wav")):
            txt = path.with_suffix(".txt")
            text = txt.read_text(encoding="utf-8").strip() if txt.is_file() else None
            split, singer = path.parent.parent.name, path.parent.name
            utts.append(Utterance(self.dataset, singer, path.stem, path, split, text=text))
        for seg in json.loads(self.require(self.root / "segments.json", "segments").read_text()):
            utts.append(Utterance(self.dataset, seg["singer"], seg["uid"], self.root / seg["file"],
                                  seg["split"], start=seg["start"], end=seg["end"], song="long"))
        return utts


def build_corpus(root: Path) -> Path:
    for i, (uid, (split, singer, seconds, rate)) in enumerate(WHOLE.items()):
        write_audio(root / split / singer / f"{uid}.wav", tone(seconds, rate, seed=i), rate)
    (root / "train" / "alice" / "a1.txt").write_text("hello wörld\n", encoding="utf-8")
    write_audio(root / "long.wav", tone(3.0, SR, freq=300.0), SR)
    (root / "train" / "bob" / "corrupt.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    sf.write(str(root / "test" / "bob" / "empty.wav"), np.zeros(0, np.float32), SR)
    (root / "broken_long.wav").write_bytes(np.random.default_rng(1).bytes(5000))
    segments = [
        {"uid": uid, "split": split, "singer": singer, "start": start, "end": end,
         "file": "long.wav"}
        for uid, (split, singer, start, end) in SEGMENTS.items()
    ]
    segments.append({"uid": "sbad", "split": "train", "singer": "carol", "start": 0.0,
                     "end": 1.0, "file": "broken_long.wav"})
    (root / "segments.json").write_text(json.dumps(segments))
    return root


def registry() -> Registry:
    reg = Registry()
    reg.add("corpora", ToyCorpus, "test", "test-dist")
    return reg


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return build_corpus(tmp_path / "raw")


def config(corpus: Path, out: Path, **kwargs) -> DataConfig:
    return DataConfig(datasets={"toy": str(corpus)}, processed_dir=str(out), **kwargs)


def test_writes_processed_folder(corpus: Path, tmp_path: Path) -> None:
    raw_before = snapshot(corpus)
    summary = preprocess(config(corpus, tmp_path / "out"), registry(), progress=False)
    out = tmp_path / "out" / "toy"
    assert snapshot(corpus) == raw_before

    expected_splits = {"train": {"a1", "a2", "b1", "s1"}, "test": {"t1", "t2", "s2"},
                       "valid": {"v1"}}
    for split, uids in expected_splits.items():
        entries = json.loads((out / f"{split}.json").read_text(encoding="utf-8"))
        assert {e["Uid"] for e in entries} == uids
        keys = [(e["Duration"], e["Uid"]) for e in entries]
        assert keys == sorted(keys)
        assert sorted(e["index"] for e in entries) == list(range(len(entries)))
        for e in entries:
            assert {"Dataset", "Singer", "Uid", "Path", "Duration", "index"} <= e.keys()
            assert e["Dataset"] == "toy"
            if e["Uid"] in SEGMENTS:
                _, singer, start, end = SEGMENTS[e["Uid"]]
                assert (e["Singer"], e["Start"], e["End"]) == (singer, start, end)
                assert e["Song"] == "long"
                assert e["Duration"] == pytest.approx(end - start)
                assert e["Path"] == str(corpus / "long.wav")
            else:
                _, singer, seconds, _ = WHOLE[e["Uid"]]
                assert e["Singer"] == singer and "Start" not in e
                assert e["Duration"] == pytest.approx(seconds, abs=1e-4)
    train = json.loads((out / "train.json").read_text(encoding="utf-8"))
    assert next(e for e in train if e["Uid"] == "a1")["Text"] == "hello wörld"

    singers = json.loads((out / "singers.json").read_text())
    assert singers == {"toy_alice": 0, "toy_bob": 1, "toy_carol": 2}
    utt2spk = (out / "utt2spk").read_text().splitlines()
    assert "toy_b1\ttoy_bob" in utt2spk and len(utt2spk) == 8
    meta = json.loads((out / "meta_info.json").read_text())
    assert meta["dataset"] == "toy"
    assert meta["train"]["size"] == 4 and meta["test"]["size"] == 3
    assert meta["statistics"]["size"] == 8
    train_seconds = 1.0 + 0.5 + 0.8 + 1.0
    assert meta["train"]["hours"] == pytest.approx(round(train_seconds / 3600, 4))
    assert meta["singers"]["training_minutes"]["toy_alice"] == round(1.5 / 60, 2)
    assert list(meta["singers"]) == ["size", "training_minutes", "minutes"]
    assert json.loads((out / "features.json").read_text()) == MelConfig().to_dict()

    for uid in expected_splits["train"] | expected_splits["test"] | expected_splits["valid"]:
        audio = np.load(out / "audios" / f"{uid}.npy")
        mel = np.load(out / "mels" / f"{uid}.npy")
        assert audio.dtype == mel.dtype == np.float32 and audio.ndim == 1
        assert mel.shape == (100, audio.size // 256)
    assert np.load(out / "audios" / "s1.npy").size == SR
    for uid in BAD:
        assert not (out / "mels" / f"{uid}.npy").exists()

    report = json.loads((out / "report.json").read_text())
    reasons = {s["uid"]: s for s in report["skipped"]}
    assert set(reasons) == BAD
    assert reasons["sbad"]["stage"] == "features"
    assert {reasons["corrupt"]["stage"], reasons["empty"]["stage"]} == {"duration"}
    assert reasons["empty"]["path"] == str(corpus / "test" / "bob" / "empty.wav")
    assert "corrupt.wav" in (out / "report.txt").read_text()

    toy = summary.datasets["toy"]
    assert {s: (v.utterances, v.skipped) for s, v in toy.splits.items()} == {
        "train": (4, 2), "test": (3, 1), "valid": (1, 0)}
    assert summary.report_paths == [out / "report.json", out / "report.txt"]
    assert "toy" in summary.table() and "skipped" in summary.table()


def test_rerun_changes_nothing(corpus: Path, tmp_path: Path) -> None:
    data = config(corpus, tmp_path / "out")
    first = preprocess(data, registry(), progress=False)
    before = snapshot(tmp_path / "out")
    second = preprocess(data, registry(), progress=False)
    assert snapshot(tmp_path / "out") == before
    assert first == second


def test_resume_redoes_only_missing_work(corpus: Path, tmp_path: Path) -> None:
    data = config(corpus, tmp_path / "out")
    preprocess(data, registry(), progress=False)
    out = tmp_path / "out" / "toy"
    (out / "mels" / "a1.npy").unlink()
    (out / "audios" / "t2.npy").unlink()
    (out / "mels" / "s2.npy").unlink()
    (out / "audios" / "s2.npy").unlink()
    (out / "train.json").unlink()
    (out / "mels" / ".tmp-abc12345.npy").write_bytes(b"partial")
    (out / ".tmp-xyz_0001.json").write_text("[")
    before = snapshot(tmp_path / "out")

    preprocess(data, registry(), progress=False)
    after = snapshot(tmp_path / "out")
    assert not list(out.rglob(".tmp-*"))
    redone = {"mels/a1.npy", "audios/a1.npy", "mels/t2.npy", "audios/t2.npy", "mels/s2.npy",
              "audios/s2.npy", "train.json"}
    for name, (content, mtime) in before.items():
        if name.startswith(("mels/", "audios/")) and f"toy/{name}" not in redone:
            assert after[name] == (content, mtime), name
    for name in redone:
        assert f"toy/{name}" in after
    assert after["toy/mels/b1.npy"] == before["toy/mels/b1.npy"]
    assert after["toy/test.json"] == before["toy/test.json"]
    mel = np.load(out / "mels" / "a1.npy")
    assert mel.shape == (100, np.load(out / "audios" / "a1.npy").size // 256)


@pytest.mark.slow
def test_two_workers_give_the_same_output(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "CHUNK_ITEMS", 2)
    contexts: list[str] = []
    real_get_context = multiprocessing.get_context

    def spy(method: str):
        contexts.append(method)
        return real_get_context(method)

    monkeypatch.setattr(engine.multiprocessing, "get_context", spy)
    preprocess(config(corpus, tmp_path / "one"), registry(), num_workers=1, progress=False)
    assert contexts == []
    preprocess(config(corpus, tmp_path / "two"), registry(), num_workers=2, progress=False)
    assert contexts in (["fork"], ["spawn"])
    one = {k: v[0] for k, v in snapshot(tmp_path / "one").items()}
    two = {k: v[0] for k, v in snapshot(tmp_path / "two").items()}
    assert one == two


def test_workers_for_a_gpu_never_fork_this_process() -> None:
    methods = multiprocessing.get_all_start_methods()
    cpu, gpu = engine._worker_context("cpu"), engine._worker_context("cuda:0")
    assert cpu.get_start_method() == ("fork" if "fork" in methods else "spawn")
    assert gpu.get_start_method() in ("forkserver", "spawn")


def test_features_mismatch_is_refused(corpus: Path, tmp_path: Path) -> None:
    preprocess(config(corpus, tmp_path / "out"), registry(), progress=False)
    other = config(corpus, tmp_path / "out", features=MelConfig(n_mels=80))
    with pytest.raises(FeaturesMismatchError, match="n_mels.*another processed_dir"):
        preprocess(other, registry(), progress=False)
    (tmp_path / "out" / "toy" / "features.json").unlink()
    with pytest.raises(FeaturesMismatchError, match="no features.json"):
        preprocess(config(corpus, tmp_path / "out"), registry(), progress=False)


def test_duration_filter_drops_and_reports(corpus: Path, tmp_path: Path) -> None:
    data = config(corpus, tmp_path / "out", min_duration=0.55, max_duration=1.1)
    summary = preprocess(data, registry(), progress=False)
    out = tmp_path / "out" / "toy"
    train = {e["Uid"] for e in json.loads((out / "train.json").read_text())}
    test = {e["Uid"] for e in json.loads((out / "test.json").read_text())}
    assert train == {"a1", "b1", "s1"} and test == {"t1", "t2"}
    filtered = {s["uid"] for s in json.loads((out / "report.json").read_text())["skipped"]
                if s["stage"] == "filter"}
    assert filtered == {"a2", "s2", "v1"}
    assert summary.datasets["toy"].splits["test"].skipped == 2  # s2 filtered, empty unreadable


def test_layout_error_stops_the_run(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    data = config(tmp_path / "raw", tmp_path / "out")
    with pytest.raises(CorpusLayoutError, match="segments.json"):
        preprocess(data, registry(), progress=False)


def test_integer_range_audio_is_rescaled_and_resampled(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    wave = tone(0.5, 44100, freq=440.0)
    (root / "train" / "x").mkdir(parents=True)
    sf.write(str(root / "train" / "x" / "big.wav"), wave * 32767, 44100, subtype="FLOAT")
    write_audio(root / "test" / "x" / "native.wav", tone(0.5, SR, freq=440.0), SR)
    (root / "segments.json").write_text("[]")
    preprocess(config(root, tmp_path / "out"), registry(), progress=False)
    audio = np.load(tmp_path / "out" / "toy" / "audios" / "big.npy")
    assert abs(audio.size - wave.size * SR / 44100) <= 1
    assert 0.25 < np.abs(audio).max() < 0.35  # 0.3 peak, not 32767 x 0.3
    native = np.load(tmp_path / "out" / "toy" / "audios" / "native.npy")
    n = min(native.size, audio.size) - 200  # the same signal, made at 24 kHz directly
    assert np.corrcoef(audio[:n], native[:n])[0, 1] > 0.99
