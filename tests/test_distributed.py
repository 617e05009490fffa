"""Two training processes through ``accelerate launch`` (gloo on CPU): sharded, reshuffled
data, and one set of checkpoints and logs written by the main process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import normalise_spec
from vocfw.core.runs.checkpoint import load_components, resolve_checkpoint
from vocfw.core.runs.train_state import STATE_FILE
from vocfw.core.testing.processed import tiny_diffwave_spec, write_processed_dataset

pytestmark = pytest.mark.slow

FEATURES = MelConfig(n_mels=20)

DRIVER = """
import json, os, sys
from pathlib import Path
from vocfw.core.data import dataset as training_data
from vocfw.core.data.config import DataConfig
from vocfw.core.train.trainer import Trainer
from vocfw.core.audio.mel import MelConfig

root = Path(sys.argv[1])
rank = os.environ["RANK"]
original = training_data.CropDataset.__getitem__

def record(self, index):
    if self.seed == 3:  # the training set (validation crops use seed + 1)
        with open(root / f"items-{rank}.txt", "a") as log:
            log.write(f"{self.epoch} {self.items[index].uid}\\n")
    return original(self, index)

training_data.CropDataset.__getitem__ = record
spec = json.loads((root / "spec.json").read_text())
data = DataConfig(datasets={"alpha": "a", "beta": "b"}, processed_dir=str(root / "data"),
                  features=MelConfig(**spec["features"]))
Trainer(max_steps=6, batch_size=2, crop_frames=8, log_every_steps=1, eval_seconds=0.1,
        save_checkpoint_stride=1000, device="cpu").fit(root / "run", data, spec, "", seed=3)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_shard_and_reshuffle(tmp_path: Path) -> None:
    for k, name in enumerate(("alpha", "beta")):
        write_processed_dataset(tmp_path / "data", name, FEATURES,
                                {"train": [0.2, 0.3, 0.25, 0.2], "test": [0.2]}, seed=k)
    (tmp_path / "spec.json").write_text(json.dumps(normalise_spec(tiny_diffwave_spec(FEATURES))))
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
               str(tmp_path / "driver.py"), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    seen = {}
    for rank in (0, 1):
        lines = (tmp_path / f"items-{rank}.txt").read_text().split("\n")
        seen[rank] = [tuple(line.split()) for line in lines if line]
    # 8 items, 2 per batch, 2 processes: 2 steps per epoch; 6 steps = 3 epochs
    for rank in (0, 1):
        assert [e for e, _ in seen[rank]] == ["0"] * 4 + ["1"] * 4 + ["2"] * 4
    for epoch in ("0", "1", "2"):
        mine = {rank: [u for e, u in seen[rank] if e == epoch] for rank in (0, 1)}
        assert set(mine[0]).isdisjoint(mine[1]), "the two processes saw the same items"
        assert len(set(mine[0]) | set(mine[1])) == 8, "every item is used once per epoch"
    epoch_orders = [[u for e, u in seen[0] if e == epoch] for epoch in ("0", "1", "2")]
    assert len({tuple(order) for order in epoch_orders}) == 3, "no reshuffle between epochs"

    run = tmp_path / "run"
    assert len(list((run / "log").glob("events.out.tfevents.*"))) == 1
    checkpoints = [p for p in (run / "checkpoint").iterdir() if p.is_dir()]
    assert [p.name[:26] for p in sorted(checkpoints)] == [
        "epoch-0000_step-0000002_lo", "epoch-0002_step-0000006_lo"]
    last = resolve_checkpoint(run)
    assert json.loads((last / STATE_FILE).read_text())["step"] == 6
    optimizer = torch.load(last / "optimizer.pt", weights_only=True)
    optimizer_lr = optimizer["param_groups"][0]["lr"]
    assert abs(optimizer_lr - 2e-4 * 0.999**3) < 1e-12, "lr must decay once per epoch"
    components, _ = load_components(run)
    assert components.model.n_mels == 20
