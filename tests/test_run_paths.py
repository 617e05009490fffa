"""Commands write only where they were told to and only what they made: ``--name`` is a name,
never a path; preprocessing never writes into a corpus; leftovers of a killed write are cleaned
on the next run, and only files named as vocfw names its temporaries."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tiny_runs import FEATURES, SMALL, SPEC

from vocfw.cli.main import main
from vocfw.core.data.config import CorpusOverlapError, DataConfig
from vocfw.core.data.preprocess import preprocess
from vocfw.core.errors import VocfwError
from vocfw.core.registry import build_registry
from vocfw.core.runs.run_dir import RunNameError, run_path
from vocfw.core.testing.fixture import tone, write_audio
from vocfw.core.testing.processed import write_processed_dataset
from vocfw.core.train.trainer import Trainer

OURS = ".tmp-ab12_x9z"  # eight characters of [a-z0-9_], as tempfile names them


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def make_corpus(root: Path) -> Path:
    for i, name in enumerate(("a", "b", "c")):
        write_audio(root / "spk" / f"{name}.wav", tone(0.3, 24000, seed=i), 24000)
    return root


# ----------------------------------------------------------------------------- --name


@pytest.mark.parametrize("name", ["../escape", "a/b", ".", "..", "", "x\0y"])
def test_run_path_takes_one_folder_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(RunNameError) as error:
        run_path(tmp_path / "runs", name)
    assert isinstance(error.value, VocfwError) and isinstance(error.value, ValueError)
    assert "--name" in str(error.value) and "\n" not in str(error.value)
    assert run_path(tmp_path / "runs", "my_vocoder") == tmp_path / "runs" / "my_vocoder"


@pytest.mark.parametrize("absolute", [True, False])
def test_fit_name_that_is_a_path_is_refused_and_nothing_is_deleted(
    tmp_path: Path, capsys, absolute: bool
) -> None:
    victim = tmp_path / "victim"
    for part in ("log", "checkpoint"):
        (victim / part).mkdir(parents=True)
        (victim / part / "keep.txt").write_text("mine")
    (victim / "config.yaml").write_text("mine")
    before = snapshot(victim)
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump({"trainer": {"log_dir": str(tmp_path / "runs")}}))
    name = str(victim) if absolute else "../victim"
    code = main(["fit", "--config", str(config), "--name", name, "--overwrite"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "--name" in err
    assert snapshot(victim) == before
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------- processed_dir and corpora


@pytest.mark.parametrize("where", ["equal", "inside", "dataset_inside"])
def test_processed_dir_overlapping_a_corpus_is_refused(tmp_path: Path, where: str) -> None:
    corpus = make_corpus(tmp_path / "raw")
    before = snapshot(corpus)
    processed = {"equal": corpus, "inside": corpus / "features", "dataset_inside": tmp_path}[where]
    name = "raw" if where == "dataset_inside" else "folder_x"  # raw: output {tmp}/raw = corpus
    data = DataConfig(datasets={name: {"class_path": "folder", "init_args": {"root": str(corpus)}}},
                      processed_dir=str(processed))
    with pytest.raises(CorpusOverlapError) as error:
        preprocess(data, build_registry(), progress=False)
    message = str(error.value)
    assert isinstance(error.value, VocfwError) and isinstance(error.value, ValueError)
    assert "data.processed_dir" in message and str(corpus) in message and "\n" not in message
    assert snapshot(corpus) == before
    assert sorted(p.name for p in corpus.iterdir()) == ["spk"]


def test_a_corpus_inside_a_dataset_output_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "processed"
    corpus = make_corpus(out / "folder_x" / "mels")
    before = snapshot(corpus)
    config = tmp_path / "pre.yaml"
    config.write_text(yaml.safe_dump({"data": {"datasets": {"folder_x": str(corpus)},
                                               "processed_dir": str(out)}}))
    assert main(["preprocess", "--config", str(config)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data.datasets.folder_x" in err and str(corpus) in err
    assert snapshot(corpus) == before


def test_processed_dir_beside_the_corpus_is_accepted(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "folder_x")  # the output folder's sibling, same parent
    data = DataConfig(datasets={"folder_y": str(corpus)}, processed_dir=str(tmp_path))
    preprocess(data, build_registry(), progress=False)
    assert (tmp_path / "folder_y" / "train.json").is_file()


# ------------------------------------------------------------------ leftovers of killed writes


def test_preprocess_removes_only_its_own_leftovers(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "raw")
    data = DataConfig(datasets={"folder_x": str(corpus)}, processed_dir=str(tmp_path / "out"))
    preprocess(data, build_registry(), progress=False)
    out = tmp_path / "out" / "folder_x"
    ours = [out / "mels" / f"{OURS}.npy", out / f"{OURS}.json", out / "audios" / OURS]
    foreign = [out / ".tmp-notes.txt", out / "mels" / ".tmp-my-backup", out / "audios" / "x.txt"]
    for path in ours[:2] + foreign[:1] + foreign[2:]:
        path.write_text("partial")
    ours[2].mkdir()
    foreign[1].mkdir()
    preprocess(data, build_registry(), progress=False)
    assert not any(path.exists() for path in ours)
    assert all(path.exists() for path in foreign)


@pytest.mark.slow
def test_fit_removes_only_its_own_leftovers(tmp_path: Path) -> None:
    write_processed_dataset(tmp_path / "data", "alpha", FEATURES,
                            {"train": [0.3, 0.4], "test": [0.2]})
    data = DataConfig(datasets={"alpha": "a"}, processed_dir=str(tmp_path / "data"),
                      features=FEATURES)
    run = tmp_path / "run"
    Trainer(max_steps=1, **SMALL).fit(run, data, SPEC, "", seed=1)
    ours = [run / f"{OURS}.yaml", run / "checkpoint" / f"{OURS}.wav",
            run / "checkpoint" / f"{OURS}.html"]
    foreign = [run / ".tmp-notes.txt", run / "checkpoint" / ".tmp-mine.wav", run / "notes.txt"]
    for path in ours + foreign:
        path.write_text("partial")
    Trainer(max_steps=2, **SMALL).fit(run, data, SPEC, "", resume_type="resume",
                                      checkpoint=run, seed=1)
    assert not any(path.exists() for path in ours)
    assert all(path.read_text() == "partial" for path in foreign)
