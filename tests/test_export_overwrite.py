"""Exports never replace a file unless asked to, and never write into a run's checkpoint
folders, whatever they are asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vocfw.cli.main import main
from vocfw.core.errors import VocfwError
from vocfw.core.runs.checkpoint import CHECKPOINT_DIR, WEIGHTS_FILE
from vocfw.core.runs.convert_toolkit import ConversionError, OutputExistsError
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_convert import export_lmnt, import_lmnt
from vocfw.plugins.models.wavegrad import WaveGrad
from vocfw.plugins.models.wavegrad_convert import export_lmnt_wavegrad, import_lmnt_wavegrad

PRECIOUS = "unrelated notes\n"


def diffwave_run(root: Path) -> Path:
    torch.manual_seed(0)
    source = root / "diffwave.pt"
    state = DiffWave(n_mels=80, residual_layers=2, residual_channels=4).state_dict()
    torch.save({"model": state, "step": 5}, source)
    import_lmnt(source, root / "diffwave")
    return root / "diffwave"


def wavegrad_run(root: Path) -> Path:
    """The one size lmnt-com/wavegrad builds (128 bands, hop 300, base width 32)."""
    torch.manual_seed(0)
    source = root / "wavegrad.pt"
    torch.save({"model": WaveGrad(n_mels=128, hop_length=300).state_dict(), "step": 5}, source)
    import_lmnt_wavegrad(source, root / "wavegrad")
    return root / "wavegrad"


CONVERTERS = {"export-lmnt": (export_lmnt, diffwave_run),
              "export-lmnt-wavegrad": (export_lmnt_wavegrad, wavegrad_run)}


@pytest.fixture(scope="module", params=sorted(CONVERTERS))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[str, Callable[..., Path], Path]:
    """(converter name, its export function, a run it can export)."""
    export, make_run = CONVERTERS[request.param]
    return request.param, export, make_run(tmp_path_factory.mktemp(request.param))


def checkpoint_of(run: Path) -> Path:
    [folder] = (run / CHECKPOINT_DIR).iterdir()
    return folder


def test_an_existing_output_is_refused_and_left_alone(exported, tmp_path: Path) -> None:
    _, export, run = exported
    precious = tmp_path / "precious.txt"
    precious.write_text(PRECIOUS)
    with pytest.raises(OutputExistsError) as error:
        export(run, precious)
    assert isinstance(error.value, FileExistsError) and isinstance(error.value, VocfwError)
    assert str(precious) in str(error.value) and "overwrite" in str(error.value)
    assert precious.read_text() == PRECIOUS
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "weights.pt").write_text(PRECIOUS)
    with pytest.raises(OutputExistsError, match="weights.pt"):
        export(run, tmp_path / "out")
    assert (tmp_path / "out" / "weights.pt").read_text() == PRECIOUS


def test_the_command_refuses_an_existing_output_in_one_line(exported, tmp_path: Path,
                                                            capsys) -> None:
    name, _, run = exported
    precious = tmp_path / "precious.txt"
    precious.write_text(PRECIOUS)
    assert main(["convert", name, "--run", str(run), "--output", str(precious)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(precious) in err and "--overwrite" in err
    assert precious.read_text() == PRECIOUS


def test_overwrite_replaces_an_existing_output(exported, tmp_path: Path, capsys) -> None:
    name, export, run = exported
    target = tmp_path / "weights.pt"
    target.write_text(PRECIOUS)
    assert export(run, target, overwrite=True) == target
    assert torch.load(target, weights_only=True)["step"] == 5
    target.write_text(PRECIOUS)
    assert main(["convert", name, "--run", str(run), "--output", str(target),
                 "--overwrite", "true"]) == 0, capsys.readouterr().err
    assert torch.load(target, weights_only=True)["step"] == 5


@pytest.mark.parametrize("where", ["weights", "folder", "new-file", "checkpoint-dir"])
def test_nothing_is_written_inside_a_runs_checkpoint_folders(
    exported, where: str, capsys
) -> None:
    name, export, run = exported
    folder = checkpoint_of(run)
    before = {path: path.read_bytes() for path in folder.iterdir()}
    output = {"weights": folder / WEIGHTS_FILE, "folder": folder,
              "new-file": folder / "lmnt.pt", "checkpoint-dir": run / CHECKPOINT_DIR}[where]
    with pytest.raises(ConversionError, match="checkpoint folder") as error:
        export(run, output, overwrite=True)
    assert isinstance(error.value, VocfwError) and str(output) in str(error.value)
    assert main(["convert", name, "--run", str(run), "--output", str(output),
                 "--overwrite", "true"]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert {path: path.read_bytes() for path in folder.iterdir()} == before
    assert sorted((run / CHECKPOINT_DIR).iterdir()) == [folder]


def test_a_link_into_a_checkpoint_folder_is_refused(exported, tmp_path: Path) -> None:
    _, export, run = exported
    folder = checkpoint_of(run)
    weights = (folder / WEIGHTS_FILE).read_bytes()
    (tmp_path / "link").symlink_to(folder, target_is_directory=True)
    with pytest.raises(ConversionError, match="checkpoint folder"):
        export(run, tmp_path / "link" / WEIGHTS_FILE, overwrite=True)
    assert (folder / WEIGHTS_FILE).read_bytes() == weights
