"""The trajectory's cost against one overview of the same pair, measured in the same run.

    python benchmarks/bench_trajectory.py [--task qa] [--n 40] [--tuned embedded:qa] [--data-file FILE]

Issue 18's aim: the trajectory over K checkpoints costs at most K × the fine-tuned side of one overview, the
pre-trained side computed once. The reference is ``compute_overview`` of the (pre-trained, final checkpoint) pair on
the same examples with the same settings (importance on, as the trajectory computes it). Its fine-tuned side is
estimated as the overview's time minus the trajectory's pre-trained pass (forward, statistics and focus flows of
the base model, the same work). Loading a checkpoint (the merge of its adapter) is timed apart: a page loads each
once and keeps it. Examples: ``--data-file`` (rows in the task's columns), else the task's demo set.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import time

from attnflow_core.data.sources import load_examples, to_examples
from attnflow_core.data.tasks import TASKS
from attnflow_core.models import EMBEDDED_BASE, embedded_ref, list_checkpoints, load_model, load_pair
from attnflow_core.overview import OverviewSettings, compute_overview
from attnflow_core.trajectory import TrajectorySettings, compute_trajectory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="qa", choices=tuple(TASKS))
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--tuned", default=None, help="the fine-tuned run (default embedded:TASK)")
    parser.add_argument("--data-file", default=None)
    args = parser.parse_args()
    tuned = args.tuned or embedded_ref(args.task)
    checkpoints = list_checkpoints(tuned)
    if args.data_file:
        ds = load_examples(args.task, "file", limit=args.n, path=args.data_file)
    else:
        ds = load_examples(args.task, "demo", limit=args.n)
    exs = to_examples(ds, args.task)
    print(f"task {args.task}: {len(exs)} examples, {len(checkpoints)} checkpoints of {tuned} (steps "
          f"{', '.join(str(c.step) for _, c in checkpoints)})")  # fmt: skip

    t0 = time.perf_counter()
    models = {ref: load_model(ref) for ref, _ in checkpoints}
    load_s = (time.perf_counter() - t0) / len(checkpoints)
    base = load_model(EMBEDDED_BASE)

    settings = TrajectorySettings(n=len(exs))
    t0 = time.perf_counter()
    traj = compute_trajectory(base, checkpoints, exs, args.task, settings, load=models.__getitem__)
    traj_s = time.perf_counter() - t0

    pair = load_pair(EMBEDDED_BASE, tuned)
    t0 = time.perf_counter()
    compute_overview(pair, exs, args.task, OverviewSettings(n=len(exs), importance=True))
    ov_s = time.perf_counter() - t0

    k = len(checkpoints)
    tuned_side = ov_s - traj.base_seconds
    per_ckpt = (traj_s - traj.base_seconds) / k
    print(f"loading a checkpoint (adapter merged into the base): {load_s:.2f} s each")
    print(
        f"overview of the pair (both sides, importance): {ov_s:.2f} s; its fine-tuned side about {tuned_side:.2f} s"
    )
    print(f"trajectory: {traj_s:.2f} s = pre-trained side once {traj.base_seconds:.2f} s + {k} checkpoints × "
          f"{per_ckpt:.2f} s (models already loaded)")  # fmt: skip
    print(f"ratio trajectory / (K × overview of the pair): {traj_s / (k * ov_s):.2f}")
    print(f"ratio per checkpoint / the overview's fine-tuned side: {per_ckpt / tuned_side:.2f}")
    print(f"ratio (trajectory - pre-trained side) / (K × the overview's fine-tuned side): "
          f"{(traj_s - traj.base_seconds) / (k * tuned_side):.2f}")  # fmt: skip
    print(traj.reading())


if __name__ == "__main__":
    main()
