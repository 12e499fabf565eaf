"""Dataset overview at scale: examples per second on one device, the share outside the forward passes, shards.

    python benchmarks/bench_overview_scale.py [--task nli] [--n 2000] [--device cpu|cuda|auto] [--shards 2]
        [--data-file FILE] [--batch-size 16] [--threads N] [--json OUT]

Measured in one run, on the same examples (``--data-file``, else the GLUE rows in ``../shared/data/glue-train``,
else the demo set repeated), at up to 128 tokens, with the embedded pair (MiniLM-L6 + LoRA):

1. the whole overview (``compute_overview``): examples/s and the share of its time outside the two forward passes;
2. the reference: the two forward passes alone over the same length-bucketed batches on the same device
   (``output_attentions`` on, no statistics); the overview's time divided by it is the overhead ratio;
3. the same N as ``--shards`` k shards run one after the other and merged (``attnflow_core.shards``): the merge's
   seconds and its largest difference from the whole run's head change map (exactness, not speed: on k machines
   the shards run at once).

It then prints an estimate for the full MNLI train set (393k pairs) with bert-base from these figures; the
assumptions are printed with it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import json
import platform
import time
from dataclasses import replace
from typing import Any

import numpy as np

from attnflow_core.data.files import read_data_file
from attnflow_core.data.sources import Example, load_examples, to_examples
from attnflow_core.device import batch_size_for, forward_context, model_device, resolve_device
from attnflow_core.models import get_pair_spec, load_pair
from attnflow_core.overview import OverviewSettings, compute_overview
from attnflow_core.shards import merge_overviews, shard_examples

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue-train"
GLUE_FILES = {"qa": SHARED / "qnli" / "train.jsonl", "nli": SHARED / "mnli" / "train.jsonl"}
MNLI_TRAIN = 392_702
# bert-base against MiniLM-L6 (hidden 384, 6 layers, 12 heads, intermediate 1536): per token, the encoder's matmul
# work grows with layers x hidden^2 (12 x 768^2 against 6 x 384^2 = 8x); the attention maps the statistics reduce
# grow with layers x heads (12 x 12 against 6 x 12 = 2x).
FORWARD_SCALE = 8.0
STATS_SCALE = 2.0


def examples_for(task: str, n: int, data_file: str | None) -> tuple[list[Example], str]:
    path = Path(data_file) if data_file else GLUE_FILES.get(task)
    if path is not None and path.exists():
        exs = to_examples(read_data_file(path, task), task)
        if len(exs) >= n:
            return exs[:n], str(path)
    demo = to_examples(load_examples(task, "demo"), task)
    out = [replace(demo[i % len(demo)], uid=f"{demo[i % len(demo)].uid}-{i}") for i in range(n)]
    return out, f"the {task} demo set, repeated to {n} rows"


def forwards_only(pair: Any, exs: list[Example], settings: OverviewSettings) -> float:
    """Seconds for the two forward passes alone, batched exactly as ``compute_overview`` batches them."""
    import torch

    tok = pair.tokenizer
    device = model_device(pair.base.model)
    step = batch_size_for(device, settings.batch_size)
    limit = min(settings.max_length, pair.max_length)
    enc = [tok(e.text, e.text_pair, truncation=True, max_length=limit) for e in exs]
    order = sorted(range(len(exs)), key=lambda i: len(enc[i]["input_ids"]))
    total = 0.0
    for start in range(0, len(order), step):
        batch = [enc[i] for i in order[start : start + step]]
        padded = tok.pad(batch, return_tensors="pt").to(device)
        t0 = time.perf_counter()
        with forward_context(device):
            pair.base.model(**padded, output_attentions=True)
            pair.tuned.model(**padded, output_attentions=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        total += time.perf_counter() - t0
    return total


def estimate(per_example_forward: float, per_example_outside: float, device: str) -> list[str]:
    """The full-MNLI estimate as printed lines, from this run's per-example seconds (MiniLM-L6, this device)."""
    fwd = per_example_forward * FORWARD_SCALE
    out = per_example_outside * STATS_SCALE
    one = MNLI_TRAIN * (fwd + out)
    lines = [
        f"Estimate, MNLI train ({MNLI_TRAIN:,} pairs) with bert-base on {device} (assumptions: forward work x"
        f"{FORWARD_SCALE:g}, statistics x{STATS_SCALE:g} against MiniLM-L6; the same length mix, <= 128 tokens):",
        f"  one worker: {fwd * 1e3:.1f} ms forward + {out * 1e3:.1f} ms statistics per example -> "
        f"{one / 3600:.1f} h",
    ]
    for k in (4, 16, 64):
        lines.append(f"  {k} such workers (shards, perfectly parallel; merge < 1 s): {one / k / 3600:.2f} h")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="nli", choices=("sentiment", "qa", "nli"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--data-file", default=None)
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, default=16, help="the CPU batch (x8 on CUDA)")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    spec = get_pair_spec(f"embedded-{args.task}")
    pair = load_pair(spec.base, spec.tuned, spec.label_names, device=str(device))
    exs, where = examples_for(args.task, args.n, args.data_file)
    settings = OverviewSettings(n=len(exs), batch_size=args.batch_size)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, device {device} {gpu}".rstrip()
    )
    print(
        f"task {args.task}, N = {len(exs)} examples from {where}; batch {batch_size_for(device, settings.batch_size)},"
        f" max {settings.max_length} tokens; models {spec.base} + {spec.tuned}"
    )
    forwards_only(pair, exs[: settings.batch_size], settings)  # warm-up

    ov = compute_overview(pair, exs, args.task, settings)
    outside = 1 - ov.forward_seconds / ov.seconds
    ref = forwards_only(pair, exs, settings)
    mean_tokens = float(np.mean(ov.examples["n_tokens"]))
    print(
        f"overview: {ov.seconds:.1f} s, {len(exs) / ov.seconds:.2f} examples/s (mean {mean_tokens:.0f} tokens); "
        f"{outside:.1%} of the time outside the forward passes"
    )
    print(
        f"reference (the two forward passes alone, same batches): {ref:.1f} s, {len(exs) / ref:.2f} examples/s; "
        f"overview / reference = {ov.seconds / ref:.2f}"
    )

    t0 = time.perf_counter()
    parts = [
        replace(compute_overview(pair, shard_examples(exs, len(exs), i, args.shards), args.task, settings), shard=(i, args.shards))
        for i in range(1, args.shards + 1)
    ]  # fmt: skip
    t_shards = time.perf_counter() - t0
    t1 = time.perf_counter()
    merged = merge_overviews(parts)
    t_merge = time.perf_counter() - t1
    diff = float(np.max(np.abs(merged.js_mean - ov.js_mean)))
    same = merged.examples["uid"].tolist() == ov.examples["uid"].tolist()
    print(
        f"{args.shards} shards one after another: {t_shards:.1f} s; merge {t_merge * 1e3:.1f} ms; same examples: "
        f"{same}; max |Δ head change map| = {diff:.1e}"
    )
    n = len(exs)
    for line in estimate(ov.forward_seconds / n, (ov.seconds - ov.forward_seconds) / n, str(device)):
        print(line)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "device": str(device),
                    "gpu": gpu,
                    "n": n,
                    "mean_tokens": mean_tokens,
                    "overview_seconds": ov.seconds,
                    "forward_seconds": ov.forward_seconds,
                    "examples_per_s": n / ov.seconds,
                    "outside_share": outside,
                    "reference_seconds": ref,
                    "ratio": ov.seconds / ref,
                    "shards": args.shards,
                    "shards_seconds": t_shards,
                    "merge_seconds": t_merge,
                    "merge_max_abs_diff": diff,
                    "js_mean": ov.js_mean.tolist(),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
