"""WaveGrad: the network, its diffusion process, its pairs with the other samplers and models,
chunked and bf16 inference, and lmnt-com/wavegrad checkpoint conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.components import SpecError, build_components
from vocfw.core.diffusion import FAST_SCHEDULE, align_steps
from vocfw.core.infer.vocode import min_overlap_frames, vocode
from vocfw.core.runs.checkpoint import load_components
from vocfw.core.sampler import Sampler
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_convert import ConversionError
from vocfw.plugins.models.wavegrad import WaveGrad, upsample_factors
from vocfw.plugins.models.wavegrad_convert import export_lmnt_wavegrad, import_lmnt_wavegrad
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.priorgrad import PriorGrad
from vocfw.plugins.samplers.wavegrad import WaveGradDiffusion

RECIPE = MelConfig()  # 24 kHz, hop 256, 100 bands
LMNT = MelConfig.lmnt_wavegrad()  # 22.05 kHz, hop 300, 128 bands


def tiny(n_mels: int = 20, hop_length: int = 256) -> WaveGrad:
    torch.manual_seed(0)
    return WaveGrad(n_mels, hop_length, base_channels=4).eval()


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def spec(features: MelConfig, sampler: str = "WaveGradDiffusion", **sampler_args: object) -> dict:
    return {"features": features.to_dict(),
            "model": {"class_path": "WaveGrad",
                      "init_args": {"n_mels": features.n_mels, "hop_length": features.hop_length,
                                    "base_channels": 2}},
            "sampler": {"class_path": sampler, "init_args": sampler_args}}


def test_both_feature_settings_build_with_the_stated_sizes() -> None:
    for features, params in ((RECIPE, 15_856_481), (LMNT, 15_920_993)):
        full = spec(features)
        del full["model"]["init_args"]["base_channels"]
        components = build_components(full)
        assert (components.model.n_mels, components.model.hop_length) == (
            features.n_mels, features.hop_length)
        assert count(components.model) == params


@pytest.mark.parametrize(("hop", "factors"), [(300, (5, 5, 3, 2, 2)), (256, (4, 4, 4, 2, 2)),
                                              (240, (5, 4, 3, 2, 2)), (32, (2, 2, 2, 2, 2))])
def test_the_hop_is_split_into_five_factors(hop: int, factors: tuple[int, ...]) -> None:
    assert upsample_factors(hop) == factors
    model = WaveGrad(n_mels=4, hop_length=hop, base_channels=2)
    with torch.no_grad():
        out = model(torch.randn(2, 3 * hop), torch.tensor([0.5]), torch.randn(2, 4, 3))
    assert out.shape == (2, 3 * hop)


@pytest.mark.parametrize("hop", [257, 16, 2 * 3 * 5 * 7, 1])
def test_a_hop_without_five_factors_is_refused(hop: int) -> None:
    with pytest.raises(ValueError, match=f"model.hop_length={hop} cannot be split"):
        WaveGrad(hop_length=hop)


def test_odd_widths_and_mismatched_mels_are_refused() -> None:
    with pytest.raises(ValueError, match="model.base_channels must be a positive even"):
        WaveGrad(base_channels=3)
    with pytest.raises(ValueError, match="23 mel bands instead of 20"):
        tiny().condition(torch.zeros(1, 23, 4))
    bad = spec(RECIPE)
    bad["model"]["init_args"]["n_mels"] = 80
    with pytest.raises(SpecError, match="expects 80 mel bands"):
        build_components(bad)


def test_batched_levels_match_one_item_at_a_time_and_gradients_reach_every_parameter() -> None:
    model = tiny()
    mel, audio, level = torch.randn(3, 20, 4), torch.randn(3, 4 * 256), torch.tensor([.1, .5, 1.])
    with torch.no_grad():
        batched = model(audio, level, mel)
        single = torch.cat([model(audio[i:i + 1], level[i:i + 1], mel[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-5)
    model.train()
    model(audio, level, mel).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("hop", [256, 300])
def test_an_input_sample_reaches_no_further_than_the_receptive_field(hop: int) -> None:
    model = tiny(hop_length=hop)
    mel, audio, level = torch.randn(1, 20, 40), torch.randn(1, 40 * hop), torch.tensor([0.4])
    bumped = audio.clone()
    bumped[0, 20 * hop + 7] += 1.0
    with torch.no_grad():
        changed = (model(bumped, level, mel) - model(audio, level, mel)).abs()[0] > 0
    span = changed.nonzero().flatten()
    assert 0 < int(span[-1] - span[0]) + 1 <= model.receptive_field


def test_a_window_with_the_overlap_margin_gives_the_whole_input_output() -> None:
    model, hop = tiny(), 256
    mel, audio, level = torch.randn(1, 20, 60), torch.randn(1, 60 * hop), torch.tensor([0.6])
    margin = min_overlap_frames(model)
    start, stop = 25, 35
    with torch.no_grad():
        whole = model(audio, level, mel)[0, start * hop: stop * hop]

        def window(m: int) -> torch.Tensor:
            a, b = start - m, stop + m
            out = model(audio[:, a * hop: b * hop], level, mel[:, :, a:b])
            return out[0, m * hop: (m + stop - start) * hop]

        torch.testing.assert_close(window(margin), whole, rtol=0, atol=1e-5)
        assert (window(1) - whole).abs().max() > 1e-3  # a short margin is not enough


def test_bf16_autocast_follows_fp32() -> None:
    model = tiny()
    mel, audio, level = torch.randn(2, 20, 6), torch.randn(2, 6 * 256), torch.tensor([0.3, 0.8])
    with torch.inference_mode():
        want = model(audio, level, mel)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = model(audio, level, mel)
    assert got.dtype == torch.bfloat16
    error = (got.float() - want).abs().max() / want.abs().max()
    assert error < 0.05


@pytest.mark.slow
def test_chunked_bf16_vocoding_is_bounded_and_independent_of_the_batch() -> None:
    torch.manual_seed(0)
    components = build_components(spec(RECIPE))
    mels = [np.random.default_rng(i).normal(-4, 2, (100, n)).astype(np.float32)
            for i, n in enumerate((50, 9))]
    settings = {"seed": 1, "chunk_frames": 36, "precision": "bf16"}
    together = vocode(components, mels, batch_size=4, **settings)
    alone = vocode(components, mels[:1], batch_size=1, **settings)
    assert [w.size for w in together] == [50 * 256, 9 * 256]
    assert all(np.isfinite(w).all() for w in together)
    np.testing.assert_allclose(together[0], alone[0], atol=1e-2)


def test_default_schedules_are_lmnts_training_and_diffwaves_fast_one() -> None:
    sampler = WaveGradDiffusion()
    np.testing.assert_allclose(sampler.train_betas, np.linspace(1e-6, 0.01, 1000))
    np.testing.assert_allclose(sampler.inference_betas, FAST_SCHEDULE)
    assert sampler.levels[0] == 1.0 and sampler.levels.shape == (1001,)
    assert sampler.aligned_steps == align_steps(sampler.train_betas, FAST_SCHEDULE)


class Recorder(torch.nn.Module):
    """Stands in for a model: records its time inputs and predicts zero noise."""

    def __init__(self, time_input: str) -> None:
        super().__init__()
        self.time_input, self.seen = time_input, []

    def forward(self, audio: torch.Tensor, time: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        self.seen.append(time)
        return torch.zeros_like(audio)


def test_training_levels_lie_between_adjacent_levels_and_steps_match_them() -> None:
    sampler = WaveGradDiffusion(num_steps=20, inference_schedule="full")
    audio, mel = torch.zeros(4000, 8), torch.zeros(4000, 1, 1)
    level_model, step_model = Recorder("noise_level"), Recorder("step")
    sampler.training_loss(level_model, audio, mel, torch.Generator().manual_seed(0))
    levels = level_model.seen[0]
    assert levels.min() >= sampler.levels[-1] and levels.max() <= 1.0
    assert (levels > sampler.levels[1]).any()  # lmnt's top interval is trained
    sampler.training_loss(step_model, audio, mel, torch.Generator().manual_seed(1))
    steps = step_model.seen[0]
    generator = torch.Generator().manual_seed(1)
    s = torch.randint(2, 21, (4000,), generator=generator)  # the sampler's draws, in order
    u = torch.rand(4000, generator=generator)
    torch.testing.assert_close(steps, (s - 2).float() + u)
    assert steps.min() >= 0 and steps.max() < 19
    # the step is where the drawn level lies, interpolating sqrt(alpha_bar) as align_steps does
    drawn = sampler.levels[s - 1] + u * (sampler.levels[s] - sampler.levels[s - 1])
    root_bar = sampler.levels[1:].double()
    low = steps.floor().long()
    at_step = root_bar[low] + (steps - low).double() * (root_bar[low + 1] - root_bar[low])
    torch.testing.assert_close(at_step.float(), drawn, rtol=0, atol=1e-6)


class StepOnly(Sampler):
    """Supplies only training steps."""

    def training_loss(self, model, audio, mel, generator=None):
        raise NotImplementedError

    def sample(self, model, mel, generator=None):
        raise NotImplementedError


def test_valid_pairs_build_and_the_refused_ones_say_why() -> None:
    for sampler in ("DDPM", "WaveGradDiffusion"):
        assert build_components(spec(RECIPE, sampler)).model.time_input == "noise_level"
    diffwave = build_components({**spec(RECIPE), "model": {"class_path": "DiffWave",
                                                          "init_args": {"num_steps": 1000}}})
    assert diffwave.sampler.model_incompatibility(diffwave.model) is None
    assert diffwave.model.diffusion_embedding.embedding.shape[0] == 1000
    reason = StepOnly().model_incompatibility(WaveGrad(base_channels=2))
    assert reason == ("WaveGrad takes a noise level as its time input, but StepOnly supplies "
                      "only step")
    mismatch = {**spec(RECIPE), "model": {"class_path": "DiffWave", "init_args": {"num_steps": 50}}}
    with pytest.raises(SpecError, match="model.init_args.num_steps is 50"):
        build_components(mismatch)


def test_replacing_the_sampler_at_predict_time_checks_the_training_process() -> None:
    trained = WaveGradDiffusion()
    assert WaveGradDiffusion(inference_schedule="full").incompatibility(trained) is None
    assert DDPM(1e-6, 0.01, 1000, "fast").incompatibility(trained) is None
    reason = WaveGradDiffusion().incompatibility(DDPM())
    assert reason is not None and "differs from the one the model was trained with" in reason
    reason = WaveGradDiffusion().incompatibility(StepOnly())
    assert reason == ("the model was trained with StepOnly (StepOnly noise process), but "
                      "WaveGradDiffusion inverts the ddpm process")
    assert "priorgrad" in WaveGradDiffusion().incompatibility(PriorGrad())
    with pytest.raises(ValueError, match="outside the trained range"):
        WaveGradDiffusion(inference_schedule=[1e-4, 0.9, 0.9, 0.9])


def test_sampling_is_ddpms_reverse_process_with_noise_levels() -> None:
    model = tiny()
    mel = torch.randn(2, 20, 3)
    ours = WaveGradDiffusion().sample(model, mel, torch.Generator().manual_seed(3))
    ddpm = DDPM(1e-6, 0.01, 1000, "fast").sample(model, mel, torch.Generator().manual_seed(3))
    assert torch.equal(ours, ddpm)


def write_lmnt(path: Path, state: dict, params: dict | None = None, step: int = 77) -> Path:
    payload = {"step": step, "model": state, "optimizer": {"state": {}, "param_groups": []}}
    if params is not None:
        payload["params"] = params
    torch.save(payload, path)
    return path


def small_state(n_mels: int = 128, hop: int = 300, base: int = 2) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return WaveGrad(n_mels, hop, base_channels=base).state_dict()


def test_import_reads_the_size_from_the_tensors_and_gives_lmnts_features(tmp_path: Path) -> None:
    state = small_state()
    params = {"sample_rate": 22050, "hop_samples": 300,
              "noise_schedule": np.linspace(1e-6, 0.01, 1000).tolist()}
    folder = import_lmnt_wavegrad(write_lmnt(tmp_path / "weights.pt", state, params), tmp_path)
    assert folder == tmp_path / "checkpoint" / "epoch-0000_step-0000077_loss-0.000000"
    components, _ = load_components(folder)
    assert components.features == LMNT
    assert components.model.factors == (5, 5, 3, 2, 2)
    assert components.spec["model"]["init_args"]["base_channels"] == 2
    assert isinstance(components.sampler, WaveGradDiffusion)
    assert all(torch.equal(components.model.state_dict()[k], v) for k, v in state.items())


def test_import_without_params_uses_lmnts_defaults(tmp_path: Path) -> None:
    folder = import_lmnt_wavegrad(write_lmnt(tmp_path / "weights.pt", small_state()), tmp_path)
    components, _ = load_components(folder)
    assert components.features == LMNT
    assert components.sampler.train_betas.size == 1000


def test_bad_checkpoints_and_unexportable_runs_are_refused(tmp_path: Path) -> None:
    state = small_state()
    del state["film.2.output_conv.bias"]
    state["upsample.0.extra"] = torch.zeros(1)
    with pytest.raises(ConversionError, match=r"film.2.output_conv.bias.*upsample.0.extra"):
        import_lmnt_wavegrad(write_lmnt(tmp_path / "a.pt", state), tmp_path / "a")
    diffwave = DiffWave(residual_layers=2, residual_channels=4).state_dict()
    with pytest.raises(ConversionError, match="not a WaveGrad state dict"):
        import_lmnt_wavegrad(write_lmnt(tmp_path / "b.pt", diffwave), tmp_path / "b")
    with pytest.raises(ConversionError, match="params.hop_samples must be an integer"):
        import_lmnt_wavegrad(write_lmnt(tmp_path / "c.pt", small_state(), {"hop_samples": "x"}),
                             tmp_path / "c")
    with pytest.raises(ConversionError, match="model.hop_length=290 cannot be split"):
        import_lmnt_wavegrad(write_lmnt(tmp_path / "d.pt", small_state(), {"hop_samples": 290}),
                             tmp_path / "d")
    recipe = import_lmnt_wavegrad(write_lmnt(tmp_path / "e.pt", small_state(100, 256),
                                             {"hop_samples": 256}), tmp_path / "e")
    with pytest.raises(ConversionError, match="builds only WaveGrad"):
        export_lmnt_wavegrad(recipe, tmp_path / "e.pt")
    with pytest.raises(ConversionError, match="weights-only"):
        torch.save({"model": small_state(), "params": {"x": Path("a")}}, tmp_path / "evil.pt")
        import_lmnt_wavegrad(tmp_path / "evil.pt", tmp_path / "f")


def test_lmnt_wavegrad_features_are_lmnts_transform() -> None:
    import torchaudio.transforms as TT

    audio = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, 22050).astype("f4"))
    reference = TT.MelSpectrogram(sample_rate=22050, n_fft=2048, win_length=1200, hop_length=300,
                                  f_min=20.0, f_max=11025.0, power=1.0, normalized=True)(audio)
    reference = torch.clamp((20 * torch.log10(torch.clamp(reference, min=1e-5)) - 20 + 100) / 100,
                            0.0, 1.0)
    got = MelSpectrogram(LMNT)(audio)
    assert got.shape == (128, LMNT.num_frames(22050))
    torch.testing.assert_close(got, reference, rtol=0, atol=1e-5)
