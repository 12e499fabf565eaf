"""Dataset-overview throughput: examples per second for both models together, and the share of time outside them.

    python benchmarks/bench_overview.py [--task nli] [--n 200] [--data-file FILE] [--batch-size 16]

The physical limit is the two forward passes, so the figure that matters is the share of the overview's time spent
outside them (tokenising, padding, reducing every example's attention to the running statistics); the issue's aim
is under 20 %. As a reference measured in the same run, the script also times the two forward passes alone over
the same batches (``output_attentions`` on, no statistics): the overview's time divided by that is the overhead
ratio. Data: ``--data-file`` (rows in the task's columns), else the GLUE rows in ``../shared/data/glue-train`` when
this checkout has them, else the task's demo set repeated up to N.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import time
from dataclasses import replace

from attnflow_core.data.files import read_data_file
from attnflow_core.data.sources import Example, load_examples, to_examples
from attnflow_core.data.tasks import TASKS
from attnflow_core.models import get_pair_spec, load_pair
from attnflow_core.overview import OverviewSettings, compute_overview

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue-train"
GLUE_FILES = {"qa": SHARED / "qnli" / "train.jsonl", "nli": SHARED / "mnli" / "train.jsonl"}


def examples_for(task: str, n: int, data_file: str | None) -> tuple[list[Example], str]:
    path = Path(data_file) if data_file else GLUE_FILES.get(task)
    if path is not None and path.exists():
        return to_examples(read_data_file(path, task), task)[:n], str(path)
    demo = to_examples(load_examples(task, "demo"), task)
    out = [replace(demo[i % len(demo)], uid=f"{demo[i % len(demo)].uid}-{i}") for i in range(n)]
    return out, f"the {task} demo set, repeated to {n} rows"


def forwards_only(pair, exs: list[Example], settings: OverviewSettings) -> float:
    """Seconds for the two forward passes alone, batched exactly as compute_overview batches them."""
    import torch

    tok = pair.tokenizer
    limit = min(settings.max_length, pair.max_length)
    enc = [tok(e.text, e.text_pair, truncation=True, max_length=limit) for e in exs]
    order = sorted(range(len(exs)), key=lambda i: len(enc[i]["input_ids"]))
    total = 0.0
    for start in range(0, len(order), settings.batch_size):
        batch = [enc[i] for i in order[start : start + settings.batch_size]]
        padded = tok.pad(batch, return_tensors="pt")
        t0 = time.perf_counter()
        with torch.inference_mode():
            pair.base.model(**padded, output_attentions=True)
            pair.tuned.model(**padded, output_attentions=True)
        total += time.perf_counter() - t0
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="nli", choices=tuple(TASKS))
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--data-file", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each measurement; the best is reported"
    )
    args = parser.parse_args()
    spec = get_pair_spec(f"embedded-{args.task}")
    pair = load_pair(spec.base, spec.tuned, spec.label_names)
    exs, where = examples_for(args.task, args.n, args.data_file)
    settings = OverviewSettings(n=len(exs))
    if args.batch_size:
        settings = replace(settings, batch_size=args.batch_size)
    print(f"task {args.task}, N = {len(exs)} examples from {where}; batch {settings.batch_size}, "
          f"max {settings.max_length} tokens; models {spec.base} + {spec.tuned}")  # fmt: skip
    forwards_only(pair, exs[: settings.batch_size], settings)  # warm-up
    runs = [compute_overview(pair, exs, args.task, settings) for _ in range(args.repeat)]
    best = min(runs, key=lambda ov: ov.seconds)
    ref = min(forwards_only(pair, exs, settings) for _ in range(args.repeat))
    outside = best.seconds - best.forward_seconds
    print(f"overview: {best.seconds:.1f} s -> {len(exs) / best.seconds:.1f} examples/s (both models)")
    print(f"  of which the two forward passes: {best.forward_seconds:.1f} s; outside them: {outside:.1f} s "
          f"= {outside / best.seconds:.1%} of the time (aim: under 20 %)")  # fmt: skip
    print(f"reference, forward passes alone over the same batches: {ref:.1f} s -> {len(exs) / ref:.1f} examples/s; "
          f"overview / reference = {best.seconds / ref:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
