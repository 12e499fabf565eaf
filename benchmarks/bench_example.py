"""Per-example latency with the embedded models: tokenise + both forward passes + all flows, at 32/64/128 tokens.

    python benchmarks/bench_example.py [--task qa] [--repeat 5]

"All flows" is what the CLI's ``compare`` computes for one example: ``analyse`` under each method (trace, rollout,
max-flow; each also computes the pair trace and the head differences). Medians over ``--repeat`` runs; the ratio
to the two forward passes (measured in the same run) is the stable figure on a shared, noisy machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from attnflow_core.analysis import METHODS, FlowSettings, analyse
from attnflow_core.data.tasks import DEFAULT_TASK, TASKS
from attnflow_core.extract import extract
from attnflow_core.models import get_pair_spec, load_pair

QUESTION = "Which ship carried the first settlers to the colony?"
PASSAGE = (
    "The Mayflower, a merchant ship that had carried wine and cloth across the Channel for years, left Plymouth in "
    "September with about one hundred passengers, many of them seeking religious freedom, and after a hard crossing "
    "of more than two months it anchored off Cape Cod, where the passengers signed a compact before going ashore."
)


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def passage_for(pair: Any, n_tokens: int) -> str:
    """A prefix of the (repeated) passage that makes the pair exactly ``n_tokens`` long with [CLS]/[SEP]s."""
    words = (PASSAGE + " ") * 8
    words_list = words.split()
    lo, hi = 1, len(words_list)
    while lo < hi:  # the longest prefix that fits
        mid = (lo + hi + 1) // 2
        if len(pair.tokenizer(QUESTION, " ".join(words_list[:mid]))["input_ids"]) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words_list[:lo])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default=DEFAULT_TASK, choices=tuple(TASKS))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    spec = get_pair_spec(f"embedded-{args.task}")
    pair = load_pair(spec.base, spec.tuned, spec.label_names)
    extract(pair, QUESTION, PASSAGE)  # warm-up
    print(f"models {spec.base} + {spec.tuned}; median of {args.repeat} runs")
    for n in (32, 64, 128):
        passage = passage_for(pair, n)
        result = extract(pair, QUESTION, passage)
        t_fwd = median_time(partial(extract, pair, QUESTION, passage), args.repeat)
        per_method = {
            m: median_time(partial(analyse, result, FlowSettings(method=m)), args.repeat) for m in METHODS
        }
        flows = sum(per_method.values())
        total = t_fwd + flows
        print(
            f"{result.encoding.n:4d} tokens: tokenise + both forwards {t_fwd * 1000:6.0f} ms; flows "
            + ", ".join(f"{m} {t * 1000:.0f} ms" for m, t in per_method.items())
            + f"; total {total * 1000:6.0f} ms ({total / t_fwd:.1f}x the forwards)"
        )


if __name__ == "__main__":
    main()
