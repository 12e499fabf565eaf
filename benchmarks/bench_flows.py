"""Flow computations: max-flow against the networkx reference (values and speed), rollout and trace timings.

    python benchmarks/bench_flows.py [--quick]

Attention is random softmax with a temperature that makes rows peaked like real attention (fixed seed). The networkx
reference (preflow-push on float capacities) at 12 layers × 128 tokens takes minutes, so for 128 tokens it is timed
on a subset of sinks and extrapolated to all n, and values are compared on that subset; the 64-token run times and
compares every sink. Ratios are measured side by side in the same run (the machine is shared and noisy).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import time

import numpy as np

from attnflow_core.flows import max_flow, max_flow_reference, rollout, trace


def attention(n: int, layers: int = 12, heads: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(layers, heads, n, n)) * 3.0
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def reference_on(attn: np.ndarray, sinks: list[int]) -> tuple[np.ndarray, float]:
    """networkx values for some sinks (same graph as max_flow_reference) and the time they took."""
    import networkx as nx
    from networkx.algorithms.flow import preflow_push

    from attnflow_core.flows import residual_attention

    res = residual_attention(attn)
    n_layers, n = res.shape[0], res.shape[-1]
    t0 = time.perf_counter()
    g = nx.DiGraph()
    for layer in range(1, n_layers + 1):
        for j in range(n):
            for i in range(n):
                g.add_edge((layer, j), (layer - 1, i), capacity=float(res[layer - 1, j, i]))
    values = np.array(
        [nx.maximum_flow_value(g, (n_layers, 0), (0, i), flow_func=preflow_push) for i in sinks]
    )
    return values, time.perf_counter() - t0


def bench_maxflow(n: int, sinks: int | None) -> None:
    a = attention(n)
    t0 = time.perf_counter()
    ours = max_flow(a, 0)
    t_ours = time.perf_counter() - t0
    chosen = list(range(n)) if sinks is None else list(np.linspace(0, n - 1, sinks).astype(int))
    if sinks is None:
        t1 = time.perf_counter()
        ref = max_flow_reference(a, 0)
        t_ref = time.perf_counter() - t1
        note = "all sinks"
    else:
        ref_part, t_part = reference_on(a, chosen)
        ref = np.full(n, np.nan)
        ref[chosen] = ref_part
        t_ref = t_part / len(chosen) * n
        note = f"reference timed on {len(chosen)} sinks, extrapolated to {n}"
    diff = np.nanmax(np.abs(ours - ref))
    print(
        f"max-flow 12 layers x {n} tokens (all {n} sinks): ours {t_ours:.3f} s, networkx preflow_push "
        f"{t_ref:.1f} s ({note}) -> {t_ref / t_ours:.0f}x faster; max |difference| {diff:.2e}"
    )


def bench_simple(n: int) -> None:
    a = attention(n)
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        rollout(a)
    t_roll = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        tr = trace(a, 0, 0.1)
    t_trace = (time.perf_counter() - t0) / reps
    print(
        f"{n:4d} tokens: rollout {t_roll * 1000:6.1f} ms, trace (tau 0.1, {tr.n_edges} edges) {t_trace * 1000:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 128-token max-flow comparison")
    args = parser.parse_args()
    bench_maxflow(64, None)
    if not args.quick:
        bench_maxflow(128, 8)
    for n in (32, 64, 128):
        bench_simple(n)


if __name__ == "__main__":
    main()
