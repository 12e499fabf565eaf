"""Accuracy of a fine-tuned classifier on labelled data in a task's columns.

Labels may be GLUE integers (in GLUE's label order for the task) or label names (case-insensitive). Binary NLI
data — ``entailment`` / ``not_entailment`` as in RTE — is scored against a three-way NLI model by merging its
``neutral`` and ``contradiction`` predictions into ``not_entailment``. The model's own label order does not
matter: predictions are matched to the task's labels by name (so textattack's MNLI order works too).

CLI: ``python -m attnflow_core evaluate --task T --data-file F [--model M] [--json]`` (``attnflow_core.cli.evaluate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.data.errors import DataError
from attnflow_core.data.files import (
    BINARY_NLI_LABELS,
    detect_binary_nli,
    label_index,
    map_columns,
    prediction_index,
)
from attnflow_core.data.tasks import get_task
from attnflow_core.settings import SettingsError


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

    t = get_task(task)
    columns, labels = t.text_columns, t.labels
    if binary_nli is None:
        labels_seen = ds["label"] if "label" in ds.column_names else []
        binary_nli = detect_binary_nli(task, ds.column_names, labels_seen)  # before mapping: RTE's columns
    ds = map_columns(ds, task)
    if len(ds) == 0:
        raise DataError("the evaluation data is empty")
    if binary_nli and task != "nli":
        raise SettingsError("binary NLI scoring applies to the nli task only")
    model: LoadedModel = (
        model_ref_or_loaded
        if isinstance(model_ref_or_loaded, LoadedModel)
        else load_model(str(model_ref_or_loaded))
    )
    if model.label_names is None:
        raise SettingsError(f"{model.ref!r} has no classification head, so it makes no predictions to score")
    scored = BINARY_NLI_LABELS if binary_nli else labels
    gold = [label_index(v, task, binary_nli) for v in ds["label"]]
    first = [str(x) for x in ds[columns[0]]]
    second: list[str | None] | None = [str(x) for x in ds[columns[1]]] if len(columns) > 1 else None
    preds = predict_many(model, first, second, batch_size=batch_size, max_length=max_length)
    k = len(scored)
    confusion = np.zeros((k, k), dtype=np.int64)
    for g, p in zip(gold, preds, strict=True):
        if p is None:
            raise DataError("a row has an empty text; remove it from the evaluation data")
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
