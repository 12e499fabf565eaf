"""Head-level differences between two models' attention on the same tokens.

Per (layer, head): the Jensen–Shannon divergence between the two models' attention rows (base 2, so 0 = identical,
1 = disjoint; averaged over query tokens), the mean absolute difference over all entries, and each head's share of
the traced flow in each model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from attnflow_core.flows import SPECIAL_MODES, PairTrace, Trace, special_attention


@dataclass(frozen=True, eq=False)
class HeadDiff:
    """(L, H) matrices; ``flow_share_*`` are None when no trace was given."""

    js: np.ndarray
    mad: np.ndarray
    flow_share_base: np.ndarray | None
    flow_share_tuned: np.ndarray | None

    def most_changed(self) -> tuple[int, int]:
        """The head with the largest JS divergence: (layer 1-based, head 0-based)."""
        layer, head = np.unravel_index(int(np.argmax(self.js)), self.js.shape)
        return int(layer) + 1, int(head)

    def layer_means(self) -> np.ndarray:
        """(L,) mean JS divergence over each layer's heads."""
        return np.asarray(self.js, dtype=np.float64).mean(axis=1)

    def layer_sentence(self) -> str:
        """ "Mean JS divergence per layer: L1 0.012, …. The most changed layer here is layer k." """
        means = self.layer_means()
        return (
            "Mean JS divergence per layer: "
            + ", ".join(f"L{i + 1} {v:.3f}" for i, v in enumerate(means))
            + f". The most changed layer here is layer {int(np.argmax(means)) + 1}."
        )

    def with_flow_shares(self, trace: PairTrace) -> HeadDiff:
        """The same differences with each head's share of ``trace``'s flow in each model."""
        n_layers, n_heads = self.js.shape
        return replace(
            self,
            flow_share_base=head_flow_share(trace.base, n_heads, n_layers),
            flow_share_tuned=head_flow_share(trace.tuned, n_heads, n_layers),
        )


def xlogx(x: np.ndarray) -> np.ndarray:
    """x·ln x elementwise, with 0·ln 0 = 0 (the log is taken only where x > 0): (...) -> (...)."""
    return x * np.log(x, out=np.zeros_like(x), where=x > 0)


def js_divergence(p: np.ndarray, q: np.ndarray, axis: int = -1, normalised: bool = False) -> np.ndarray:
    """Jensen–Shannon divergence in bits along ``axis`` (inputs are normalised first; all-zero rows give 0).

    ``normalised=True`` promises that every row already sums to 1 (softmax attention), which skips the
    normalisation: the dataset overview calls this for every example.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape; got {p.shape} and {q.shape}")
    if p.min(initial=0.0) < 0 or q.min(initial=0.0) < 0:
        raise ValueError("p and q must be non-negative (attention weights)")
    ps, qs = p.sum(axis=axis, keepdims=True), q.sum(axis=axis, keepdims=True)
    if not normalised:
        p = np.divide(p, ps, out=np.zeros_like(p), where=ps > 0)
        q = np.divide(q, qs, out=np.zeros_like(q), where=qs > 0)
    m = 0.5 * (p + q)
    # JS = H(m) - (H(p) + H(q)) / 2 with H(x) = -Σ x log x (xlogx gives 0·log 0 = 0): three passes, no ratios.
    js = (0.5 * (xlogx(p).sum(axis=axis) + xlogx(q).sum(axis=axis)) - xlogx(m).sum(axis=axis)) / np.log(2.0)
    empty = (ps.squeeze(axis) <= 0) | (qs.squeeze(axis) <= 0)
    return np.clip(np.where(empty, 0.0, js), 0.0, 1.0)


def head_flow_share(t: Trace, n_heads: int, n_layers: int) -> np.ndarray:
    """(L, H): the share of the traced flow carried by each head — Σ weight · influence(src) over its kept edges,
    divided by the total over all heads (zeros when nothing was kept)."""
    share = np.zeros((n_layers, n_heads))
    if t.n_edges:
        flow = t.weight * t.influence[t.layer, t.src]
        np.add.at(share, (t.layer - 1, t.head), flow)
    total = share.sum()
    return share / total if total > 0 else share


def head_differences(
    attn_base: np.ndarray,
    attn_tuned: np.ndarray,
    special_positions: tuple[int, ...] | list[int] = (),
    special: str = SPECIAL_MODES.default,
    trace: PairTrace | None = None,
) -> HeadDiff:
    """Per-head differences between two (L, H, n, n) attention arrays -> HeadDiff with (L, H) matrices.

    ``special`` (a ``flows.SPECIAL_MODES`` entry or key) treats attention to the special positions first; when it
    hides them, the special tokens' own rows are also left out of the mean over query tokens.
    """
    a, b = np.asarray(attn_base), np.asarray(attn_tuned)
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(
            f"both attention arrays must have the same (L, H, n, n) shape; got {a.shape}, {b.shape}"
        )
    n = a.shape[-1]
    pa = special_attention(a, special_positions, special)
    pb = special_attention(b, special_positions, special)
    rows = np.ones(n, dtype=bool)
    if SPECIAL_MODES.get(special).hides and len(special_positions):
        rows[list(special_positions)] = False
        if not rows.any():
            rows[:] = True
    js = js_divergence(pa[:, :, rows, :], pb[:, :, rows, :]).mean(axis=-1)
    mad = np.abs(pa[:, :, rows, :] - pb[:, :, rows, :]).mean(axis=(-1, -2))
    diff = HeadDiff(js=js, mad=mad, flow_share_base=None, flow_share_tuned=None)
    return diff if trace is None else diff.with_flow_shares(trace)
