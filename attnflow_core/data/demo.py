"""The built-in demo sets: short, original examples per task, kept as JSONL beside this module (offline, instant)."""

from __future__ import annotations

from pathlib import Path

import datasets

from attnflow_core.data.files import read_data_file
from attnflow_core.data.tasks import Task, get_task

DEMO_DIR = Path(__file__).resolve().parent / "demo"
LICENSE = (
    "written for this project (same license as the project), except the QA set's qnli-val-31: GLUE QNLI "
    "validation idx 31, the Attention Flows paper's teaser (from SQuAD, CC BY-SA 4.0)"
)


def demo_path(task: str | Task) -> Path:
    """The JSONL file of a task's demo set."""
    return DEMO_DIR / f"{get_task(task).name}.jsonl"


def load_demo(task: str | Task) -> datasets.Dataset:
    """A task's demo set: uid, the task's text columns, and gold label names (read by the one file reader)."""
    t = get_task(task)
    ds: datasets.Dataset = read_data_file(demo_path(t), t)
    return ds
