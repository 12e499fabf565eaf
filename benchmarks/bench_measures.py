"""Cost of the contribution measures against ``norm`` for an overview-sized run (issue 17: alti within 1.5× of norm).

    python benchmarks/bench_measures.py [--task sentiment] [--n 200] [--batch-size 16] [--max-length 128]
                                        [--threads 1] [--repeat 2]

For each length-sorted batch (as ``overview.compute_overview`` batches), both models of the task's embedded pair:

- ``norm``: ``forward_batch(with_norms=True)`` and ``measures.norm_weighted`` over the batch (what the overview does
  today under ``--measure norm``);
- ``alti`` / ``globenc``: ``forward_internals`` (the same pass, recording the layer internals) and the measure per
  example on its own tokens.

The overview with ``--measure alti`` is not wired yet (issue 17, phase 2), so its time is estimated as the measured
``compute_overview(--measure norm)`` time plus (alti pipeline − norm pipeline), all in the same run. Data: SST-2
validation (sentiment) or the QNLI rows in ``../shared/data`` (qa), else the task's demo set repeated to N.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from attnflow_core.contributions import alti, globenc
from attnflow_core.data.files import read_data_file
from attnflow_core.data.sources import Example, load_examples, to_examples
from attnflow_core.extract import forward_batch, forward_internals
from attnflow_core.measures import MEASURES, norm_weighted
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


def batches(
    pair: Any, exs: list[Example], settings: OverviewSettings
) -> list[tuple[dict[str, Any], list[int]]]:
    """The overview's padded, length-sorted batches and each example's length."""
    tok = pair.tokenizer
    limit = min(settings.max_length, pair.max_length)
    enc = [tok(e.text, e.text_pair, truncation=True, max_length=limit) for e in exs]
    order = sorted(range(len(exs)), key=lambda i: len(enc[i]["input_ids"]))
    out = []
    for start in range(0, len(order), settings.batch_size):
        idx = order[start : start + settings.batch_size]
        feats = [{k: enc[i][k] for k in ("input_ids", "token_type_ids", "attention_mask")} for i in idx]
        out.append((dict(tok.pad(feats, return_tensors="pt")), [len(enc[i]["input_ids"]) for i in idx]))
    return out


def norm_pipeline(pair: Any, data: list[tuple[dict[str, Any], list[int]]]) -> float:
    t0 = time.perf_counter()
    for batch, _ in data:
        for model in (pair.base, pair.tuned):
            attn, _, vnorm = forward_batch(model, batch, with_norms=True)
            assert vnorm is not None
            norm_weighted(attn, vnorm)
    return time.perf_counter() - t0


def internals_pipeline(pair: Any, data: list[tuple[dict[str, Any], list[int]]], measure: Callable) -> float:
    t0 = time.perf_counter()
    for batch, lengths in data:
        for model in (pair.base, pair.tuned):
            attn, _, _, inner = forward_internals(model, batch)
            assert inner is not None
            for k, m in enumerate(lengths):
                measure(inner.example(k, m), attn[k, :, :, :m, :m])
    return time.perf_counter() - t0


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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = get_pair_spec(f"embedded-{args.task}")
    pair = load_pair(spec.base, spec.tuned, spec.label_names)
    exs, where = examples_for(args.task, args.n)
    settings = OverviewSettings(
        n=len(exs), batch_size=args.batch_size, max_length=args.max_length, measure=MEASURES.get("norm")
    )
    data = batches(pair, exs, settings)
    lengths = np.concatenate([np.asarray(m) for _, m in data])
    print(f"task {args.task}: N = {len(exs)} rows of {where}, {lengths.mean():.1f} tokens on average "
          f"(max {lengths.max()}); batch {settings.batch_size}, max {settings.max_length} tokens; "
          f"models {spec.base} + {spec.tuned}; torch threads {torch.get_num_threads()}")  # fmt: skip
    norm_pipeline(pair, data[:1])  # warm-up
    best: dict[str, float] = {}
    for _ in range(args.repeat):  # interleaved, so that load on a shared machine hits every variant alike
        timings = {
            "norm": norm_pipeline(pair, data),
            "alti": internals_pipeline(pair, data, alti),
            "globenc": internals_pipeline(pair, data, globenc),
            "overview": compute_overview(pair, exs, args.task, settings).seconds,
        }
        best = {k: min(v, best.get(k, float("inf"))) for k, v in timings.items()}
    print(f"norm    pipeline (both forwards with value norms + norm_weighted): {best['norm']:.1f} s")
    for m in ("alti", "globenc"):
        print(f"{m:7} pipeline (both forwards with internals + {m} per example): {best[m]:.1f} s "
              f"= {best[m] / best['norm']:.2f}x norm")  # fmt: skip
    est = best["overview"] + best["alti"] - best["norm"]
    print(f"overview --measure norm (compute_overview, measured): {best['overview']:.1f} s; with alti "
          f"(estimated: + alti pipeline − norm pipeline): {est:.1f} s = {est / best['overview']:.2f}x "
          "(target: within 1.5x)")  # fmt: skip


if __name__ == "__main__":
    main()
