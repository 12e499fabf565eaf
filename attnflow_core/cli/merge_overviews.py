"""``merge-overviews``: join the files of ``overview --shard i/k`` runs into the file one run over all examples writes."""

from __future__ import annotations

import argparse

PURPOSE = "join the files of `overview --shard I/K` runs into the file one run over all examples writes"
EXAMPLE = "python -m attnflow_core merge-overviews part-1.json part-2.json --out merged.parquet"


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "parts", nargs="+", metavar="FILE", help="overview files of the shards (.json or .parquet)"
    )
    p.add_argument("--out", required=True, help="merged output file: .json or .parquet (written atomically)")


def run(args: argparse.Namespace) -> int:
    from attnflow_core.overview import layer_reading, load_overview, save_overview
    from attnflow_core.paths import check_writable_file
    from attnflow_core.shards import merge_overviews

    check_writable_file(args.out)
    merged = merge_overviews([load_overview(path) for path in args.parts])
    path = save_overview(merged, args.out)
    print(f"merged {len(args.parts)} files: {merged.n_examples} examples; wrote {path}")
    print(layer_reading(merged))
    return 0
