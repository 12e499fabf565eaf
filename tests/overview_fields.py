"""Field-by-field comparison of a merged overview with one run over all its examples (shards and Ray tests).

``assert_merged_equals_whole`` walks ``dataclasses.fields(Overview)``: a field without a comparison here fails the
test, so a field added to ``Overview`` later cannot be left out of the merge tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from attnflow_core.overview import Overview

ATOL = 1e-6  # float32 attention summed in another order / other padded batches
#: Head importance can be tiny (|dL/dgate| ~ 1e-5 on a random tiny model): compared relative to its largest value.
IMPORTANCE_RTOL = 1e-4


def _arrays(a: Any, b: Any, name: str) -> None:
    assert (a is None) == (b is None), name
    if a is not None:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=ATOL, rtol=0, err_msg=name)


def _importance(a: Any, b: Any, name: str) -> None:
    assert (a is None) == (b is None), name
    if a is not None:
        scale = float(np.abs(b).max())
        np.testing.assert_allclose(a, b, atol=IMPORTANCE_RTOL * scale, rtol=0, err_msg=name)


def _examples(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    assert list(a.columns) == list(b.columns), name
    assert len(a) == len(b), name
    for col in a.columns:
        if pd.api.types.is_float_dtype(a[col]) and pd.api.types.is_float_dtype(b[col]):
            np.testing.assert_allclose(a[col], b[col], atol=ATOL, rtol=0, err_msg=f"{name}.{col}")
        else:
            assert a[col].tolist() == b[col].tolist(), f"{name}.{col}"


def _sums(a: Any, b: Any, name: str) -> None:
    assert (a is None) == (b is None), name
    if a is not None:
        for f in fields(a):
            if f.name == "n":
                assert a.n == b.n, f"{name}.n"
            else:
                _arrays(getattr(a, f.name), getattr(b, f.name), f"{name}.{f.name}")


def _agreement(a: Any, b: Any, name: str) -> None:
    assert (a is None) == (b is None), name
    if a is not None:
        assert [(r.method, r.measure, r.saliency, r.n) for r in a] == [
            (r.method, r.measure, r.saliency, r.n) for r in b
        ], name
        np.testing.assert_allclose(
            [r.rho for r in a], [r.rho for r in b], atol=ATOL, rtol=0, equal_nan=True, err_msg=name
        )


def _equal(a: Any, b: Any, name: str) -> None:
    assert a == b, (name, a, b)


Check = Callable[[Overview, Overview, Sequence[Overview], str], None]

#: One comparison per Overview field: merged vs whole (times: merged vs the parts' sum, as time is not a statistic).
CHECKS: dict[str, Check] = {
    **{
        name: (lambda m, w, _p, n: _equal(getattr(m, n), getattr(w, n), n))
        for name in ("task", "base_ref", "tuned_ref", "source", "split", "settings")
    },
    **{
        name: (lambda m, w, _p, n: _arrays(getattr(m, n), getattr(w, n), n))
        for name in ("js_mean", "js_std", "cross", "sinks", "behaviour")
    },
    "importance": lambda m, w, _p, n: _importance(m.importance, w.importance, n),
    "examples": lambda m, w, _p, n: _examples(m.examples, w.examples, n),
    "seconds": lambda m, _w, p, n: _equal(m.seconds, sum(x.seconds for x in p), n),
    "forward_seconds": lambda m, _w, p, n: _equal(m.forward_seconds, sum(x.forward_seconds for x in p), n),
    "sums": lambda m, w, _p, n: _sums(m.sums, w.sums, n),
    "shard": lambda m, w, _p, n: _equal(m.shard, w.shard, n),
    "agreement": lambda m, w, _p, n: _agreement(m.agreement, w.agreement, n),
}


def assert_merged_equals_whole(
    merged: Overview, whole: Overview, parts: Sequence[Overview], times: bool = True
) -> None:
    """Every field of ``merged`` (the merge of ``parts``) equals ``whole``'s (to ``ATOL`` for numbers); ``times``
    False skips the wall-clock fields (a runner that reports its own wall time)."""
    names = [f.name for f in fields(Overview)]
    unchecked = [n for n in names if n not in CHECKS]
    assert not unchecked, f"add a comparison for the new Overview field(s) {unchecked}"
    for name in names:
        if times or name not in ("seconds", "forward_seconds"):
            CHECKS[name](merged, whole, parts, name)
