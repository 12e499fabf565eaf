"""The flow methods' vocabulary, defined once: each method's words, which settings it reads, and its one solver.

A method is one ``METHODS`` entry and one solver function ``solve(attn, key, residual, traced) -> Solution``: the
edge masses of every layer of the range and the flow reaching each node, from which both the per-token scores
(``Solution.scores``: the flow arriving at the bottom of the range) and the drawn graph (``graph.budget``) are read,
so scores and graph always come from one solve. The numerics live in ``flows`` (trace, rollout, max-flow) and
``graph`` (each method's edge masses); the entries here say what each method is called and which settings it uses:
a setting a method ignores (``uses_threshold``, ``uses_decay``) is left out of its ``FlowKey`` (so a τ step under
max-flow changes nothing to recompute) and its widget is disabled with ``Method.unused`` as the reason.

Adding a method: one entry in ``METHODS`` and its solver (in a module of its own), plus its test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from attnflow_core.flows import (
    DEFAULT_DECAY,
    DEFAULT_THRESHOLD,
    Trace,
    check_decay,
    check_layers,
    check_source,
    check_threshold,
    select_heads,
)
from attnflow_core.graph import (
    MAX_EDGES,
    PER_NODE,
    MethodEdges,
    PairGraph,
    edges_within_budget,
    maxflow_masses,
    merge_pair,
    rollout_masses,
    trace_masses,
)
from attnflow_core.vocab import Choice, Registry

__all__ = ["METHODS", "TRACE", "FlowKey", "Method", "Solution", "flow_scores", "method_edges", "pair_graph"]


@dataclass(frozen=True, eq=False)
class Solution:
    """One model's flow under one method: the mass of every edge (l, j) → (l-1, i) of the layer range
    ({l: (n, n)}), the flow reaching each node (L+1, n; rows a-1..b filled) and, for a trace, the layer where no
    edge passed τ (else None)."""

    masses: dict[int, np.ndarray]
    node: np.ndarray
    layers: tuple[int, int]
    stopped: int | None = None

    def scores(self) -> np.ndarray:
        """(n,) the flow arriving at each input unit (the bottom of the range), normalised to sum 1 (or all 0)."""
        v = np.clip(np.asarray(self.node[self.layers[0] - 1], dtype=np.float64), 0.0, None)
        total = v.sum()
        return v / total if total > 0 else np.zeros_like(v)


@dataclass(frozen=True)
class FlowKey:
    """Everything a method's flows depend on besides the measured attention: the flows stage's cache key.

    ``layers`` is the concrete 1-based range; ``heads`` None = all heads. ``threshold``/``decay`` are None where the
    method ignores them (``FlowKey.of`` drops them), so equal keys always mean equal flows."""

    method: Method
    source: int
    layers: tuple[int, int]
    heads: tuple[int, ...] | None
    threshold: float | None
    decay: float | None

    @staticmethod
    def of(
        method: str,
        source: int,
        layers: tuple[int, int],
        heads: tuple[int, ...] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        decay: float = DEFAULT_DECAY,
    ) -> FlowKey:
        """The key of ``method`` (an entry or its key) with these settings, τ and α kept only where it uses them."""
        m = METHODS.get(method)
        return FlowKey(
            method=m,
            source=int(source),
            layers=(int(layers[0]), int(layers[1])),
            heads=None if heads is None else tuple(int(h) for h in heads),
            threshold=check_threshold(threshold) if m.uses_threshold else None,
            decay=check_decay(decay) if m.uses_decay else None,
        )

    @property
    def tau(self) -> float:
        """τ as the solvers read it (the default where the method ignores it)."""
        return DEFAULT_THRESHOLD if self.threshold is None else self.threshold

    @property
    def alpha(self) -> float:
        """α as the solvers read it (no decay where the method ignores it)."""
        return DEFAULT_DECAY if self.decay is None else self.decay


#: A method's solver: one model's attention (L, H, n, n) under ``key``; ``residual``: add the residual's ½·I
#: (False for a measure that already includes the residual); ``traced``: the ``flows.trace`` of these settings if
#: already computed (only the trace reads it).
Solver = Callable[[np.ndarray, FlowKey, bool, Trace | None], Solution]


class Method(Choice):
    """A flow method: its words (``label`` in the sidebar, ``phrase`` in figure titles, ``verb`` starting the flow
    caption), the settings it reads and its ``solve``."""

    solve: Solver
    uses_threshold: bool = False
    uses_decay: bool = False
    verb: str = ""
    #: solved on the server only (the browser's flow engine computes the others; the view asks the page for it)
    server_solved: bool = False

    def unused(self, setting: str) -> str:
        """Why the setting ``"threshold"`` or ``"decay"`` does nothing under this method ("" when it is used)."""
        if setting == "threshold" and not self.uses_threshold:
            return f"τ thresholds only the trace's edges; {self.phrase.lower()} ignores it."
        if setting == "decay" and not self.uses_decay:
            return f"α decays only the trace's influence; {self.phrase.lower()} ignores it."
        return ""


def _trace(attn: np.ndarray, key: FlowKey, residual: bool, traced: Trace | None) -> Solution:
    masses, node, stopped = trace_masses(attn, key.source, key.tau, key.layers, key.heads, key.alpha, traced)
    return Solution(masses, node, key.layers, stopped)


def _rollout(attn: np.ndarray, key: FlowKey, residual: bool, traced: Trace | None) -> Solution:
    masses, node = rollout_masses(attn, key.source, key.layers, key.heads, residual)
    return Solution(masses, node, key.layers)


def _maxflow(attn: np.ndarray, key: FlowKey, residual: bool, traced: Trace | None) -> Solution:
    masses, node = maxflow_masses(attn, key.source, key.layers, key.heads, residual)
    return Solution(masses, node, key.layers)


#: The flow methods, the trace (the paper's) first: the default.
METHODS: Registry[Method] = Registry(
    "method",
    (
        Method(
            "trace",
            label="Trace (paper: thresholded edges)",
            phrase="Thresholded trace",
            short="trace",
            verb="Tracing",
            help="The paper's trace: from the source token, every head's edge with attention ≥ τ, followed down to "
            "the input; the influence shrinks by α per layer.",
            solve=_trace,
            uses_threshold=True,
            uses_decay=True,
        ),
        Method(
            "rollout",
            label="Attention rollout",
            phrase="Attention rollout",
            short="rollout",
            verb="Attention rollout",
            help="Abnar & Zuidema 2020: Â = rownorm(½·mean over heads(A) + ½·I) per layer, multiplied down the layers "
            "(the ½·I stands for the residual connection).",
            solve=_rollout,
        ),
        Method(
            "maxflow",
            label="Attention max-flow",
            phrase="Attention max-flow",
            short="max-flow",
            verb="Attention max-flow",
            help="Abnar & Zuidema 2020: the maximum flow from the source token to each input token through the "
            "layered graph with capacities Â, computed exactly.",
            solve=_maxflow,
            server_solved=True,
        ),
    ),
)


#: The paper's thresholded trace: the traced-edges export and the heads' flow shares use it whatever is drawn.
TRACE: Method = METHODS.get("trace")


def _key(
    attn: np.ndarray,
    method: str,
    source: int,
    threshold: float,
    layers: tuple[int, int] | None,
    heads: tuple[int, ...] | list[int] | None,
    decay: float,
) -> FlowKey:
    """The checked FlowKey of the flow functions' keyword arguments on attention (L, H, n, n)."""
    a = np.asarray(attn)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"attention must have shape (layers, heads, n, n); got {a.shape}")
    sel = None if heads is None else tuple(int(h) for h in select_heads(a.shape[1], heads))
    return FlowKey.of(
        method, check_source(source, a.shape[-1]), check_layers(layers, a.shape[0]), sel, threshold, decay
    )


def flow_scores(
    attn: np.ndarray,
    method: str,
    source: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    layers: tuple[int, int] | None = None,
    heads: tuple[int, ...] | list[int] | None = None,
    decay: float = DEFAULT_DECAY,
    residual: bool = True,
) -> np.ndarray:
    """Per-input-token flow scores under ``method`` (trace, rollout, maxflow), normalised to sum 1: -> (n,).

    For rollout and max-flow, ``layers=(a, b)`` uses ``attn[a-1:b]``; threshold and decay only apply to the trace."""
    key = _key(attn, method, source, threshold, layers, heads, decay)
    return key.method.solve(attn, key, residual, None).scores()


def method_edges(
    attn: np.ndarray,
    method: str,
    source: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    layers: tuple[int, int] | None = None,
    heads: tuple[int, ...] | None = None,
    decay: float = DEFAULT_DECAY,
    max_edges: int = MAX_EDGES,
    per_node: int = PER_NODE,
    traced: Trace | None = None,
    residual: bool = True,
) -> MethodEdges:
    """The edges ``method`` draws for one model, heads merged, within the budget: (L, H, n, n) -> MethodEdges.

    ``traced``: for the trace, the ``flows.trace`` of these arguments if already computed (it is reused)."""
    key = _key(attn, method, source, threshold, layers, heads, decay)
    s = key.method.solve(attn, key, residual, traced)
    return edges_within_budget(s.masses, s.node, s.stopped, key.source, key.layers, max_edges, per_node)


def pair_graph(
    attn_base: np.ndarray,
    attn_tuned: np.ndarray,
    method: str,
    source: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    layers: tuple[int, int] | None = None,
    heads: tuple[int, ...] | None = None,
    decay: float = DEFAULT_DECAY,
    max_edges: int = MAX_EDGES,
    per_node: int = PER_NODE,
    traces: tuple[Trace, Trace] | None = None,
    residual: bool = True,
) -> PairGraph:
    """Both models' ``method_edges`` merged into one labelled edge list: two (L, H, n, n) -> PairGraph.

    ``traces``: (base, tuned) ``flows.trace`` of these arguments if already computed (reused by the trace)."""
    key = _key(attn_base, method, source, threshold, layers, heads, decay)
    tb, tt = traces if traces is not None else (None, None)
    args = (key.method, key.source, threshold, key.layers, key.heads, decay, max_edges, per_node)
    eb = method_edges(attn_base, *args, traced=tb, residual=residual)
    et = method_edges(attn_tuned, *args, traced=tt, residual=residual)
    return merge_pair(key.method, eb, et, attn_base, attn_tuned, key.heads)
