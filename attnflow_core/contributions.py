"""Contribution measures: how much of each token's representation after a layer comes from each input token,
with the residual stream and the LayerNorms included (pure functions over ``internals.Internals``).

Notation as in ``internals``: layer input x, attention α^h, f^h(x_j) = v^h_j W_O^h, LN1 input
z_i = Σ_h Σ_j α^h_ij f^h(x_j) + b_O + x_i, attention-block output y_i = LN1(z_i). LN1 is linear once its scale σ1_i
(from the real z_i) is fixed: with ℓ1_i(w) = γ1 ⊙ (w − mean(w)) / σ1_i,

    T_i(x_j) = ℓ1_i( Σ_h α^h_ij f^h(x_j) + δ_ij x_j )      (the residual is assigned to the token itself)
    b_i      = ℓ1_i(b_O) + β1                                (the biases, kept as a separate term)
    Σ_j T_i(x_j) + b_i = y_i                                 exactly (``ln1_terms``; tested to 1e-5)

- ``alti`` (Ferrando et al. 2022, "Measuring the Mixing of Contextual Information in the Transformer"):
  c_ij = max(0, ‖y_i‖₁ − ‖y_i − T_i(x_j)‖₁), each row divided by its sum. A term close to the output scores high.
- ``globenc`` (Modarressi et al. 2022): the same terms through LN2's linear part with the real scale σ2_i of LN2's
  input FFN(y) + y, the FFN left out as in the paper: G_i(x_j) = γ2 ⊙ (T_i(x_j) − mean) / σ2_i; score ‖G_i(x_j)‖₂,
  rows normalised. (``ln2_terms``: Σ_j G_i(x_j) + LN2's share of b_i and of FFN(y_i) + β2 = the layer output.)
- ``residual_norm`` (Kobayashi et al. 2021, attention + residual + LN1): ‖T_i(x_j)‖₂, rows normalised; the
  "norm-based" row of Ferrando et al.'s table (not ``measures.norm_weighted``, which has no residual).

Every measure is (L, n, n): ``C[l, i, j]`` with row i the output token and column j the input token (the layout
of the attention's query and key axes), rows summing to 1. There is no per-head part (the residual is not a head). The residual is inside the measure, so flows over it must
not add rollout's ½·I (``flows.rollout(..., residual=False)``); feed it to the flow functions as (L, 1, n, n).
A row whose scores are all 0 becomes one-hot on the token itself (what the residual alone would carry).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnflow_core.internals import Internals

#: The measures whose matrices already include the residual stream (flows must not add ½·I over them).
#: To be replaced by the measure registry's ``includes_residual`` (issue 15).
MEASURES_WITH_RESIDUAL = frozenset({"alti", "globenc", "value-zeroing"})


def _check(internals: Internals, attn: np.ndarray) -> np.ndarray:
    if internals.batched:
        raise ValueError("pass one example's internals (Internals.example(k, m)), not a batch")
    a = np.asarray(attn)
    L, n = internals.num_layers, internals.num_tokens
    if a.ndim != 4 or a.shape[0] != L or a.shape[2:] != (n, n):
        raise ValueError(
            f"attention must have shape ({L}, heads, {n}, {n}) to match the internals; got {a.shape}"
        )
    if a.shape[1] != internals.weights.num_heads:
        raise ValueError(f"attention has {a.shape[1]} heads, the weights {internals.weights.num_heads}")
    return a


def _center(w: Any) -> Any:
    return w - w.mean(dim=-1, keepdim=True)


def _head_vectors(internals: Internals, layer: int) -> Any:
    """f^h(x_j) of one layer as a (H, n, D) float32 tensor."""
    import torch

    w = internals.weights
    v = torch.from_numpy(np.ascontiguousarray(internals.values[layer], dtype=np.float32))  # (n, H·d)
    wo = torch.from_numpy(np.ascontiguousarray(w.out_weight[layer], dtype=np.float32))  # (D, H·d)
    n, hd = v.shape
    heads = w.num_heads
    d = hd // heads
    vh = v.reshape(n, heads, d).permute(1, 0, 2)  # (H, n, d)
    wh = wo.reshape(wo.shape[0], heads, d).permute(1, 2, 0)  # (H, d, D)
    return torch.matmul(vh, wh)


def _mixed(attn: Any, head_vecs: Any, own: Any) -> Any:
    """M[i, j] = Σ_h attn[h, i, j] · head_vecs[h, j] + δ_ij · own[j]: attn (H, n, n), head_vecs (H, n, D),
    own (n, D) -> (n, n, D) tensor. One batched matmul over j (n_j, n_i, H) @ (n_j, H, D)."""
    import torch

    m = torch.matmul(attn.permute(2, 1, 0), head_vecs.permute(1, 0, 2)).transpose(0, 1)  # (n_i, n_j, D)
    m = m.contiguous()
    idx = torch.arange(m.shape[0])
    m[idx, idx] += own
    return m


def _ln1_parts(internals: Internals, attn: np.ndarray, layer: int) -> tuple[Any, Any, Any]:
    """(T (n, n, D), b (n, D), y (n, D)) tensors of one layer (see the module docstring). LN1's centring and γ1 are
    applied to f and x before the mixing (they are linear), then each row is divided by its σ1_i."""
    import torch

    w = internals.weights
    gamma = torch.from_numpy(w.ln1_weight[layer].astype(np.float32))
    sigma = torch.from_numpy(np.asarray(internals.ln1_scale[layer], dtype=np.float32))  # (n,)
    f = gamma * _center(_head_vectors(internals, layer))
    x = gamma * _center(torch.from_numpy(np.asarray(internals.hidden[layer], dtype=np.float32)))
    a = torch.from_numpy(np.asarray(attn[layer], dtype=np.float32))
    terms = _mixed(a, f, x) / sigma[:, None, None]
    b_o = torch.from_numpy(w.out_bias[layer].astype(np.float32))
    bias = (gamma * _center(b_o))[None, :] / sigma[:, None] + torch.from_numpy(
        w.ln1_bias[layer].astype(np.float32)
    )
    y = torch.from_numpy(np.asarray(internals.ln1_out[layer], dtype=np.float32))
    return terms, bias, y


def ln1_terms(internals: Internals, attn: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """The decomposition of one layer's attention-block output y (0-based ``layer``): (T (n, n, D), b (n, D))
    float32 with T[i, j] = T_i(x_j) and Σ_j T[i, j] + b[i] = y_i (``internals.ln1_out``). attn (L, H, n, n)."""
    _check(internals, attn)
    terms, bias, _ = _ln1_parts(internals, attn, layer)
    return terms.numpy(), bias.numpy()


def _ln2_linear(internals: Internals, layer: int, w: Any) -> Any:
    """LN2's linear part with the real scale σ2_i: γ2 ⊙ (w − mean(w)) / σ2_i for w (n, ..., D) rows i."""
    import torch

    gamma = torch.from_numpy(internals.weights.ln2_weight[layer].astype(np.float32))
    sigma = torch.from_numpy(np.asarray(internals.ln2_scale[layer], dtype=np.float32))
    return gamma * _center(w) / sigma.reshape(-1, *([1] * (w.dim() - 1)))


def ln2_terms(internals: Internals, attn: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """GlobEnc's decomposition of one layer through LN2 without the FFN: (G (n, n, D), c (n, D)) float32 with
    G[i, j] = γ2 ⊙ (T_i(x_j) − mean) / σ2_i and c[i] = the same map of b_i, plus β2. The layer output is
    Σ_j G[i, j] + c[i] + γ2 ⊙ (FFN(y_i) − mean) / σ2_i (the FFN's share, which GlobEnc leaves out)."""
    import torch

    _check(internals, attn)
    terms, bias, _ = _ln1_parts(internals, attn, layer)
    beta = torch.from_numpy(internals.weights.ln2_bias[layer].astype(np.float32))
    return _ln2_linear(internals, layer, terms).numpy(), (_ln2_linear(internals, layer, bias) + beta).numpy()


def normalise_rows(scores: np.ndarray) -> np.ndarray:
    """(…, n, n) non-negative scores -> rows summing to 1, float32; an all-zero row becomes one-hot on its own
    token (row i -> column i)."""
    s = np.asarray(scores, dtype=np.float64)
    total = s.sum(-1, keepdims=True)
    eye = np.broadcast_to(np.eye(s.shape[-1]), s.shape)
    out = np.where(total > 0, s / np.where(total > 0, total, 1.0), eye)
    return out.astype(np.float32)


def alti(internals: Internals, attn: np.ndarray) -> np.ndarray:
    """ALTI contributions of one example: internals (one example), attn (L, H, n, n) -> (L, n, n) float32,
    ``C[l, i, j]`` = max(0, ‖y_i‖₁ − ‖y_i − T_i(x_j)‖₁) / row sum (see the module docstring)."""
    import torch

    a = _check(internals, attn)
    out = np.empty((internals.num_layers, internals.num_tokens, internals.num_tokens), dtype=np.float32)
    for layer in range(internals.num_layers):
        terms, _, y = _ln1_parts(internals, a, layer)
        dist = torch.linalg.vector_norm(y[:, None, :] - terms, ord=1, dim=-1)  # (n_i, n_j)
        own = torch.linalg.vector_norm(y, ord=1, dim=-1)[:, None]
        out[layer] = torch.clamp(own - dist, min=0).numpy()
    return normalise_rows(out)


def globenc(internals: Internals, attn: np.ndarray) -> np.ndarray:
    """GlobEnc token attributions of one example: (L, n, n) float32, ``G[l, i, j]`` = ‖γ2 ⊙ (T_i(x_j) − mean)
    / σ2_i‖₂ / row sum (see the module docstring)."""
    import torch

    a = _check(internals, attn)
    out = np.empty((internals.num_layers, internals.num_tokens, internals.num_tokens), dtype=np.float32)
    for layer in range(internals.num_layers):
        terms, _, _ = _ln1_parts(internals, a, layer)
        out[layer] = torch.linalg.vector_norm(_ln2_linear(internals, layer, terms), dim=-1).numpy()
    return normalise_rows(out)


def residual_norm(internals: Internals, attn: np.ndarray) -> np.ndarray:
    """Kobayashi et al. (2021)'s attention + residual + LN1 norms of one example: (L, n, n) float32,
    ``R[l, i, j]`` = ‖T_i(x_j)‖₂ / row sum — the "norm-based" measure of Ferrando et al. (2022)'s table."""
    import torch

    a = _check(internals, attn)
    out = np.empty((internals.num_layers, internals.num_tokens, internals.num_tokens), dtype=np.float32)
    for layer in range(internals.num_layers):
        terms, _, _ = _ln1_parts(internals, a, layer)
        out[layer] = torch.linalg.vector_norm(terms, dim=-1).numpy()
    return normalise_rows(out)
