"""Cost of the contribution measures in the dataset overview (issue 17: ``overview --measure alti`` within 1.5× of
``--measure norm``).

    python benchmarks/bench_measures.py [--task sentiment] [--n 200] [--batch-size 16] [--max-length 128]
                                        [--threads 1] [--repeat 2] [--value-zeroing]

Times ``overview.compute_overview`` (what ``python -m attnflow_core overview --measure M`` runs) on both models of the
task's embedded pair under ``norm``, ``alti`` and ``globenc`` (and ``value-zeroing`` with ``--value-zeroing``),
interleaved and best of ``--repeat`` runs, so that load on a shared machine hits every variant alike. ALTI and
GlobEnc record the layer internals in the same batched forward pass and measure each example on its own tokens.
Data: SST-2 validation (sentiment) or the QNLI/MNLI rows in ``../shared/data`` (qa/nli), else the task's demo set
repeated to N.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
from dataclasses import replace

from attnflow_core.data.files import read_data_file
from attnflow_core.data.sources import Example, load_examples, to_examples
from attnflow_core.measures import MEASURES
from attnflow_core.models import get_pair_spec, load_pair
from attnflow_core.overview import OverviewSettings, compute_overview

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = {
    "sentiment": SHARED / "glue-eval" / "sst2" / "validation.jsonl",
    "qa": SHARED / "glue-train" / "qnli" / "train.jsonl",
    "nli": SHARED / "glue-train" / "mnli" / "train.jsonl",
}


def examples_for(task: str, n: int) -> tuple[list[Example], str]:
    path = DATA.get(task)
    if path is not None and path.exists():
        return to_examples(read_data_file(path, task), task)[
            :n
        ], f"{path.parent.parent.name}/{path.parent.name}"
    demo = to_examples(load_examples(task, "demo"), task)
    return [replace(demo[i % len(demo)], uid=f"{demo[i % len(demo)].uid}-{i}") for i in range(n)], "demo"


def main() -> None:
    import numpy as np
    import torch

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="sentiment", choices=tuple(DATA))
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each measurement; the best is reported"
    )
    parser.add_argument(
        "--value-zeroing", action="store_true", help="time --measure value-zeroing too (slow)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = get_pair_spec(f"embedded-{args.task}")
    pair = load_pair(spec.base, spec.tuned, spec.label_names)
    exs, where = examples_for(args.task, args.n)
    settings = OverviewSettings(n=len(exs), batch_size=args.batch_size, max_length=args.max_length)
    lengths = np.asarray([len(pair.tokenizer(e.text, e.text_pair, truncation=True, max_length=args.max_length)
                          ["input_ids"]) for e in exs])  # fmt: skip
    print(f"task {args.task}: N = {len(exs)} rows of {where}, {lengths.mean():.1f} tokens on average "
          f"(max {lengths.max()}); batch {settings.batch_size}, max {settings.max_length} tokens; "
          f"models {spec.base} + {spec.tuned}; torch threads {torch.get_num_threads()}")  # fmt: skip
    measures = ["norm", "alti", "globenc"] + (["value-zeroing"] if args.value_zeroing else [])
    compute_overview(
        pair, exs[:4], args.task, replace(settings, n=4, measure=MEASURES.get("alti"))
    )  # warm-up
    best: dict[str, float] = {}
    for _ in range(args.repeat):  # interleaved, so that load on a shared machine hits every variant alike
        for m in measures:
            run = replace(settings, measure=MEASURES.get(m))
            seconds = compute_overview(pair, exs, args.task, run).seconds
            best[m] = min(seconds, best.get(m, float("inf")))
    for m in measures:
        print(f"overview --measure {m:14} {best[m]:7.1f} s = {best[m] / best['norm']:.2f}x norm"
              + ("   (target: within 1.5x)" if m == "alti" else ""))  # fmt: skip


if __name__ == "__main__":
    main()
