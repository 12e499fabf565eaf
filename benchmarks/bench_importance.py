"""Cost of head importance in the dataset overview: the same N examples with and without ``importance=True``
(``overview --importance``: one extra forward and backward pass of the fine-tuned model per batch).

    python benchmarks/bench_importance.py [--task qa] [--n 200] [--batch-size 16] [--repeats 1]

Prints both times and their ratio (the issue's limit: under 3×). Data as in ``bench_overview.py``: the GLUE rows
in ``../shared/data/glue-train`` when this checkout has them, else the task's demo set repeated up to N.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import time

from bench_overview import examples_for

from attnflow_core.models import EMBEDDED_BASE, embedded_ref, load_pair
from attnflow_core.overview import OverviewSettings, compute_overview


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="qa", choices=("sentiment", "qa", "nli"))
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=1, help="runs of each variant; the fastest counts")
    args = p.parse_args()
    import torch

    exs, what = examples_for(args.task, args.n, None)
    pair = load_pair(EMBEDDED_BASE, embedded_ref(args.task))
    print(f"{len(exs)} examples from {what}; torch threads {torch.get_num_threads()}")
    times = {}
    for importance in (False, True):
        settings = OverviewSettings(n=args.n, batch_size=args.batch_size, importance=importance)
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            compute_overview(pair, exs, args.task, settings)
            best = min(best, time.perf_counter() - t0)
        times[importance] = best
        print(f"importance={importance}: {best:.1f} s ({len(exs) / best:.1f} examples/s)")
    print(f"ratio with/without --importance: {times[True] / times[False]:.2f}× (limit 3×)")


if __name__ == "__main__":
    main()
