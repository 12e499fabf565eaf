"""``evaluate``: the accuracy of a fine-tuned model on a labelled data file, as text or JSON."""

from __future__ import annotations

import argparse
import json

from attnflow_core.cli.common import add_device_argument, fraction, int_in, positive_int
from attnflow_core.data.tasks import TASKS
from attnflow_core.recipes import DEFAULT_HELDOUT

PURPOSE = "accuracy of a fine-tuned model on a labelled data file"
EXAMPLE = (
    "python -m attnflow_core evaluate --task qa --data-file ../shared/data/glue-train/qnli/train.jsonl "
    "--heldout 0.1 --seed 42"
)


def configure_parser(p: argparse.ArgumentParser) -> None:
    add_device_argument(p)
    p.add_argument("--task", required=True, choices=tuple(TASKS), help="the task the model was tuned for")
    p.add_argument("--data-file", required=True, help="labelled rows: .jsonl/.json/.csv/.tsv/.parquet")
    p.add_argument(
        "--model", default=None, help="model reference (default: embedded:TASK, the shipped counterpart)"
    )
    p.add_argument(
        "--columns",
        default=None,
        help="column mapping TASK_COLUMN=FILE_COLUMN, e.g. premise=sentence1,hypothesis=sentence2",
    )
    nli = p.add_mutually_exclusive_group()
    nli.add_argument(
        "--binary-nli",
        dest="binary_nli",
        action="store_const",
        const=True,
        default=None,
        help="nli: score entailment vs not_entailment (RTE-style data; default: detected from the file)",
    )
    nli.add_argument(
        "--three-way",
        dest="binary_nli",
        action="store_const",
        const=False,
        help="nli: score entailment, neutral and contradiction (default: detected from the file)",
    )
    p.add_argument("--batch-size", type=positive_int, default=32, help="rows per forward pass")
    p.add_argument("--max-length", type=int_in(8, 512), default=256, help="truncate rows to this many tokens")
    p.add_argument(
        "--limit", type=positive_int, default=None, help="score only the first N rows (default: all)"
    )
    p.add_argument(
        "--heldout",
        type=fraction,
        default=None,
        metavar="FRACTION",
        help="score only the rows that `finetune --heldout FRACTION --seed SEED` held out of this file (the "
        f"embedded counterparts: {DEFAULT_HELDOUT} and 42)",
    )
    p.add_argument("--seed", type=int, default=42, help="the seed of the held-out split (with --heldout)")
    p.add_argument(
        "--labels",
        nargs="+",
        default=None,
        metavar="NAME",
        help="the model's class names in its output order, for checkpoints that say only LABEL_k (registered "
        "pairs such as textattack's get theirs automatically)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from attnflow_core.data.files import parse_columns, read_eval_file, split_heldout
    from attnflow_core.evaluate import evaluate
    from attnflow_core.models import embedded_ref, load_model

    ds, binary_nli = read_eval_file(args.data_file, args.task, parse_columns(args.columns), args.binary_nli)
    if args.heldout is not None:
        ds = split_heldout(ds, args.heldout, args.seed)[1]
    if args.limit is not None:
        ds = ds.select(range(min(args.limit, len(ds))))
    model = args.model or embedded_ref(args.task)
    loaded = load_model(model, label_names=tuple(args.labels) if args.labels else None, device=args.device)
    result = evaluate(loaded, ds, args.task, args.batch_size, binary_nli, args.max_length)
    if args.json:
        out = result.to_dict()
        out["data_file"] = str(args.data_file)
        print(json.dumps(out, indent=2))
        return 0
    kind = " (binary: neutral + contradiction = not_entailment)" if result.binary_nli else ""
    print(f"accuracy {result.accuracy:.4f} on {result.n} rows of {args.data_file} — model {model}{kind}")
    for name, n, correct in result.per_label:
        print(f"  {name:>15}: {correct}/{n} right")
    width = max(len(x) for x in result.label_names)
    print("  confusion (rows gold, columns predicted): " + " ".join(result.label_names))
    for name, row in zip(result.label_names, result.confusion, strict=True):
        print(f"  {name:>{width}} " + " ".join(f"{x:>6}" for x in row))
    return 0
