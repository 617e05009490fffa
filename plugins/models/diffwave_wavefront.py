"""The order in which DiffWave's fast sampling path (:mod:`.diffwave_inference`) runs its
layers over time tiles: a staggered wavefront that keeps the live state in cache."""

from __future__ import annotations


def wavefront(samples: int, tile: int, dilations: list[int]) -> list[tuple[int, int, int]]:
    """The order of the (layer, start, stop) tiles of one network call.

    Sweep ``s`` runs every layer once, in layer order, layer ``i`` on samples
    ``[s * tile - lag_i, (s + 1) * tile - lag_i)`` clipped to the input, where ``lag_i`` is the
    sum of the dilations of layers 1 to ``i``. Layer ``i``'s tile reads layer ``i-1``'s output
    up to ``dilation_i`` samples past its end, which layer ``i-1`` has just written, and not yet
    overwritten with its own. Every tile but a layer's first and last is ``tile`` long, at
    least the largest dilation, so the rows kept aside for the next tile's ``x(t-d)`` tap all
    come from the tile before it.

    Args:
        samples: input length N.
        tile: samples per tile (raised to the largest dilation if smaller).
        dilations: dilation of each layer.

    Returns:
        ``(layer, start, stop)`` in running order; each layer's tiles cover ``[0, N)`` in order.
    """
    tile = max(tile, max(dilations))
    lags = [sum(dilations[1:i + 1]) for i in range(len(dilations))]
    order = []
    for sweep in range(-(-(samples + lags[-1]) // tile)):
        for i, lag in enumerate(lags):
            start, stop = max(sweep * tile - lag, 0), min((sweep + 1) * tile - lag, samples)
            if start < stop:
                order.append((i, start, stop))
    return order
