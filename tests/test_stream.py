"""Streaming vocoding: a stream's audio equals whole-input vocoding whatever blocks the frames
arrive in, comes out with the stated latency, and bad streams are refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_vocode import FrameValueSampler

from vocfw.core import LoadedVocoder, load
from vocfw.core.components import Components
from vocfw.core.errors import VocfwError
from vocfw.core.infer.stream import MelStream, StreamError
from vocfw.core.infer.vocode import MelError, default_overlap_frames, plan_chunks, vocode
from vocfw.core.settings import SettingError
from vocfw.core.testing.processed import write_tiny_run

RATE, HOP, N_MELS = 16000, 256, 20
FEATURES = {"sample_rate": RATE, "n_mels": N_MELS, "f_max": 8000.0}
SPECS = {
    "diffwave": {
        "features": FEATURES,
        "model": {"class_path": "vocfw.plugins.models.diffwave.DiffWave",
                  "init_args": {"n_mels": N_MELS, "residual_layers": 2, "residual_channels": 8}},
        "sampler": {"class_path": "vocfw.plugins.samplers.ddpm.DDPM",
                    "init_args": {"inference_schedule": "fast"}},
    },
    "framewave": {
        "features": FEATURES,
        "model": {"class_path": "vocfw.plugins.models.framewave.FrameWave",
                  "init_args": {"n_mels": N_MELS, "channels": 16, "hidden": 32, "layers": 1,
                                "kernel_size": 3}},
        "sampler": {"class_path": "vocfw.plugins.samplers.flow_matching.FlowMatching",
                    "init_args": {"steps": 4, "solver": "euler"}},
    },
}


@pytest.fixture(scope="module", params=sorted(SPECS))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory with one checkpoint of a tiny DiffWave or FrameWave."""
    return write_tiny_run(tmp_path_factory.mktemp(request.param) / "run", SPECS[request.param])


def chunked(run: Path, batch_size: int = 1) -> LoadedVocoder:
    """The run loaded with chunks of twice its overlap plus 3 frames (so stride = overlap + 3)."""
    overlap = default_overlap_frames(load(run, device="cpu").components.model)
    return load(run, device="cpu", chunk_seconds=(2 * overlap + 3) * HOP / RATE,
                batch_size=batch_size)


def random_mel(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(-4.0, 2.0, (N_MELS, frames)).astype(np.float32)


def streamed(stream: MelStream, mel: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Push ``mel`` in blocks of ``sizes`` (cycled), then finish; every block of audio."""
    blocks, start, index = [], 0, 0
    while start < mel.shape[1]:
        stop = start + sizes[index % len(sizes)]
        blocks.append(stream.push(mel[:, start:stop]))
        start, index = stop, index + 1
    return [*blocks, stream.finish()]


@pytest.mark.parametrize("sizes", [[1], [3, 5, 2, 7], [10_000]], ids=["1", "odd", "all"])
def test_a_stream_equals_vocoding_the_whole_mel_with_the_same_chunks(run: Path,
                                                                      sizes: list[int]) -> None:
    voc = chunked(run)
    chunk = voc.chunk_frames
    overlap = default_overlap_frames(voc.components.model)
    for frames, last in ((3 * (chunk - overlap) + overlap + 2, overlap + 2),  # a shorter end
                         (3 * (chunk - overlap) + chunk, chunk)):  # a chunk ends with the input
        start, stop = plan_chunks(frames, chunk, overlap)[-1]
        assert stop - start == last
        mel = random_mel(frames, seed=frames)
        audio = np.concatenate(streamed(voc.stream(seed=4, key="utt"), mel, sizes))
        np.testing.assert_array_equal(audio, voc(mel, seed=4, key="utt").numpy())
    other = np.concatenate(streamed(voc.stream(seed=4, key="other"), mel, sizes))
    assert np.abs(other - audio).max() > 1e-3  # the key seeds the noise


def test_a_stream_equals_batched_vocoding_up_to_kernel_rounding(run: Path) -> None:
    voc = chunked(run, batch_size=4)
    mel = random_mel(4 * voc.chunk_frames, seed=1)
    audio = np.concatenate(streamed(voc.stream(seed=2, key=5), mel, [7]))
    np.testing.assert_allclose(audio, voc(mel, seed=2, key="5").numpy(), rtol=0, atol=1e-5)


def test_a_stream_shorter_than_a_chunk_equals_unchunked_vocoding(run: Path) -> None:
    voc = chunked(run)
    whole = load(run, device="cpu", chunk_seconds=None)
    mel = random_mel(voc.chunk_frames - 1, seed=2)
    blocks = streamed(voc.stream(seed=1, key="k"), mel, [2])
    assert all(block.size == 0 for block in blocks[:-1])
    np.testing.assert_array_equal(blocks[-1], whole(mel, seed=1, key="k").numpy())


def test_a_stream_equals_unchunked_vocoding_away_from_the_crossfades(run: Path) -> None:
    voc = chunked(run)
    components = Components(voc.features, voc.components.model, FrameValueSampler())
    stream = MelStream(components, voc.chunk_frames, 0, "k", torch.device("cpu"), "fp32")
    mel = random_mel(5 * voc.chunk_frames + 1, seed=3)
    audio = np.concatenate(streamed(stream, mel, [4]))
    (whole,) = vocode(components, [mel])  # one piece, no chunks
    outside = np.ones(whole.size, bool)
    for start, _ in plan_chunks(mel.shape[1], voc.chunk_frames, stream.overlap_frames)[1:]:
        outside[start * HOP:(start + stream.overlap_frames) * HOP] = False
    np.testing.assert_allclose(audio[outside], whole[outside], rtol=0, atol=1e-6)


def test_audio_comes_out_with_the_stated_latency(run: Path) -> None:
    voc = chunked(run)
    stream = voc.stream()
    chunk, overlap = stream.chunk_frames, stream.overlap_frames
    assert stream.latency_frames == chunk == voc.chunk_frames
    assert stream.latency_seconds == pytest.approx(chunk * HOP / RATE)
    mel, out = random_mel(4 * chunk), 0
    for received in range(1, mel.shape[1] + 1):
        out += stream.push(mel[:, received - 1:received]).size
        full = (received - chunk) // (chunk - overlap) + 1 if received >= chunk else 0
        assert out == full * (chunk - overlap) * HOP  # up to the next chunk's start
        assert out >= (received - chunk + 1) * HOP  # frame t is out once t + chunk - 1 is in
    assert out + stream.finish().size == mel.shape[1] * HOP


def test_a_model_that_states_no_receptive_field_is_refused(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    voc = load(run, device="cpu", chunk_seconds=None)
    model = type(voc.components.model)
    monkeypatch.setattr(model, "receptive_field", property(lambda self: None))
    for chunk_seconds in (None, 1.0):
        with pytest.raises(SettingError, match=f"chunking: {model.__name__} states no "
                                               "receptive_field"):
            voc.stream(chunk_seconds=chunk_seconds)


def test_bad_chunk_settings_are_refused(run: Path) -> None:
    voc = load(run, device="cpu", chunk_seconds=None)
    with pytest.raises(SettingError, match="stream: needs a chunk length"):
        voc.stream()
    with pytest.raises(SettingError, match="chunk_seconds=0.01: expected at least"):
        voc.stream(chunk_seconds=0.01)
    with pytest.raises(SettingError, match="key: expected a str or int, got float"):
        voc.stream(chunk_seconds=1.0, key=1.5)


@pytest.mark.parametrize(("block", "message"), [
    (np.zeros((N_MELS + 1, 3), np.float32), "stream push #1: has 21 mel bands but the model "
                                            "expects 20"),
    (np.zeros(N_MELS, np.float32), r"stream push #1: expected a 2-D \(bands, frames\) mel"),
    (np.zeros((N_MELS, 0), np.float32), "stream push #1: has no frames"),
    (np.full((N_MELS, 2), np.nan, np.float32), "stream push #1: contains NaN"),
])
def test_bad_blocks_give_mel_errors(run: Path, block: np.ndarray, message: str) -> None:
    stream = chunked(run).stream()
    stream.push(random_mel(2))
    with pytest.raises(MelError, match=message):
        stream.push(block)


def test_an_empty_or_finished_stream_is_refused(run: Path) -> None:
    voc = chunked(run)
    with pytest.raises(MelError, match="stream: has no frames"):
        voc.stream().finish()
    stream = voc.stream()
    stream.push(random_mel(2))
    assert stream.finish().size == 2 * HOP
    for call in (lambda: stream.push(random_mel(1)), stream.finish):
        with pytest.raises(StreamError, match="stream: finished") as error:
            call()
        assert isinstance(error.value, VocfwError)

