"""DiffWave sampling without autograd: time-major, folded weights, cache-sized time tiles.

The same function as :meth:`DiffWave.denoise`, rearranged for speed on CPUs:

- Activations are time-major, ``(samples, channels)``, so every layer is two matrix products
  with the long time axis as rows: the dilated convolution as ``[x(t-d) | x(t) | x(t+d)]`` (or
  with the upsampled mel appended, when the conditioner is not cached) times a stacked weight,
  and the residual and skip projections together as one ``(C, 2C)`` product added in place into
  a ``[residual | skip]`` state.
- Constants are folded into the weights once per utterance: the ``1/sqrt(2)`` residual scaling
  (the state carries ``x * sqrt(2)**i``, and layer ``i``'s convolution is scaled by
  ``sqrt(2)**-i``), the residual biases (a per-channel offset added with the step projection),
  the factor 2 of ``tanh(y) = 2 * sigmoid(2y) - 1`` and the ``1/sqrt(L)`` of the skip sum.
- Each layer runs over time tiles of :attr:`Plan.tile` samples, so the gated activation and the
  two products of one tile stay in cache instead of streaming the whole utterance through
  memory several times per layer.
- Everything runs in one compute dtype (``float32``, or ``bfloat16``/``float16`` when the
  caller is under autocast), with weights and the cached conditioner stored in it.

In float32 the result equals :meth:`DiffWave.denoise` to rounding (about 1e-6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

if TYPE_CHECKING:
    from vocfw.plugins.models.diffwave import DiffWave

TILE_SAMPLES = 8192


@dataclass
class Plan:
    """Folded weights and per-utterance conditioning for :func:`denoise`.

    ``columns`` is scratch written by every :func:`denoise` call, so one plan serves one
    sampling loop at a time.

    Attributes:
        dtype: compute dtype of ``out``, ``cached`` and ``columns``.
        tile: time samples per tile.
        dilations: dilation of each layer.
        taps: (L, 3C, C2) float32 convolution weights, rows ``[tap -d | tap 0 | tap +d]``
            (C2 = 2C).
        mel: (L, M, 2C) float32 conditioner weights.
        bias: (L, 2C) float32 convolution plus conditioner biases.
        out: per layer, the (C, 2C) residual and skip projection, scaled for the state.
        offset: (L, C) residual-bias offset of the state entering each layer.
        scale: (L,) ``sqrt(2)**i``: state scale entering layer ``i``.
        cached: per cached layer, its (B, N, 2C) conditioner projection plus biases.
        columns: (B, N, 3C + 1 + M) scratch: convolution taps, ones (the bias column), mel.
        skip_bias: (C,) sum of the skip biases.
    """

    dtype: torch.dtype
    tile: int
    dilations: list[int]
    taps: torch.Tensor
    mel: torch.Tensor
    bias: torch.Tensor
    out: list[torch.Tensor]
    offset: torch.Tensor
    scale: torch.Tensor
    cached: list[torch.Tensor]
    columns: torch.Tensor
    skip_bias: torch.Tensor


def compute_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype for ``device`` when autocast is on there, else float32."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return torch.float32


def _layer_weights(model: DiffWave) -> dict[str, torch.Tensor]:
    """Fold scales and biases into stacked float32 weights (see the module docstring)."""
    channels = model.residual_channels
    gain = torch.ones(2 * channels)
    gain[channels:] = 2.0  # tanh(y) = 2 * sigmoid(2y) - 1: the signal half is doubled
    taps, mel, bias, out, offsets = [], [], [], [], []
    scales = [math.sqrt(2.0) ** i for i in range(len(model.residual_layers))]
    offset = torch.zeros(channels)
    for layer, scale in zip(model.residual_layers, scales, strict=True):
        weight = layer.dilated_conv.weight.float().permute(2, 1, 0).reshape(3 * channels, -1)
        taps.append(weight / scale * gain)  # (3C, 2C)
        mel.append(layer.conditioner_projection.weight.float()[:, :, 0].t() * gain)  # (M, 2C)
        bias.append((layer.dilated_conv.bias + layer.conditioner_projection.bias).float() * gain)
        projection = layer.output_projection.weight.float()[:, :, 0].t() * 2.0  # (C, 2C)
        projection[:, :channels] *= scale
        out.append(projection)
        offsets.append(offset)
        offset = offset + scale * layer.output_projection.bias[:channels].float()
    return {"taps": torch.stack(taps), "mel": torch.stack(mel), "bias": torch.stack(bias),
            "out": out, "offset": torch.stack(offsets), "scale": torch.tensor(scales)}


@torch.no_grad()
def build_plan(
    model: DiffWave, upsampled: torch.Tensor, dtype: torch.dtype, cache_bytes: int,
    tile: int | None = None,
) -> Plan:
    """Fold the weights and cache the conditioner of the first layers that fit the budget.

    Args:
        model: the network.
        upsampled: (B, M, N) upsampled mel.
        dtype: compute dtype.
        cache_bytes: most bytes spent on cached conditioner projections.
        tile: time samples per tile.

    Returns:
        The plan :func:`denoise` runs.
    """
    device = upsampled.device
    batch, mels, samples = upsampled.shape
    channels = model.residual_channels
    weights = {key: value.to(device) if isinstance(value, torch.Tensor) else value
               for key, value in _layer_weights(model).items()}
    columns = torch.empty(batch, samples, 3 * channels + 1 + mels, dtype=dtype, device=device)
    columns[..., 3 * channels] = 1.0
    columns[..., 3 * channels + 1:] = upsampled.transpose(1, 2)
    flat = columns.view(batch * samples, -1)[:, 3 * channels + 1:]  # (B*N, M)
    per_layer = batch * samples * 2 * channels * columns.element_size()
    count = min(len(model.residual_layers), cache_bytes // max(per_layer, 1))
    cached = [
        torch.addmm(weights["bias"][i].to(dtype), flat, weights["mel"][i].to(dtype)).view(
            batch, samples, 2 * channels)  # (B, N, 2C)
        for i in range(count)
    ]
    skip_bias = sum(layer.output_projection.bias[channels:].float()
                    for layer in model.residual_layers)
    return Plan(
        dtype=dtype, tile=tile or TILE_SAMPLES,
        dilations=[layer.dilated_conv.dilation[0] for layer in model.residual_layers],
        taps=weights["taps"], mel=weights["mel"], bias=weights["bias"],
        out=[w.to(dtype) for w in weights["out"]], offset=weights["offset"],
        scale=weights["scale"], cached=cached, columns=columns, skip_bias=skip_bias.to(device),
    )


def _step_weights(plan: Plan, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-layer GEMM weights for one item and step, and the edge corrections.

    The shift ``t`` added to the convolution input becomes the weight row of the ones column,
    ``t @ (W_-d + W_0 + W_+d)`` (plus the biases where the conditioner is not cached); near the
    ends, where a tap reads the zero padding, its share ``t @ W_tap`` is taken back out.

    Args:
        plan: the plan.
        shift: (L, C) shift of each layer's convolution input, in state units.

    Returns:
        (L, 3C + 1 + M, 2C) weights in the compute dtype, and (L, 2, 2C) corrections for the
        first and last ``dilation`` samples.
    """
    layers, width, outputs = plan.taps.shape
    taps = plan.taps.view(layers, 3, width // 3, outputs)  # (L, 3, C, 2C)
    per_tap = torch.einsum("lc,lkco->lko", shift, taps)  # (L, 3, 2C)
    row = per_tap.sum(1)  # (L, 2C)
    row[len(plan.cached):] += plan.bias[len(plan.cached):]
    weights = torch.cat([plan.taps, row.unsqueeze(1), plan.mel], dim=1).to(plan.dtype)
    return weights, per_tap[:, [0, 2]].to(plan.dtype)


def _layer(
    plan: Plan, i: int, item: int, states: tuple[torch.Tensor, torch.Tensor],
    weights: tuple[torch.Tensor, torch.Tensor], scratch: torch.Tensor,
) -> None:
    """Run layer ``i`` on batch item ``item``: from ``states[0]`` into ``states[1]``.

    Each state is a padded (P + N + P, 2C) ``[residual | skip]``; the padding stays zero.
    ``weights`` are layer ``i``'s rows of :func:`_step_weights`. Tiles read neighbouring samples
    of the source, so the layer writes into the other state.
    """
    source, target = states
    weight, edges = weights  # (3C + 1 + M, 2C), (2, 2C)
    channels = source.shape[1] // 2
    columns = plan.columns[item]  # (N, 3C + 1 + M)
    samples = columns.shape[0]
    pad = (source.shape[0] - samples) // 2
    dilation = plan.dilations[i]
    cached = i < len(plan.cached)
    width = 3 * channels + 1 if cached else columns.shape[1]
    for start in range(0, samples, plan.tile):
        stop = min(start + plan.tile, samples)
        rows = columns[start:stop]  # (n, 3C + 1 + M)
        for tap in range(3):
            first = pad + start + (tap - 1) * dilation
            rows[:, tap * channels:(tap + 1) * channels] = source[
                first:first + stop - start, :channels]
        y = scratch[: stop - start]  # (n, 2C)
        if cached:
            torch.addmm(plan.cached[i][item, start:stop], rows[:, :width], weight[:width], out=y)
        else:
            torch.mm(rows, weight, out=y)
        if start < dilation:  # the first tap read zero padding: no shift there
            y[: min(stop, dilation) - start] -= edges[0]
        if stop > samples - dilation:  # nor for the last tap at the end
            y[max(start, samples - dilation) - start:] -= edges[1]
        y.sigmoid_()
        z = y[:, :channels].mul_(y[:, channels:].sub_(0.5))  # (n, C): half the gated output
        torch.addmm(source[pad + start:pad + stop], z, plan.out[i],
                    out=target[pad + start:pad + stop])


@torch.no_grad()
def denoise(model: DiffWave, plan: Plan, audio: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """:meth:`DiffWave.denoise` without autograd.

    Args:
        model: the network the plan was built from.
        plan: from :func:`build_plan` for the matching mel.
        audio: (B, N) noisy waveform.
        step: (B,) or (1,) steps.

    Returns:
        (B, N) predicted noise, float32.
    """
    with torch.autocast(audio.device.type, enabled=False):
        return _denoise(model, plan, audio.float(), step)


def _denoise(model: DiffWave, plan: Plan, audio: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    layers = model.residual_layers
    channels = model.residual_channels
    batch, samples = audio.shape
    pad = max(plan.dilations)
    embedding = model.diffusion_embedding(step)  # (B or 1, 512)
    weight = torch.cat([layer.diffusion_projection.weight for layer in layers])  # (L*C, 512)
    bias = torch.cat([layer.diffusion_projection.bias for layer in layers])
    steps = F.linear(embedding, weight, bias).view(-1, len(layers), channels)  # (B|1, L, C)
    shifts = steps * plan.scale.view(1, -1, 1) + plan.offset  # (B|1, L, C)
    inputs = F.relu(model.input_projection(audio.unsqueeze(1)))  # (B, C, N)
    scratch = torch.empty(min(plan.tile, samples), 2 * channels, dtype=plan.dtype,
                          device=audio.device)  # (tile, 2C)
    result = torch.empty_like(audio)  # (B, N)
    skip_projection = model.skip_projection.weight[:, :, 0].t().float() / math.sqrt(len(layers))
    skip_bias = model.skip_projection.bias.float() + plan.skip_bias @ skip_projection
    out_weight = model.output_projection.weight[0, :, 0].float()  # (C,)
    states = torch.zeros(2, samples + 2 * pad, 2 * channels, dtype=plan.dtype,
                         device=audio.device)  # 2 x (P + N + P, [residual | skip])
    for item in range(batch):
        states[0, pad:pad + samples, :channels] = inputs[item].t()
        states[0, :, channels:] = 0
        weights, edges = _step_weights(plan, shifts[item if shifts.shape[0] > 1 else 0])
        for i in range(len(layers)):
            _layer(plan, i, item, (states[i % 2], states[1 - i % 2]), (weights[i], edges[i]),
                   scratch)
        skip = states[len(layers) % 2, pad:pad + samples, channels:].float()  # (N, C)
        hidden = F.relu(torch.addmm(skip_bias, skip, skip_projection))  # (N, C)
        result[item] = hidden @ out_weight + model.output_projection.bias.float()
    return result
