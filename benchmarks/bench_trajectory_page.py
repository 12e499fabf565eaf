"""The Fine-tuning trajectory page's computation, as a visitor who presses Compute waits for it.

    python benchmarks/bench_trajectory_page.py [--task qa] [--n 24] [--special renormalise]

Through the page's own loader (``pages.ui.trajectories.get_trajectory``: the server's computation slot on one thread,
each checkpoint loaded once), on the task's demo set, in a fresh process with the pair already loaded (the sidebar
loads it before the page draws). The default request (N = 24, special tokens kept, norm-weighted) ships
precomputed, so the default here renormalises to compute one that does not.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import time

from attnflow_core.data.tasks import TASKS
from attnflow_core.models import EMBEDDED_BASE, embedded_ref
from attnflow_core.trajectory import TrajectoryRequest, TrajectorySettings
from pages.ui.loaders import get_pair
from pages.ui.trajectories import get_trajectory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="qa", choices=tuple(TASKS))
    parser.add_argument("--n", type=int, default=TrajectorySettings().n)
    parser.add_argument("--special", default="renormalise", choices=("keep", "renormalise"))
    args = parser.parse_args()
    tuned = embedded_ref(args.task)
    t0 = time.perf_counter()
    get_pair(EMBEDDED_BASE, tuned, None)
    pair_s = time.perf_counter() - t0
    settings = TrajectorySettings(n=args.n, special=args.special)
    request = TrajectoryRequest(EMBEDDED_BASE, tuned, None, args.task, "demo", "", settings)
    t0 = time.perf_counter()
    t = get_trajectory(request)
    page_s = time.perf_counter() - t0
    per = ", ".join(f"{s:.1f}" for s in t.checkpoint_seconds)
    print(
        f"task {args.task}: {len(t.uids)} examples, {len(t.checkpoints)} checkpoints; pair loaded in {pair_s:.1f} s"
    )
    print(
        f"page compute: {page_s:.1f} s (pre-trained side {t.base_seconds:.1f} s; each checkpoint, loading included: {per})"
    )


if __name__ == "__main__":
    main()
