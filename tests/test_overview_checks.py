"""Overview files are checked field by field when read (issue 19, items 9): a structurally valid file whose numbers
are NaN/±inf, out of range, of another shape or words where numbers belong is refused with one OverviewFileError
naming the first bad field (before, such files reached the page: "nan" readings, then Streamlit's "Out of range
float values are not JSON compliant" or "could not convert string to float")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hand_overview import H, L, hand_made

from attnflow_core.overview import Overview, OverviewFileError, load_overview, save_overview
from attnflow_core.overview_checks import check_range, numeric_array


def crafted(tmp_path: Path, edit: Any, single: bool = False) -> bytes:
    """A saved hand-made overview (.json) with ``edit(meta)`` applied to its parsed contents."""
    path = save_overview(hand_made(single=single), tmp_path / "ok.json")
    meta = json.loads(path.read_text())
    edit(meta)
    return json.dumps(meta).encode()  # NaN and Infinity are written as JSON's NaN / Infinity tokens


def _set(*keys: Any, value: Any) -> Any:
    def edit(meta: dict[str, Any]) -> None:
        target = meta
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value

    return edit


@pytest.mark.parametrize("single", [False, True])
@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_valid_files_pass_nan_where_it_means_absent(tmp_path: Path, suffix: str, single: bool) -> None:
    """NaN is what an overview writes for a confidence without a classification head and for the shares of an
    absent segment: such files open."""
    ov = hand_made(single=single)
    back = load_overview(save_overview(ov, tmp_path / f"ov{suffix}"))
    np.testing.assert_allclose(back.cross, ov.cross)
    assert back.examples["uid"].tolist() == ["e0", "e1", "e2"] and np.isnan(back.examples["confidence"][1])


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # item 9's file: NaN/inf statistics (the page then read "Layer 1 changed most (mean JS nan)")
        (_set("arrays", "js_mean", 0, value=[NAN, 0.1, 0.2]), r"js_mean must hold finite numbers in \[0, 1\]; found nan at \[0, 0\]"),
        (_set("arrays", "js_std", 1, value=[0.1, INF, 0.2]), r"js_std must hold finite numbers in \[0, 1\]; found inf at \[1, 1\]"),
        (_set("arrays", "cross", 0, 0, 0, 0, value=-INF), r"cross must hold finite numbers \(or NaN\) in \[0, 1\]"),
        (_set("arrays", "sinks", 1, 1, 2, 0, value=1.7), r"sinks must hold finite numbers in \[0, 1\]; found 1\.7 at \[1, 1, 2, 0\]"),
        (_set("arrays", "behaviour", 0, 0, 0, value=["maybe"] * 5), r"behaviour must hold numbers, not 'maybe'"),
        (_set("arrays", "js_mean", value=[[0.1, 0.2], [0.1, 0.2], [0.1, 0.2]]), r"js_std has shape \(2, 3\), not \(3, 2\)"),
        # importance of another model's shape (the page ended in "all the input array dimensions … size 72 … size 2")
        (_set("importance", value=[0.1] * 72), r"importance has shape \(72,\), not \(2, 3\) \(2 layers × 3 heads\)"),
        (_set("importance", 0, 1, value=NAN), r"importance must hold finite numbers ≥ 0; found nan at \[0, 1\]"),
        # words where numbers belong, and probabilities out of [0, 1], in the example table
        (_set("examples", 0, "confidence", value="maybe"), r"examples\.confidence must be numbers; row 0 holds 'maybe'"),
        (_set("examples", 2, "confidence", value=1.5), r"examples\.confidence must be probabilities in \[0, 1\]; row 2 holds 1\.5"),
        (_set("examples", 1, "shift", value=NAN), r"examples\.shift must be numbers; row 1 is empty"),
        (_set("examples", 1, "shift", value=INF), r"examples\.shift must be values in \[0, 1\]; row 1 holds inf"),
        (_set("examples", 0, "n_tokens", value=2.5), r"examples\.n_tokens must be whole numbers ≥ 0; row 0 holds 2\.5"),
        (_set("examples", 0, "text", value=5), r"examples\.text must be text; row 0 holds 5"),
        (_set("examples", 2, "uid", value=None), r"examples\.uid must be text; row 2 is empty"),
        (_set("examples", 0, "correct", value="yes"), r"examples\.correct must be true, false or empty; row 0 holds 'yes'"),
        # the rest of the file
        (_set("seconds", value="maybe"), r"the file's seconds must be a number; got 'maybe'"),
        (_set("forward_seconds", value=NAN), r"forward_seconds must hold finite numbers ≥ 0"),
        (_set("settings", "n", value="maybe"), r"settings\.n must be a whole number ≥ 0; got 'maybe'"),
        (_set("settings", "importance", value="yes"), r"settings\.importance must be true or false"),
        (_set("sums", "js_sum", value=[[NAN] * 3] * 2), r"sums\.js_sum must hold finite numbers ≥ 0"),
        (_set("sums", "beh_sum", value=[1.0]), r"sums\.beh_sum has shape \(1,\), not \(2, 2, 3, 5\)"),
        (_set("shard", value=[3, 2]), r"shard must be \[i, k\] with 1 ≤ i ≤ k; got \[3, 2\]"),
        (_set("agreement", value=[{"method": "trace", "measure": "norm", "saliency": "ig", "rho": 3.0, "n": 2}]),
         r"agreement\[0\]\.rho must hold finite numbers \(or NaN\) in \[-1, 1\]; found 3\.0"),
    ],
)  # fmt: skip
def test_a_bad_field_is_refused_by_name(tmp_path: Path, edit: Any, message: str) -> None:
    data = crafted(tmp_path, edit)
    with pytest.raises(OverviewFileError, match=message) as err:
        load_overview(data, "crafted.json")
    assert (
        "save it again" in str(err.value) or "has shape" in message
    )  # and the fix (shapes: the older check)


def test_parquet_files_are_checked_the_same_way(tmp_path: Path) -> None:
    ov = hand_made()
    bad = Overview(**{**vars(ov), "examples": ov.examples.assign(confidence=[0.9, 2.0, 0.1])})
    path = save_overview(bad, tmp_path / "bad.parquet")
    with pytest.raises(OverviewFileError, match=r"examples\.confidence must be probabilities"):
        load_overview(path)
    nan_stats = Overview(**{**vars(ov), "sinks": np.full((2, L, H, 3), np.nan)})
    with pytest.raises(OverviewFileError, match="sinks must hold finite numbers"):
        load_overview(save_overview(nan_stats, tmp_path / "nan.parquet"))


def test_the_helpers_name_what_they_refuse() -> None:
    assert numeric_array([[1, 2], [3, 4]], "x").dtype == np.float64
    for value, why in (("abc", "got str"), ([True, False], "not True"), ([[1], [1, 2]], "rectangular")):
        with pytest.raises(OverviewFileError, match=f"the file's x .*{why}"):
            numeric_array(value, "x")
    check_range(np.array([0.0, 1.0 + 1e-9]), "x", 0.0, 1.0)  # float rounding above 1 is allowed
    with pytest.raises(
        OverviewFileError, match=r"x must hold finite numbers in \[0, 1\]; found -0\.5 at \[1\]"
    ):
        check_range(np.array([0.0, -0.5]), "x", 0.0, 1.0)
