"""Equivalence with lmnt-com/wavegrad (the ``wavegrad`` package): network, training loss,
sampler, mels and checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.runs.checkpoint import load_components
from vocfw.core.testing.fixture import tone
from vocfw.plugins.models.wavegrad import WaveGrad
from vocfw.plugins.models.wavegrad_convert import export_lmnt_wavegrad, import_lmnt_wavegrad
from vocfw.plugins.samplers.wavegrad import WaveGradDiffusion

wavegrad = pytest.importorskip("wavegrad")
from wavegrad import inference as lmnt_inference  # noqa: E402
from wavegrad import preprocess as lmnt_preprocess  # noqa: E402
from wavegrad.learner import WaveGradLearner  # noqa: E402
from wavegrad.model import WaveGrad as LmntWaveGrad  # noqa: E402
from wavegrad.params import AttrDict  # noqa: E402
from wavegrad.params import params as lmnt_params  # noqa: E402

pytestmark = pytest.mark.slow

CPU = torch.device("cpu")


def peer_model() -> LmntWaveGrad:
    torch.manual_seed(0)
    return LmntWaveGrad(AttrDict(lmnt_params)).eval()


def ours_from(peer: LmntWaveGrad) -> WaveGrad:
    model = WaveGrad(n_mels=128, hop_length=300)
    model.load_state_dict(peer.state_dict())
    return model.eval()


@pytest.fixture
def saved_peer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LmntWaveGrad, Path]:
    """lmnt's model saved as ``weights.pt`` the way its learner saves it."""
    peer = peer_model()
    monkeypatch.setattr(lmnt_inference, "models", {})
    model_dir = tmp_path / "lmnt"
    model_dir.mkdir()
    torch.save({"step": 4321, "model": peer.state_dict(), "params": dict(lmnt_params),
                "optimizer": torch.optim.Adam(peer.parameters()).state_dict()},
               model_dir / "weights.pt")
    return peer, model_dir


def peer_predict(model_dir: Path, mel: torch.Tensor, betas: list[float], seed: int) -> torch.Tensor:
    """lmnt's ``predict`` with a given schedule, its noise seeded after the first call (whose
    model building consumes random numbers)."""
    schedule = {"noise_schedule": np.asarray(betas)}
    if str(model_dir) not in lmnt_inference.models:
        lmnt_inference.predict(mel[:1, :, :1], model_dir=str(model_dir), params=schedule,
                               device=CPU)
    torch.manual_seed(seed)
    audio, _ = lmnt_inference.predict(mel, model_dir=str(model_dir), params=schedule, device=CPU)
    return audio


def test_same_parameter_count_and_keys() -> None:
    peer = peer_model()
    ours = WaveGrad(n_mels=128, hop_length=300)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in peer.parameters()) == 15_920_993
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in peer.state_dict().items()}


@pytest.mark.parametrize("level", [torch.tensor([0.37]), torch.tensor([0.999, 0.08])])
def test_same_weights_give_the_same_network_output(level: torch.Tensor) -> None:
    peer = peer_model()
    ours = ours_from(peer)
    torch.manual_seed(1)
    mel, audio = torch.rand(2, 128, 9), torch.randn(2, 9 * 300)
    with torch.no_grad():
        want = peer(audio, mel, level).squeeze(1)
        got = ours(audio, level, mel)
    assert want.abs().max() > 0.1
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_same_draws_give_lmnts_training_loss(tmp_path: Path) -> None:
    peer = peer_model().train()
    ours = ours_from(peer).train()
    optimizer = torch.optim.SGD(peer.parameters(), lr=0.0)
    learner = WaveGradLearner(str(tmp_path), peer, None, optimizer, AttrDict(lmnt_params))
    audio = torch.rand(3, 4 * 300) * 1.6 - 0.8
    mel = torch.rand(3, 128, 4)
    torch.manual_seed(9)
    want = learner.train_step({"audio": audio, "spectrogram": mel})
    torch.manual_seed(9)
    got = WaveGradDiffusion().training_loss(ours, audio, mel)
    torch.testing.assert_close(got, want.detach(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("betas", [[1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5],
                                   [3e-6, 4e-5, 6e-4, 8e-3, 9e-2, 0.4]])
def test_same_noise_gives_the_same_waveform(saved_peer: tuple, betas: list[float]) -> None:
    peer, model_dir = saved_peer
    mel = torch.rand(2, 128, 5)
    want = peer_predict(model_dir, mel, betas, seed=5)
    sampler = WaveGradDiffusion(inference_schedule=betas)
    got = sampler.sample(ours_from(peer), mel, torch.Generator().manual_seed(5))
    assert want.std() > 0.05
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_lmnt_wavegrad_mels_equal_lmnt_preprocessing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clip.wav"
    sf.write(str(path), tone(0.7, 22050, freq=150.0), 22050, subtype="PCM_16")

    def load(filename: str) -> tuple[torch.Tensor, int]:
        data, rate = sf.read(filename, dtype="float32", always_2d=True)
        return torch.from_numpy(data.T.copy()), rate

    monkeypatch.setattr(torchaudio, "load", load)
    lmnt_preprocess.transform(str(path))
    want = torch.from_numpy(np.load(f"{path}.spec.npy"))
    audio = torch.clamp(load(str(path))[0][0], -1.0, 1.0)
    features = MelConfig.lmnt_wavegrad()
    got = MelSpectrogram(features)(audio)
    assert got.shape == want.shape == (128, features.num_frames(audio.numel()))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_imported_checkpoint_vocodes_like_lmnt_and_exports_back(
    saved_peer: tuple, tmp_path: Path
) -> None:
    peer, model_dir = saved_peer
    folder = import_lmnt_wavegrad(model_dir, tmp_path / "run")
    assert folder.name == "epoch-0000_step-0004321_loss-0.000000"
    components, _ = load_components(tmp_path / "run")
    assert components.features == MelConfig.lmnt_wavegrad()
    mel = torch.rand(1, 128, 4)
    betas = list(components.sampler.inference_betas)
    want = peer_predict(model_dir, mel, betas, seed=11)
    got = components.sampler.sample(components.model, mel, torch.Generator().manual_seed(11))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)

    exported = export_lmnt_wavegrad(tmp_path / "run", tmp_path / "exported.pt")
    data = torch.load(exported, weights_only=True)
    original = torch.load(model_dir / "weights.pt", weights_only=True)
    assert data["step"] == original["step"]
    assert set(data["model"]) == set(original["model"])
    assert all(torch.equal(data["model"][k], v) for k, v in original["model"].items())
    assert set(data["params"]) == set(original["params"])
    assert all(data["params"][k] == pytest.approx(v) for k, v in original["params"].items())
    again = peer_predict(exported, mel, betas, seed=11)
    torch.testing.assert_close(again, want, rtol=0, atol=0)
    reimported = import_lmnt_wavegrad(exported, tmp_path / "again")
    assert ((reimported / "components.json").read_text()
            == (folder / "components.json").read_text())
