"""The built-in demo sets: short, original examples per task, kept as JSONL beside this module (offline, instant)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets

from attnflow_core.data.tasks import get_task

DEMO_DIR = Path(__file__).resolve().parent / "demo"
LICENSE = (
    "written for this project (same license as the project), except the QA set's qnli-val-31: GLUE QNLI "
    "validation idx 31, the Attention Flows paper's teaser (from SQuAD, CC BY-SA 4.0)"
)


def demo_path(task: str) -> Path:
    """The JSONL file of a task's demo set."""
    return DEMO_DIR / f"{get_task(task).name}.jsonl"


def load_demo(task: str) -> datasets.Dataset:
    """A task's demo set: uid, the task's text columns, and gold label names."""
    t = get_task(task)
    columns = ["uid", *t.text_columns, "label"]
    rows = []
    with open(demo_path(t.name), encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if any(not isinstance(row.get(c), str) for c in columns) or row["label"] not in t.labels:
                raise ValueError(
                    f"demo/{t.name}.jsonl line {lineno} is malformed (needs {', '.join(columns)}); got {row}"
                )
            rows.append(row)
    features = datasets.Features({c: datasets.Value("string") for c in columns})
    return datasets.Dataset.from_dict({c: [r[c] for r in rows] for c in columns}, features=features)
