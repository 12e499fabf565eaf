"""Attention flow computations: the paper's thresholded trace, attention rollout and attention max-flow.

Conventions. ``attn`` is a float array (L, H, n, n): ``attn[l-1, h, j, i]`` is how much query token j attends to key
token i in transformer layer l (rows sum to 1). Layer 0 is the input embeddings, layer l the output of transformer
layer l, so ``attn[l-1]`` connects nodes (l-1, ·) (keys) to nodes (l, ·) (queries).

Trace (DeRose, Wang, Berger 2020), exactly as computed here. Given a source token s, a threshold τ, transformer
layers a..b (1 ≤ a ≤ b ≤ L), a head set H and a decay α:

- Start with influence I_b = one-hot(s) at layer b.
- For l = b down to a: a node (l, j) is active if I_l[j] > 0. For every active j, head h ∈ H and key i with
  A_l[h, j, i] ≥ τ and A_l[h, j, i] > 0 (A_l = attn[l-1]), keep the edge (layer=l, head=h, src=j, dst=i, weight=A_l[h, j, i]).
- I_{l-1}[i] = α · Σ_{kept edges (l, h, j → i)} I_l[j] · A_l[h, j, i] / |H|.

So influence is the attention mass (averaged over the chosen heads) that flows from s along kept edges only, times α
per layer travelled. Nodes outside layers a-1..b have influence 0. ``Trace.input_scores`` is I_{a-1} normalised to
sum 1: how much of what reaches the bottom of the range ends at each token.

Rollout (Abnar & Zuidema 2020): Â_l = rownorm(½·mean_h(A_l) + ½·I) (the ½·I stands for the residual connection),
R_1 = Â_1, R_l = Â_l · R_{l-1}.

Max-flow (Abnar & Zuidema 2020): the maximum flow from node (L, s) to each input node (0, i) in the layered graph
with edges (l, j) → (l-1, i) of capacity Â_l[j, i]. Solved exactly with scipy's Dinic on integer capacities
(Â scaled by 2^30 and floored; the error is at most (edges in the min cut) · 2^-30, far below 1e-6 here since the
source's capacities sum to 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnflow_core.errors import SettingsError
from attnflow_core.vocab import Choice, Registry

_SCALE = float(2**30)
#: The trace threshold τ's default (the app's, the CLI's, the URL's and every flow function's).
DEFAULT_THRESHOLD = 0.1
#: The trace decay α's default: no decay.
DEFAULT_DECAY = 1.0


class SpecialMode(Choice):
    """A treatment of the attention to the special tokens ([CLS]/[SEP]); see ``special_attention``.

    ``hides``: attention to the specials is removed (and their own rows are left out of averages over query tokens);
    ``renormalises``: each row is rescaled to sum 1 afterwards."""

    hides: bool = False
    renormalises: bool = False


#: The special-token modes (the vocabulary's one definition), ``keep`` first (the default).
SPECIAL_MODES: Registry[SpecialMode] = Registry(
    "special",
    (
        SpecialMode("keep", label="keep", phrase="special tokens kept", short="kept"),
        SpecialMode(
            "exclude",
            label="hide (drop, no renormalising)",
            phrase="special tokens hidden",
            short="hidden",
            help="Attention to [CLS]/[SEP] is dropped; each row keeps the rest of its mass.",
            hides=True,
        ),
        SpecialMode(
            "renormalise",
            label="hide and renormalise rows",
            phrase="special tokens hidden, rows renormalised",
            short="hidden, renormalised",
            help="Attention to [CLS]/[SEP] is dropped and each row rescaled to sum 1.",
            hides=True,
            renormalises=True,
        ),
    ),
)


# ---------------------------------------------------------------- the ranges every flow setting must fit (one check each)


def check_threshold(threshold: float) -> float:
    """The trace threshold τ ∈ [0, 1]; SettingsError otherwise."""
    if not 0.0 <= threshold <= 1.0:
        raise SettingsError(f"threshold must be in [0, 1]; got {threshold}")
    return float(threshold)


def check_decay(decay: float) -> float:
    """The trace decay α ∈ (0, 1]; SettingsError otherwise."""
    if not 0.0 < decay <= 1.0:
        raise SettingsError(f"decay must be in (0, 1]; got {decay}")
    return float(decay)


def check_layers(layers: tuple[int, int] | None, n_layers: int) -> tuple[int, int]:
    """A 1-based inclusive layer range within 1..n_layers (None = all layers) -> (a, b); SettingsError otherwise."""
    if layers is None:
        return 1, n_layers
    a, b = int(layers[0]), int(layers[1])
    if not 1 <= a <= b <= n_layers:
        raise SettingsError(f"layers must satisfy 1 <= a <= b <= {n_layers}; got {layers}")
    return a, b


def check_source(source: int, n: int, unit: str = "token") -> int:
    """The index of the unit to trace from, within 0..n-1; SettingsError otherwise."""
    if not 0 <= int(source) < n:
        raise SettingsError(
            f"source must index one of the {n} {unit}s of the input: source must be a {unit} index in 0..{n - 1}; "
            f"got {source}"
        )
    return int(source)


def _check_attn(attn: np.ndarray) -> np.ndarray:
    a = np.asarray(attn)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"attention must have shape (layers, heads, n, n); got {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1 or a.shape[-1] < 1:
        raise ValueError(f"attention needs at least one layer, head and token; got {a.shape}")
    return a


def special_attention(
    attn: np.ndarray, special_positions: tuple[int, ...] | list[int], mode: str
) -> np.ndarray:
    """Treat attention to special tokens ([CLS]/[SEP]): (..., n, n) -> (..., n, n) float64.

    ``keep``: unchanged. ``exclude``: zero the columns of the special positions, rows left as they are.
    ``renormalise``: zero those columns, then rescale each row to sum 1 (a row left with no mass becomes uniform over
    the non-special keys). Attention to specials often acts as a no-op sink (Clark et al. 2019), so hiding it shows
    where the rest of the attention goes. ``mode`` is a ``SPECIAL_MODES`` entry or its key.
    """
    treatment = SPECIAL_MODES.get(mode, "special-token mode")
    a = np.array(attn, dtype=np.float64, copy=True)
    n = a.shape[-1]
    pos = [int(p) for p in special_positions]
    bad = [p for p in pos if not 0 <= p < n]
    if bad:
        raise ValueError(f"special positions must be in 0..{n - 1}; got {bad}")
    if not treatment.hides or not pos:
        return a
    a[..., pos] = 0.0
    if treatment.renormalises:
        keep = np.ones(n, dtype=bool)
        keep[pos] = False
        sums = a.sum(axis=-1, keepdims=True)
        empty = sums[..., 0] <= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.where(sums > 0, a / np.where(sums > 0, sums, 1.0), a)
        if empty.any() and keep.any():
            a[empty] = keep / keep.sum()
    return a


def select_heads(n_heads: int, heads: tuple[int, ...] | list[int] | np.ndarray | None) -> np.ndarray:
    """Sorted unique head indices; None means all heads."""
    if heads is None:
        return np.arange(n_heads)
    sel = np.unique(np.asarray(list(heads), dtype=int))
    if sel.size == 0:
        raise SettingsError(f"select at least one head (0..{n_heads - 1}), or pass None for all heads")
    if sel.min() < 0 or sel.max() >= n_heads:
        raise SettingsError(f"heads must be in 0..{n_heads - 1}; got {sel.tolist()}")
    return sel


def residual_attention(
    attn: np.ndarray, heads: tuple[int, ...] | list[int] | None = None, residual: bool = True
) -> np.ndarray:
    """Â_l = rownorm(0.5·mean_over_heads(A_l) + 0.5·I): (L, H, n, n) -> (L, n, n) float64.

    ``residual=False`` leaves the ½·I out (Â_l = rownorm(mean_over_heads(A_l))): for a measure that already
    includes the residual stream (``measures.Measure.includes_residual``)."""
    a = _check_attn(attn)
    sel = select_heads(a.shape[1], heads)
    mean = a[:, sel].astype(np.float64).mean(axis=1)
    res = 0.5 * mean + 0.5 * np.eye(a.shape[-1]) if residual else mean
    sums = res.sum(axis=-1, keepdims=True)
    return res / np.where(sums > 0, sums, 1.0)


def rollout(
    attn: np.ndarray, heads: tuple[int, ...] | list[int] | None = None, residual: bool = True
) -> np.ndarray:
    """Attention rollout: (L, H, n, n) -> (L, n, n) with R_1 = Â_1 and R_l = Â_l · R_{l-1}."""
    res = residual_attention(attn, heads, residual)
    out = np.empty_like(res)
    acc = np.eye(res.shape[-1])
    for layer in range(res.shape[0]):
        acc = res[layer] @ acc
        out[layer] = acc
    return out


def layered_graph(res: np.ndarray) -> tuple[object, float]:
    """The max-flow graph of residual attention Â (L, n, n): (CSR of integer capacities, their scale 2^30).

    Node id of (l, i) is l*n + i; edges (l, j) -> (l-1, i) with capacity floor(Â_l[j, i] · scale), l = 1..L.
    """
    from scipy.sparse import csr_matrix

    n_layers, n = res.shape[0], res.shape[-1]
    caps = np.floor(res * _SCALE).astype(np.int64)
    rows, cols, data = [], [], []
    jj, ii = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    for layer in range(1, n_layers + 1):
        c = caps[layer - 1]
        mask = c > 0
        rows.append((layer * n + jj)[mask])
        cols.append(((layer - 1) * n + ii)[mask])
        data.append(c[mask])
    size = (n_layers + 1) * n
    graph = csr_matrix(
        (np.concatenate(data).astype(np.int32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(size, size),
    )
    graph.sort_indices()
    return graph, _SCALE


@dataclass(frozen=True, eq=False)
class MaxFlowSolution:
    """The n maximum flows from (L, source) to each input node (0, i) of one layered graph (``layered_graph``).

    ``values`` (n,): each input node's max-flow value, in integer capacity units (divide by ``scale``); ``flow``:
    the n solutions' flows summed, a CSR over the graph's nodes (reverse edges carry negative flow), None when
    nothing flows; ``total`` = ``values.sum()``."""

    values: np.ndarray
    flow: Any
    total: int
    scale: float


def solve_max_flow(res: np.ndarray, source: int) -> MaxFlowSolution:
    """The one max-flow solve (scipy's Dinic) of residual attention Â (L, n, n) from (L, source): the scores
    (``max_flow``) and the drawn flow (``graph.maxflow_masses``) both read it. Builds the CSR once; only the sink
    changes between the n solves."""
    from scipy.sparse.csgraph import maximum_flow

    n_layers, n = res.shape[0], res.shape[-1]
    source = check_source(source, n)
    graph, scale = layered_graph(res)
    top = n_layers * n + source
    values = np.zeros(n, dtype=np.int64)
    ref = None  # every solution's flow matrix has the same structure (the edges and their reverses): sum its data
    total = np.zeros(0)
    for i in range(n):
        sol = maximum_flow(graph, top, i, method="dinic")
        values[i] = sol.flow_value
        f = sol.flow
        if ref is None:
            ref, total = f, f.data.astype(np.float64)
        elif np.array_equal(f.indptr, ref.indptr) and np.array_equal(f.indices, ref.indices):
            total += f.data
        else:  # not expected; stay correct anyway
            ref = ref.copy()
            ref.data = total
            ref = (ref + f).tocsr()
            total = ref.data.astype(np.float64)
    flow = None
    if ref is not None:
        flow = ref.copy()
        flow.data = total
    return MaxFlowSolution(values=values, flow=flow, total=int(values.sum()), scale=scale)


def max_flow(
    attn: np.ndarray,
    source: int = 0,
    heads: tuple[int, ...] | list[int] | None = None,
    residual: bool = True,
) -> np.ndarray:
    """Maximum flow from (L, source) to every input node (0, i): (L, H, n, n) -> (n,).

    Exact up to the integer scaling (see the module docstring); ``solve_max_flow`` does the solving."""
    solution = solve_max_flow(residual_attention(attn, heads, residual), source)
    return solution.values / solution.scale


def max_flow_reference(
    attn: np.ndarray, source: int = 0, heads: tuple[int, ...] | list[int] | None = None
) -> np.ndarray:
    """The same values with networkx's preflow-push on float capacities (slow; for tests and benchmarks)."""
    import networkx as nx
    from networkx.algorithms.flow import preflow_push

    res = residual_attention(attn, heads)
    n_layers, n = res.shape[0], res.shape[-1]
    source = check_source(source, n)
    g = nx.DiGraph()
    for layer in range(1, n_layers + 1):
        for j in range(n):
            for i in range(n):
                g.add_edge((layer, j), (layer - 1, i), capacity=float(res[layer - 1, j, i]))
    return np.array(
        [nx.maximum_flow_value(g, (n_layers, source), (0, i), flow_func=preflow_push) for i in range(n)]
    )


@dataclass(frozen=True, eq=False)
class Trace:
    """A thresholded trace (see the module docstring). Edge arrays are parallel, shape (E,), ordered by layer
    descending, then head, src, dst. ``influence`` is (L+1, n): row l is layer l (0 = input)."""

    layer: np.ndarray
    head: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    influence: np.ndarray
    source: int
    threshold: float
    layers: tuple[int, int]
    heads: tuple[int, ...]
    decay: float

    @property
    def n_edges(self) -> int:
        return int(self.layer.size)

    @property
    def input_scores(self) -> np.ndarray:
        """(n,) influence at the bottom of the layer range, normalised to sum 1 (zeros if nothing reached it)."""
        bottom = self.influence[self.layers[0] - 1]
        total = bottom.sum()
        return bottom / total if total > 0 else np.zeros_like(bottom)


def trace(
    attn: np.ndarray,
    source: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    layers: tuple[int, int] | None = None,
    heads: tuple[int, ...] | list[int] | None = None,
    decay: float = DEFAULT_DECAY,
) -> Trace:
    """The paper's trace from token ``source`` at the top of ``layers`` down to the input: (L, H, n, n) -> Trace."""
    a = _check_attn(attn)
    n_layers, n_heads, n = a.shape[0], a.shape[1], a.shape[-1]
    check_threshold(threshold)
    check_decay(decay)
    source = check_source(source, n)
    lo, hi = check_layers(layers, n_layers)
    sel = select_heads(n_heads, heads)
    influence = np.zeros((n_layers + 1, n))
    influence[hi, source] = 1.0
    parts: list[tuple[np.ndarray, ...]] = []
    for layer in range(hi, lo - 1, -1):
        active = np.flatnonzero(influence[layer] > 0)
        if active.size == 0:
            break
        block = a[layer - 1][sel][:, active, :].astype(np.float64)  # (|H|, |active|, n)
        keep = (block >= threshold) & (block > 0)  # a zero weight carries nothing, even at τ = 0
        h_idx, j_idx, i_idx = np.nonzero(keep)
        w = block[h_idx, j_idx, i_idx]
        src = active[j_idx]
        flow = influence[layer, src] * w / sel.size
        influence[layer - 1] = decay * np.bincount(i_idx, weights=flow, minlength=n)
        parts.append((np.full(w.size, layer), sel[h_idx], src, i_idx, w))
    if parts:
        layer_a, head_a, src_a, dst_a, w_a = (np.concatenate(x) for x in zip(*parts, strict=True))
        order = np.lexsort((dst_a, src_a, head_a, -layer_a))
        layer_a, head_a, src_a, dst_a, w_a = (x[order] for x in (layer_a, head_a, src_a, dst_a, w_a))
    else:
        layer_a = head_a = src_a = dst_a = np.zeros(0, dtype=int)
        w_a = np.zeros(0)
    return Trace(
        layer=layer_a.astype(int),
        head=head_a.astype(int),
        src=src_a.astype(int),
        dst=dst_a.astype(int),
        weight=w_a.astype(np.float64),
        influence=influence,
        source=source,
        threshold=float(threshold),
        layers=(lo, hi),
        heads=tuple(int(h) for h in sel),
        decay=float(decay),
    )


@dataclass(frozen=True, eq=False)
class PairTrace:
    """Traces of both models with every kept edge labelled shared, base-only or tuned-only.

    Edge arrays are parallel (E,): an edge kept by one model only has weight_* of the other model's attention on it
    (below τ), so the difference is still visible.
    """

    base: Trace
    tuned: Trace
    layer: np.ndarray
    head: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight_base: np.ndarray
    weight_tuned: np.ndarray
    status: np.ndarray = field(repr=False)  # str: "shared", "base" or "tuned"

    @property
    def n_edges(self) -> int:
        return int(self.layer.size)


def trace_pair(
    attn_base: np.ndarray,
    attn_tuned: np.ndarray,
    source: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    layers: tuple[int, int] | None = None,
    heads: tuple[int, ...] | list[int] | None = None,
    decay: float = DEFAULT_DECAY,
) -> PairTrace:
    """Trace both models with the same settings and label each kept edge by which model keeps it."""
    a, b = _check_attn(attn_base), _check_attn(attn_tuned)
    if a.shape != b.shape:
        raise ValueError(f"both models' attention must have the same shape; got {a.shape} and {b.shape}")
    tb = trace(a, source, threshold, layers, heads, decay)
    tt = trace(b, source, threshold, layers, heads, decay)
    n_heads, n = a.shape[1], a.shape[-1]

    def keys(t: Trace) -> np.ndarray:
        return ((t.layer * n_heads + t.head) * n + t.src) * n + t.dst

    kb, kt = keys(tb), keys(tt)
    all_keys = np.union1d(kb, kt)
    in_b, in_t = np.isin(all_keys, kb), np.isin(all_keys, kt)
    dst = all_keys % n
    rest = all_keys // n
    src = rest % n
    rest //= n
    head = rest % n_heads
    layer = rest // n_heads
    order = np.lexsort((dst, src, head, -layer))
    layer, head, src, dst = layer[order], head[order], src[order], dst[order]
    in_b, in_t = in_b[order], in_t[order]
    status = np.where(in_b & in_t, "shared", np.where(in_b, "base", "tuned"))
    return PairTrace(
        base=tb,
        tuned=tt,
        layer=layer.astype(int),
        head=head.astype(int),
        src=src.astype(int),
        dst=dst.astype(int),
        weight_base=a[layer - 1, head, src, dst].astype(np.float64),
        weight_tuned=b[layer - 1, head, src, dst].astype(np.float64),
        status=status,
    )
