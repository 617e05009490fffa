"""The Python API's arguments: lists of mels, integer keys, bad rates, keys and chunk lengths
refused by name, and the stated tolerance of a batch against calls per mel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocfw.core import LoadedVocoder, load
from vocfw.core.audio.mel import MelConfig
from vocfw.core.errors import VocfwError
from vocfw.core.infer.vocode import MelError
from vocfw.core.testing.fixture import tone
from vocfw.core.testing.processed import tiny_diffwave_spec, write_tiny_run

RATE = 16000
BATCH_TOLERANCE = 2.0**-15  # the API's stated bound: one 16-bit step
FEATURES = MelConfig(sample_rate=RATE, n_mels=20, f_max=8000.0)


@pytest.fixture(scope="module")
def voc(tmp_path_factory: pytest.TempPathFactory) -> LoadedVocoder:
    spec = tiny_diffwave_spec(FEATURES)
    spec["sampler"]["init_args"]["inference_schedule"] = "fast"
    return load(write_tiny_run(tmp_path_factory.mktemp("api") / "run", spec), device="cpu")


def mels(voc: LoadedVocoder, seconds: tuple[float, ...]) -> list[torch.Tensor]:
    return [voc.mel(tone(s, RATE, seed=i), RATE) for i, s in enumerate(seconds)]


@pytest.mark.parametrize("rate", [0, -16000, 16000.5, "16000"])
def test_a_bad_sample_rate_is_refused_by_name(voc: LoadedVocoder, rate: object) -> None:
    with pytest.raises(VocfwError, match=r"sample_rate: expected a positive whole number"):
        voc.mel(tone(0.2, RATE), rate)


def test_a_numpy_integer_rate_is_accepted(voc: LoadedVocoder) -> None:
    audio = tone(0.2, RATE)
    assert torch.equal(voc.mel(audio, np.int64(RATE)), voc.mel(audio, RATE))


def test_a_list_of_mels_of_any_lengths_gives_a_list(voc: LoadedVocoder) -> None:
    short, long = mels(voc, (0.2, 0.35))
    out = voc([short, long.numpy()], seed=2, key=["s", "l"])
    assert isinstance(out, list) and [a.shape[0] for a in out] == [
        short.shape[1] * voc.hop_length, long.shape[1] * voc.hop_length]
    assert torch.equal(out[0], voc(short, seed=2, key="s"))
    with pytest.raises(MelError, match=r"mel\[1\]: expected a 2-D"):
        voc([short, torch.zeros(3)])
    with pytest.raises(MelError, match="no mels"):
        voc([])


def test_integer_keys_are_their_decimal_strings(voc: LoadedVocoder) -> None:
    [mel] = mels(voc, (0.2,))
    assert torch.equal(voc(mel, seed=1, key=5), voc(mel, seed=1, key="5"))
    batch = torch.stack([mel, mel])
    assert torch.equal(voc(batch, seed=1, key=[5, 6])[1], voc(mel, seed=1, key="6"))


@pytest.mark.parametrize(("key", "message"), [
    (5.5, "key: expected a str or int"),
    (True, "key: expected a str or int"),
    (["a"], r"key: expected 2 keys \(one per mel\), got 1"),
    (["a", b"b"], r"key\[1\]: expected a str or int"),
])
def test_bad_keys_are_refused_by_name(voc: LoadedVocoder, key: object, message: str) -> None:
    [mel] = mels(voc, (0.2,))
    batch = torch.stack([mel, mel])
    with pytest.raises(VocfwError, match=message):
        voc(batch if isinstance(key, list) else mel, key=key)


def test_a_batch_matches_calls_per_mel_within_the_stated_tolerance(voc: LoadedVocoder) -> None:
    batch = torch.stack(mels(voc, (0.3, 0.3, 0.3)))
    together = voc(batch, seed=4)
    for row, mel in zip(together, batch, strict=True):
        assert float((row - voc(mel, seed=4)).abs().max()) <= BATCH_TOLERANCE


@pytest.mark.parametrize(("options", "message"), [
    ({"chunk_seconds": 0.0}, "chunk_seconds=0: expected at least"),
    ({"chunk_seconds": -1.0}, "chunk_seconds=-1: expected at least"),
    ({"batch_size": 0}, "batch_size=0: expected at least 1"),
    ({"device": "gpu"}, "device 'gpu'"),
])
def test_bad_load_options_are_refused_by_name(voc: LoadedVocoder, options: dict,
                                              message: str) -> None:
    with pytest.raises(VocfwError, match=message):
        load(voc.checkpoint, **{"device": "cpu", **options})


def test_no_chunking_is_none(voc: LoadedVocoder) -> None:
    assert load(voc.checkpoint, device="cpu", chunk_seconds=None).chunk_frames is None
