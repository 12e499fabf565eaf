"""The edges each flow method draws, heads merged, within an edge budget: what the flow graph shows.

Conventions as in ``flows``: ``attn`` is (L, H, n, n), ``attn[l-1, h, j, i]`` is how much token j attends to token i in
transformer layer l; node (l, j) is token j at the output of layer l (layer 0 = the input). An edge (l, j, i) goes from
node (l, j) down to node (l-1, i). Every method gives each edge a *mass*: the share of the source's flow it carries.

- ``trace`` (the paper's thresholded trace, ``flows.trace``): the edges kept per head, merged per (l, j, i); the mass
  is I_l[j] · Σ_{h kept} A_l[h, j, i] / |H| (I = the trace's influence, before the decay α of the layer below).
- ``rollout``: r_b = one-hot(source) at the top layer b, r_{l-1} = r_l · Â_l (Â = ``flows.residual_attention``, the
  residual-augmented head mean); the mass through (l, j) → (l-1, i) is r_l[j] · Â_l[j, i]. A layer's masses sum to 1.
- ``maxflow``: for each input token i, scipy's maximum flow f_i from (b, source) to (a-1, i) on the layered graph with
  capacities Â (``flows.solve_max_flow``, the solve ``flows.max_flow`` reads too); the drawn flow is Σ_i f_i / Σ_i |f_i|, one unit of flow whose inflow at each
  input node is that token's max-flow score. It is conserved at every node between the source and the input.

The budget keeps the graph readable: from the top down, each node that the drawn graph reaches keeps its ``per_node``
strongest incoming edges (by mass, from drawn nodes only, so every drawn edge hangs from the source), and each layer
keeps its ``max_edges / layers`` strongest of those. Trace edges are therefore a subset of the thresholded ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.flows import Trace, residual_attention, select_heads, solve_max_flow, trace

#: Edges drawn per model at most (both models together stay under 2 × this; shared edges count once).
MAX_EDGES = 75
#: Incoming edges kept per reached node.
PER_NODE = 2


@dataclass(frozen=True, eq=False)
class MethodEdges:
    """One model's drawn edges under one method. Edge arrays are parallel, shape (E,), sorted by layer descending,
    then src, dst. ``node`` is (L+1, n): the flow reaching each node (trace: influence; rollout: r_l; max-flow: the
    flow through it); ``stopped`` is the layer at which a trace found no edge passing τ (None if it reached the
    bottom of the range or for the other methods)."""

    layer: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    mass: np.ndarray
    node: np.ndarray
    stopped: int | None

    @property
    def n_edges(self) -> int:
        return int(self.layer.size)


def _empty_like_edges(node: np.ndarray, stopped: int | None) -> MethodEdges:
    z = np.zeros(0, dtype=int)
    return MethodEdges(layer=z, src=z, dst=z, mass=np.zeros(0), node=node, stopped=stopped)


def budget(
    masses: dict[int, np.ndarray], source: int, layers: tuple[int, int], max_edges: int, per_node: int
) -> list[tuple[int, int, int, float]]:
    """The budgeted edges from per-layer mass matrices {l: (n, n) mass of (l, j) → (l-1, i)}: -> [(l, j, i, mass)].

    Top down from {source} at layer b: per reached node (l-1, i), its ``per_node`` strongest incoming edges from
    drawn nodes of layer l; then the layer's ``max_edges // layers`` strongest of those.
    """
    a, b = layers
    per_layer = max(1, max_edges // (b - a + 1))
    drawn = np.zeros(masses[b].shape[0], dtype=bool)
    drawn[source] = True
    out: list[tuple[int, int, int, float]] = []
    for layer in range(b, a - 1, -1):
        m = np.where(
            drawn[:, None], masses[layer], 0.0
        )  # (n_from, n_to): only edges hanging from drawn nodes
        m = np.where(m > 0, m, 0.0)
        if per_node < m.shape[0]:
            # the per_node-th largest incoming mass of each target: smaller ones are dropped
            kth = -np.sort(-m, axis=0)[per_node - 1]
            m = np.where(m >= kth[None, :], m, 0.0)
        j_idx, i_idx = np.nonzero(m)
        vals = m[j_idx, i_idx]
        order = np.lexsort((i_idx, j_idx, -vals))[:per_layer]
        nxt = np.zeros_like(drawn)
        for k in order:
            out.append((layer, int(j_idx[k]), int(i_idx[k]), float(vals[k])))
            nxt[i_idx[k]] = True
        drawn = nxt
        if not drawn.any():
            break
    out.sort(key=lambda e: (-e[0], e[1], e[2]))
    return out


def _edges(node: np.ndarray, kept: list[tuple[int, int, int, float]], stopped: int | None) -> MethodEdges:
    if not kept:
        return _empty_like_edges(node, stopped)
    arr = np.array(kept, dtype=np.float64)
    return MethodEdges(
        layer=arr[:, 0].astype(int),
        src=arr[:, 1].astype(int),
        dst=arr[:, 2].astype(int),
        mass=arr[:, 3],
        node=node,
        stopped=stopped,
    )


def trace_masses(
    attn: np.ndarray,
    source: int,
    threshold: float,
    layers: tuple[int, int],
    heads: tuple[int, ...] | None,
    decay: float,
    traced: Trace | None = None,
) -> tuple[dict[int, np.ndarray], np.ndarray, int | None]:
    """The trace's mass per merged edge: ({l: (n, n)}, influence (L+1, n), layer where it stopped or None).

    ``traced``: the same trace already computed (``flows.trace`` with these arguments), so it is not redone."""
    t = traced if traced is not None else trace(attn, source, threshold, layers, heads, decay)
    n = attn.shape[-1]
    a, b = layers
    n_heads = len(t.heads)
    masses = {layer: np.zeros((n, n)) for layer in range(a, b + 1)}
    for k in range(t.n_edges):
        layer, j, i = int(t.layer[k]), int(t.src[k]), int(t.dst[k])
        masses[layer][j, i] += t.influence[layer, j] * t.weight[k] / n_heads
    stopped = next((layer for layer in range(b, a - 1, -1) if not masses[layer].any()), None)
    return masses, t.influence, stopped


def rollout_masses(
    attn: np.ndarray,
    source: int,
    layers: tuple[int, int],
    heads: tuple[int, ...] | None,
    residual: bool = True,
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Rollout mass r_l[j] · Â_l[j, i] per edge of layers a..b: ({l: (n, n)}, r (L+1, n), rows a-1..b filled).
    ``residual``: Â includes the ½·I of the residual (``flows.residual_attention``)."""
    a, b = layers
    res = residual_attention(attn[a - 1 : b], heads, residual)
    n = attn.shape[-1]
    node = np.zeros((attn.shape[0] + 1, n))
    node[b, source] = 1.0
    masses = {}
    for layer in range(b, a - 1, -1):
        m = node[layer][:, None] * res[layer - a]
        masses[layer] = m
        node[layer - 1] = m.sum(axis=0)
    return masses, node


def maxflow_masses(
    attn: np.ndarray,
    source: int,
    layers: tuple[int, int],
    heads: tuple[int, ...] | None,
    residual: bool = True,
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """The unit max-flow per edge (see the module docstring): ({l: (n, n)}, flow through each node (L+1, n))."""
    a, b = layers
    res = residual_attention(attn[a - 1 : b], heads, residual)
    n_layers, n = res.shape[0], res.shape[-1]
    solution = solve_max_flow(res, source)
    node = np.zeros((attn.shape[0] + 1, n))
    masses = {layer: np.zeros((n, n)) for layer in range(a, b + 1)}
    if solution.flow is None or solution.total <= 0:
        return masses, node
    flow = solution.flow.copy()
    flow.data = np.maximum(flow.data, 0) / solution.total  # reverse edges carry negative flow: drop them
    dense = flow.toarray()
    for rel in range(1, n_layers + 1):
        m = dense[rel * n : (rel + 1) * n, (rel - 1) * n : rel * n]
        masses[a - 1 + rel] = m
    node[b, source] = 1.0
    for layer in range(b, a - 1, -1):
        node[layer - 1] = masses[layer].sum(axis=0)
    return masses, node


def edges_within_budget(
    masses: dict[int, np.ndarray],
    node: np.ndarray,
    stopped: int | None,
    source: int,
    layers: tuple[int, int],
    max_edges: int = MAX_EDGES,
    per_node: int = PER_NODE,
) -> MethodEdges:
    """One model's drawn edges: the ``budget`` of a method's masses, with its node flows and stop layer."""
    return _edges(node, budget(masses, source, layers, max_edges, per_node), stopped)


@dataclass(frozen=True, eq=False)
class PairGraph:
    """Both models' drawn edges on one edge list (E,), sorted by layer descending, src, dst.

    ``mass_*`` is 0 where that model does not draw the edge; ``status`` says who draws it (shared/base/tuned).
    ``attn_*`` is (E, |H|): each selected head's attention on the edge (``heads`` names them), for the hover and the
    per-head view; ``mean_*`` its mean over those heads.
    """

    method: str
    base: MethodEdges
    tuned: MethodEdges
    layer: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    mass_base: np.ndarray
    mass_tuned: np.ndarray
    status: np.ndarray
    heads: tuple[int, ...]
    attn_base: np.ndarray
    attn_tuned: np.ndarray

    @property
    def n_edges(self) -> int:
        return int(self.layer.size)

    @property
    def mean_base(self) -> np.ndarray:
        return self.attn_base.mean(axis=1) if self.attn_base.size else np.zeros(self.n_edges)

    @property
    def mean_tuned(self) -> np.ndarray:
        return self.attn_tuned.mean(axis=1) if self.attn_tuned.size else np.zeros(self.n_edges)


def merge_pair(
    method: str,
    eb: MethodEdges,
    et: MethodEdges,
    attn_base: np.ndarray,
    attn_tuned: np.ndarray,
    heads: tuple[int, ...] | None,
) -> PairGraph:
    """Both models' drawn edges (``edges_within_budget``) on one labelled edge list, with each selected head's
    attention (L, H, n, n) on every edge: -> PairGraph."""
    table: dict[tuple[int, int, int], list[float]] = {}
    for which, e in ((0, eb), (1, et)):
        for k in range(e.n_edges):
            key = (int(e.layer[k]), int(e.src[k]), int(e.dst[k]))
            table.setdefault(key, [0.0, 0.0, 0.0, 0.0])
            table[key][which] = float(e.mass[k])
            table[key][2 + which] = 1.0
    keys = sorted(table, key=lambda x: (-x[0], x[1], x[2]))
    sel = select_heads(attn_base.shape[1], heads)
    layer = np.array([k[0] for k in keys], dtype=int)
    src = np.array([k[1] for k in keys], dtype=int)
    dst = np.array([k[2] for k in keys], dtype=int)
    vals = np.array([table[k] for k in keys], dtype=np.float64).reshape(-1, 4)
    in_b, in_t = vals[:, 2] > 0, vals[:, 3] > 0
    status = np.where(in_b & in_t, "shared", np.where(in_b, "base", "tuned"))

    def per_head(attn: np.ndarray) -> np.ndarray:
        if not keys:
            return np.zeros((0, sel.size))
        return attn[layer[:, None] - 1, sel[None, :], src[:, None], dst[:, None]].astype(np.float64)

    return PairGraph(
        method=method,
        base=eb,
        tuned=et,
        layer=layer,
        src=src,
        dst=dst,
        mass_base=vals[:, 0],
        mass_tuned=vals[:, 1],
        status=status,
        heads=tuple(int(h) for h in sel),
        attn_base=per_head(attn_base),
        attn_tuned=per_head(attn_tuned),
    )


def head_shares(g: PairGraph, n_layers: int, n_heads: int, model: str) -> np.ndarray:
    """Each head's share of the drawn flow of one model: (L, H), sums to 1 (or all 0).

    A drawn edge's mass is split over the selected heads in proportion to their attention on it."""
    mass = g.mass_base if model == "base" else g.mass_tuned
    attn = g.attn_base if model == "base" else g.attn_tuned
    out = np.zeros((n_layers, n_heads))
    if not g.n_edges:
        return out
    tot = attn.sum(axis=1, keepdims=True)
    split = mass[:, None] * np.where(tot > 0, attn / np.where(tot > 0, tot, 1.0), 0.0)
    for c, h in enumerate(g.heads):
        np.add.at(out[:, h], g.layer - 1, split[:, c])
    s = out.sum()
    return out / s if s > 0 else out


def graph_records(g: PairGraph, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    """The drawn edges as rows (for exports): layer (1-based), from/to indices and texts, who draws it, both
    models' mass (the share of the source's flow the edge carries under ``g.method``) and mean attention."""
    mb, mt = g.mean_base, g.mean_tuned
    return [
        {
            "method": g.method,
            "layer": int(g.layer[k]),
            "from": int(g.src[k]),
            "to": int(g.dst[k]),
            "from_text": labels[int(g.src[k])],
            "to_text": labels[int(g.dst[k])],
            "status": str(g.status[k]),
            "mass_base": float(g.mass_base[k]),
            "mass_tuned": float(g.mass_tuned[k]),
            "mean_attention_base": float(mb[k]),
            "mean_attention_tuned": float(mt[k]),
        }
        for k in range(g.n_edges)
    ]
