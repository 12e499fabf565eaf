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
of the attention's query and key axes), rows summing to 1. There is no per-head part (the residual is not a head).
The residual is inside the measure, so flows over it must not add rollout's ½·I (``flows.rollout(...,
residual=False)``; the ``measures.MEASURES`` entries say ``includes_residual``); the entries give it to the flow
functions as (L, 1, n, n).
A row whose scores are all 0 becomes one-hot on the token itself (what the residual alone would carry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.internals import Internals


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


#: Floats in one block of ``_mixed`` (4 MiB of float32): small enough to stay in cache while it is reduced, which
#: makes ALTI ~5× faster at 128 tokens than one (n, n, D) tensor per layer.
_BLOCK_FLOATS = 1 << 20


def _mixed(attn: Any, head_vecs: Any, own: Any, reduce: Callable[[Any], Any]) -> Any:
    """``reduce`` applied to M[j, i] = Σ_h attn[h, i, j] · head_vecs[h, j] + δ_ij · own[j], **input token j first**,
    block by block of input tokens: attn (H, n, n), head_vecs (H, n, D), own (n, D); ``reduce`` maps a block
    (c, n_i, D) to (c, n_i) (or keeps it), and the blocks are concatenated along j. Each block is one batched matmul
    over j, (c, n_i, H) @ (c, H, D), on contiguous operands (a strided one costs ~3×)."""
    import torch

    n, dim = own.shape
    a = attn.permute(2, 1, 0).contiguous()  # (n_j, n_i, H)
    f = head_vecs.permute(1, 0, 2).contiguous()  # (n_j, H, D)
    step = max(1, _BLOCK_FLOATS // (n * dim))
    blocks = []
    for start in range(0, n, step):
        m = torch.bmm(a[start : start + step], f[start : start + step])  # (c, n_i, D)
        k = torch.arange(m.shape[0])
        m[k, start + k] += own[start : start + m.shape[0]]
        blocks.append(reduce(m))
    return torch.cat(blocks)


@dataclass(frozen=True, eq=False)
class _Layer:
    """One layer's tensors for the decompositions: ``f`` (H, n, D) and ``x`` (n, D) already through LN1's centring
    and γ1 (linear, so they commute with the mixing); ``a`` (H, n, n); ``sigma`` (n,) = σ1; ``y`` (n, D) = LN1's
    output; ``bias`` (n, D) = b_i."""

    f: Any
    x: Any
    a: Any
    sigma: Any
    y: Any
    bias: Any


def _layer(internals: Internals, attn: np.ndarray, layer: int) -> _Layer:
    import torch

    def t(arr: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))

    w = internals.weights
    gamma, sigma = t(w.ln1_weight[layer]), t(internals.ln1_scale[layer])
    bias = (gamma * _center(t(w.out_bias[layer])))[None, :] / sigma[:, None] + t(w.ln1_bias[layer])
    return _Layer(
        f=gamma * _center(_head_vectors(internals, layer)),
        x=gamma * _center(t(internals.hidden[layer])),
        a=t(attn[layer]),
        sigma=sigma,
        y=t(internals.ln1_out[layer]),
        bias=bias,
    )


def ln1_terms(internals: Internals, attn: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """The decomposition of one layer's attention-block output y (0-based ``layer``): (T (n, n, D), b (n, D))
    float32 with T[i, j] = T_i(x_j) and Σ_j T[i, j] + b[i] = y_i (``internals.ln1_out``). attn (L, H, n, n)."""
    _check(internals, attn)
    p = _layer(internals, attn, layer)
    terms = _mixed(p.a, p.f, p.x, lambda m: m).transpose(0, 1) / p.sigma[:, None, None]
    return terms.numpy(), p.bias.numpy()


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

    terms, bias = (torch.from_numpy(t) for t in ln1_terms(internals, attn, layer))
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


def _l2(m: Any) -> Any:
    import torch

    return torch.linalg.vector_norm(m, dim=-1)


def _per_layer(internals: Internals, attn: np.ndarray, score: Callable[[int, _Layer], Any]) -> np.ndarray:
    """Row-normalised (L, n, n) of ``score(layer, parts)`` -> (n_j, n_i) non-negative tensor, transposed to (i, j)."""
    a = _check(internals, attn)
    n = internals.num_tokens
    out = np.empty((internals.num_layers, n, n), dtype=np.float32)
    for layer in range(internals.num_layers):
        out[layer] = score(layer, _layer(internals, a, layer)).T.numpy()
    return normalise_rows(out)


def alti(internals: Internals, attn: np.ndarray) -> np.ndarray:
    """ALTI contributions of one example: internals (one example), attn (L, H, n, n) -> (L, n, n) float32,
    ``C[l, i, j]`` = max(0, ‖y_i‖₁ − ‖y_i − T_i(x_j)‖₁) / row sum (see the module docstring).

    With M_ji = σ1_i T_i(x_j) (``_mixed``): ‖y_i − T_i(x_j)‖₁ = ‖σ1_i y_i − M_ji‖₁ / σ1_i, computed in place on M
    (one (n, n, D) tensor per layer, no copies)."""
    import torch

    def score(_layer_index: int, p: _Layer) -> Any:
        target = p.sigma[:, None] * p.y  # σ1_i y_i (n_i, D)
        dist = _mixed(p.a, p.f, p.x, lambda m: m.sub_(target).abs_().sum(-1)) / p.sigma  # (n_j, n_i)
        return torch.clamp(p.y.abs().sum(-1) - dist, min=0)

    return _per_layer(internals, attn, score)


def globenc(internals: Internals, attn: np.ndarray) -> np.ndarray:
    """GlobEnc token attributions of one example: (L, n, n) float32, ``G[l, i, j]`` = ‖γ2 ⊙ (T_i(x_j) − mean)
    / σ2_i‖₂ / row sum (see the module docstring). LN2's centring and γ2 are folded into f and x too."""
    import torch

    def score(layer: int, p: _Layer) -> Any:
        gamma2 = torch.from_numpy(internals.weights.ln2_weight[layer].astype(np.float32))
        sigma2 = torch.from_numpy(np.asarray(internals.ln2_scale[layer], dtype=np.float32))
        norms = _mixed(p.a, gamma2 * _center(p.f), gamma2 * _center(p.x), _l2)
        return norms / (p.sigma * sigma2)

    return _per_layer(internals, attn, score)


def residual_norm(internals: Internals, attn: np.ndarray) -> np.ndarray:
    """Kobayashi et al. (2021)'s attention + residual + LN1 norms of one example: (L, n, n) float32,
    ``R[l, i, j]`` = ‖T_i(x_j)‖₂ / row sum — the "norm-based" measure of Ferrando et al. (2022)'s table."""

    def score(_layer_index: int, p: _Layer) -> Any:
        return _mixed(p.a, p.f, p.x, _l2) / p.sigma

    return _per_layer(internals, attn, score)
