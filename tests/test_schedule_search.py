"""``vocfw search-schedule``: the search, the stored schedule file, and sampling along it with
``predict --schedule`` and ``load(schedule=)``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocfw.cli.main import main
from vocfw.core import load
from vocfw.core.audio.mel import MelConfig
from vocfw.core.diffusion import FAST_SCHEDULE
from vocfw.core.infer.predict import predict
from vocfw.core.infer.schedule_search import (
    geometric_schedule,
    inside,
    pick_utterances,
    score,
    search_schedule,
    start_schedule,
    training_betas,
)
from vocfw.core.runs.schedules import (
    ScheduleError,
    StoredSchedule,
    list_schedules,
    read_schedule,
    write_schedule,
)
from vocfw.core.sampler import Sampler
from vocfw.core.testing.processed import write_processed_dataset, write_tiny_run
from vocfw.plugins.samplers.ddpm import DDPM

RATE, N_MELS, SEED = 16000, 20, 7
FEATURES = MelConfig(sample_rate=RATE, n_mels=N_MELS, f_max=8000.0)
SPEC = {
    "features": FEATURES.to_dict(),
    "model": {"class_path": "vocfw.plugins.models.diffwave.DiffWave",
              "init_args": {"n_mels": N_MELS, "residual_layers": 2, "residual_channels": 8}},
    "sampler": {"class_path": "vocfw.plugins.samplers.ddpm.DDPM",
                "init_args": {"inference_schedule": "fast"}},
}
BETAS = [1e-4, 0.3]
SEARCH = {"steps": 2, "utterances": 2, "seed": SEED, "iterations": 1, "device": "cpu",
          "progress": False}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained run whose config names a processed dataset with three test utterances."""
    root = tmp_path_factory.mktemp("search")
    processed = root / "processed"
    write_processed_dataset(processed, "tones", FEATURES, {"train": [0.3], "test": [0.3] * 3})
    run = write_tiny_run(root / "run", SPEC)
    (run / "config.yaml").write_text(
        f"data:\n  processed_dir: {processed}\n  datasets: {{tones: /raw/tones}}\n")
    return run


@pytest.fixture(scope="module")
def found(run: Path) -> StoredSchedule:
    """The schedule a 2-step search stores as ``found``."""
    return search_schedule(run, name="found", **SEARCH)


def stored(betas: list[float]) -> StoredSchedule:
    return StoredSchedule(betas, 1.0, betas, 1.0, SEED, ["u"], "ckpt", "DDPM")


def test_the_search_never_ends_worse_than_it_starts(run: Path, found: StoredSchedule) -> None:
    assert found.score <= found.start_score
    assert found.steps == 2 and found.seed == SEED and found.sampler == "DDPM"
    assert found.utterances == ["tones_test_0", "tones_test_2"]  # spread through the split
    assert found.checkpoint.startswith(str(run / "checkpoint"))
    train_betas = DDPM().train_betas
    assert found.start_betas == geometric_schedule(2, train_betas).tolist()
    assert inside(np.array(found.betas), train_betas)


def test_the_file_round_trips(run: Path, found: StoredSchedule) -> None:
    path = run / "schedules" / "found.json"
    data = json.loads(path.read_text())
    assert data["betas"] == found.betas and data["steps"] == 2 and data["metric"] == "log_mel_l1"
    assert read_schedule(run, "found") == found
    assert "found" in list_schedules(run)


def test_the_stored_score_is_the_score_of_the_stored_betas(run: Path,
                                                         found: StoredSchedule) -> None:
    voc = load(run, device="cpu")
    chosen = pick_utterances(voc, ["tones"], run.parent / "processed", 2)
    assert score(voc, np.array(found.betas), chosen, SEED) == found.score
    assert score(voc, np.array(found.start_betas), chosen, SEED) == found.start_score


def test_picking_can_leave_out_the_utterances_a_search_scores(run: Path) -> None:
    voc = load(run, device="cpu")
    processed = run.parent / "processed"
    searched = pick_utterances(voc, ["tones"], processed, 2).uids
    rest = pick_utterances(voc, ["tones"], processed, 2, exclude=searched)
    assert searched == ["tones_test_0", "tones_test_2"]
    assert rest.uids == ["tones_test_1"]  # only what the search does not score
    assert len(rest.mels) == len(rest.references) == 1


@pytest.mark.slow
def test_the_same_seed_finds_the_same_schedule(run: Path, found: StoredSchedule, capsys) -> None:
    argv = ["search-schedule", "--run", str(run), "--name", "again", "--steps", "2",
            "--utterances", "2", "--seed", str(SEED), "--iterations", "1", "--datasets", "tones",
            "--device", "cpu", "--progress", "false"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    again = read_schedule(run, "again")
    assert (again.betas, again.score, again.start_score) == (found.betas, found.score,
                                                             found.start_score)
    assert f"start {found.start_score:.4f}" in out and f"best  {found.score:.4f}" in out
    assert str(run / "schedules" / "again.json") in out


def test_help_lists_the_command(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "search-schedule" in capsys.readouterr().out


def test_the_start_is_the_runs_own_schedule_when_it_has_n_steps() -> None:
    sampler = DDPM(inference_schedule="fast")
    own = start_schedule(sampler, len(FAST_SCHEDULE), sampler.train_betas)
    assert own.tolist() == list(FAST_SCHEDULE)
    other = start_schedule(sampler, 4, sampler.train_betas)
    assert len(other) == 4 and inside(other, sampler.train_betas)
    assert other[0] == sampler.train_betas[0]
    assert not inside(other * [1, 1, 1, 1.01], sampler.train_betas)  # ends at the trained floor
    assert not inside(other[::-1].copy(), sampler.train_betas)


def test_predict_and_load_sample_along_the_stored_betas(run: Path, tmp_path: Path) -> None:
    write_schedule(run, "manual", stored(BETAS), overwrite=True)
    explicit = {"inference_schedule": BETAS}
    voc, plain = load(run, device="cpu", schedule="manual"), load(run, device="cpu",
                                                                  sampler_args=explicit)
    assert voc.steps == 2 and voc.components.sampler.inference_betas.tolist() == BETAS
    mel = voc.mel(np.load(run.parent / "processed" / "tones" / "audios" / "tones_test_0.npy"),
                  RATE)
    assert np.array_equal(voc(mel, key="k").numpy(), plain(mel, key="k").numpy())
    feature_dir = tmp_path / "features"
    (feature_dir / "mels").mkdir(parents=True)
    shutil.copy(run.parent / "processed" / "tones" / "mels" / "tones_test_0.npy",
                feature_dir / "mels")
    assert main(["predict", "--run", str(run), "--mode", "feature", "--feature_dir",
                 str(feature_dir), "--output", str(tmp_path / "a"), "--schedule", "manual",
                 "--device", "cpu", "--progress", "false"]) == 0
    predict(run, "feature", output=tmp_path / "b", feature_dir=feature_dir,
            sampler_args=explicit, device="cpu", progress=False)
    wav = "pred/tones_test_0.wav"
    assert np.array_equal(sf.read(tmp_path / "a" / wav)[0], sf.read(tmp_path / "b" / wav)[0])
    report = json.loads((tmp_path / "a" / "predict_report.json").read_text())
    assert report["schedule"] == "manual" and report["sampler_steps"] == 2


def test_an_unknown_name_lists_the_stored_ones(run: Path) -> None:
    write_schedule(run, "manual", stored(BETAS), overwrite=True)
    with pytest.raises(ScheduleError, match=r"no schedule 'nope' \(stored: .*manual"):
        load(run, device="cpu", schedule="nope")
    with pytest.raises(ScheduleError, match="none; vocfw search-schedule makes them"):
        read_schedule(run.parent / "empty_run", "nope")
    with pytest.raises(ScheduleError, match="schedule name '../x'"):
        read_schedule(run, "../x")


def test_a_sampler_without_inference_schedule_is_refused(run: Path, tmp_path: Path) -> None:
    write_schedule(run, "manual", stored(BETAS), overwrite=True)
    with pytest.raises(ValueError, match=r"sampler DDIM takes no inference_schedule .*"
                                         r"inference_steps.*samplers that can: DDPM"):
        load(run, device="cpu", sampler="DDIM", schedule="manual")
    ddim = write_tiny_run(tmp_path / "ddim", {**SPEC, "sampler": {"class_path": "DDIM"}})
    with pytest.raises(ValueError, match="search-schedule: the sampler DDIM takes no"):
        search_schedule(ddim, name="x", datasets=["tones"], **SEARCH)
    with pytest.raises(ValueError, match="both set the inference schedule"):
        load(run, device="cpu", schedule="manual", sampler_args={"inference_schedule": "fast"})


def test_an_existing_name_is_kept_without_overwrite(run: Path, capsys) -> None:
    write_schedule(run, "manual", stored(BETAS), overwrite=True)
    with pytest.raises(ScheduleError, match="manual.json: schedule 'manual' exists"):
        write_schedule(run, "manual", stored([0.1]), overwrite=False)
    assert main(["search-schedule", "--run", str(run), "--steps", "2", "--name", "manual"]) == 1
    assert "exists; choose another --name or pass --overwrite" in capsys.readouterr().err
    assert read_schedule(run, "manual").betas == BETAS


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: "{not json", "not readable as UTF-8 JSON"),
    (lambda d: [], "expected a JSON object, got list"),
    (lambda d: {k: v for k, v in d.items() if k != "betas"}, "missing key 'betas'"),
    (lambda d: {**d, "betas": [0.5, 1.5]}, "key 'betas': expected a non-empty list of numbers"),
    (lambda d: {**d, "seed": "7"}, "key 'seed': expected an integer"),
    (lambda d: {**d, "steps": 3}, "key 'steps' is 3 but 'betas' holds 2"),
])
def test_a_bad_file_names_the_file_and_key(run: Path, edit, message: str) -> None:
    path = write_schedule(run, "bad", stored(BETAS), overwrite=True)
    content = edit(json.loads(path.read_text()))
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ScheduleError, match=f"bad.json: .*{message}"):
        load(run, device="cpu", schedule="bad")


def test_the_search_reads_the_declared_training_betas() -> None:
    class NoBetas(DDPM):
        """A DDPM-family sampler that declares no training betas."""

        @property
        def training_betas(self) -> None:
            return None

    assert np.array_equal(training_betas(DDPM()), DDPM().train_betas)
    assert Sampler.training_betas.fget(NoBetas()) is None
    with pytest.raises(ValueError, match="NoBetas declares no training_betas"):
        training_betas(NoBetas())
