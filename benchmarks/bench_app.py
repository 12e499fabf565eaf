"""Latency of one settings change in the app at 128 tokens with the default (embedded) models.

What a slider move costs on a rerun: the example's extraction is cached (measured once, cold, for reference), so a
change re-runs ``analyse`` (flows + head differences) and rebuilds and serialises the Bokeh layouts of the Attention
flow and Head differences pages. Printed as seconds and as a ratio to the two models' forward passes measured in
the same run (timings on a shared 2-core machine are noisy; the ratio is the stable figure).

    python benchmarks/bench_app.py [--task qa] [--repeat 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from bokeh.embed import json_item

from attnflow_core.analysis import FlowSettings, analyse
from attnflow_core.encoding import UNITS
from attnflow_core.extract import extract
from attnflow_core.flows import SPECIAL_MODES
from attnflow_core.methods import METHODS
from attnflow_core.models import get_pair_spec, load_pair
from attnflow_core.plots.flow_graph import build_flow_layout
from attnflow_core.plots.heads import build_head_diff_layout

T = TypeVar("T")

QUESTION = (
    "What was the name of the ship that carried the first settlers to the new colony in the spring of 1620?"
)
ANSWER = (
    "The Mayflower, a merchant ship that had carried wine and cloth across the Channel for years, left Plymouth in "
    "September with about one hundred passengers, many of them seeking religious freedom, and after a hard crossing "
    "of more than two months it anchored off Cape Cod, where the passengers signed a compact before going ashore to "
    "find a place to build their first houses before winter."
)


def serialised(build: Callable[..., Any], *args: Any) -> int:
    """Build a layout and serialise it as the page does (streamlit-bokeh sends ``json_item``); its size in bytes."""
    return len(json.dumps(json_item(build(*args))))


def timed(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Median seconds of ``repeat`` calls, and the last result."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="qa")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    spec = get_pair_spec(f"embedded-{args.task}")
    pair = load_pair(spec.base, spec.tuned, spec.label_names)
    answer = ANSWER
    while len(pair.tokenizer(QUESTION, answer)["input_ids"]) < 128:
        answer += " " + ANSWER
    t_extract, result = timed(lambda: extract(pair, QUESTION, answer, max_length=128), args.repeat)
    n = result.encoding.n
    print(f"tokens: {n}; layers x heads: {result.num_layers} x {result.num_heads}")
    print(f"extraction (tokenise + both forwards, cached in the app): {t_extract * 1000:.0f} ms")
    base = FlowSettings(threshold=0.1)
    rows = []
    for name, settings in [
        ("threshold 0.1 -> 0.05 (trace)", replace(base, threshold=0.05)),
        ("layer range 2-5", replace(base, layers=(2, 5))),
        ("heads 0-5", replace(base, heads=tuple(range(6)))),
        ("hide [CLS]/[SEP], renormalise", replace(base, special=SPECIAL_MODES.get("renormalise"))),
        ("whole words", replace(base, unit=UNITS.get("word"))),
        ("method rollout", replace(base, method=METHODS.get("rollout"))),
        ("method max-flow", replace(base, method=METHODS.get("maxflow"))),
    ]:
        t_an, analysis = timed(partial(analyse, result, settings), args.repeat)
        # A rerun re-renders the page the student is on: time each page's layout on its own.
        t_flow, flow_size = timed(partial(serialised, build_flow_layout, analysis), args.repeat)
        t_heads, heads_size = timed(partial(serialised, build_head_diff_layout, analysis), args.repeat)
        worst = t_an + max(t_flow, t_heads)
        rows.append(worst)
        print(
            f"{name:31s} analyse {t_an * 1000:4.0f} ms + Attention flow layout {t_flow * 1000:4.0f} ms "
            f"({flow_size / 1e6:.1f} MB) | Head differences layout {t_heads * 1000:4.0f} ms ({heads_size / 1e6:.1f} MB)"
            f" -> slower page {worst * 1000:5.0f} ms ({worst / t_extract:4.1f}x the forwards)"
        )
    print(
        f"worst settings change (analyse + the slower page's layout): {max(rows) * 1000:.0f} ms (target: about 1 s)"
    )


if __name__ == "__main__":
    main()
