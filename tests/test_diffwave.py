"""The DiffWave network: size, layout, upsampling, conditioning and step embedding."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_blocks import ResidualBlock, gated, upsample_factors


def tiny(**kwargs: int) -> DiffWave:
    torch.manual_seed(0)
    args = {"n_mels": 20, "residual_layers": 3, "residual_channels": 8,
            "dilation_cycle_length": 2, **kwargs}
    model = DiffWave(**args).eval()
    torch.nn.init.normal_(model.output_projection.weight, std=0.5)  # zero at init
    return model


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_the_recipe_and_lmnt() -> None:
    assert count(DiffWave()) == 2_696_771
    assert count(DiffWave(n_mels=80)) == 2_619_971


def test_state_dict_uses_lmnt_key_names() -> None:
    state = DiffWave(n_mels=80).state_dict()
    assert len(state) == 254
    assert state["spectrogram_upsampler.conv1.weight"].shape == (1, 1, 3, 32)
    assert state["residual_layers.29.conditioner_projection.weight"].shape == (128, 80, 1)
    assert state["residual_layers.0.diffusion_projection.weight"].shape == (64, 512)
    assert not any("embedding.embedding" in key for key in state)


@pytest.mark.parametrize("hop", [256, 300, 275, 200, 6])
def test_upsampler_factorises_the_hop_and_keeps_the_length(hop: int) -> None:
    f1, f2 = upsample_factors(hop)
    assert f1 * f2 == hop and 2 <= f1 <= f2
    model = DiffWave(n_mels=4, hop_length=hop, residual_layers=1, residual_channels=2)
    assert model.spectrogram_upsampler(torch.zeros(2, 4, 5)).shape == (2, 4, 5 * hop)


def test_upsampler_factors_are_balanced() -> None:
    assert upsample_factors(256) == (16, 16)
    assert upsample_factors(300) == (15, 20)


@pytest.mark.parametrize("hop", [257, 2, 1])
def test_hop_without_two_factors_is_refused(hop: int) -> None:
    with pytest.raises(ValueError, match=f"hop_length={hop}"):
        DiffWave(hop_length=hop)


def test_mel_band_mismatch_names_both_counts() -> None:
    model = tiny()
    with pytest.raises(ValueError, match=r"23 mel bands instead of 20"):
        model.condition(torch.zeros(1, 23, 4))


def test_receptive_field_is_the_support_of_one_input_sample() -> None:
    model = tiny(residual_layers=4, dilation_cycle_length=3)  # dilations 1, 2, 4, 1
    mel = torch.randn(1, 20, 8)
    audio = torch.randn(1, 8 * 256)
    bumped = audio.clone()
    bumped[0, 1000] += 1.0
    step = torch.tensor([3])
    with torch.no_grad():
        changed = (model(bumped, step, mel) - model(audio, step, mel)).abs()[0] > 0
    span = changed.nonzero().flatten()
    dilated = 1 + 2 * (1 + 2 + 4 + 1)
    assert int(span[-1] - span[0]) + 1 == dilated  # the audio path's exact support
    assert model.receptive_field == dilated + 3 * 256  # plus at most 3 mel frames


def test_receptive_field_covers_the_support_of_one_mel_frame() -> None:
    model = tiny(residual_layers=4, dilation_cycle_length=3)
    mel, audio, step = torch.randn(1, 20, 12), torch.randn(1, 12 * 256), torch.tensor([3])
    bumped = mel.clone()
    bumped[0, :, 6] += 1.0
    with torch.no_grad():
        changed = (model(audio, step, bumped) - model(audio, step, mel)).abs()[0] > 0
    span = changed.nonzero().flatten()
    assert int(span[-1] - span[0]) + 1 <= model.receptive_field


def test_output_does_not_depend_on_how_much_conditioning_is_cached() -> None:
    model = tiny()
    mel, audio, step = torch.randn(2, 20, 6), torch.randn(2, 6 * 256), torch.tensor([7, 30])
    with torch.no_grad():
        full = model.denoise(audio, step, model.condition(mel))
        model.condition_cache_bytes = 2 * 16 * 6 * 256 * 4  # one layer
        partial_condition = model.condition(mel)
        partial = model.denoise(audio, step, partial_condition)
    assert len(partial_condition.projections) == 1
    torch.testing.assert_close(partial, full, rtol=0, atol=1e-6)


def test_batched_steps_match_one_item_at_a_time() -> None:
    model = tiny()
    mel, audio, step = torch.randn(3, 20, 4), torch.randn(3, 4 * 256), torch.tensor([0.5, 9, 49])
    with torch.no_grad():
        batched = model(audio, step, mel)
        single = torch.cat([model(audio[i:i + 1], step[i:i + 1], mel[i:i + 1]) for i in range(3)])
    assert batched.shape == (3, 4 * 256)
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-5)


def test_fractional_steps_interpolate_the_embedding_table() -> None:
    embedding = tiny().diffusion_embedding
    table = embedding.embedding
    with torch.no_grad():
        got = embedding(torch.tensor([2.25]))
        mixed = 0.75 * table[2] + 0.25 * table[3]
        want = F.silu(embedding.projection2(F.silu(embedding.projection1(mixed))))
        whole = embedding(torch.tensor([4.0]))
        integer = embedding(torch.tensor([4]))
    torch.testing.assert_close(got[0], want, rtol=0, atol=1e-6)
    torch.testing.assert_close(whole, integer, rtol=0, atol=0)


def test_gradients_reach_every_parameter() -> None:
    model = tiny().train()
    loss = model(torch.randn(2, 512), torch.tensor([1, 2]), torch.randn(2, 20, 2)).square().mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_training_and_prepared_inference_paths_agree() -> None:
    model = tiny()
    mel, audio, step = torch.randn(2, 20, 4), torch.randn(2, 4 * 256), torch.tensor([3, 41])
    with_grad = model(audio, step, mel)
    model.prepare_for_inference()
    with torch.inference_mode():
        without = model(audio, step, mel)
    assert with_grad.requires_grad
    torch.testing.assert_close(without, with_grad.detach(), rtol=0, atol=1e-6)


def test_gated_unit_gradient_is_that_of_sigmoid_times_tanh() -> None:
    y = torch.randn(2, 6, 40, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: gated(v, 3), (y,))
    y32 = torch.randn(3, 8, 500) * 3
    grad = torch.randn(3, 4, 500)
    mine, want = y32.clone().requires_grad_(), y32.clone().requires_grad_()
    gated(mine, 4).backward(grad)
    (torch.sigmoid(want[:, :4]) * torch.tanh(want[:, 4:])).backward(grad)
    torch.testing.assert_close(mine.grad, want.grad, rtol=0, atol=1e-6)


def test_residual_block_is_lmnts() -> None:
    from diffwave.model import ResidualBlock as LmntResidualBlock

    torch.manual_seed(0)
    ours, lmnt = ResidualBlock(20, 8, 4), LmntResidualBlock(20, 8, 4)
    lmnt.load_state_dict(ours.state_dict())
    x, mel, step = torch.randn(2, 8, 300), torch.randn(2, 20, 300), torch.randn(2, 512)
    got = ours(x, ours.conditioner_projection(mel), step)
    want = lmnt(x, mel, step)
    for mine, theirs in zip(got, want, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-6)
