"""The user's own fine-tuned counterparts (trained from the app on a data set): their names and their training.

Pure helpers (no Streamlit) the Examples page calls, so that they run and are tested on their own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pandas as pd

from attnflow_core.data.tasks import get_task


def user_model_name(task: str, source: str, split: str, df: pd.DataFrame) -> str:
    """A readable, stable folder name for a counterpart trained on one data set: same rows -> same name, and two
    different files with as many rows get different names (a digest of the labelled rows is part of it).

    ``df``: the data set's rows (n_rows × columns), with the task's text columns and ``label``.
    """
    cols = [c for c in (*get_task(task).text_columns, "label") if c in df.columns]
    digest = hashlib.sha256(pd.util.hash_pandas_object(df[cols], index=False).values.tobytes()).hexdigest()[
        :8
    ]
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{task}-{source}-{split or 'all'}")
    return f"{safe}-{len(df)}-{digest}"


def user_model_exists(name: str) -> bool:
    """Whether a counterpart called ``name`` was trained (and saved completely) on this machine."""
    from attnflow_core.paths import user_models_dir

    return (user_models_dir() / name / "attnflow.json").exists()


def finetune_user_model(
    task: str, df: pd.DataFrame, name: str, config: Any, progress: Callable[[float, str], None]
) -> float:
    """Train a quick LoRA counterpart on the labelled rows of ``df``; returns its held-out accuracy (nan if none)."""
    import datasets

    from attnflow_core.data.files import split_heldout
    from attnflow_core.finetune import finetune
    from attnflow_core.paths import user_models_dir
    from attnflow_core.recipes import DEFAULT_HELDOUT

    cols = [*get_task(task).text_columns, "label"]
    labelled = df[df["label"].astype(str) != ""][cols].reset_index(drop=True)
    ds = datasets.Dataset.from_pandas(labelled, preserve_index=False)
    train, held = split_heldout(ds, DEFAULT_HELDOUT, config.seed)
    result = finetune(
        task,
        train,
        held if len(held) else None,
        config,
        user_models_dir() / name,
        progress=progress,
        data_description=f"{len(labelled)} labelled rows of {name} (fine-tuned from the app)",
    )
    return float("nan") if result.eval_accuracy is None else float(result.eval_accuracy)
