"""The user's own examples: a CSV, JSON Lines or Parquet file whose columns are mapped onto a task's columns.

Everything is validated before anything is returned (format, size, columns, empty texts, labels, duplicate uids),
and every error says what to change, so the app can show the message as is.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets
import pandas as pd

from attnflow_core.data.errors import DataError
from attnflow_core.data.glue import LabelError, is_missing, normalise_label, task_labels
from attnflow_core.data.tasks import get_task

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
_SHOW = 10


class DataFileError(DataError):
    """The user's file cannot be used as is; the message names the problem and the fix."""


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_SHOW])
    return shown + (f" … ({len(rows)} rows in all)" if len(rows) > _SHOW else "")


def _detect_format(data: bytes, filename: str | None) -> str:
    if filename:
        suffix = Path(filename).suffix.lower()
        if suffix in FORMATS:
            return FORMATS[suffix]
        raise DataFileError(
            f"unsupported file format {suffix or '(no extension)'!r} of {filename!r}; "
            "use CSV (.csv), JSON Lines (.jsonl) or Parquet (.parquet)"
        )
    if data[:4] == b"PAR1":
        return "parquet"
    raise DataFileError(
        "cannot tell the file's format without its name; pass filename= ending in .csv, .jsonl or .parquet"
    )


def _read_frame(data: bytes, fmt: str) -> pd.DataFrame:
    try:
        if fmt == "csv":
            return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if fmt == "jsonl":
            text = data.decode("utf-8-sig").strip()
            if text.startswith("["):  # a JSON array of objects is accepted too
                return pd.read_json(io.StringIO(text), orient="records", dtype=False)
            return pd.read_json(io.StringIO(text), lines=True, dtype=False)
        return pd.read_parquet(io.BytesIO(data))
    except pd.errors.EmptyDataError:
        raise DataFileError("the file is empty: it has no header and no rows") from None
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise DataFileError(
            f"cannot read the file as {fmt.upper()}: {exc}; check that it is valid {fmt.upper()}"
        ) from exc


def _column_map(
    task_columns: list[str], frame_columns: list[str], mapping: Mapping[str, str] | None
) -> dict[str, str]:
    """{output column: file column}: the mapping given, else same-named columns (label and uid when present)."""
    valid_keys = ["uid", *task_columns, "label"]
    result: dict[str, str] = {}
    if mapping:
        unknown = [k for k in mapping if k not in valid_keys]
        if unknown:
            raise DataFileError(
                f"mapping key(s) {', '.join(map(repr, unknown))} are not columns of the task; map from "
                f"{', '.join(valid_keys)} to your file's columns, e.g. {{'{task_columns[0]}': 'text'}}"
            )
        result.update(mapping)
    for col in valid_keys:
        if col not in result and (col in frame_columns or col in task_columns):
            result[col] = col
    missing = [(k, v) for k, v in result.items() if v not in frame_columns]
    if missing:
        k, v = missing[0]
        raise DataFileError(
            f"column {v!r} (for the task's {k!r}) is not in the file; available columns: {', '.join(frame_columns)}. "
            f"Rename it or pass mapping={{'{k}': '<your column>'}}"
        )
    return result


def _cell_text(value: Any) -> str:
    return "" if is_missing(value) else str(value).strip()


def load_user_file(
    path_or_bytes: str | Path | bytes,
    task: str,
    mapping: dict[str, str] | None = None,
    filename: str | None = None,
    max_bytes: int = 50 * 2**20,
    max_rows: int = 100_000,
    binary_nli: bool = False,
) -> datasets.Dataset:
    """The user's file as a Dataset with columns uid, the task's text columns and label ("" when unlabelled).

    ``mapping`` maps the task's columns (and optionally "label", "uid") to the file's column names; unmapped ones
    are looked up by their own name. Labels may be names (any case) or GLUE integer ids; a label column is optional.
    For NLI, "not_entailment" is accepted only with ``binary_nli=True`` (then neutral and contradiction become
    not_entailment). Raises ``DataFileError`` for an unknown format, an oversize, empty or unreadable file, missing
    columns, empty texts (with row numbers), unknown labels, duplicate uids or too many rows.
    """
    t = get_task(task)
    if isinstance(path_or_bytes, bytes | bytearray):
        if len(path_or_bytes) > max_bytes:
            raise DataFileError(
                f"the file is {len(path_or_bytes):,} bytes, over the limit of {max_bytes:,}; use a smaller file"
            )
        data = bytes(path_or_bytes)
        name = filename
    else:
        path = Path(path_or_bytes)
        if not path.is_file():
            raise DataFileError(f"no such file: {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise DataFileError(
                f"{path.name} is {size:,} bytes, over the limit of {max_bytes:,}; use a smaller file"
            )
        data = path.read_bytes()
        name = filename or path.name
    fmt = _detect_format(data, name)
    if not data.strip():
        raise DataFileError("the file is empty: it has no header and no rows")
    frame = _read_frame(data, fmt)
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise DataFileError(f"the file has no rows (columns: {', '.join(frame.columns) or 'none'})")
    if len(frame) > max_rows:
        raise DataFileError(
            f"the file has {len(frame):,} rows, over the limit of {max_rows:,}; use fewer rows"
        )
    cols = _column_map(list(t.text_columns), list(frame.columns), mapping)

    out: dict[str, list[str]] = {}
    for col in t.text_columns:
        texts = [_cell_text(v) for v in frame[cols[col]].tolist()]
        empty = [i + 1 for i, s in enumerate(texts) if not s]
        if empty:
            raise DataFileError(
                f"column {cols[col]!r} ({col}) is empty in row(s) {_rows_text(empty)} (counting data rows from 1); "
                "fill in or remove those rows"
            )
        out[col] = texts

    labels = [""] * len(frame)
    if "label" in cols:
        bad: dict[str, list[int]] = {}
        for i, value in enumerate(frame[cols["label"]].tolist()):
            try:
                labels[i] = normalise_label(value, t, binary_nli)
            except LabelError:
                bad.setdefault(repr(value), []).append(i + 1)
        if bad:
            first, rows = next(iter(bad.items()))
            others = f" and {len(bad) - 1} other unknown value(s)" if len(bad) > 1 else ""
            hint = ""
            if t.name == "nli" and not binary_nli and "not_entailment" in first.lower().replace(" ", "_"):
                hint = (
                    " ('not_entailment' is binary: pass binary_nli=True to merge neutral and contradiction)"
                )
            raise DataFileError(
                f"unknown label {first} in column {cols['label']!r} (row(s) {_rows_text(rows)}){others}; use one of "
                f"{', '.join(task_labels(t, binary_nli))} or their ids 0..{len(task_labels(t, binary_nli)) - 1}{hint}"
            )
    out["label"] = labels

    stem = Path(name).stem if name else "file"
    if "uid" in cols:
        uids = [_cell_text(v) for v in frame[cols["uid"]].tolist()]
        empty = [i + 1 for i, u in enumerate(uids) if not u]
        if empty:
            raise DataFileError(
                f"uid column {cols['uid']!r} is empty in row(s) {_rows_text(empty)}; fill it in or drop it"
            )
        counts = Counter(uids)
        dups = sorted(u for u, n in counts.items() if n > 1)
        if dups:
            raise DataFileError(
                f"uid column {cols['uid']!r} repeats {', '.join(dups[:_SHOW])}; uids must be unique"
            )
    else:
        uids = [f"{stem}-{i + 1}" for i in range(len(frame))]
    out["uid"] = uids
    columns = ["uid", *t.text_columns, "label"]
    features = datasets.Features({c: datasets.Value("string") for c in columns})
    return datasets.Dataset.from_dict({c: out[c] for c in columns}, features=features)
