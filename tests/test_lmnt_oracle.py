"""Equivalence with lmnt-com/diffwave (the ``diffwave`` package): network, sampler, mels and
checkpoints."""

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
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_convert import export_lmnt, import_lmnt
from vocfw.plugins.samplers.ddpm import DDPM

diffwave = pytest.importorskip("diffwave")
from diffwave import inference as lmnt_inference  # noqa: E402
from diffwave import preprocess as lmnt_preprocess  # noqa: E402
from diffwave.model import DiffWave as LmntDiffWave  # noqa: E402
from diffwave.params import AttrDict  # noqa: E402
from diffwave.params import params as lmnt_params  # noqa: E402

pytestmark = pytest.mark.slow

SMALL = {"residual_layers": 4, "residual_channels": 8, "dilation_cycle_length": 2}
CPU = torch.device("cpu")


def peer_model(**overrides: object) -> LmntDiffWave:
    """lmnt's network with every weight random (its output weights start at zero)."""
    torch.manual_seed(0)
    model = LmntDiffWave(AttrDict({**lmnt_params, **overrides})).eval()
    torch.nn.init.normal_(model.output_projection.weight, std=0.3)
    return model


def ours_from(peer: LmntDiffWave) -> DiffWave:
    p = peer.params
    model = DiffWave(n_mels=p.n_mels, hop_length=p.hop_samples,
                     residual_layers=p.residual_layers, residual_channels=p.residual_channels,
                     dilation_cycle_length=p.dilation_cycle_length,
                     num_steps=len(p.noise_schedule))
    model.load_state_dict(peer.state_dict())
    return model.eval()


@pytest.fixture
def small_peer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LmntDiffWave, Path]:
    """A small lmnt model saved as ``weights.pt``; lmnt's ``predict`` builds that size."""
    peer = peer_model(**SMALL)
    monkeypatch.setattr(lmnt_inference, "base_params", peer.params)
    monkeypatch.setattr(lmnt_inference, "models", {})
    model_dir = tmp_path / "lmnt"
    model_dir.mkdir()
    torch.save({"step": 321, "model": peer.state_dict(), "params": dict(peer.params)},
               model_dir / "weights.pt")
    return peer, model_dir


def peer_predict(model_dir: Path, mel: torch.Tensor, fast: bool, seed: int) -> torch.Tensor:
    """lmnt's ``predict`` with its noise seeded (after its first call, whose model building
    consumes random numbers)."""
    if str(model_dir) not in lmnt_inference.models:
        lmnt_inference.predict(mel[:1, :, :1], model_dir=str(model_dir), device=CPU)
    torch.manual_seed(seed)
    audio, _ = lmnt_inference.predict(mel, model_dir=str(model_dir), device=CPU,
                                      fast_sampling=fast)
    return audio


@pytest.mark.parametrize("step", [torch.tensor([17]), torch.tensor([22.9925])])
def test_same_weights_give_the_same_network_output(step: torch.Tensor) -> None:
    peer = peer_model()
    ours = ours_from(peer)
    torch.manual_seed(1)
    mel, audio = torch.rand(1, 80, 12), torch.randn(1, 12 * 256)
    with torch.no_grad():
        want = peer(audio, mel, step).squeeze(1)
        got = ours(audio, step, mel)
    assert want.abs().max() > 0.1
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("fast", [True, False])
def test_same_noise_gives_the_same_waveform(small_peer: tuple, fast: bool) -> None:
    peer, model_dir = small_peer
    ours = ours_from(peer)
    mel = torch.rand(2, 80, 6)
    want = peer_predict(model_dir, mel, fast, seed=5)
    sampler = DDPM(num_steps=50, inference_schedule="fast" if fast else "full")
    got = sampler.sample(ours, mel, torch.Generator().manual_seed(5))
    assert want.std() > 0.05
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_lmnt_mels_equal_lmnt_preprocessing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clip.wav"
    sf.write(str(path), tone(0.7, 22050, freq=150.0), 22050, subtype="PCM_16")

    def load_wav(filename: str) -> tuple[torch.Tensor, int]:  # torchaudio < 0.9's API
        data, rate = sf.read(filename, dtype="int16", always_2d=True)
        return torch.from_numpy(data.T.astype(np.float32)), rate

    monkeypatch.setattr(torchaudio, "load_wav", load_wav, raising=False)
    lmnt_preprocess.transform(str(path))
    want = torch.from_numpy(np.load(f"{path}.spec.npy"))
    audio = torch.clamp(load_wav(str(path))[0][0] / 32767.5, -1.0, 1.0)
    got = MelSpectrogram(MelConfig.lmnt())(audio)
    assert got.shape == want.shape == (80, MelConfig.lmnt().num_frames(audio.numel()))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_imported_lmnt_checkpoint_vocodes_like_lmnt(small_peer: tuple, tmp_path: Path) -> None:
    peer, model_dir = small_peer
    folder = import_lmnt(model_dir / "weights.pt", tmp_path / "run")
    components, _ = load_components(tmp_path / "run")
    assert folder.name == "epoch-0000_step-0000321_loss-0.000000"
    mel = torch.rand(1, 80, 5)
    want = peer_predict(model_dir, mel, fast=True, seed=11)
    fast = DDPM(num_steps=50, inference_schedule="fast")
    got = fast.sample(components.model, mel, torch.Generator().manual_seed(11))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)

    exported = export_lmnt(tmp_path / "run", tmp_path / "exported.pt")
    state = torch.load(exported, weights_only=True)["model"]
    original = peer.state_dict()
    assert set(state) == set(original)
    assert all(torch.equal(state[key], original[key]) for key in original)
    again = peer_predict(exported, mel, fast=True, seed=11)
    torch.testing.assert_close(again, want, rtol=0, atol=0)
