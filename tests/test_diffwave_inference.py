"""DiffWave's prepared sampling path (time-major, folded weights, time tiles) computes the same
function as the reference path, and runs only once prepared, in eval mode without autograd."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch

from vocfw.core import load
from vocfw.core.audio.mel import MelConfig
from vocfw.core.testing.processed import tiny_diffwave_spec, write_tiny_run
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_wavefront import wavefront
from vocfw.plugins.models.wavegrad import WaveGrad


def model(**kwargs: int) -> DiffWave:
    torch.manual_seed(0)
    args = {"n_mels": 20, "residual_layers": 5, "residual_channels": 8,
            "dilation_cycle_length": 4, **kwargs}
    net = DiffWave(**args).eval()
    torch.nn.init.normal_(net.output_projection.weight, std=0.5)  # zero at init
    return net


def fast(net: DiffWave, audio: torch.Tensor, step: torch.Tensor, mel: torch.Tensor,
         tile: int | None = None) -> torch.Tensor:
    net.prepare_for_inference()
    with torch.inference_mode():
        condition = net.condition(mel)
        assert condition.plan is not None
        if tile is not None:
            condition.plan.tile = tile
        return net.denoise(audio, step, condition)


@pytest.mark.parametrize("tile", [None, 100, 257, 16, 17])  # dilations up to 8
def test_prepared_path_equals_the_reference_path(tile: int | None) -> None:
    net = model()
    mel, audio, step = torch.randn(3, 20, 5), torch.randn(3, 5 * 256), torch.tensor([0.5, 9, 49])
    want = net(audio, step, mel)
    assert want.requires_grad
    got = fast(net, audio, step, mel, tile)
    torch.testing.assert_close(got, want.detach(), rtol=0, atol=1e-5)


def test_reference_path_without_autograd_equals_it_with_autograd() -> None:
    net = model()
    mel, audio, step = torch.randn(2, 20, 3), torch.randn(2, 3 * 256), torch.tensor([2.5, 30])
    want = net(audio, step, mel).detach()
    with torch.inference_mode():
        assert net.condition(mel).plan is None  # not prepared: the reference path
        torch.testing.assert_close(net(audio, step, mel), want, rtol=0, atol=0)


def has_plan(net: DiffWave, mel: torch.Tensor) -> bool:
    with torch.inference_mode():
        return net.condition(mel).plan is not None


def test_the_prepared_path_runs_only_in_eval_mode_without_autograd() -> None:
    net, mel = model(), torch.randn(1, 20, 2)
    assert not has_plan(net, mel)
    net.prepare_for_inference()
    assert has_plan(net, mel)
    assert net.condition(mel).plan is None  # autograd on
    net.train()
    assert not has_plan(net.eval(), mel)  # training dropped the preparation


def test_loading_weights_drops_the_prepared_path() -> None:
    net, mel = model(), torch.randn(1, 20, 2)
    net.prepare_for_inference()
    net.load_state_dict(model(residual_channels=8).state_dict())
    assert not has_plan(net, mel)


def test_the_default_preparation_does_nothing() -> None:
    net = WaveGrad(base_channels=2).eval()
    before = {key: value.clone() for key, value in net.state_dict().items()}
    assert net.prepare_for_inference() is None
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())


def test_a_loaded_vocoder_is_prepared(tmp_path: Path) -> None:
    run = write_tiny_run(tmp_path / "run", tiny_diffwave_spec(MelConfig()))
    net = load(run).components.model
    assert has_plan(net, torch.randn(1, net.n_mels, 2))


@pytest.mark.parametrize(("samples", "tile", "dilations"), [
    (24000, 8192, [2 ** (i % 10) for i in range(30)]), (8193, 8192, [1, 2, 4, 8] * 3),
    (5, 8192, [1, 2, 4, 8]), (1000, 10, [1, 2, 4, 8, 1, 2]), (1000, 3, [1, 2, 4, 8]),
])
def test_wavefront_reads_each_layer_input_before_it_is_overwritten(
    samples: int, tile: int, dilations: list[int]
) -> None:
    layers = len(dilations)
    done = np.zeros(samples, dtype=int)  # layers applied to each sample of the state
    covered: list[list[tuple[int, int]]] = [[] for _ in range(layers)]
    kept: dict[int, tuple[int, bool]] = {}  # per layer: where its kept rows end, and if valid
    for i, start, stop in wavefront(samples, tile, dilations):
        reach = min(stop + dilations[i], samples)
        assert (done[start:reach] == i).all()  # x(t) and x(t+d): layer i-1's output
        if start > 0:  # x(t-d) before the tile: rows kept aside by the layer's previous tile
            assert kept[i] == (start, True)
        rows = done[max(stop - dilations[i], 0):stop]
        kept[i] = (stop, bool((rows == i).all()))
        done[start:stop] = i + 1
        covered[i].append((start, stop))
    assert (done == layers).all()
    for bounds in covered:
        assert bounds[0][0] == 0 and bounds[-1][1] == samples
        assert all(a[1] == b[0] for a, b in pairwise(bounds))  # contiguous, in order
        inner = [stop - start for start, stop in bounds[1:-1]]
        assert all(length >= max(dilations) for length in inner)  # kept rows: tile before


def test_uncached_conditioner_and_inputs_shorter_than_a_dilation() -> None:
    net = model(residual_layers=4, dilation_cycle_length=4)  # dilations up to 8
    mel, audio, step = torch.randn(2, 20, 1), torch.randn(2, 6), torch.tensor([3])
    net.hop_length = 6  # the network itself only needs N = T * hop
    net.spectrogram_upsampler = torch.nn.Upsample(scale_factor=6)
    want = net(audio, step, mel).detach()
    net.condition_cache_bytes = 2 * 16 * 6 * 4  # one layer cached, three recomputed
    with torch.inference_mode():
        assert len(net.condition(mel).projections) == 1
    torch.testing.assert_close(fast(net, audio, step, mel, tile=4), want, rtol=0, atol=1e-5)


def test_bf16_autocast_follows_fp32_closely() -> None:
    net = model()
    mel, audio, step = torch.randn(1, 20, 8), torch.randn(1, 8 * 256), torch.tensor([20])
    want = fast(net, audio, step, mel)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = fast(net, audio, step, mel)
    assert got.dtype == torch.float32
    error = (got - want).norm() / want.norm()
    assert 0 < error < 0.05


@pytest.mark.gpu
def test_fast_path_on_cuda_equals_the_cpu() -> None:
    net = model()
    mel, audio, step = torch.randn(2, 20, 5), torch.randn(2, 5 * 256), torch.tensor([4, 40])
    want = fast(net, audio, step, mel)
    got = fast(net.cuda(), audio.cuda(), step.cuda(), mel.cuda())
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_autocast_on_cuda_follows_fp32(dtype: torch.dtype) -> None:
    net = model().cuda()
    mel, audio, step = (torch.randn(2, 20, 5).cuda(), torch.randn(2, 5 * 256).cuda(),
                        torch.tensor([4, 40]).cuda())
    want = fast(net, audio, step, mel)
    with torch.autocast("cuda", dtype=dtype):
        got = fast(net, audio, step, mel)
    assert got.dtype == torch.float32
    assert 0 < float((got - want).norm() / want.norm()) < 0.05
