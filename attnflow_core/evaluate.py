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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attnflow_core.finetune import AUTO_COLUMNS, task_columns_and_labels

BINARY_NLI_LABELS = ("entailment", "not_entailment")
_NOT_ENTAILMENT = {"not_entailment", "not entailment", "non_entailment", "neutral", "contradiction"}


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
    return task_columns_and_labels(task)


def parse_label(value: Any, labels: Sequence[str], binary_nli: bool = False) -> int:
    """A gold label → index into the labels scored.

    ``labels`` are the task's labels in GLUE order; with ``binary_nli`` the scored labels are
    (entailment, not_entailment): integers 0/1 follow RTE's order, and the names neutral/contradiction count as
    not_entailment.
    """
    scored = BINARY_NLI_LABELS if binary_nli else tuple(labels)
    if value is None:
        raise ValueError(f"a row has no label; expected one of {list(scored)} or 0..{len(scored) - 1}")
    if isinstance(value, bool):
        raise ValueError(f"label {value!r} is neither a class index nor one of {list(scored)}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int | np.integer):
        i = int(value)
        if 0 <= i < len(scored):
            return i
        hint = " (-1 marks an unlabelled GLUE test row)" if i == -1 else ""
        raise ValueError(f"label {i} is out of range for {list(scored)}{hint}")
    text = str(value).strip().lower().replace("-", "_")
    if text.lstrip("_").isdigit() or (text.startswith("-") and text[1:].isdigit()):
        return parse_label(int(text.replace("_", "-")), labels, binary_nli)
    if binary_nli:
        if text == "entailment":
            return 0
        if text.replace("_", " ") in {x.replace("_", " ") for x in _NOT_ENTAILMENT}:
            return 1
    else:
        lower = [x.lower() for x in scored]
        if text in lower:
            return lower.index(text)
    raise ValueError(f"label {value!r} is neither a class index nor one of {list(scored)}")


def prediction_index(predicted: str, labels: Sequence[str], binary_nli: bool = False) -> int:
    """A model's predicted label name → index into the labels scored (merging neutral/contradiction if binary)."""
    name = predicted.strip().lower()
    if binary_nli:
        if name == "entailment":
            return 0
        if name in _NOT_ENTAILMENT:
            return 1
        raise ValueError(f"the model predicts {predicted!r}, which is not an NLI label")
    lower = [x.lower() for x in labels]
    if name not in lower:
        raise ValueError(
            f"the model predicts {predicted!r}, which is not one of the task's labels {list(labels)}; "
            "give the model's label names (the checkpoint may use generic LABEL_k names)"
        )
    return lower.index(name)


def detect_binary_nli(task: str, columns: Sequence[str], label_values: Sequence[Any]) -> bool:
    """Binary NLI data: task nli, and labels named (not_)entailment only or RTE's sentence1/sentence2 columns."""
    if task != "nli":
        return False
    values = {str(v).strip().lower().replace(" ", "_") for v in label_values}
    if values and values <= {"entailment", "not_entailment"} and "not_entailment" in values:
        return True
    return "sentence1" in columns and "premise" not in columns


def parse_columns(spec: str | None) -> dict[str, str] | None:
    """``premise=sentence1,hypothesis=sentence2`` → {"premise": "sentence1", ...} (task column = file column)."""
    if not spec:
        return None
    mapping = {}
    for part in spec.split(","):
        if "=" not in part:
            raise ValueError(
                f"--columns takes TASK_COLUMN=FILE_COLUMN pairs separated by commas; got {part!r}"
            )
        target, source = (x.strip() for x in part.split("=", 1))
        if not target or not source:
            raise ValueError(f"--columns: empty name in {part!r}")
        mapping[target] = source
    return mapping


def map_columns(ds: Any, task: str, mapping: Mapping[str, str] | None = None) -> Any:
    """Rename the data's columns to the task's (explicit ``mapping`` first, then well-known alternatives)."""
    columns, _labels = _task(task)
    rename: dict[str, str] = {}
    for target, source in (mapping or {}).items():
        if target not in (*columns, "label"):
            raise ValueError(
                f"--columns: {target!r} is not a column of the {task} task {[*columns, 'label']}"
            )
        if source not in ds.column_names:
            raise ValueError(f"--columns: the data has no column {source!r} (it has {ds.column_names})")
        if source != target:
            rename[source] = target
    for target in columns:
        if target in ds.column_names or target in rename.values():
            continue
        for alt in AUTO_COLUMNS.get(task, {}).get(target, ()):
            if alt in ds.column_names and alt not in rename:
                rename[alt] = target
                break
    clash = [t for s, t in rename.items() if t in ds.column_names and t not in rename]
    if clash:
        ds = ds.remove_columns(clash)
    if rename:
        ds = ds.rename_columns(rename)
    missing = [c for c in (*columns, "label") if c not in ds.column_names]
    if missing:
        raise ValueError(
            f"the {task} data needs columns {[*columns, 'label']}; missing {missing} (the file has "
            f"{ds.column_names}); map them with --columns e.g. premise=sentence1,hypothesis=sentence2"
        )
    return ds


def read_eval_file(
    path: str | Path, task: str, mapping: Mapping[str, str] | None = None, binary_nli: bool | None = None
) -> tuple[Any, bool]:
    """(rows with the task's column names and label names, whether they are binary NLI) from a jsonl/csv/parquet
    file, read and validated by the data package; ``binary_nli=None`` detects it from the columns and labels."""
    from attnflow_core.finetune import peek_data_file, read_data_file

    columns, label_values = peek_data_file(path)
    if binary_nli is None:
        binary_nli = detect_binary_nli(task, columns, label_values)
    return read_data_file(path, task, mapping, binary_nli=binary_nli), binary_nli


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
    gold = [parse_label(v, labels, binary_nli) for v in ds["label"]]
    first = [str(x) for x in ds[columns[0]]]
    second: list[str | None] | None = [str(x) for x in ds[columns[1]]] if len(columns) > 1 else None
    preds = predict_many(model, first, second, batch_size=batch_size, max_length=max_length)
    k = len(scored)
    confusion = np.zeros((k, k), dtype=np.int64)
    for g, p in zip(gold, preds, strict=True):
        if p is None:
            raise ValueError("a row has an empty text; remove it from the evaluation data")
        confusion[g, prediction_index(p.label, labels, binary_nli)] += 1
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
    from attnflow_core.device import add_device_argument

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
    add_device_argument(p)


def run_cli(args: argparse.Namespace) -> int:
    ds, binary_nli = read_eval_file(args.data_file, args.task, parse_columns(args.columns), args.binary_nli)
    if args.heldout is not None:
        from attnflow_core.finetune import split_heldout

        ds = split_heldout(ds, args.heldout, args.seed)[1]
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError("--limit must be >= 1")
        ds = ds.select(range(min(args.limit, len(ds))))
    from attnflow_core.models import load_model

    model = args.model or f"embedded:{args.task}"
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
