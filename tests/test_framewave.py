"""The FrameWave model: its STFT and exact inverse, its receptive field (a window with that
margin, and chunked vocoding, give the whole input's output), bf16 autocast, its options, its
config, and fit -> predict through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from corpus_trees.whole_file_trees import build_ljspeech

from vocfw.cli.main import main
from vocfw.cli.parser import build_parser
from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import Components
from vocfw.core.infer.vocode import min_overlap_frames, plan_chunks, vocode
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Sampler
from vocfw.plugins.models.framewave import FrameWave
from vocfw.plugins.models.framewave_blocks import FrameSTFT
from vocfw.plugins.samplers.flow_matching import FlowMatching

ROOT = Path(__file__).resolve().parents[1]
N_MELS = 20


def tiny(layers: int = 1, hop: int = 256, seed: int = 0) -> FrameWave:
    """A small FrameWave with random (not zero) head and modulation weights, in eval mode."""
    torch.manual_seed(seed)
    model = FrameWave(n_mels=N_MELS, hop_length=hop, channels=16, hidden=32, layers=layers)
    for layer in (model.head, model.modulation):
        torch.nn.init.normal_(layer.weight, std=0.1)
    return model.eval()


@pytest.mark.parametrize(("hop", "n_fft"), [(256, 1024), (256, 512), (300, 1200), (64, 320)])
@pytest.mark.parametrize("frames", [1, 3, 40])
def test_the_inverse_stft_undoes_the_stft(hop: int, n_fft: int, frames: int) -> None:
    stft = FrameSTFT(n_fft, hop)
    audio = torch.randn(2, frames * hop, generator=torch.Generator().manual_seed(frames))
    spec = stft(audio)  # (B, T, 2F)
    assert spec.shape == (2, frames, 2 * (n_fft // 2 + 1))
    torch.testing.assert_close(stft.inverse(spec), audio, rtol=0, atol=2e-6)


def test_stft_frames_are_the_mel_frames() -> None:
    """Frame t is centred on the middle of mel frame t's hop of samples, as the recipe mel."""
    stft, hop = FrameSTFT(1024, 256), 256
    for frame in (0, 5, 9):
        impulse = torch.zeros(1, 10 * hop)
        impulse[0, frame * hop + hop // 2] = 1.0
        real, imag = stft(impulse).split(stft.bins, dim=-1)
        energy = (real.square() + imag.square()).sum(-1)[0]  # (T,)
        assert int(energy.argmax()) == frame


@pytest.mark.parametrize("layers", [1, 3])
def test_no_input_reaches_further_than_the_receptive_field(layers: int) -> None:
    model, hop, frames = tiny(layers).double(), 256, 80  # float64: far changes stay visible
    mel, audio = torch.randn(1, N_MELS, frames).double(), torch.randn(1, frames * hop).double()
    time = torch.ones(1).double()
    with torch.no_grad():
        base = model(audio, time * 0.3, mel)
        bumped = audio.clone()
        bumped[0, 40 * hop + 100] += 1.0
        from_audio = (model(bumped, time * 0.3, mel) - base).abs()[0] > 0
        tweaked = mel.clone()
        tweaked[0, :, 40] += 1.0
        from_mel = (model(audio, time * 0.3, tweaked) - base).abs()[0] > 0
    spans = []
    for changed in (from_audio, from_mel):
        where = changed.nonzero().flatten()
        spans.append(int(where[-1] - where[0]) + 1)
    # exact up to the Hann window's ends, whose weights are near or at zero
    assert max(spans) <= model.receptive_field
    assert max(spans) >= model.receptive_field - 32


def test_a_window_with_the_overlap_margin_gives_the_whole_input_output() -> None:
    model, hop = tiny(layers=2), 256
    mel, audio, time = torch.randn(1, N_MELS, 90), torch.randn(1, 90 * hop), torch.tensor([0.6])
    margin = min_overlap_frames(model)
    start, stop = 40, 50
    with torch.no_grad():
        whole = model(audio, time, mel)[0, start * hop: stop * hop]

        def window(m: int) -> torch.Tensor:
            a, b = start - m, stop + m
            out = model(audio[:, a * hop: b * hop], time, mel[:, :, a:b])
            return out[0, m * hop: (m + stop - start) * hop]

        torch.testing.assert_close(window(margin), whole, rtol=0, atol=1e-5)
        reach = -(-model.receptive_field // (2 * hop))  # frames either side
        torch.testing.assert_close(window(reach), whole, rtol=0, atol=1e-5)
        assert (window(2) - whole).abs().max() > 1e-3  # a short margin is not enough


class OnePass(Sampler):
    """A deterministic stand-in for FlowMatching: one Euler step from a start made of the mel
    frame by frame (a fixed wave within each hop, scaled per frame by the mel), so chunks and
    the whole input see the same input."""

    time_inputs = frozenset({"flow_time"})

    def training_loss(self, model: Vocoder, audio: torch.Tensor, mel: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, model: Vocoder, mel: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        hop = model.hop_length
        wave = torch.sin(0.37 * torch.arange(hop)).repeat(mel.shape[-1])  # (N,)
        start = 0.1 * wave * torch.tanh(mel.mean(1)).repeat_interleave(hop, dim=1)  # (B, N)
        return FlowMatching(steps=1).integrate(model, mel, start)


def test_chunked_vocoding_equals_whole_input_vocoding_outside_the_crossfades() -> None:
    model, hop = tiny(layers=1), 256
    features = MelConfig(sample_rate=16000, n_mels=N_MELS, f_max=8000.0)
    components = Components(features, model, OnePass())
    overlap = min_overlap_frames(model)  # the default overlap: 16 frames
    # 68 frames in chunks of 40: each piece is padded to a multiple of 32 frames with at
    # least as much silence as the model's reach, so chunks see what the whole input sees
    mel = np.random.default_rng(0).normal(-4.0, 2.0, (N_MELS, 68)).astype(np.float32)
    chunks = plan_chunks(68, 40, overlap)
    reach = -(-model.receptive_field // (2 * hop))
    assert len(chunks) == 3 and all(-(stop - start) % 32 >= reach for start, stop in chunks[2:])
    (whole,) = vocode(components, [mel], precision="fp32")
    (chunked,) = vocode(components, [mel], chunk_frames=40, crossfade="linear", precision="fp32")
    outside = np.ones(whole.size, bool)
    for start, _ in chunks[1:]:
        outside[start * hop:(start + overlap) * hop] = False
    assert np.abs(whole).max() > 1e-3
    np.testing.assert_allclose(chunked[outside], whole[outside], rtol=0, atol=1e-5)


def test_bf16_autocast_follows_fp32() -> None:
    model = tiny(layers=2)
    mel, audio = torch.randn(2, N_MELS, 12), torch.randn(2, 12 * 256)
    time = torch.tensor([0.2, 0.9])
    with torch.inference_mode():
        want = model(audio, time, mel)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = model(audio, time, mel)
            sampled = FlowMatching(steps=2).sample(model, mel, torch.Generator().manual_seed(0))
    assert got.dtype == torch.float32 and bool(torch.isfinite(sampled).all())
    assert float((got - want).abs().max() / want.abs().max()) < 0.05


@pytest.mark.parametrize("phase", ["relative", "absolute"])
def test_the_heads_spectrum_has_its_magnitude_and_its_phase_absolute_or_turned(
        phase: str) -> None:
    model = FrameWave(n_mels=N_MELS, channels=16, hidden=32, layers=1, phase=phase)
    draws = torch.Generator().manual_seed(0)
    magnitude = torch.rand(2, 3, model.stft.bins, generator=draws).double() + 0.1  # (B, T, F)
    turn = 6.0 * torch.rand(2, 3, model.stft.bins, generator=draws).double() - 3.0
    spec = torch.randn(2, 3, 2 * model.stft.bins, generator=draws).double()  # (B, T, 2F)
    real, imag = model.spectrum(magnitude, turn, spec).chunk(2, dim=-1)
    got = torch.complex(real, imag)
    source = torch.complex(*spec.chunk(2, dim=-1))
    angle = turn + (source.angle() if phase == "relative" else 0.0)
    torch.testing.assert_close(got, magnitude * torch.exp(1j * angle), rtol=1e-12, atol=1e-12)


def test_bad_sizes_and_inputs_are_refused_naming_them() -> None:
    for kwargs, match in (({"channels": 0}, "model.channels"), ({"kernel_size": 4}, "odd"),
                          ({"n_fft": 256}, "n_fft"), ({"n_fft": 1023}, "n_fft"),
                          ({"phase": "random"}, "model.phase")):
        with pytest.raises(ValueError, match=match):
            FrameWave(**kwargs)
    model = tiny()
    condition = model.condition(torch.zeros(1, N_MELS, 4))
    with pytest.raises(ValueError, match="1000 samples for a mel of 4 frames"):
        model.denoise(torch.zeros(1, 1000), torch.zeros(1), condition)


def test_the_config_builds_framewave_with_flow_matching() -> None:
    path = ROOT / "tests" / "configs" / "framewave.yaml"
    parser, _ = build_parser()
    built = parser.instantiate(parser.parse_args(["fit", "--config", str(path)])).fit
    assert isinstance(built.model, FrameWave) and isinstance(built.sampler, FlowMatching)
    assert built.model.n_mels == built.data.features.n_mels


@pytest.mark.slow
def test_fit_predict_evaluate_through_the_command_line(tmp_path: Path) -> None:
    lj = build_ljspeech(tmp_path / "raw")
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"datasets": {"ljspeech": str(lj.root)}, "processed_dir": str(tmp_path / "data")},
        "model": {"class_path": "FrameWave",
                  "init_args": {"channels": 16, "hidden": 32, "layers": 2}},
        "sampler": {"class_path": "FlowMatching", "init_args": {"steps": 3}},
        "trainer": {"log_dir": str(tmp_path / "runs"), "batch_size": 4, "crop_frames": 16,
                    "max_steps": 3, "eval_audio": False, "log_every_steps": 1},
    }))
    assert main(["preprocess", "--config", str(config)]) == 0
    assert main(["fit", "--config", str(config), "--name", "fw"]) == 0
    run, result = tmp_path / "runs" / "fw", tmp_path / "out"
    assert main(["predict", "--run", str(run), "--mode", "dataset", "--datasets", "ljspeech",
                 "--output", str(result), "--sampler.solver", "midpoint",
                 "--sampler.steps", "2"]) == 0
    test_items = json.loads((tmp_path / "data" / "ljspeech" / "test.json").read_text())
    for item in test_items:
        frames = np.load(tmp_path / "data" / "ljspeech" / "mels" / f"{item['Uid']}.npy").shape[1]
        audio, rate = sf.read(result / "pred" / f"{item['Uid']}.wav")
        assert rate == 24000 and audio.shape == (frames * 256,)
    assert main(["evaluate", "--reference", str(result / "gt"), "--generated",
                 str(result / "pred"), "--output", str(result / "eval")]) == 0
    assert main(["predict", "--run", str(run), "--mode", "dataset", "--datasets", "ljspeech",
                 "--output", str(tmp_path / "ddpm"), "--sampler", "DDPM"]) == 1
