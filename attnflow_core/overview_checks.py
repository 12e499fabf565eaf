"""What an overview file may contain, checked field by field when it is read (``overview.load_overview`` calls
this module for every file: an upload, the disk cache, ``merge-overviews``).

A file is data from anywhere: a structurally valid file whose numbers are NaN or ±inf, whose probabilities lie
outside [0, 1], whose arrays have another model's shape or whose table holds words where numbers belong must be
refused here, with one ``OverviewFileError`` that names the first bad field, and never reach a page (where it used
to end in "nan" readings and a JSON error from Streamlit's column config).

``overview_arrays`` turns the file's statistics into float arrays, naming a field that is not an array of numbers;
``check_overview_contents`` checks every other field against the file's own layers × heads (``js_mean``'s shape)
and against the range each statistic can take.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from attnflow_core.overview import _ARRAYS, STAT_NAMES, OverviewFileError

#: Rounding slack on the upper and lower bounds of shares and divergences (sums of float32 products).
SLACK = 1e-6
#: Which statistics may hold NaN: the cross-segment shares of a segment the examples do not have (single texts).
NAN_ALLOWED = frozenset({"cross"})
#: Suffix of every message: where a good file comes from.
FIX = "save it again from the Dataset overview page or with `python -m attnflow_core overview --out FILE`"


def _refuse(field: str, problem: str) -> OverviewFileError:
    return OverviewFileError(f"the file's {field} {problem}; {FIX}")


def _where(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def numeric_array(value: Any, field: str) -> np.ndarray:
    """``value`` (nested lists from a file) as a float64 array; an OverviewFileError naming ``field`` when it is
    not a rectangular array of numbers (strings, booleans, ragged rows, objects)."""
    if isinstance(value, (str, bytes, bool, Mapping)) or value is None:
        raise _refuse(field, f"must be an array of numbers; got {type(value).__name__}")
    try:
        raw = np.asarray(value)
    except ValueError as err:  # ragged nesting
        raise OverviewFileError(
            f"the file's {field} is not a rectangular array of numbers ({err}), so this is not a readable "
            f"Attention Flows overview; {FIX}"
        ) from None
    if raw.dtype.kind not in "iuf":  # bool, strings, objects (None, nested ragged lists)
        bad = next((x for x in raw.ravel().tolist() if not _is_real(x)), raw.dtype)
        raise OverviewFileError(
            f"the file's {field} must hold numbers, not {bad!r}, so this is not a readable Attention Flows "
            f"overview; {FIX}"
        )
    return raw.astype(np.float64)


def _is_real(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def overview_arrays(meta: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The file's L×H statistics (``js_mean``, ``js_std``, ``cross``, ``sinks``, ``behaviour``) as float arrays."""
    arrays = meta.get("arrays")
    if not isinstance(arrays, Mapping):
        raise _refuse("arrays", "must be an object of the statistics " + ", ".join(_ARRAYS))
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        raise _refuse("arrays", "lack " + ", ".join(missing))
    return {k: numeric_array(arrays[k], k) for k in _ARRAYS}


def check_range(values: np.ndarray, field: str, low: float, high: float | None, nan_ok: bool = False) -> None:
    """Every value of ``values`` finite (NaN too when ``nan_ok``) and within [low, high] (up to ``SLACK``)."""
    a = np.asarray(values, dtype=np.float64)
    bad = np.isinf(a) if nan_ok else ~np.isfinite(a)
    finite = np.where(np.isfinite(a), a, 0.0)
    bad |= finite < low - SLACK
    if high is not None:
        bad |= finite > high + SLACK
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "finite numbers" + (" (or NaN)" if nan_ok else "")
        where = f" at {_where(at)}" if a.ndim else ""
        raise _refuse(field, f"must hold {kind} {_span(low, high)}; found {float(a[at])!r}{where}")


def _shape(values: np.ndarray, field: str, shape: tuple[int, ...], n_layers: int, n_heads: int) -> None:
    if values.shape != shape:
        raise _refuse(field, f"has shape {values.shape}, not {shape} ({n_layers} layers × {n_heads} heads)")


def _number(value: Any, field: str, low: float = 0.0) -> None:
    if not _is_real(value):
        raise _refuse(field, f"must be a number; got {value!r}")
    check_range(np.asarray(float(value)), field, low, None)


def _integer(value: Any, field: str, low: int) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
        raise _refuse(field, f"must be a whole number ≥ {low}; got {value!r}")
    return int(value)


def _check_statistics(arrays: Mapping[str, np.ndarray]) -> tuple[int, int]:
    """Shapes against js_mean's layers × heads, and the range of each statistic: JS divergences (base 2) and every
    share lie in [0, 1]; so does the normalised entropy of the behaviour statistics."""
    js = arrays["js_mean"]
    if js.ndim != 2 or 0 in js.shape:
        raise _refuse("js_mean", f"must be layers × heads; its shape is {js.shape}")
    n_layers, n_heads = js.shape
    expected = {
        "js_mean": (n_layers, n_heads),
        "js_std": (n_layers, n_heads),
        "cross": (2, n_layers, 2, 3),
        "sinks": (2, n_layers, n_heads, 3),
        "behaviour": (2, n_layers, n_heads, len(STAT_NAMES)),
    }
    for key, shape in expected.items():
        _shape(arrays[key], key, shape, n_layers, n_heads)
        check_range(arrays[key], key, 0.0, 1.0, nan_ok=key in NAN_ALLOWED)
    return n_layers, n_heads


def _check_sums(blob: Any, n_layers: int, n_heads: int) -> None:
    """``sums`` (what merging adds): a count and non-negative running sums of this model's shape."""
    if not isinstance(blob, Mapping):
        raise _refuse("sums", f"must be an object of running sums; got {type(blob).__name__}")
    _integer(blob.get("n"), "sums.n", 0)
    shapes = {
        "js_sum": (n_layers, n_heads),
        "js_sq": (n_layers, n_heads),
        "cross_sum": (2, n_layers, 2, 3),
        "cross_count": (2, 2),
        "sinks_sum": (2, n_layers, n_heads, 3),
        "beh_sum": (2, n_layers, n_heads, len(STAT_NAMES)),
    }
    for key, shape in shapes.items():
        field = f"sums.{key}"
        if key not in blob:
            raise _refuse("sums", f"lack {key}")
        values = numeric_array(blob[key], field)
        _shape(values, field, shape, n_layers, n_heads)
        check_range(values, field, 0.0, None)


def _check_agreement(rows: Any) -> None:
    """``agreement``: rows of method, measure, saliency (words), rho (Spearman ρ in [-1, 1] or NaN), n (≥ 0)."""
    if not isinstance(rows, list):
        raise _refuse("agreement", f"must be a list of rows; got {type(rows).__name__}")
    for i, row in enumerate(rows):
        field = f"agreement[{i}]"
        if not isinstance(row, Mapping):
            raise _refuse(field, f"must be an object; got {type(row).__name__}")
        for key in ("method", "measure", "saliency"):
            if not isinstance(row.get(key), str):
                raise _refuse(f"{field}.{key}", f"must be a word; got {row.get(key)!r}")
        if not _is_real(row.get("rho")):
            raise _refuse(f"{field}.rho", f"must be a number; got {row.get('rho')!r}")
        check_range(np.asarray(float(row["rho"])), f"{field}.rho", -1.0, 1.0, nan_ok=True)
        _integer(row.get("n"), f"{field}.n", 0)


def _check_settings(settings: Any) -> None:
    """The types of the settings (``OverviewSettings`` then checks their values and names)."""
    if not isinstance(settings, Mapping):
        raise _refuse("settings", f"must be an object; got {type(settings).__name__}")
    for key in ("n", "max_length", "batch_size"):
        if key in settings:
            _integer(settings[key], f"settings.{key}", 0)
    for key in ("importance", "agreement"):
        if key in settings and not isinstance(settings[key], bool):
            raise _refuse(f"settings.{key}", f"must be true or false; got {settings[key]!r}")
    for key in ("special", "measure"):
        if key in settings and not isinstance(settings[key], str):
            raise _refuse(f"settings.{key}", f"must be a word; got {settings[key]!r}")


def _check_meta(meta: Mapping[str, Any], n_layers: int, n_heads: int) -> None:
    """Everything but the statistics and the example table."""
    _check_settings(meta.get("settings"))
    for key in ("seconds", "forward_seconds"):
        _number(meta.get(key), key)
    if "importance" in meta:
        importance = numeric_array(meta["importance"], "importance")
        _shape(importance, "importance", (n_layers, n_heads), n_layers, n_heads)
        check_range(importance, "importance", 0.0, None)
    if meta.get("sums"):
        _check_sums(meta["sums"], n_layers, n_heads)
    if meta.get("shard"):
        shard = meta["shard"]
        if not isinstance(shard, list) or len(shard) != 2:
            raise _refuse("shard", f"must be [i, k]; got {shard!r}")
        i, k = _integer(shard[0], "shard", 1), _integer(shard[1], "shard", 1)
        if i > k:
            raise _refuse("shard", f"must be [i, k] with 1 ≤ i ≤ k; got {shard!r}")
    if meta.get("agreement") is not None:
        _check_agreement(meta["agreement"])


# ---------------------------------------------------------------- the example table

#: Columns of words: (column, whether a row may leave it empty).
_WORD_COLUMNS = (("uid", False), ("text", False), ("text_pair", True), ("gold", True), ("prediction", True))
#: Columns of numbers: (column, low, high, whether NaN is allowed).
_NUMBER_COLUMNS = (("shift", 0.0, 1.0, False), ("confidence", 0.0, 1.0, True), ("n_tokens", 0.0, None, False))


def _first_bad(column: pd.Series, bad: np.ndarray) -> str:
    i = int(np.flatnonzero(bad)[0])
    value = column.iloc[i]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"row {i} is empty"
    return f"row {i} holds {value.item() if isinstance(value, np.generic) else value!r}"


def _span(low: float, high: float | None) -> str:
    return f"in [{low:g}, {high:g}]" if high is not None else f"≥ {low:g}"


def _kind(column: pd.Series) -> str:
    """pandas' inferred kind of the column's non-missing values ("string", "integer", "floating", "boolean",
    "empty", "mixed", ...), computed in C: the per-value checks below run only when it is not the expected one."""
    return str(pd.api.types.infer_dtype(column, skipna=True))


def _words(column: pd.Series, field: str, empty_ok: bool) -> None:
    missing = pd.isna(column).to_numpy()
    kind = _kind(column)
    if kind in ("string", "empty") or (
        field == "uid" and kind == "integer"
    ):  # ids may be numbers in user files
        bad = missing & (not empty_ok)
    else:
        values = column.to_numpy(dtype=object)
        ok = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
        bad = ~ok & (~missing | (not empty_ok))
    if bad.any():
        raise _refuse(f"examples.{field}", f"must be text; {_first_bad(column, bad)}")


def _numbers(column: pd.Series, field: str, low: float, high: float | None, nan_ok: bool) -> None:
    missing = pd.isna(column).to_numpy()
    if _kind(column) in ("integer", "floating", "mixed-integer-float", "empty", "decimal"):
        real = ~missing
    else:
        values = column.to_numpy(dtype=object)
        real = np.fromiter((_is_real(v) for v in values), dtype=bool, count=len(values)) & ~missing
    bad = ~real & ~(missing & nan_ok)
    if bad.any():
        raise _refuse(f"examples.{field}", f"must be numbers; {_first_bad(column, bad)}")
    numbers = pd.to_numeric(column.where(real), errors="coerce").to_numpy(dtype=np.float64)
    outside = np.isinf(numbers)
    inside = np.nan_to_num(numbers, nan=low, posinf=low, neginf=low)
    outside |= inside < low - SLACK
    if high is not None:
        outside |= inside > high + SLACK
    if field == "n_tokens":
        outside |= inside != np.round(inside)
    if outside.any():
        what = (
            "probabilities" if field == "confidence" else "whole numbers" if field == "n_tokens" else "values"
        )
        raise _refuse(
            f"examples.{field}", f"must be {what} {_span(low, high)}; {_first_bad(column, outside)}"
        )


def check_examples(examples: pd.DataFrame) -> None:
    """The example table (``overview.EXAMPLE_COLUMNS``): ids and texts are text, ``shift`` a JS divergence in
    [0, 1], ``confidence`` a probability (NaN without a classification head), ``correct`` true/false/empty,
    ``n_tokens`` a whole number."""
    for col, empty_ok in _WORD_COLUMNS:
        if col in examples.columns:
            _words(examples[col], col, empty_ok)
    for col, low, high, nan_ok in _NUMBER_COLUMNS:
        if col in examples.columns:
            _numbers(examples[col], col, low, high, nan_ok)
    if "correct" in examples.columns:
        column = examples["correct"]
        values = column.to_numpy(dtype=object)
        ok = pd.isna(column).to_numpy() | np.fromiter(
            (isinstance(v, (bool, np.bool_)) for v in values), dtype=bool, count=len(values)
        )
        if not ok.all():
            raise _refuse("examples.correct", f"must be true, false or empty; {_first_bad(column, ~ok)}")


def check_overview_contents(
    meta: Mapping[str, Any], examples: pd.DataFrame, arrays: Mapping[str, np.ndarray]
) -> None:
    """Refuse a file whose fields do not hold what this app writes (see the module docstring): the statistics'
    shapes (the file's own layers × heads) and ranges, the settings' types, the timings, ``importance``, ``sums``,
    ``shard``, ``agreement`` and the example table. Raises OverviewFileError naming the first bad field."""
    n_layers, n_heads = _check_statistics(arrays)
    _check_meta(meta, n_layers, n_heads)
    check_examples(examples)
