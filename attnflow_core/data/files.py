"""The one reader of labelled files (CSV, JSON Lines, Parquet), for the app and the command line alike.

It reads a file into a small column table under one set of limits (bytes, rows, columns, decoded bytes), checked
before anything large is built: Parquet row counts come from the file's metadata, CSV and JSON Lines rows are counted
while streaming. It maps the file's columns onto a task's (one automatic mapping, one ``--columns`` parser), parses
labels (one parser: GLUE integer ids, names in any case, binary NLI), validates every row and splits held-out rows.
``finetune``, ``evaluate`` and the app's user-file source all read through here and never import each other.

Every user mistake raises ``DataFileError`` (or ``LabelError``), both ``AttnflowError``s whose message names the fix.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attnflow_core.data.tasks import Task, get_task
from attnflow_core.errors import AttnflowError

#: One megabyte as the app's uploader counts it (Streamlit's browser side: 10^6 bytes), and so as every file limit
#: and message of this project counts it.
MB = 1_000_000
#: The largest file the app accepts and the CLI reads, in MB. ``.streamlit/config.toml`` ``server.maxUploadSize``
#: holds the same number (a test checks it) so the uploader shows the real limit.
MAX_UPLOAD_MB = 50
MAX_FILE_BYTES = MAX_UPLOAD_MB * MB
#: The most data rows a file may have (checked from Parquet metadata, or while streaming CSV / JSON Lines).
MAX_ROWS = 100_000
#: The most columns a file may have.
MAX_COLUMNS = 1_000
#: The most bytes a Parquet file's cells may take once decompressed and decoded (from its metadata, then counted
#: while decoding: a dictionary-encoded value repeated in many rows counts once per row).
MAX_DECODED_BYTES = 4 * MAX_FILE_BYTES

#: File suffix → format.
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
#: Binary NLI labels (RTE, and 3-way NLI once neutral and contradiction are merged), in RTE's integer order.
BINARY_NLI_LABELS: tuple[str, ...] = ("entailment", "not_entailment")
#: Column names other datasets use for a task's columns, mapped automatically when the task's own are missing.
AUTO_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "sentiment": {"sentence": ("text", "review", "snippet")},
    "qa": {"question": ("sentence1", "text1"), "sentence": ("sentence2", "text2", "context")},
    "nli": {"premise": ("sentence1", "text1"), "hypothesis": ("sentence2", "text2")},
}
#: What the GLUE files the shipped counterparts were trained on hold (see the model cards).
GLUE_FILE_NAMES: dict[str, str] = {
    "qa": "GLUE QNLI validation rows idx 0-3999",
    "nli": "GLUE MNLI validation_matched, all rows",
}
_ALIASES: dict[str, str] = {
    "neg": "negative",
    "pos": "positive",
    "entails": "entailment",
    "entailed": "entailment",
    "contradicts": "contradiction",
    "not_entailed": "not_entailment",
    "non_entailment": "not_entailment",
}
_SHOW = 10
#: Where the app and the CLI choose a file's column for a task column (named in every wrong-column message).
_CHOOSE_COLUMN = "choose the column for {k!r} in the boxes above (command line: --columns {k}=COLUMN)"


class DataFileError(AttnflowError, ValueError):
    """The user's file cannot be used as is; the message names the problem and the fix."""


class FileLimitError(DataFileError):
    """A file over one of the reader's limits (bytes, rows, columns, decoded size); the message names the limit."""


class LabelError(AttnflowError, ValueError):
    """A label that is not one of the task's label names (nor an accepted integer id or alias)."""


# ----------------------------------------------------------------------------------------------------------------
# labels: the one parser


def task_labels(task: str | Task, binary_nli: bool = False) -> tuple[str, ...]:
    """The label names a task's rows may carry: the task's own, or entailment/not_entailment for binary NLI."""
    t = get_task(task)
    return BINARY_NLI_LABELS if (binary_nli and t.name == "nli") else t.labels


def _integer_id(value: Any) -> int | None:
    """``value`` as an integer id if it is one (int, integral float, or a string of digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if float(value).is_integer() else None
    if isinstance(value, str):
        s = value.strip()
        if s.lstrip("-").isdigit():
            return int(s)
    return None


def is_missing(value: Any) -> bool:
    """Whether a cell means "no value": None, NaN, or an empty string."""
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


def label_index(value: Any, task: str | Task, binary_nli: bool = False) -> int:
    """A gold label → its index in ``task_labels(task, binary_nli)``; a missing label raises ``LabelError``."""
    name = normalise_label(value, task, binary_nli)
    labels = task_labels(task, binary_nli)
    if not name:
        raise LabelError(
            f"a row has no label ({value!r}; -1 marks an unlabelled GLUE test row); expected one of "
            f"{', '.join(labels)} or 0..{len(labels) - 1}"
        )
    return labels.index(name)


def prediction_index(predicted: str, task: str | Task, binary_nli: bool = False) -> int:
    """A model's predicted label name → its index in ``task_labels(task, binary_nli)`` (neutral and contradiction
    count as not_entailment when binary)."""
    labels = task_labels(task, binary_nli)
    try:
        if _integer_id(predicted) is not None:
            raise LabelError(predicted)
        name = normalise_label(predicted, task, binary_nli)
    except LabelError:
        name = ""
    if not name:
        raise LabelError(
            f"the model predicts {predicted!r}, which is not one of the task's labels {list(labels)}; "
            "give the model's label names (the checkpoint may use generic LABEL_k names)"
        )
    return labels.index(name)


def detect_binary_nli(task: str, columns: Sequence[str], label_values: Sequence[Any]) -> bool:
    """Binary NLI data: task nli, and labels named (not_)entailment only or RTE's sentence1/sentence2 columns."""
    if task != "nli":
        return False
    values = {"_".join(str(v).strip().lower().replace("-", " ").split()) for v in label_values}
    if values and values <= set(BINARY_NLI_LABELS) and "not_entailment" in values:
        return True
    return "sentence1" in columns and "premise" not in columns


# ----------------------------------------------------------------------------------------------------------------
# columns: one parser, one mapping


def parse_columns(spec: str | None) -> dict[str, str] | None:
    """``premise=sentence1,hypothesis=sentence2`` → {"premise": "sentence1", ...} (task column = file column)."""
    if not spec:
        return None
    mapping = {}
    for part in spec.split(","):
        if "=" not in part:
            raise DataFileError(
                f"--columns takes TASK_COLUMN=FILE_COLUMN pairs separated by commas; got {part!r}"
            )
        target, source = (x.strip() for x in part.split("=", 1))
        if not target or not source:
            raise DataFileError(f"--columns: empty name in {part!r}; write TASK_COLUMN=FILE_COLUMN")
        mapping[target] = source
    return mapping


def column_map(
    task: str | Task, columns: Sequence[str], mapping: Mapping[str, str] | None = None
) -> dict[str, str]:
    """{output column: file column} for uid, the task's text columns and label.

    The explicit ``mapping`` first; then same-named columns; then well-known alternatives (``AUTO_COLUMNS``: RTE's
    sentence1/sentence2, "text") for text columns the file lacks. uid and label are optional; a text column that is
    not in the file raises ``DataFileError`` naming the available columns and where to choose one.
    """
    t = get_task(task)
    valid_keys = ["uid", *t.text_columns, "label"]
    result: dict[str, str] = {}
    if mapping:
        unknown = [k for k in mapping if k not in valid_keys]
        if unknown:
            raise DataFileError(
                f"mapping key(s) {', '.join(map(repr, unknown))} are not columns of the task; map from "
                f"{', '.join(valid_keys)} to your file's columns"
            )
        result.update(mapping)
    for col in valid_keys:
        if col in result:
            continue
        if col in columns:
            result[col] = col
        elif col in t.text_columns:
            alts = AUTO_COLUMNS.get(t.name, {}).get(col, ())
            taken = set(result.values())
            result[col] = next((a for a in alts if a in columns and a not in taken), col)
    missing = [(k, v) for k, v in result.items() if v not in columns]
    if missing:
        k, v = missing[0]
        raise DataFileError(
            f"column {v!r} (for the task's {k!r}) is not in the file; available columns: {', '.join(columns)}. "
            + _CHOOSE_COLUMN.format(k=k)
        )
    return result


def map_columns(ds: Any, task: str, mapping: Mapping[str, str] | None = None) -> Any:
    """A ``datasets.Dataset`` with its columns renamed to the task's (``column_map``); it must have a label."""
    cols = column_map(task, ds.column_names, mapping)
    if "label" not in cols:
        raise DataFileError(
            f"the {task} data needs a label column (it has {', '.join(ds.column_names)}); "
            + _CHOOSE_COLUMN.format(k="label")
        )
    rename = {src: dst for dst, src in cols.items() if src != dst}
    clash = [c for c in rename.values() if c in ds.column_names and c not in rename]
    if clash:
        ds = ds.remove_columns(clash)
    return ds.rename_columns(rename) if rename else ds


# ----------------------------------------------------------------------------------------------------------------
# reading, under the limits


@dataclass(frozen=True)
class RawTable:
    """A file's cells as read: ``data[column][row]`` (str for CSV; JSON/Arrow values for JSONL/Parquet)."""

    columns: tuple[str, ...]
    data: dict[str, list[Any]]
    name: str  # the file name (for uids and messages)

    def __len__(self) -> int:
        return len(self.data[self.columns[0]]) if self.columns else 0


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_SHOW])
    return shown + (f" … ({len(rows)} rows in all)" if len(rows) > _SHOW else "")


def _too_many_rows(max_rows: int, n: int | None = None) -> DataFileError:
    has = f"{n:,} rows" if n is not None else f"more than {max_rows:,} rows"
    return FileLimitError(f"the file has {has}, over the limit of {max_rows:,}; use fewer rows")


def detect_format(filename: str | None, data: bytes | None = None) -> str:
    """csv, jsonl or parquet from the file name (Parquet is also recognised by its magic bytes)."""
    if filename:
        suffix = Path(filename).suffix.lower()
        if suffix in FORMATS:
            return FORMATS[suffix]
        raise DataFileError(
            f"unsupported file format {suffix or '(no extension)'!r} of {filename!r}; "
            "use CSV (.csv), JSON Lines (.jsonl) or Parquet (.parquet)"
        )
    if data is not None and data[:4] == b"PAR1":
        return "parquet"
    raise DataFileError(
        "cannot tell the file's format without its name; pass filename= ending in .csv, .jsonl or .parquet"
    )


def _check_text(data: bytes, fmt: str) -> None:
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataFileError(
            f"cannot read the file as {fmt.upper()}: it holds a NUL byte at offset {nul}, so it is not a text "
            f"file; save it as UTF-8 {fmt.upper()}"
        )


def _not_utf8(fmt: str, where: str) -> DataFileError:
    return DataFileError(
        f"cannot read the file as {fmt.upper()}: it is not UTF-8 text ({where}); save it as UTF-8 {fmt.upper()}"
    )


def _decode(data: bytes, fmt: str) -> str:
    """The whole file as text (for a JSON array, which is parsed from one string)."""
    _check_text(data, fmt)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(fmt, f"byte {data[exc.start]:#04x} at offset {exc.start}") from None


def _lines(data: bytes, fmt: str) -> io.TextIOWrapper:
    """The file as a stream of text lines, decoded as read (no second copy of the whole file in memory)."""
    _check_text(data, fmt)
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")


def _read_csv(data: bytes, max_rows: int) -> tuple[list[str], dict[str, list[Any]]]:
    end = data.find(b"\n")
    if data[: end if end >= 0 else len(data)].count(b",") >= MAX_COLUMNS:
        raise DataFileError(f"the file has more than {MAX_COLUMNS:,} columns; keep only the columns you need")
    reader = csv.reader(_lines(data, "csv"))
    try:
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            header = next(reader, None)  # leading blank lines
        if header is None:
            raise DataFileError("the file is empty: it has no header and no rows")
        columns = [h.strip() for h in header]
        cells: dict[str, list[Any]] = {c: [] for c in columns}
        n = 0
        for row in reader:
            if not row:
                continue  # a blank line
            if len(row) != len(columns):
                raise DataFileError(
                    f"line {reader.line_num} has {len(row)} field(s) but the header has {len(columns)} "
                    f'({", ".join(columns)}); quote texts that contain commas ("A wonderful, moving film.") '
                    "or fix that line"
                )
            n += 1
            if n > max_rows:
                raise _too_many_rows(max_rows)
            for c, v in zip(columns, row, strict=True):
                cells[c].append(v)
    except csv.Error as exc:
        raise DataFileError(
            f"cannot read the file as CSV (line {reader.line_num}: {exc}); check that it is valid CSV"
        ) from None
    except UnicodeDecodeError:
        raise _not_utf8("csv", f"after line {reader.line_num}") from None
    return columns, cells


def _json_array(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, element) of each element of one JSON array, parsed one by one."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip()) + 1
    line, counted = 1, 0
    expect_value = True
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos < len(text) and text[pos] == "]":
            return
        if pos < len(text) and text[pos] == "," and not expect_value:
            pos += 1
            expect_value = True
            continue
        if not expect_value:
            raise json.JSONDecodeError("expected ',' or ']'", text, pos)
        start = pos
        value, pos = decoder.raw_decode(text, pos)
        line += text.count("\n", counted, start)
        counted = start
        expect_value = False
        yield line, value


def _json_records(data: bytes) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each JSON Lines record, or of each element of one JSON array."""
    start = re.match(rb"(\xef\xbb\xbf)?\s*", data)
    if data[start.end() if start else 0 :][:1] == b"[":
        yield from _json_array(_decode(data, "jsonl"))
        return
    for i, record in enumerate(_lines(data, "jsonl")):
        if record.strip():
            try:
                value = json.loads(record)
            except json.JSONDecodeError as exc:
                raise DataFileError(
                    f"cannot read the file as JSONL (line {i + 1}: {exc.msg}); check that it is valid JSON Lines"
                ) from None
            yield i + 1, value


def _read_jsonl(data: bytes, max_rows: int) -> tuple[list[str], dict[str, list[Any]]]:
    records: list[dict[str, Any]] = []
    columns: dict[str, None] = {}
    line = 0
    try:
        for line, record in _json_records(data):
            if not isinstance(record, dict):
                raise DataFileError(
                    f"line {line} is a JSON {type(record).__name__}, not an object; write one object per line, "
                    'e.g. {"sentence": "…", "label": "positive"}'
                )
            if len(records) >= max_rows:
                raise _too_many_rows(max_rows)
            for key in record:
                if key not in columns:
                    columns[str(key)] = None
                    if len(columns) > MAX_COLUMNS:
                        raise DataFileError(
                            f"the file has more than {MAX_COLUMNS:,} columns; keep only the columns you need"
                        )
            records.append(record)
    except json.JSONDecodeError as exc:
        raise DataFileError(
            f"cannot read the file as JSONL (line {exc.lineno}: {exc.msg}); check that it is valid JSON Lines"
        ) from None
    except UnicodeDecodeError:
        raise _not_utf8("jsonl", f"after line {line}") from None
    cells = {c: [r.get(c) for r in records] for c in columns}
    return list(columns), cells


#: Rows decoded at a time from a Parquet file (``read_parquet_batches``): the decoded size is counted batch by batch.
PARQUET_BATCH_ROWS = 1_024
#: What one decoded cell (or one element of a list cell) is counted as, besides its text: its slot in a Python
#: list and a small Python object (an int, a float, a string's header).
CELL_BYTES = 32


def size_text(n: int) -> str:
    """A byte count as this project writes a limit: ``50,000,000 bytes (50 MB)`` (MB = ``MB`` bytes)."""
    return f"{n:,} bytes" + (f" ({n / MB:g} MB)" if n >= MB else "")


def _too_large_decoded(what: str, limit: int) -> DataFileError:
    return FileLimitError(
        f"the file's columns take {what} once decoded, over the limit of {size_text(limit)}; use fewer or "
        "shorter rows"
    )


def _decoded_bytes(arr: Any) -> int:
    """What an Arrow array's cells take once decoded into Python values: ``CELL_BYTES`` per cell (and per element
    of a list) plus the bytes of every text or binary value, counting a dictionary value once per use. Reads only
    lengths and offsets; nothing is decoded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    cells = len(arr) * CELL_BYTES
    if pa.types.is_dictionary(t):
        values = arr.dictionary
        if _is_text(values.type):
            lengths = pc.binary_length(values).fill_null(0)
            used = pc.sum(pc.take(lengths, arr.indices)).as_py() or 0
            return cells + int(used)
        per_value = _decoded_bytes(values) / max(len(values), 1)
        return cells + int(per_value * len(arr))
    if _is_text(t):
        return cells + int(pc.sum(pc.binary_length(arr)).as_py() or 0)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return cells + _decoded_bytes(arr.flatten())
    if pa.types.is_map(t):
        return cells + _decoded_bytes(arr.keys) + _decoded_bytes(arr.items)
    if pa.types.is_struct(t):
        return cells + sum(_decoded_bytes(arr.field(i)) for i in range(t.num_fields))
    return cells


def _is_text(t: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary_view(t)
    )


def _check_parquet_metadata(meta: Any, max_rows: int, max_decoded: int) -> None:
    """Refuse from the footer alone: too many rows or columns, or more than ``max_decoded`` bytes in the column
    chunks' uncompressed sizes plus ``CELL_BYTES`` per stored value (per row group and column)."""
    if meta.num_rows > max_rows:
        raise _too_many_rows(max_rows, meta.num_rows)
    if meta.num_columns > MAX_COLUMNS:
        raise FileLimitError(
            f"the file has {meta.num_columns:,} columns, over the limit of {MAX_COLUMNS:,}; "
            "keep only the columns you need"
        )
    total = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        for j in range(group.num_columns):
            chunk = group.column(j)
            total += max(int(chunk.total_uncompressed_size), 0) + max(int(chunk.num_values), 0) * CELL_BYTES
        if total > max_decoded:
            raise _too_large_decoded(f"more than {total:,} bytes", max_decoded)


def read_parquet_batches(
    source: Any, max_rows: int = MAX_ROWS, max_decoded: int = MAX_DECODED_BYTES
) -> tuple[Any, list[Any]]:
    """(Arrow schema, record batches) of a Parquet file (a path or a binary file object), within the limits.

    The footer is checked first (``_check_parquet_metadata``); then the rows are decoded ``PARQUET_BATCH_ROWS`` at
    a time with every text column kept dictionary-encoded, so a long value repeated in many rows (a dictionary
    bomb: a few KB on disk) stays one value in memory while its decoded size is counted (``_decoded_bytes``). The
    file is refused (``DataFileError`` naming the limit) as soon as the count passes ``max_decoded``, before any
    Python value is built; below it, decoding the batches (``to_pylist``, ``dictionary_decode``) is bounded too.
    Text columns of the batches may be dictionary arrays.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(source).metadata
        _check_parquet_metadata(meta, max_rows, max_decoded)
        if hasattr(source, "seek"):
            source.seek(0)
        text_leaves = [
            meta.schema.column(i).path
            for i in range(meta.num_columns)
            if meta.schema.column(i).physical_type in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY")
        ]
        pf = pq.ParquetFile(source, read_dictionary=text_leaves)
        batches = []
        decoded = rows = 0
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            rows += batch.num_rows
            if rows > max_rows:
                raise _too_many_rows(max_rows)
            decoded += sum(_decoded_bytes(col) for col in batch.columns)
            if decoded > max_decoded:
                raise _too_large_decoded(f"more than {decoded:,} bytes", max_decoded)
            batches.append(batch)
        return pf.schema_arrow, batches
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(
            f"cannot read the file as PARQUET: {exc}; check that it is valid PARQUET"
        ) from None


def _read_parquet(source: Any, max_rows: int) -> tuple[list[str], dict[str, list[Any]]]:
    """The cells of a Parquet file, read by ``read_parquet_batches`` within the data-file limits."""
    schema, batches = read_parquet_batches(source, max_rows)
    columns = [str(c) for c in schema.names]
    cells: dict[str, list[Any]] = {c: [] for c in columns}
    for batch in batches:
        for i, c in enumerate(columns):
            cells[c].extend(batch.column(i).to_pylist())
    return columns, cells


def read_table(
    path_or_bytes: str | Path | bytes,
    filename: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_rows: int = MAX_ROWS,
) -> RawTable:
    """A CSV, JSON Lines (or JSON array) or Parquet file's cells, refused before materialising when over the limits.

    ``filename`` names the format of bytes (and overrides a path's name). Raises ``DataFileError`` for a missing
    path, a folder, anything else that is not a regular file (``/dev/zero``, a pipe), an unknown format, an oversize file, more than ``max_rows`` rows, ragged CSV rows (naming the
    line), invalid text and files with no rows.
    """
    data: bytes | None = None
    path: Path | None = None
    if isinstance(path_or_bytes, bytes | bytearray):
        data = bytes(path_or_bytes)
        size = len(data)
        name = filename or ""
        what = "the file"
    else:
        path = Path(path_or_bytes).expanduser()
        if path.is_dir():
            raise DataFileError(
                f"{path} is a folder, not a file; give the path of a CSV, JSONL or Parquet file"
            )
        if not path.exists():
            raise DataFileError(f"no such file: {path}")
        if not path.is_file():
            raise DataFileError(
                f"{path} is not a regular file (a device, a pipe or a socket); give the path of a CSV, JSONL or "
                "Parquet file"
            )
        size = path.stat().st_size
        name = filename or path.name
        what = path.name
    if size > max_bytes:
        raise FileLimitError(
            f"{what} is {size:,} bytes, over the limit of {size_text(max_bytes)}; use a smaller file"
        )
    fmt = detect_format(name or None, data)
    if fmt == "parquet":
        columns, cells = _read_parquet(io.BytesIO(data) if data is not None else str(path), max_rows)
    else:
        raw = data if data is not None else Path(str(path)).read_bytes()
        if re.fullmatch(rb"(\xef\xbb\xbf)?\s*", raw):
            raise DataFileError("the file is empty: it has no header and no rows")
        columns, cells = (_read_csv if fmt == "csv" else _read_jsonl)(raw, max_rows)
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise DataFileError(f"the file's column name(s) {', '.join(map(repr, repeated))} repeat; rename them")
    table = RawTable(tuple(columns), cells, name)
    if len(table) == 0:
        raise DataFileError(f"the file has no rows (columns: {', '.join(columns) or 'none'})")
    return table


# ----------------------------------------------------------------------------------------------------------------
# validation into the task's rows


def _cell_text(value: Any) -> str:
    return "" if is_missing(value) else str(value).strip()


def _text_column(table: RawTable, column: str, role: str) -> list[str]:
    """The cells of a text column as stripped strings; non-text cells (numbers, nested values) are refused."""
    values = table.data[column]
    odd = [i + 1 for i, v in enumerate(values) if not (v is None or isinstance(v, str) or is_missing(v))]
    if odd:
        kind = type(values[odd[0] - 1]).__name__
        raise DataFileError(
            f"column {column!r} ({role}) holds non-text values ({kind} in row(s) {_rows_text(odd)}); "
            "a text column must hold strings: choose another column or convert it to text"
        )
    texts = [_cell_text(v) for v in values]
    empty = [i + 1 for i, s in enumerate(texts) if not s]
    if empty:
        raise DataFileError(
            f"column {column!r} ({role}) is empty in row(s) {_rows_text(empty)} (counting data rows from 1); "
            "fill in or remove those rows"
        )
    return texts


def _labels(table: RawTable, column: str, t: Task, binary_nli: bool) -> list[str]:
    labels = [""] * len(table)
    bad: dict[str, list[int]] = {}
    for i, value in enumerate(table.data[column]):
        try:
            labels[i] = normalise_label(value, t, binary_nli)
        except LabelError:
            bad.setdefault(repr(value), []).append(i + 1)
    if bad:
        first, rows = next(iter(bad.items()))
        others = f" and {len(bad) - 1} other unknown value(s)" if len(bad) > 1 else ""
        hint = ""
        if t.name == "nli" and not binary_nli and "not_entailment" in first.lower().replace(" ", "_"):
            hint = " ('not_entailment' is binary: pass binary_nli=True to merge neutral and contradiction)"
        valid = task_labels(t, binary_nli)
        raise DataFileError(
            f"unknown label {first} in column {column!r} (row(s) {_rows_text(rows)}){others}; use one of "
            f"{', '.join(valid)} or their ids 0..{len(valid) - 1}{hint}"
        )
    return labels


def _uids(table: RawTable, column: str | None) -> list[str]:
    if column is None:
        stem = Path(table.name).stem if table.name else "file"
        return [f"{stem}-{i + 1}" for i in range(len(table))]
    uids = [_cell_text(v) for v in table.data[column]]
    empty = [i + 1 for i, u in enumerate(uids) if not u]
    if empty:
        raise DataFileError(
            f"uid column {column!r} is empty in row(s) {_rows_text(empty)}; fill it in or drop it"
        )
    dups = sorted(u for u, n in Counter(uids).items() if n > 1)
    if dups:
        raise DataFileError(f"uid column {column!r} repeats {', '.join(dups[:_SHOW])}; uids must be unique")
    return uids


def table_rows(
    table: RawTable, task: str | Task, mapping: Mapping[str, str] | None = None, binary_nli: bool = False
) -> dict[str, list[str]]:
    """{uid, the task's text columns, label: strings per row}, every row validated (label "" when unlabelled)."""
    t = get_task(task)
    cols = column_map(t, table.columns, mapping)
    out = {col: _text_column(table, cols[col], col) for col in t.text_columns}
    out["label"] = _labels(table, cols["label"], t, binary_nli) if "label" in cols else [""] * len(table)
    out["uid"] = _uids(table, cols.get("uid"))
    return {c: out[c] for c in ("uid", *t.text_columns, "label")}


def load_labelled_file(
    path_or_bytes: str | Path | bytes,
    task: str | Task,
    mapping: Mapping[str, str] | None = None,
    filename: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_rows: int = MAX_ROWS,
    binary_nli: bool = False,
) -> Any:
    """A file as a ``datasets.Dataset`` with string columns uid, the task's text columns and label ("" if none).

    ``mapping`` maps the task's columns (and optionally "label", "uid") to the file's column names; the rest are
    found by ``column_map``. Raises ``DataFileError`` (see ``read_table`` and ``table_rows``).
    """
    return _dataset(
        table_rows(read_table(path_or_bytes, filename, max_bytes, max_rows), task, mapping, binary_nli)
    )


def _dataset(rows: dict[str, list[str]]) -> Any:
    import datasets

    features = datasets.Features({c: datasets.Value("string") for c in rows})
    return datasets.Dataset.from_dict(rows, features=features)


def _require_labels(ds: Any, name: str) -> Any:
    unlabelled = [i + 1 for i, v in enumerate(ds["label"]) if not v]
    if unlabelled:
        raise DataFileError(
            f"{name} has {len(unlabelled)} unlabelled row(s) (first: row {unlabelled[0]}); "
            "training and evaluation need a label in every row"
        )
    return ds


def read_data_file(
    path: str | Path, task: str | Task, mapping: Mapping[str, str] | None = None, binary_nli: bool = False
) -> Any:
    """A labelled file as a ``datasets.Dataset`` (uid, the task's columns, label names); every row labelled."""
    ds = load_labelled_file(path, task, mapping, binary_nli=binary_nli)
    return _require_labels(ds, Path(path).name)


def read_eval_file(
    path: str | Path, task: str, mapping: Mapping[str, str] | None = None, binary_nli: bool | None = None
) -> tuple[Any, bool]:
    """(labelled rows, whether they are binary NLI) from a file read once; ``binary_nli=None`` detects it from
    the file's columns and labels (``detect_binary_nli``)."""
    table = read_table(path)
    if binary_nli is None:
        binary_nli = detect_binary_nli(task, table.columns, table.data.get("label", []))
    ds = _dataset(table_rows(table, task, mapping, binary_nli))
    return _require_labels(ds, Path(path).name), binary_nli


def split_heldout(ds: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """Deterministic (train, held-out) split: rows ordered by ``idx`` (else by position), a seeded permutation, the
    first ``round(fraction * n)`` rows held out. Both parts keep the ``idx`` order."""
    if not (0 < fraction < 1):
        raise DataFileError(f"the held-out fraction must be in (0, 1) (got {fraction})")
    n = len(ds)
    if "idx" in ds.column_names:
        ids = [int(v) for v in ds["idx"]]
        if len(set(ids)) != n:
            raise DataFileError("the data's 'idx' column has duplicate values; make them unique")
        order = sorted(range(n), key=lambda i: ids[i])
    else:
        order = list(range(n))
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(fraction * n))
    held = sorted(order[i] for i in perm[:k])
    kept = sorted(order[i] for i in perm[k:])
    return ds.select(kept), ds.select(held)
