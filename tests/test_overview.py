"""Dataset overview: golden statistics on a hand-built case, invariants, batching = one at a time, file round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attnflow_core.data.sources import Example
from attnflow_core.models import load_pair
from attnflow_core.overview import (
    OverviewSettings,
    behaviour_labels,
    compute_overview,
    example_shift,
    example_stats,
    layer_reading,
    load_overview,
    save_overview,
)
from tiny import make_tiny_bert_dir

# Tokens: [CLS] (special), t1 (segment A), t2 (segment B). Layer 1 as below, layer 2 the identity.
L1 = np.array([[1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [0.2, 0.3, 0.5]])
ATTN = np.stack([L1, np.eye(3)])[:, None]  # (2 layers, 1 head, 3, 3)


def test_example_stats_golden() -> None:
    st = example_stats(ATTN, segments=[0, 0, 1], special=[0], punct=[], mode="keep")
    # Sinks: share to [CLS] = mean of column 0 = (1 + .5 + .2) / 3; layer 2: 1/3. No [SEP], no punctuation.
    np.testing.assert_allclose(st["sinks"][:, 0], [[(1 + 0.5 + 0.2) / 3, 0, 0], [1 / 3, 0, 0]])
    # Behaviour, layer 1, means over the 3 rows: previous (0 + .5 + .3)/3, next (0 + .25 + 0)/3,
    # self (1 + .25 + .5)/3, special (column 0) 1.7/3, entropy (0 + H(.5,.25,.25) + H(.2,.3,.5)) / ln 3 / 3.
    h1 = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
    h2 = -(0.2 * np.log(0.2) + 0.3 * np.log(0.3) + 0.5 * np.log(0.5))
    expected = [0.8 / 3, 0.25 / 3, 1.75 / 3, 1.7 / 3, (h1 + h2) / np.log(3) / 3]
    np.testing.assert_allclose(st["behaviour"][0, 0], expected)
    # Layer 2 (identity): self 1, everything else 0.
    np.testing.assert_allclose(st["behaviour"][1, 0], [0, 0, 1, 1 / 3, 0])
    # Cross-segment, layer 1: t1 (A) gives .25 to A, .25 to B, .5 to specials; t2 (B) gives .3, .5, .2.
    np.testing.assert_allclose(st["cross"][0], [[0.25, 0.25, 0.5], [0.3, 0.5, 0.2]])
    np.testing.assert_allclose(st["cross_count"], [1, 1])


def test_renormalised_stats_drop_special_rows_and_columns() -> None:
    st = example_stats(ATTN, segments=[0, 0, 1], special=[0], punct=[], mode="renormalise")
    # Rows of t1, t2 renormalised without [CLS]: t1 -> (0, .5, .5), t2 -> (0, .375, .625); [CLS] row left out.
    np.testing.assert_allclose(st["behaviour"][0, 0, :4], [0.375 / 2, 0.5 / 2, (0.5 + 0.625) / 2, 0.0])
    np.testing.assert_allclose(st["cross"][0], [[0.5, 0.5, 0.0], [0.375, 0.625, 0.0]])
    np.testing.assert_allclose(st["sinks"][0, 0, 0], 1.7 / 3)  # sinks always use the raw attention


def test_shift_of_a_model_against_itself_is_zero() -> None:
    assert np.all(example_shift(ATTN, ATTN.copy(), [0], "keep") == 0)
    other = ATTN.copy()
    other[0, 0, 1] = [0.0, 0.0, 1.0]
    shift = example_shift(ATTN, other, [0], "keep")
    assert shift[0, 0] > 0 and shift[1, 0] == 0


def test_behaviour_rule() -> None:
    stats = np.array(
        [
            [0.6, 0.1, 0.1, 0.1, 0.3],  # previous token
            [0.1, 0.7, 0.1, 0.1, 0.3],  # next token
            [0.1, 0.1, 0.6, 0.1, 0.3],  # self
            [0.1, 0.1, 0.1, 0.8, 0.3],  # sink
            [0.1, 0.1, 0.1, 0.1, 0.9],  # broad
            [0.3, 0.3, 0.2, 0.2, 0.5],  # mixed
        ]
    )
    assert behaviour_labels(stats).tolist() == [
        "previous token", "next token", "self", "[CLS]/[SEP] sink", "broad", "mixed",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("tiny-overview")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    return load_pair(str(root / "base"), str(root / "tuned"))


EXAMPLES = [
    Example("e1", "what is the capital of france ?", "paris is the capital", "positive"),
    Example("e2", "good movie", "not bad at all", "negative"),
    Example("e3", "who won the game", "the team won it", "positive"),
    Example("e4", "i love it", "it was great film and i like it a lot", ""),
]


def test_batched_equals_one_at_a_time(tiny_pair) -> None:
    one = compute_overview(tiny_pair, EXAMPLES, "qa", OverviewSettings(n=4, batch_size=1))
    batched = compute_overview(tiny_pair, EXAMPLES, "qa", OverviewSettings(n=4, batch_size=3))
    for name in ("js_mean", "js_std", "cross", "sinks", "behaviour"):
        np.testing.assert_allclose(getattr(one, name), getattr(batched, name), atol=1e-5, err_msg=name)
    assert one.examples["uid"].tolist() == ["e1", "e2", "e3", "e4"]
    np.testing.assert_allclose(one.examples["shift"], batched.examples["shift"], atol=1e-5)
    assert one.examples["correct"].tolist()[3] is None  # unlabelled example
    np.testing.assert_allclose(one.sinks.sum(-1) <= 1 + 1e-6, True)
    assert "Layer" in layer_reading(one)


def test_model_against_itself_shows_zero_change(tiny_pair) -> None:
    from attnflow_core.models import ModelPair

    same = ModelPair(base=tiny_pair.tuned, tuned=tiny_pair.tuned)
    ov = compute_overview(same, EXAMPLES, "qa", OverviewSettings(n=4))
    assert np.all(ov.js_mean == 0) and np.all(ov.examples["shift"] == 0)
    np.testing.assert_allclose(ov.cross[0], ov.cross[1])


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_file_round_trip(tiny_pair, tmp_path: Path, suffix: str) -> None:
    ov = compute_overview(tiny_pair, EXAMPLES, "qa", OverviewSettings(n=3), source="demo", split="demo")
    path = save_overview(ov, tmp_path / f"ov{suffix}")
    back = load_overview(path)
    for name in ("js_mean", "js_std", "cross", "sinks", "behaviour"):
        np.testing.assert_allclose(getattr(back, name), getattr(ov, name), err_msg=name)
    assert back.settings == ov.settings and back.task == "qa" and back.source == "demo"
    assert back.examples["uid"].tolist() == ov.examples["uid"].tolist()
    assert load_overview(path.read_bytes(), path.name).n_examples == 3


def test_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from attnflow_core.__main__ import main

    out = tmp_path / "qa.parquet"
    assert main(["overview", "--task", "qa", "--n", "5", "--out", str(out), "--source", "demo"]) == 0
    assert "wrote" in capsys.readouterr().out
    ov = load_overview(out)
    assert ov.n_examples == 5 and ov.js_mean.shape == (6, 12) and ov.tuned_ref == "embedded:qa"


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="n must be at least 1"):
        OverviewSettings(n=0).validate()
    with pytest.raises(ValueError, match="special must be"):
        OverviewSettings(special="exclude").validate()
    with pytest.raises(ValueError, match=r"\.json or \.parquet"):
        load_overview(b"{}", "x.csv")
    with pytest.raises(ValueError, match="not .*overview"):
        load_overview(b'{"schema": "other"}', "x.json")
