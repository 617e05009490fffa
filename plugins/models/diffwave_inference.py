"""DiffWave sampling without autograd: time-major, folded weights, in-place cache-sized tiles.

The same function as :meth:`DiffWave.denoise`'s reference path, rearranged for speed on CPUs
(:meth:`DiffWave.prepare_for_inference` asks for it):

- Activations are time-major, ``(samples, channels)``, in one ``[residual | skip]`` state per
  batch item, so every layer is a few matrix products with the long time axis as rows, read
  straight from strided views of the state (no copies): the dilated convolution as
  ``x(t-d) @ W_-d + x(t) @ W_0 + x(t+d) @ W_+d`` accumulated onto the layer's conditioner
  projection plus step shift, and the residual and skip projections together as one ``(C, 2C)``
  product accumulated into the state in place.
- Constants are folded into the weights once (:func:`fold_weights`): the ``1/sqrt(2)``
  residual scaling (the state carries ``x * sqrt(2)**i``, and layer ``i``'s convolution is
  scaled by ``sqrt(2)**-i``), the residual biases (a per-channel offset added with the step shift),
  the factor 2 of ``tanh(y) = 2 * sigmoid(2y) - 1`` and the ``1/sqrt(L)`` of the skip sum.
- The layers run over time tiles of :attr:`Plan.tile` samples in a staggered wavefront: in
  each sweep every layer does one tile, layer ``i``'s tiles lagging layer ``i-1``'s by
  ``dilation_i`` samples, just what its ``x(t+d)`` tap reads ahead (see :mod:`.diffwave_wavefront`).
  So only about one tile plus the sum of the dilations of the state is live at a time and
  stays in cache, whatever the input length, instead of every layer streaming the whole
  utterance through memory. A tile is updated in place once its products are done; the
  ``dilation`` residual rows before the layer's next tile are kept aside first, for that
  tile's ``x(t-d)`` tap.
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

from vocfw.core.host_memory import hugepage_empty
from vocfw.plugins.models.diffwave_wavefront import wavefront

if TYPE_CHECKING:
    from vocfw.plugins.models.diffwave import DiffWave

TILE_SAMPLES = 8192

FoldedWeights = dict[str, torch.Tensor | list[torch.Tensor]]
"""What :func:`fold_weights` makes of a model's weights, once (float32, on its device)."""


@dataclass
class Plan:
    """Folded weights and per-utterance conditioning for :func:`denoise`.

    Attributes:
        dtype: compute dtype of the weights, ``cached``, ``upsampled`` and the state.
        tile: time samples per wavefront tile (see :func:`.diffwave_wavefront.wavefront`).
        dilations: dilation of each layer.
        taps: (L, 3, C, 2C) float32 convolution weights of the taps ``[-d, 0, +d]`` (C2 = 2C).
        weights: ``taps`` in the compute dtype.
        mel: (L, M, 2C) conditioner weights in the compute dtype.
        bias: (L, 2C) float32 convolution plus conditioner biases.
        out: per layer, the (C, 2C) residual and skip projection, scaled for the state.
        offset: (L, C) residual-bias offset of the state entering each layer.
        scale: (L,) ``sqrt(2)**i``: state scale entering layer ``i``.
        cached: per cached layer, its (B, N, 2C) conditioner projection.
        upsampled: (B, N, M) time-major upsampled mel, for the layers not cached (else None).
        skip_bias: (C,) sum of the skip biases.
    """

    dtype: torch.dtype
    tile: int
    dilations: list[int]
    taps: torch.Tensor
    weights: torch.Tensor
    mel: torch.Tensor
    bias: torch.Tensor
    out: list[torch.Tensor]
    offset: torch.Tensor
    scale: torch.Tensor
    cached: list[torch.Tensor]
    upsampled: torch.Tensor | None
    skip_bias: torch.Tensor


def compute_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype for ``device`` when autocast is on there, else float32."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return torch.float32


@torch.no_grad()
def fold_weights(model: DiffWave) -> FoldedWeights:
    """Fold scales and biases into stacked float32 weights (see the module docstring): taps
    (L, 3, C, 2C), mel (L, M, 2C), bias (L, 2C), out L x (C, 2C), offset (L, C), scale (L,)
    and skip_bias (C,), as :class:`Plan` describes them."""
    channels = model.residual_channels
    device = model.input_projection.weight.device
    gain = torch.ones(2 * channels, device=device)
    gain[channels:] = 2.0  # tanh(y) = 2 * sigmoid(2y) - 1: the signal half is doubled
    taps, mel, bias, out, offsets = [], [], [], [], []
    scales = [math.sqrt(2.0) ** i for i in range(len(model.residual_layers))]
    offset = torch.zeros(channels, device=device)
    for layer, scale in zip(model.residual_layers, scales, strict=True):
        weight = layer.dilated_conv.weight.float().permute(2, 1, 0)  # (3, C, 2C)
        taps.append(weight / scale * gain)
        mel.append(layer.conditioner_projection.weight.float()[:, :, 0].t() * gain)  # (M, 2C)
        bias.append((layer.dilated_conv.bias + layer.conditioner_projection.bias).float() * gain)
        projection = layer.output_projection.weight.float()[:, :, 0].t() * 2.0  # (C, 2C)
        projection[:, :channels] *= scale
        out.append(projection)
        offsets.append(offset)
        offset = offset + scale * layer.output_projection.bias[:channels].float()
    skip_bias = sum(layer.output_projection.bias[channels:].float()
                    for layer in model.residual_layers)
    return {"taps": torch.stack(taps), "mel": torch.stack(mel), "bias": torch.stack(bias),
            "out": out, "offset": torch.stack(offsets), "scale": torch.tensor(scales),
            "skip_bias": skip_bias}


@torch.no_grad()
def build_plan(
    model: DiffWave, folded: FoldedWeights, upsampled: torch.Tensor, dtype: torch.dtype,
    cache_bytes: int, tile: int | None = None,
) -> Plan:
    """Cache the conditioner of the first layers that fit the budget.

    Args:
        model: the network.
        folded: its weights from :func:`fold_weights`.
        upsampled: (B, M, N) upsampled mel.
        dtype: compute dtype.
        cache_bytes: most bytes spent on cached conditioner projections.
        tile: time samples per wavefront tile (default :data:`TILE_SAMPLES`).

    Returns:
        The plan :func:`denoise` runs.
    """
    device = upsampled.device
    batch, _, samples = upsampled.shape
    channels = model.residual_channels
    weights = {key: value.to(device) if isinstance(value, torch.Tensor) else
               [w.to(device) for w in value] for key, value in folded.items()}
    mel = weights["mel"].to(dtype)  # (L, M, 2C)
    frames = upsampled.transpose(1, 2).to(dtype).contiguous()  # (B, N, M)
    flat = frames.view(batch * samples, -1)  # (B*N, M)
    per_layer = batch * samples * 2 * channels * frames.element_size()
    count = min(len(model.residual_layers), cache_bytes // max(per_layer, 1))
    cache = hugepage_empty(count, batch * samples, 2 * channels, dtype=dtype, device=device)
    cached = [torch.mm(flat, mel[i], out=cache[i]).view(batch, samples, 2 * channels)
              for i in range(count)]  # (B, N, 2C)
    return Plan(
        dtype=dtype, tile=tile or TILE_SAMPLES,
        dilations=[layer.dilated_conv.dilation[0] for layer in model.residual_layers],
        taps=weights["taps"], weights=weights["taps"].to(dtype), mel=mel,
        bias=weights["bias"], out=[w.to(dtype) for w in weights["out"]],
        offset=weights["offset"], scale=weights["scale"], cached=cached,
        upsampled=frames if count < len(model.residual_layers) else None,
        skip_bias=weights["skip_bias"],
    )


def _step_rows(plan: Plan, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-layer step rows for one item and step, and the edge corrections.

    The shift ``t`` added to the convolution input adds ``t @ (W_-d + W_0 + W_+d)`` to every
    output, as do the biases; near the ends, where a tap reads the zero padding, its share
    ``t @ W_tap`` is taken back out.

    Args:
        plan: the plan.
        shift: (L, C) shift of each layer's convolution input, in state units.

    Returns:
        (L, 2C) rows and (L, 2, 2C) corrections for the first and last ``dilation`` samples,
        in the compute dtype.
    """
    per_tap = torch.einsum("lc,lkco->lko", shift, plan.taps)  # (L, 3, 2C)
    row = per_tap.sum(1) + plan.bias  # (L, 2C)
    return row.to(plan.dtype), per_tap[:, [0, 2]].to(plan.dtype)


def _tile(
    plan: Plan, i: int, item: int, state: torch.Tensor, step: tuple[torch.Tensor, torch.Tensor],
    buffers: tuple[torch.Tensor, torch.Tensor], bounds: tuple[int, int],
) -> None:
    """Run layer ``i`` on samples ``[start, stop)`` of batch item ``item``, in place.

    ``state`` is the item's padded (P + N + P, 2C) ``[residual | skip]``; the padding stays
    zero. ``step`` is layer ``i``'s row and edge corrections from :func:`_step_rows`;
    ``buffers`` are scratch for the tile's products (tile, 2C) and layer ``i``'s ``dilation``
    residual rows before its next tile (D, C); ``bounds`` come from :func:`wavefront`.
    """
    row, edges = step  # (2C,), (2, 2C)
    scratch, kept = buffers
    start, stop = bounds
    channels = state.shape[1] // 2
    residual = state[:, :channels]  # (P + N + P, C)
    pad = max(plan.dilations)
    samples = state.shape[0] - 2 * pad
    dilation, (left, middle, right) = plan.dilations[i], plan.weights[i]  # 3 x (C, 2C)
    y = scratch[: stop - start]  # (n, 2C)
    first, last = pad + start, pad + stop
    if i < len(plan.cached):
        torch.add(plan.cached[i][item, start:stop], row, out=y)
    else:
        torch.addmm(row, plan.upsampled[item, start:stop], plan.mel[i], out=y)
    if start == 0:
        y.addmm_(residual[first - dilation:last - dilation], left)
    else:  # rows before the tile were updated already: their old values were kept
        head = min(dilation, stop - start)
        y[:head].addmm_(kept[:head], left)
        y[head:].addmm_(residual[first:last - dilation], left)
    y.addmm_(residual[first:last], middle)
    y.addmm_(residual[first + dilation:last + dilation], right)
    if start < dilation:  # the first tap read zero padding: no shift there
        y[: min(stop, dilation) - start] -= edges[0]
    if stop > samples - dilation:  # nor for the last tap at the end
        y[max(start, samples - dilation) - start:] -= edges[1]
    y.sigmoid_()
    z = y[:, :channels].mul_(y[:, channels:].sub_(0.5))  # (n, C): half the gated output
    kept[:dilation] = residual[last - dilation:last]
    state[first:last].addmm_(z, plan.out[i])


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
    in_weight = model.input_projection.weight[:, 0, 0].float().view(1, -1)  # (1, C)
    in_bias = model.input_projection.bias.float()  # (C,)
    order = wavefront(samples, plan.tile, plan.dilations)
    longest = max(stop - start for _, start, stop in order)
    scratch = torch.empty(longest, 2 * channels, dtype=plan.dtype, device=audio.device)  # (n, 2C)
    kept = torch.empty(len(layers), pad, channels, dtype=plan.dtype,
                       device=audio.device)  # (L, D, C)
    result = torch.empty_like(audio)  # (B, N)
    skip_projection = model.skip_projection.weight[:, :, 0].t().float() / math.sqrt(len(layers))
    skip_bias = model.skip_projection.bias.float() + plan.skip_bias @ skip_projection
    out_weight = model.output_projection.weight[0, :, 0].float()  # (C,)
    state = hugepage_empty(samples + 2 * pad, 2 * channels, dtype=plan.dtype,
                           device=audio.device).zero_()  # (P + N + P, [residual | skip])
    for item in range(batch):
        inputs = state[pad:pad + samples, :channels]  # (N, C): relu of the input projection
        direct = inputs if plan.dtype == torch.float32 else None  # else rounded once from fp32
        inputs.copy_(torch.addmm(in_bias, audio[item].view(-1, 1), in_weight, out=direct))
        inputs.relu_()
        state[:, channels:] = 0
        rows, edges = _step_rows(plan, shifts[item if shifts.shape[0] > 1 else 0])
        for i, start, stop in order:
            _tile(plan, i, item, state, (rows[i], edges[i]), (scratch, kept[i]), (start, stop))
        skip = state[pad:pad + samples, channels:].float()  # (N, C)
        hidden = F.relu(torch.addmm(skip_bias, skip, skip_projection))  # (N, C)
        result[item] = hidden @ out_weight + model.output_projection.bias.float()
    return result
