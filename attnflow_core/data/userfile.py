"""The user's own examples: a CSV, JSON Lines or Parquet file whose columns are mapped onto a task's columns.

Reading, limits, column mapping and validation live in ``attnflow_core.data.files`` (the one file reader for the
app and the CLI); this module is the user-file data source's entry point. Every error is a ``DataFileError`` that
says what to change, so the app can show the message as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from attnflow_core.data.files import (
    FORMATS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    DataFileError,
    load_labelled_file,
)
from attnflow_core.data.tasks import Task, get_task

__all__ = ["FORMATS", "DataFileError", "gold_label", "load_user_file"]


def load_user_file(
    path_or_bytes: str | Path | bytes,
    task: str | Task,
    mapping: dict[str, str] | None = None,
    filename: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_rows: int = MAX_ROWS,
    binary_nli: bool = False,
) -> datasets.Dataset:
    """The user's file as a Dataset with columns uid, the task's text columns and label ("" when unlabelled).

    ``mapping`` maps the task's columns (and optionally "label", "uid") to the file's column names; unmapped ones
    are looked up by their own name, then by well-known alternatives. Labels may be names (any case) or GLUE integer
    ids; a label column is optional. For NLI, "not_entailment" is accepted only with ``binary_nli=True`` (then
    neutral and contradiction become not_entailment). Raises ``DataFileError`` for an unknown format, an oversize,
    empty, ragged or unreadable file, too many rows (counted before the table is built), missing or non-text
    columns, empty texts (with row numbers), unknown labels or duplicate uids.
    """
    ds: datasets.Dataset = load_labelled_file(
        path_or_bytes, task, mapping, filename, max_bytes, max_rows, binary_nli
    )
    return ds


def gold_label(rows: Any, task: str | Task, text: str, text_pair: str | None = None) -> str | None:
    """The gold label of the first row of ``rows`` (a loaded file as a Dataset or DataFrame) whose texts are
    ``text`` (and ``text_pair``); None when no row matches or it is unlabelled.

    An uploaded file's rows travel through the app as custom text, so this finds their gold label again.
    """
    t = get_task(task)
    firsts = list(rows[t.text_columns[0]])
    seconds = list(rows[t.text_columns[1]]) if t.is_pair else [None] * len(firsts)
    labels = list(rows["label"])
    want = (text.strip(), (text_pair or "").strip() if t.is_pair else None)
    for first, second, label in zip(firsts, seconds, labels, strict=True):
        if (str(first).strip(), str(second).strip() if t.is_pair else None) == want:
            return str(label) or None
    return None
