"""GLUE's integer label maps. GLUE (and SNLI) store labels as integers; the one label parser,
``attnflow_core.data.files.normalise_label``, turns them (and users' names) into the task's label names."""

from __future__ import annotations

#: Label names by integer id, per GLUE dataset (SNLI uses -1 for "no gold label", which loaders drop).
GLUE_LABELS: dict[str, tuple[str, ...]] = {
    "sst2": ("negative", "positive"),
    "qnli": ("entailment", "not_entailment"),
    "mnli": ("entailment", "neutral", "contradiction"),
    "rte": ("entailment", "not_entailment"),
    "snli": ("entailment", "neutral", "contradiction"),
}
