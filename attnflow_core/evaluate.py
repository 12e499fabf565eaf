"""Accuracy of a fine-tuned classifier on labelled data in a task's columns.

Labels may be GLUE integers (in GLUE's label order for the task) or label names (case-insensitive). Binary NLI
data — ``entailment`` / ``not_entailment`` as in RTE — is scored against a three-way NLI model by merging its
``neutral`` and ``contradiction`` predictions into ``not_entailment``. The model's own label order does not
matter: predictions are matched to the task's labels by name (so textattack's MNLI order works too).

CLI: ``python -m attnflow_core evaluate --task T --data-file F [--model M] [--json]``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.data.files import (
    BINARY_NLI_LABELS,
    detect_binary_nli,
    label_index,
    map_columns,
    parse_columns,
    prediction_index,
    read_eval_file,
    split_heldout,
)
from attnflow_core.data.tasks import get_task


@dataclass(frozen=True)
class EvalResult:
    """``confusion[g][p]`` counts rows with gold label ``label_names[g]`` predicted as ``label_names[p]``."""

    task: str
    model_ref: str
    accuracy: float
    n: int
    label_names: tuple[str, ...]  # the labels scored (entailment / not_entailment for binary NLI)
    per_label: tuple[tuple[str, int, int], ...]  # (label, rows with that gold label, of them predicted right)
    confusion: tuple[tuple[int, ...], ...]
    binary_nli: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "model": self.model_ref,
            "accuracy": self.accuracy,
            "n": self.n,
            "label_names": list(self.label_names),
            "per_label": {name: {"n": n, "correct": c} for name, n, c in self.per_label},
            "confusion": [list(row) for row in self.confusion],
            "binary_nli": self.binary_nli,
        }


def _task(task: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    t = get_task(task)
    return t.text_columns, t.labels


def evaluate(
    model_ref_or_loaded: Any,
    ds: Any,
    task: str,
    batch_size: int = 32,
    binary_nli: bool | None = None,
    max_length: int = 256,
) -> EvalResult:
    """Accuracy of a classifier (a reference for ``models.load_model`` or a ``LoadedModel``) on ``ds``.

    ``binary_nli=None`` detects binary NLI data (see ``detect_binary_nli``).
    """
    from attnflow_core.extract import predict_many
    from attnflow_core.models import LoadedModel, load_model

    columns, labels = _task(task)
    if binary_nli is None:
        labels_seen = ds["label"] if "label" in ds.column_names else []
        binary_nli = detect_binary_nli(task, ds.column_names, labels_seen)  # before mapping: RTE's columns
    ds = map_columns(ds, task)
    if len(ds) == 0:
        raise ValueError("the evaluation data is empty")
    if binary_nli and task != "nli":
        raise ValueError("binary NLI scoring applies to the nli task only")
    model: LoadedModel = (
        model_ref_or_loaded
        if isinstance(model_ref_or_loaded, LoadedModel)
        else load_model(str(model_ref_or_loaded))
    )
    if model.label_names is None:
        raise ValueError(f"{model.ref!r} has no classification head, so it makes no predictions to score")
    scored = BINARY_NLI_LABELS if binary_nli else labels
    gold = [label_index(v, task, binary_nli) for v in ds["label"]]
    first = [str(x) for x in ds[columns[0]]]
    second: list[str | None] | None = [str(x) for x in ds[columns[1]]] if len(columns) > 1 else None
    preds = predict_many(model, first, second, batch_size=batch_size, max_length=max_length)
    k = len(scored)
    confusion = np.zeros((k, k), dtype=np.int64)
    for g, p in zip(gold, preds, strict=True):
        if p is None:
            raise ValueError("a row has an empty text; remove it from the evaluation data")
        confusion[g, prediction_index(p.label, task, binary_nli)] += 1
    n = int(confusion.sum())
    return EvalResult(
        task=task,
        model_ref=model.ref,
        accuracy=float(np.trace(confusion) / n),
        n=n,
        label_names=tuple(scored),
        per_label=tuple(
            (name, int(confusion[i].sum()), int(confusion[i, i])) for i, name in enumerate(scored)
        ),
        confusion=tuple(tuple(int(x) for x in row) for row in confusion),
        binary_nli=bool(binary_nli),
    )


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=("sentiment", "qa", "nli"))
    p.add_argument("--data-file", required=True, help="labelled rows: .jsonl/.json/.csv/.tsv/.parquet")
    p.add_argument("--model", default=None, help="model reference (default: the embedded counterpart)")
    p.add_argument(
        "--columns", default=None, help="column mapping, e.g. premise=sentence1,hypothesis=sentence2"
    )
    nli = p.add_mutually_exclusive_group()
    nli.add_argument(
        "--binary-nli",
        dest="binary_nli",
        action="store_const",
        const=True,
        default=None,
        help="score entailment vs not_entailment (RTE-style data; default: detected)",
    )
    nli.add_argument("--three-way", dest="binary_nli", action="store_const", const=False)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--limit", type=int, default=None, help="score only the first N rows")
    p.add_argument(
        "--heldout",
        type=float,
        default=None,
        metavar="FRACTION",
        help="score only the rows that `finetune --heldout FRACTION --seed SEED` held out of this file (the "
        "embedded counterparts: 0.1 and 42)",
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


def run_cli(args: argparse.Namespace) -> int:
    ds, binary_nli = read_eval_file(args.data_file, args.task, parse_columns(args.columns), args.binary_nli)
    if args.heldout is not None:
        ds = split_heldout(ds, args.heldout, args.seed)[1]
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError("--limit must be >= 1")
        ds = ds.select(range(min(args.limit, len(ds))))
    from attnflow_core.models import load_model

    model = args.model or f"embedded:{args.task}"
    loaded = load_model(model, label_names=tuple(args.labels) if args.labels else None)
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
