"""The Python API: ``vocfw.core.load`` gives a callable vocoder that matches ``vocfw predict``."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vocfw.core import LoadedVocoder, load
from vocfw.core.infer.predict import predict
from vocfw.core.infer.vocode import MelError
from vocfw.core.testing.fixture import tone, write_audio
from vocfw.core.testing.processed import write_tiny_run

RATE, HOP, N_MELS = 16000, 256, 20
SPEC = {
    "features": {"sample_rate": RATE, "n_mels": N_MELS, "f_max": 8000.0},
    "model": {"class_path": "vocfw.plugins.models.diffwave.DiffWave",
              "init_args": {"n_mels": N_MELS, "residual_layers": 2, "residual_channels": 8}},
    "sampler": {"class_path": "vocfw.plugins.samplers.ddpm.DDPM",
                "init_args": {"inference_schedule": "fast"}},
}
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run directory with one checkpoint of a tiny DiffWave and fast DDPM sampling."""
    return write_tiny_run(tmp_path / "run", SPEC)


@pytest.fixture
def voc(run: Path) -> LoadedVocoder:
    return load(run, device="cpu")


def pcm16(audio: np.ndarray) -> np.ndarray:
    """``audio`` through the 16-bit WAV conversion predict writes with, read back as int16."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), RATE, subtype="PCM_16", format="WAV")
    buffer.seek(0)
    return sf.read(buffer, dtype="int16")[0]


def test_load_reports_the_run_settings(voc: LoadedVocoder) -> None:
    assert (voc.sample_rate, voc.hop_length, voc.n_mels, voc.steps) == (RATE, HOP, N_MELS, 6)


def test_round_trip_has_frames_times_hop_samples(voc: LoadedVocoder) -> None:
    mel = voc.mel(tone(0.3, 22050, seed=1), sample_rate=22050)  # resampled to 16 kHz first
    assert mel.shape == (N_MELS, int(round(0.3 * RATE)) // HOP)
    audio = voc(mel)
    assert audio.shape == (mel.shape[1] * HOP,) and audio.dtype == torch.float32
    assert bool(torch.isfinite(audio).all()) and float(audio.abs().max()) > 0


@pytest.mark.slow
def test_api_equals_predict_bit_for_bit(run: Path, voc: LoadedVocoder, tmp_path: Path) -> None:
    audio_dir, out = tmp_path / "audio", tmp_path / "out"
    write_audio(audio_dir / "utt.wav", tone(0.4, RATE, seed=3), RATE)
    predict(run, "audio", output=out, audio_dir=audio_dir, seed=7, device="cpu", progress=False)
    written = sf.read(str(out / "pred" / "utt.wav"), dtype="int16")[0]
    source, rate = sf.read(str(audio_dir / "utt.wav"), dtype="float32")
    ours = voc(voc.mel(source, rate), seed=7, key="utt").numpy()
    assert ours.size == written.size
    assert np.array_equal(pcm16(ours), written)
    assert not np.array_equal(pcm16(voc(voc.mel(source, rate), seed=8, key="utt").numpy()),
                              written)


def test_a_batch_equals_calls_per_item(voc: LoadedVocoder) -> None:
    mels = voc.mel(np.stack([tone(0.3, RATE, seed=1), tone(0.3, RATE, freq=300.0, seed=2)]), RATE)
    batch = voc(mels, seed=3)
    assert batch.shape == (2, mels.shape[2] * HOP)
    for row, mel in zip(batch, mels, strict=True):
        assert torch.equal(row, voc(mel, seed=3))
    assert not torch.equal(batch[0], batch[1])


def test_numpy_input_equals_tensor_input(voc: LoadedVocoder) -> None:
    mel = voc.mel(tone(0.2, RATE, seed=4), RATE)
    assert torch.equal(voc(mel.numpy(), seed=1), voc(mel, seed=1))


def test_the_sampler_can_be_chosen_per_call(voc: LoadedVocoder) -> None:
    mel = voc.mel(tone(0.2, RATE, seed=4), RATE)
    three = voc.with_sampler(inference_schedule=[1e-4, 0.01, 0.3])
    assert three.steps == 3 and voc.steps == 6
    assert torch.equal(voc(mel, sampler={"inference_schedule": [1e-4, 0.01, 0.3]}), three(mel))
    assert not torch.equal(three(mel), voc(mel))
    with pytest.raises(ValueError, match="not a registered sampler"):
        voc.with_sampler("NoSuchSampler")


def test_long_mels_are_chunked(run: Path) -> None:
    chunked = load(run, device="cpu", chunk_seconds=0.5)
    assert chunked.chunk_frames == round(0.5 * RATE / HOP)
    mel = chunked.mel(tone(1.5, RATE, seed=5), RATE)
    audio = chunked(mel)
    assert audio.shape == (mel.shape[1] * HOP,) and bool(torch.isfinite(audio).all())


@pytest.mark.parametrize(("shape", "message"), [
    ((N_MELS + 1, 10), f"has {N_MELS + 1} mel bands but the model expects {N_MELS}"),
    ((10,), r"expected \(bands, frames\) or \(batch, bands, frames\), got shape \(10,\)"),
    ((1, 1, N_MELS, 10), r"got shape \(1, 1, 20, 10\)"),
    ((2, N_MELS - 1, 10), r"mel\[0\]: has 19 mel bands"),
])
def test_bad_shapes_give_mel_errors(voc: LoadedVocoder, shape: tuple, message: str) -> None:
    with pytest.raises(MelError, match=message):
        voc(torch.zeros(shape))


def test_nan_mels_give_mel_errors(voc: LoadedVocoder) -> None:
    mel = np.zeros((N_MELS, 10), dtype=np.float32)
    mel[3, 4] = np.nan
    with pytest.raises(MelError, match="mel: contains NaN or infinite values"):
        voc(mel)


def test_bad_audio_is_refused(voc: LoadedVocoder) -> None:
    with pytest.raises(ValueError, match="too short for the 1024-point analysis window"):
        voc.mel(np.zeros(100, dtype=np.float32), RATE)
    with pytest.raises(ValueError, match="NaN or infinite"):
        voc.mel(np.full(4000, np.nan, dtype=np.float32), RATE)


@pytest.mark.slow
def test_the_readme_example_runs(run: Path, tmp_path: Path, monkeypatch) -> None:
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'load("ckpts/vocoder/my_vocoder")' in code
    write_audio(tmp_path / "speech.wav", tone(0.5, 22050, seed=6), 22050)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(code.replace("ckpts/vocoder/my_vocoder", str(run)), namespace)  # noqa: S102
    audio = namespace["audio"]
    assert audio.shape == (namespace["mel"].shape[-1] * HOP,)
    assert (tmp_path / "copy.wav").is_file()
