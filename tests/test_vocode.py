"""The inference core: batching, validation, chunking and cross-fading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocfw.core.audio.mel import MelConfig
from vocfw.core.components import Components, build_components
from vocfw.core.infer.vocode import (
    PAD_FRAMES,
    MelError,
    check_mel,
    fade_curves,
    padded_frames,
    plan_chunks,
    vocode,
)
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Sampler

N_MELS = 20
HOP = 256


def tiny_components() -> Components:
    torch.manual_seed(0)
    return build_components({
        "features": {"sample_rate": 16000, "n_mels": N_MELS, "f_max": 8000.0},
        "model": {"class_path": "vocfw.plugins.models.diffwave.DiffWave",
                  "init_args": {"n_mels": N_MELS, "residual_layers": 2, "residual_channels": 8}},
        "sampler": {"class_path": "vocfw.plugins.samplers.ddpm.DDPM",
                    "init_args": {"inference_schedule": "fast"}},
    })


def random_mel(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(-4.0, 2.0, (N_MELS, frames)).astype(np.float32)


class FrameValueSampler(Sampler):
    """Deterministic stand-in: every sample of frame t is a fixed function of mel[:, 0, t]."""

    def training_loss(
        self, model: Vocoder, audio: torch.Tensor, mel: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError

    def sample(
        self, model: Vocoder, mel: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return torch.tanh(mel[:, 0, :]).repeat_interleave(model.hop_length, dim=1)  # (B, T*hop)


@pytest.mark.slow
def test_batched_outputs_have_frames_times_hop_samples_and_are_deterministic() -> None:
    components = tiny_components()
    mels = [random_mel(frames, seed) for seed, frames in enumerate((7, 19, 3, 12, 1))]
    first = vocode(components, mels, batch_size=2, seed=5)
    again = vocode(components, mels, batch_size=2, seed=5)
    other = vocode(components, mels, batch_size=2, seed=6)
    assert [wave.size for wave in first] == [mel.shape[1] * HOP for mel in mels]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])
    assert all(np.all(np.abs(wave) <= 1.0) for wave in first)


def test_chunked_equals_unchunked_when_the_input_fits_in_one_chunk() -> None:
    components = tiny_components()
    mels = [random_mel(30, 1), torch.from_numpy(random_mel(17, 2))]
    whole = vocode(components, mels, batch_size=2, seed=3)
    chunked = vocode(components, mels, batch_size=2, seed=3, chunk_frames=30, overlap_frames=4)
    assert all(np.array_equal(a, b) for a, b in zip(whole, chunked, strict=True))


@pytest.mark.slow
def test_longest_input_the_model_sees_does_not_grow_with_input_length() -> None:
    components = tiny_components()
    seen: list[int] = []
    hook = components.model.spectrogram_upsampler.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].shape[0] * args[0].shape[-1] * HOP)
    )  # (B, M, T) mel of each network call
    peaks = []
    for frames in (60, 600):
        seen.clear()
        (wave,) = vocode(components, [random_mel(frames)], batch_size=2, chunk_frames=24,
                         overlap_frames=4)
        assert wave.size == frames * HOP and np.all(np.isfinite(wave))
        peaks.append(max(seen))
    hook.remove()
    assert peaks[0] == peaks[1] == 2 * padded_frames(24) * HOP


@pytest.mark.parametrize("crossfade", ["linear", "equal_power"])
def test_chunks_are_stitched_at_the_right_places(crossfade: str) -> None:
    components = tiny_components()
    components = Components(components.features, components.model, FrameValueSampler())
    mel = random_mel(101)
    (whole,) = vocode(components, [mel])
    (chunked,) = vocode(components, [mel], chunk_frames=20, overlap_frames=5, crossfade=crossfade)
    fade_in, fade_out = fade_curves(5 * HOP, crossfade)
    gain = fade_in + fade_out if crossfade == "linear" else fade_in**2 + fade_out**2
    np.testing.assert_allclose(gain, 1.0, atol=1e-6)
    if crossfade == "linear":
        np.testing.assert_allclose(chunked, whole, atol=1e-6)
    else:
        outside = np.ones(whole.size, bool)
        for start, _ in plan_chunks(101, 20, 5)[1:]:
            outside[start * HOP:(start + 5) * HOP] = False
        np.testing.assert_allclose(chunked[outside], whole[outside], atol=1e-6)


def test_plan_chunks_covers_the_input_with_exact_overlaps() -> None:
    for frames in (1, 20, 21, 35, 36, 100):
        chunks = plan_chunks(frames, 20, 5)
        assert chunks[0][0] == 0 and chunks[-1][1] == frames
        assert all(stop - start <= 20 for start, stop in chunks)
        for (_, stop), (start, next_stop) in zip(chunks, chunks[1:], strict=False):
            assert stop - start == 5 and next_stop - start > 5
    assert plan_chunks(100, None, 5) == [(0, 100)]


def test_band_mismatch_names_the_file_and_both_counts() -> None:
    components = tiny_components()
    bad = np.zeros((N_MELS + 60, 10), np.float32)
    with pytest.raises(MelError, match=r"speaker_7\.npy.*80 mel bands.*expects 20"):
        vocode(components, [random_mel(5), bad], names=["a.npy", "data/mels/speaker_7.npy"])


@pytest.mark.parametrize(
    ("mel", "reason"),
    [
        (np.zeros(40, np.float32), "2-D"),
        (np.zeros((N_MELS, 0), np.float32), "no frames"),
        (np.full((N_MELS, 4), np.nan, np.float32), "NaN"),
        (np.full((N_MELS, 4), np.inf, np.float32), "infinite"),
    ],
)
def test_bad_mels_are_refused(mel: np.ndarray, reason: str) -> None:
    with pytest.raises(MelError, match=reason):
        vocode(tiny_components(), [mel], names=["x.npy"])


def test_bad_chunk_settings_are_refused() -> None:
    components = tiny_components()
    with pytest.raises(ValueError, match="twice overlap_frames"):
        vocode(components, [random_mel(50)], chunk_frames=6, overlap_frames=4)
    with pytest.raises(ValueError, match="receptive field"):
        vocode(components, [random_mel(50)], chunk_frames=20, overlap_frames=0)
    with pytest.raises(ValueError, match="batch_size"):
        vocode(components, [random_mel(50)], batch_size=0)


def test_log_floor_pads_short_items() -> None:
    components = tiny_components()
    seen: list[torch.Tensor] = []
    sampler = FrameValueSampler()
    original = sampler.sample
    sampler.sample = lambda model, mel, generator=None: seen.append(mel) or original(model, mel)
    vocode(Components(components.features, components.model, sampler),
           [random_mel(8), random_mel(3)], batch_size=2)
    floor = MelConfig().log_floor
    assert seen[0].shape == (2, N_MELS, PAD_FRAMES)
    assert torch.all(seen[0][0, :, 8:] == floor) and torch.all(seen[0][1, :, 3:] == floor)


def test_bf16_autocast_stays_close_to_fp32() -> None:
    components = tiny_components()
    torch.nn.init.normal_(components.model.output_projection.weight, std=0.5)  # a live output
    mels = [random_mel(24, 4), random_mel(9, 5)]
    full = vocode(components, mels, batch_size=2, seed=2)
    half = vocode(components, mels, batch_size=2, seed=2, precision="bf16")
    for a, b in zip(full, half, strict=True):
        assert a.shape == b.shape and b.dtype == np.float32
        assert not np.array_equal(a, b)  # autocast really ran the network in bfloat16
        assert np.corrcoef(a, b)[0, 1] > 0.99


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_it_is_native(
    native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vocfw.core.infer.precision.native_bf16", lambda device: native)
    components = tiny_components()
    torch.nn.init.normal_(components.model.output_projection.weight, std=0.5)
    mels = [random_mel(24, 4)]
    chosen = vocode(components, mels, seed=2)  # precision="auto", the default
    want = vocode(components, mels, seed=2, precision="bf16" if native else "fp32")
    other = vocode(components, mels, seed=2, precision="fp32" if native else "bf16")
    np.testing.assert_array_equal(chosen[0], want[0])
    assert not np.array_equal(chosen[0], other[0])


def test_resolve_precision_names_what_it_accepts() -> None:
    from vocfw.core.infer.precision import resolve_precision

    cpu = torch.device("cpu")
    assert [resolve_precision(p, cpu) for p in ("auto", "fp32", "bf16", "fp16")] == [
        "fp32", "fp32", "bf16", "fp16"]  # auto: no native bf16 (the suite's fixture)
    with pytest.raises(ValueError, match="precision must be auto, fp32, bf16 or fp16, got 'fp64'"):
        resolve_precision("fp64", cpu)


def test_an_utterance_sounds_the_same_alone_batched_or_one_at_a_time() -> None:
    components = tiny_components()
    short, long = random_mel(9, 1), random_mel(23, 2)
    (alone,) = vocode(components, [short], batch_size=4, seed=3, keys=["a"])
    batched = vocode(components, [long, short], batch_size=4, seed=3, keys=["b", "a"])
    single = vocode(components, [long, short], batch_size=1, seed=3, keys=["b", "a"])
    for first, second in ((alone, batched[1]), (alone, single[1]), (batched[0], single[0])):
        np.testing.assert_allclose(first, second, rtol=0, atol=1e-5)  # kernels' rounding only
    (renamed,) = vocode(components, [short], batch_size=4, seed=3, keys=["c"])
    assert np.abs(alone - renamed).max() > 0.1


def test_a_chunked_long_input_does_not_depend_on_its_batch() -> None:
    components = tiny_components()
    long, other = random_mel(70, 4), random_mel(13, 5)
    settings = {"seed": 2, "chunk_frames": 24, "overlap_frames": 4}
    (alone,) = vocode(components, [long], batch_size=1, keys=["x"], **settings)
    mixed = vocode(components, [other, long], batch_size=3, keys=["y", "x"], **settings)
    np.testing.assert_allclose(alone, mixed[1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("mel", [
    np.full((N_MELS, 5), "-4.0"), np.zeros((N_MELS, 5), bool),
    np.zeros((N_MELS, 5), np.complex64), torch.zeros((N_MELS, 5), dtype=torch.complex64),
    np.zeros((N_MELS, 5), [("re", "f4"), ("im", "f4")]),
])
def test_mels_that_are_not_real_numbers_are_refused_by_name(mel: np.ndarray) -> None:
    with pytest.raises(MelError, match=r"odd\.npy: .*(dtype|real numbers)"):
        check_mel(mel, N_MELS, "odd.npy")
