"""Shards of an overview merge into exactly the file one run writes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from attnflow_core.models import load_pair
from attnflow_core.overview import OverviewSettings, compute_overview, load_overview, save_overview
from attnflow_core.shards import (
    RunningSums,
    ShardError,
    merge_overviews,
    parse_shard,
    shard_examples,
    shard_range,
)
from overview_fields import IMPORTANCE_RTOL, assert_merged_equals_whole
from tiny import make_tiny_bert_dir, tiny_examples

STATS = ("js_mean", "js_std", "cross", "sinks", "behaviour")
EXAMPLES = tiny_examples(11)


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("tiny-shards")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    return load_pair(str(root / "base"), str(root / "tuned"))


def test_shard_ranges_are_disjoint_contiguous_and_cover() -> None:
    assert [list(shard_range(7, i, 3)) for i in (1, 2, 3)] == [[0, 1], [2, 3], [4, 5, 6]]
    for n in (0, 1, 5, 30, 31):
        for k in (1, 2, 3, 7):
            covered = [j for i in range(1, k + 1) for j in shard_range(n, i, k)]
            assert covered == list(range(n))
    assert shard_examples(list("abcdefgh"), 5, 2, 2) == ["c", "d", "e"]  # after the first-n selection


def test_parse_shard() -> None:
    assert parse_shard("1/2") == (1, 2) and parse_shard(" 3 / 3 ") == (3, 3)
    for bad in ("0/2", "3/2", "1", "a/b", "", "1/0"):
        with pytest.raises(ShardError, match="i/k"):
            parse_shard(bad)


def test_running_sums_add_and_round_trip() -> None:
    rng = np.random.default_rng(0)
    a, b = RunningSums.zeros(2, 3), RunningSums.zeros(2, 3)
    a = replace(a, n=2, js_sum=rng.random((2, 3)), cross_count=np.array([[1.0, 0.0], [2.0, 0.0]]))
    b = replace(b, n=3, js_sum=rng.random((2, 3)))
    total = a + b
    assert total.n == 5
    np.testing.assert_array_equal(total.js_sum, a.js_sum + b.js_sum)
    back = RunningSums.from_json(total.to_json())
    np.testing.assert_array_equal(back.js_sum, total.js_sum)
    stats = total.statistics()
    np.testing.assert_allclose(stats["js_mean"], total.js_sum / 5)
    assert np.isnan(stats["cross"][:, :, 1]).all()  # no segment-B query token: NaN, as in a single run
    with pytest.raises(ShardError, match="model shapes"):
        a + RunningSums.zeros(3, 3)


@pytest.mark.parametrize("k", [2, 3])
def test_merged_shards_equal_one_run(tiny_pair, tmp_path: Path, k: int) -> None:
    """Every field of the merged overview (importance and agreement on) equals one run's: the comparison walks
    dataclasses.fields(Overview), so a field added later must be merged (and compared) too."""
    settings = OverviewSettings(n=10, batch_size=3, importance=True, agreement=True)
    whole = compute_overview(tiny_pair, EXAMPLES, "qa", settings, "file", "f.jsonl")
    paths = []
    for i in range(1, k + 1):
        part = compute_overview(
            tiny_pair, shard_examples(EXAMPLES, 10, i, k), "qa", settings, "file", "f.jsonl"
        )
        paths.append(
            save_overview(replace(part, shard=(i, k)), tmp_path / f"p{i}.{'json' if i % 2 else 'parquet'}")
        )
    parts = [load_overview(p) for p in reversed(paths)]  # any order
    merged = merge_overviews(parts)
    assert_merged_equals_whole(merged, whole, parts)
    assert whole.importance is not None and whole.agreement is not None
    first = min(parts, key=lambda p: p.shard or (0, 0))
    assert first.importance is not None
    gap = np.abs(first.importance - whole.importance).max() / np.abs(whole.importance).max()
    assert gap > 100 * IMPORTANCE_RTOL, (
        "a shard's importance differs from the whole run's, so the test can tell"
    )
    assert merged.examples["uid"].tolist() == whole.examples["uid"].tolist() == [f"e{i}" for i in range(10)]
    for name in STATS:
        np.testing.assert_allclose(
            getattr(merged, name), getattr(whole, name), atol=1e-6, rtol=0, err_msg=name
        )
    np.testing.assert_allclose(merged.examples["shift"], whole.examples["shift"], atol=1e-6)
    rank = lambda ov: ov.examples.sort_values("shift", ascending=False, kind="stable")["uid"].tolist()  # noqa: E731
    assert rank(merged) == rank(whole)
    assert merged.settings == whole.settings and merged.shard is None and merged.sums is not None
    assert merged.sums.n == 10
    out = save_overview(merged, tmp_path / "merged.parquet")
    again = load_overview(out)  # the page opens it like any other file
    np.testing.assert_allclose(again.js_mean, whole.js_mean, atol=1e-6, rtol=0)
    assert again.shard is None


def test_merge_refuses_what_it_cannot_merge_exactly(tiny_pair) -> None:
    s = OverviewSettings(n=6)
    parts = [
        replace(compute_overview(tiny_pair, shard_examples(EXAMPLES, 6, i, 3), "qa", s), shard=(i, 3))
        for i in (1, 2, 3)
    ]
    with pytest.raises(ShardError, match=r"missing \[2\]"):
        merge_overviews([parts[0], parts[2]])
    with pytest.raises(ShardError, match=r"repeated \[1\]"):
        merge_overviews([parts[0], parts[0], parts[1], parts[2]])
    with pytest.raises(ShardError, match="different runs"):
        merge_overviews([parts[0], replace(parts[1], task="nli"), parts[2]])
    with pytest.raises(ShardError, match="without running sums"):
        merge_overviews([replace(p, sums=None) for p in parts])
    with pytest.raises(ShardError, match="nothing to merge"):
        merge_overviews([])
    with pytest.raises(ShardError, match="running sums count 2 examples but it holds 1"):
        merge_overviews([replace(parts[0], examples=parts[0].examples.iloc[:1]), parts[1], parts[2]])
    with_imp = [replace(p, importance=np.ones((2, 2))) for p in parts]
    with pytest.raises(ShardError, match="head importance and some do not"):
        merge_overviews([with_imp[0], parts[1], with_imp[2]])
    with pytest.raises(ShardError, match="differ in shape"):
        merge_overviews([with_imp[0], replace(with_imp[1], importance=np.ones((3, 2))), with_imp[2]])


def test_merge_refuses_a_run_given_twice(
    tiny_pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same file twice, or one run as .json and .parquet, would double every sum: refused (issue 20)."""
    from attnflow_core.__main__ import main

    s = OverviewSettings(n=6)
    whole = compute_overview(tiny_pair, EXAMPLES, "qa", s)
    as_json, as_parquet = (
        save_overview(whole, tmp_path / "w.json"),
        save_overview(whole, tmp_path / "w.parquet"),
    )
    for files in ([as_json, as_json], [as_json, as_parquet]):
        with pytest.raises(ShardError, match="whole runs .* more than once"):
            merge_overviews([load_overview(f) for f in files])
        assert main(["merge-overviews", *map(str, files), "--out", str(tmp_path / "m.json")]) == 2
        assert "more than once" in capsys.readouterr().err
        assert not (tmp_path / "m.json").exists()
    first = replace(compute_overview(tiny_pair, shard_examples(EXAMPLES, 6, 1, 2), "qa", s), shard=(1, 2))
    relabelled = replace(first, shard=(2, 2))  # shard 1's file passed off as shard 2: its examples twice
    with pytest.raises(ShardError, match="'e0' is in more than one of the files"):
        merge_overviews([first, relabelled])
    assert merge_overviews([whole]).n_examples == 6  # one whole-run file is its own merge


def test_files_without_sums_still_load(tiny_pair, tmp_path: Path) -> None:
    ov = replace(compute_overview(tiny_pair, EXAMPLES, "qa", OverviewSettings(n=3)), sums=None)
    back = load_overview(save_overview(ov, tmp_path / "old.json"))
    assert back.sums is None and back.shard is None
    np.testing.assert_allclose(back.js_mean, ov.js_mean)


def test_cli_shards_and_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    """The issue's done-when run on a tiny pair: overview --data-file --n --device cpu, --shard 1/2 and 2/2,
    merge-overviews; same examples and head change map to 1e-6."""
    import json

    from attnflow_core.__main__ import main

    base = make_tiny_bert_dir(tmp_path / "base", with_head=False, seed=0)
    tuned = make_tiny_bert_dir(
        tmp_path / "tuned", with_head=True, seed=1, labels=("entailment", "neutral", "contradiction")
    )
    rows = [{"premise": e.text, "hypothesis": e.text_pair, "label": i % 3} for i, e in enumerate(EXAMPLES)]
    data = tmp_path / "nli.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = ["overview", "--task", "nli", "--data-file", str(data), "--n", "9", "--device", "cpu",
              "--base", str(base), "--tuned", str(tuned), "--batch-size", "4"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "all.json")]) == 0
    assert main([*common, "--shard", "1/2", "--out", str(tmp_path / "s1.json")]) == 0
    assert main([*common, "--shard", "2/2", "--out", str(tmp_path / "s2.parquet")]) == 0
    merge = ["merge-overviews", str(tmp_path / "s1.json"), str(tmp_path / "s2.parquet")]
    assert main([*merge, "--out", str(tmp_path / "m.json")]) == 0
    whole, merged = load_overview(tmp_path / "all.json"), load_overview(tmp_path / "m.json")
    assert merged.examples["uid"].tolist() == whole.examples["uid"].tolist() and merged.n_examples == 9
    np.testing.assert_allclose(merged.js_mean, whole.js_mean, atol=1e-6, rtol=0)
    assert whole.source == "file" and whole.split == "nli.jsonl"
    assert (
        main([*merge[:2], "--out", str(tmp_path / "bad.json")]) == 2
    )  # shard 2 missing: a message, no traceback
    assert "missing [2]" in capsys.readouterr().err
    assert main([*common, "--shard", "3/2", "--out", str(tmp_path / "x.json")]) == 2
