"""GLUE's integer label maps and the label normalisation shared by every source, the file loader and evaluation.

GLUE (and SNLI) store labels as integers; users' files may hold integers, names in any case, or RTE-style binary
labels. ``normalise_label`` turns all of these into the task's label names, so downstream code compares strings only.
"""

from __future__ import annotations

import math
from typing import Any

from attnflow_core.data.errors import DataError
from attnflow_core.data.tasks import Task, get_task

#: Label names by integer id, per GLUE dataset (SNLI uses -1 for "no gold label", which loaders drop).
GLUE_LABELS: dict[str, tuple[str, ...]] = {
    "sst2": ("negative", "positive"),
    "qnli": ("entailment", "not_entailment"),
    "mnli": ("entailment", "neutral", "contradiction"),
    "rte": ("entailment", "not_entailment"),
    "snli": ("entailment", "neutral", "contradiction"),
}

#: The GLUE dataset whose integer ids a task's integer labels follow.
TASK_GLUE_DATASET: dict[str, str] = {"sentiment": "sst2", "qa": "qnli", "nli": "mnli"}

#: Binary NLI labels (RTE, and 3-way NLI once neutral and contradiction are merged).
BINARY_NLI_LABELS: tuple[str, ...] = ("entailment", "not_entailment")

_ALIASES: dict[str, str] = {
    "neg": "negative",
    "pos": "positive",
    "entails": "entailment",
    "entailed": "entailment",
    "contradicts": "contradiction",
    "not_entailed": "not_entailment",
    "non_entailment": "not_entailment",
}


class LabelError(DataError):
    """A label that is not one of the task's label names (nor an accepted integer id or alias)."""


def task_labels(task: str | Task, binary_nli: bool = False) -> tuple[str, ...]:
    """The label names a task's rows may carry: the task's own, or entailment/not_entailment for binary NLI."""
    t = get_task(task)
    return BINARY_NLI_LABELS if (binary_nli and t.name == "nli") else t.labels


def _integer_id(value: Any) -> int | None:
    """``value`` as an integer id if it is one (int, integral float, or a string of digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        s = value.strip()
        if s.lstrip("-").isdigit():
            return int(s)
    return None


def is_missing(value: Any) -> bool:
    """Whether a label cell means "no label": None, NaN, or an empty string."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def normalise_label(value: Any, task: str | Task, binary_nli: bool = False) -> str:
    """The task's label name for ``value``, or "" when it is missing (None, NaN, "", or GLUE's -1 "no label").

    Accepts GLUE integer ids 0..k-1 (SST-2, QNLI, MNLI order; RTE order with ``binary_nli``) and label names in
    any case, with spaces or hyphens for underscores ("Not entailment"). For the 3-way NLI task "not_entailment" is
    not a label unless ``binary_nli=True``; then neutral and contradiction both map to "not_entailment", which is
    how binary (RTE-style) evaluation merges them. Anything else raises ``LabelError`` naming the valid labels.
    """
    t = get_task(task)
    labels = task_labels(t, binary_nli)
    if is_missing(value):
        return ""
    idx = _integer_id(value)
    if idx is not None:
        if idx == -1:
            return ""
        if 0 <= idx < len(labels):
            return labels[idx]
        raise LabelError(
            f"label id {idx} is out of range for task {t.name!r}: use 0..{len(labels) - 1} "
            f"({', '.join(f'{i}={name}' for i, name in enumerate(labels))}) or a label name; got {value!r}"
        )
    if not isinstance(value, str):
        raise LabelError(
            f"a label must be a name or an integer id, one of {', '.join(labels)}; got {value!r}"
        )
    key = "_".join(value.strip().lower().replace("-", " ").split())
    key = _ALIASES.get(key, key)
    if binary_nli and t.name == "nli" and key in ("neutral", "contradiction"):
        return "not_entailment"
    if key in labels:
        return key
    hint = ""
    if t.name == "nli" and key == "not_entailment":
        hint = (
            " ('not_entailment' is a binary label: pass binary_nli=True to merge neutral and contradiction)"
        )
    raise LabelError(f"unknown label {value!r} for task {t.name!r}; use one of {', '.join(labels)}{hint}")
