"""Value zeroing (Mohebbi et al. 2023, "Quantifying Context Mixing in Transformers").

For layer l and input token j: set token j's value vectors to zero in every head of that layer (v_j = x_j W_V + b_V
-> 0, so no query can read anything from j through attention; j's residual stays), rerun the whole encoder layer
(attention, residual, LN1, FFN, LN2) on the layer's real input, and score each output token i by the cosine
distance between its original output u_i and the new one u_i^¬j:

    VZ[l, i, j] = 1 − cos(u_i, u_i^¬j),   rows normalised to sum 1 (an all-zero row -> one-hot on i),

computed as ‖û_i − û_i^¬j‖²/2 in float64 (``cosine_distance``), which keeps the small distances exact.

Row i is the output token, column j the input token (the attention's query/key layout); (L, n, n), no per-head part,
the residual inside (flows over it must not add rollout's ½·I). The n variants of one layer run as one batch
(chunked by ``batch_size``), so the cost is one layer rerun per token and layer: n · L reruns in all, bounded by
``max_reruns`` (an AttnflowError names the limit). The layer inputs and outputs come from ``internals.Internals``
(``hidden``), recorded in the forward pass, so the model is not run again as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from attnflow_core.contributions import normalise_rows
from attnflow_core.errors import AttnflowError
from attnflow_core.internals import VALUE

#: Default bound on tokens × layers (one layer rerun of n variants each): 128 tokens through 12 layers.
MAX_RERUNS = 128 * 12


class ValueZeroingTooLarge(AttnflowError, ValueError):
    """Value zeroing would rerun more token × layer variants than allowed; the message names the limit."""


def zeroed_outputs(layer: Any, hidden: Any, keep: Any) -> Any:
    """Run one BERT-family encoder ``layer`` on V copies of one input with some value vectors zeroed.

    ``hidden`` (n, D) tensor: the layer's real input; ``keep`` (V, n) tensor of 0/1: variant v keeps token t's value
    vectors where ``keep[v, t]`` is 1 and zeroes them where it is 0. Returns the V outputs (V, n, D), float32. With
    every entry 1 this is the layer's own output (the value-zeroing test). No attention mask: the n tokens are one
    example without padding.
    """
    import torch

    value = dict(layer.named_modules())[VALUE]
    param = next(layer.parameters())
    x = hidden.to(param.device, param.dtype).unsqueeze(0).expand(keep.shape[0], -1, -1).contiguous()
    mask = keep.to(param.device, param.dtype).unsqueeze(-1)  # (V, n, 1)

    def zero(_m: Any, _args: Any, output: Any) -> Any:
        return output * mask

    handle = value.register_forward_hook(zero)
    try:
        with torch.inference_mode():
            out = layer(x, attention_mask=None)
    finally:
        handle.remove()
    out = out[0] if isinstance(out, tuple) else out
    return out.float().cpu()


def cosine_distance(a: Any, b: Any) -> Any:
    """1 − cos(a, b) over the last axis, as ‖â − b̂‖² / 2 of the unit vectors in float64: the same number, without
    the cancellation of 1 − cos when the vectors barely differ (zeroing one token often moves an output by
    ~1e-6 in cosine, at float32's resolution). Broadcasts; a zero vector (cosine undefined) gives ½."""
    import torch

    a, b = a.double(), b.double()
    a = a / torch.linalg.vector_norm(a, dim=-1, keepdim=True).clamp_min(1e-300)
    b = b / torch.linalg.vector_norm(b, dim=-1, keepdim=True).clamp_min(1e-300)
    return ((a - b) ** 2).sum(-1) / 2


def value_zeroing(
    layers: Sequence[Any],
    hidden: np.ndarray,
    progress: Callable[[float, str], None] | None = None,
    max_reruns: int = MAX_RERUNS,
    batch_size: int = 64,
) -> np.ndarray:
    """Value-zeroing context mixing of one example: (L, n, n) float32 (see the module docstring).

    ``layers``: the model's encoder layers in order (``internals.encoder_layers(model)``); ``hidden`` (L+1, n, D):
    each layer's input and the last output, ``Internals.hidden`` of one example. ``progress(fraction, message)`` is
    called after each layer. Raises ``ValueZeroingTooLarge`` when n · L exceeds ``max_reruns``.
    """
    import torch

    h = np.asarray(hidden, dtype=np.float32)
    n_layers, n = len(layers), h.shape[-2]
    if h.ndim != 3 or h.shape[0] != n_layers + 1:
        raise ValueError(
            f"hidden must have shape ({n_layers + 1}, n, D) (each layer's input, then the output)"
        )
    if n * n_layers > max_reruns:
        raise ValueZeroingTooLarge(
            f"value zeroing reruns each layer once per token: {n} tokens × {n_layers} layers = {n * n_layers} "
            f"reruns, over the limit of {max_reruns}; shorten the input (at most {max_reruns // n_layers} tokens) "
            "or choose another measure"
        )
    out = np.empty((n_layers, n, n), dtype=np.float32)
    drop = 1 - torch.eye(n)  # variant j zeroes token j
    for li, layer in enumerate(layers):
        x = torch.from_numpy(h[li])
        ref = torch.from_numpy(h[li + 1])
        for start in range(0, n, batch_size):
            new = zeroed_outputs(layer, x, drop[start : start + batch_size])  # (V, n_i, D)
            out[li, :, start : start + batch_size] = cosine_distance(new, ref.unsqueeze(0)).T.numpy()
        if progress is not None:
            progress((li + 1) / n_layers, f"value zeroing: layer {li + 1}/{n_layers} ({n} tokens)")
    return normalise_rows(out)
