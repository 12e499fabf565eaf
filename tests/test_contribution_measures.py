"""The contribution measures (ALTI, GlobEnc, value zeroing) as registry entries, through everything a measure reaches:
settings, URL and CLI; the extraction's capture and its cache key; every flow method with no second residual; the
fallback without internals; the overview (each example measured on its own tokens, value zeroing bounded) with the
faithfulness table, its files and its exact shard merge; ``compare``/``overview --faithfulness``; the table."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from attnflow_core import value_zeroing as vz
from attnflow_core.analysis import analyse
from attnflow_core.contributions import alti
from attnflow_core.extract import ExampleResult, extract
from attnflow_core.faithfulness import (
    AOPC_COMP,
    RANDOM,
    RHO,
    RHO_CONTENT,
    FaithfulnessRow,
    FaithfulnessSums,
    RankingId,
    faithfulness_frame,
    skipped_note,
)
from attnflow_core.internals import encoder_layers
from attnflow_core.measures import (
    LAYER_INTERNALS,
    LAYER_RERUNS,
    MEASURES,
    WEIGHTS_AND_NORMS,
    Capture,
    measure_attention,
)
from attnflow_core.methods import flow_scores
from attnflow_core.models import load_pair
from attnflow_core.overview import (
    OverviewSettings,
    compute_overview,
    example_shift,
    load_overview,
    save_overview,
)
from attnflow_core.pipeline import ExtractionKey, extraction
from attnflow_core.settings import FlowSettings
from attnflow_core.shards import merge_overviews, shard_examples
from attnflow_core.urlstate import parse_choice
from overview_fields import assert_merged_equals_whole
from tiny import make_tiny_bert_dir, tiny_examples

CONTRIBUTIONS = ("alti", "globenc", "value-zeroing")
TEXT, PAIR = "what is the capital of france ?", "paris is the capital"


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root: Path = tmp_path_factory.mktemp("tiny-contrib")
    base = make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    tuned = make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    return base, tuned


@pytest.fixture(scope="module")
def pair(dirs: tuple[Path, Path]):
    return load_pair(str(dirs[0]), str(dirs[1]))


def test_registry_entries_say_what_they_need() -> None:
    for key in CONTRIBUTIONS:
        m = MEASURES.get(key)
        assert not m.per_head and m.includes_residual and LAYER_INTERNALS in m.needs, key
        assert FlowSettings(measure=key).measure is m and OverviewSettings(measure=key).measure is m
        assert parse_choice(key, MEASURES.keys()) == key
    assert (
        MEASURES.get("value-zeroing").rerun is not None
        and LAYER_RERUNS in MEASURES.get("value-zeroing").needs
    )
    assert Capture.of("attention", "norm") == WEIGHTS_AND_NORMS
    assert Capture.of("alti") == Capture.of("globenc") == Capture(internals=True)
    assert Capture.of("value-zeroing") == Capture(True, ("value-zeroing",)) == Capture.of(*MEASURES)
    assert Capture.of("norm") + Capture.of("value-zeroing") == Capture(True, ("value-zeroing",))
    key = ExtractionKey("b", "t", None, "x", None, 128)
    assert key.for_measure("norm") == key and key.for_measure("alti").capture == Capture(internals=True)


def test_the_cli_offers_them() -> None:
    from attnflow_core.cli import build_parser

    for command in ("compare", "overview"):
        parser = build_parser(command)
        sub = next(a for a in parser._actions if a.dest == "command").choices[command]  # type: ignore[union-attr]
        measure = next(a for a in sub._actions if a.dest == "measure")
        assert set(CONTRIBUTIONS) <= set(measure.choices)
        assert any(a.dest == "faithfulness" for a in sub._actions)


@pytest.mark.parametrize("measure", CONTRIBUTIONS)
@pytest.mark.parametrize("method", ["rollout", "maxflow"])
def test_flows_over_them_add_no_second_residual(pair, measure: str, method: str) -> None:
    r = extract(pair, TEXT, PAIR, capture=Capture.of(measure))
    a = analyse(r, FlowSettings(method=method, measure=measure, heads=(1,)))
    assert a.settings.measure == measure and a.note == "" and a.settings.heads is None
    n = r.encoding.n
    assert a.attn_tuned.shape == (r.num_layers, 1, n, n) and a.head_diff.js.shape == (r.num_layers, 1)
    mats = measure_attention(r.captured("tuned"), measure)
    np.testing.assert_allclose(a.scores_tuned, flow_scores(mats, method, residual=False), atol=1e-7)
    assert not np.allclose(a.scores_tuned, flow_scores(mats, method, residual=True), atol=1e-4)
    if measure == "alti":
        assert r.internals_tuned is not None
        np.testing.assert_allclose(mats[:, 0], alti(r.internals_tuned, r.attn_tuned))


def test_without_internals_the_analysis_falls_back_and_says_so(pair) -> None:
    a = analyse(extract(pair, TEXT, PAIR), FlowSettings(measure="alti"))
    assert a.settings.measure == "attention" and "ALTI contributions" in a.note


def test_value_zeroing_runs_in_the_extraction_with_progress_and_its_bound(
    pair, dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ExtractionKey(str(dirs[0]), str(dirs[1]), None, TEXT, PAIR).for_measure("value-zeroing")
    steps: list[tuple[float, str]] = []
    r = extraction(pair, key, lambda f, m: steps.append((f, m)))
    assert r.internals_tuned is not None
    want = vz.value_zeroing(encoder_layers(pair.tuned.model), r.internals_tuned.hidden)[:, None]
    np.testing.assert_allclose(r.reran_tuned["value-zeroing"], want, atol=1e-6)
    np.testing.assert_allclose(measure_attention(r.captured("tuned"), "value-zeroing"), want, atol=1e-6)
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert steps[0][1].startswith("pre-trained model: value zeroing") and "fine-tuned" in steps[-1][1]
    monkeypatch.setattr(vz, "MAX_RERUNS", 3)
    with pytest.raises(vz.ValueZeroingTooLarge, match="over the limit of 3"):
        extraction(pair, key)


def _shift_of(pair, e, measure: str) -> float:
    r = extract(pair, e.text, e.text_pair, max_length=128, capture=Capture.of(measure))
    b, t = (measure_attention(r.captured(m), measure) for m in ("base", "tuned"))
    return float(example_shift(b, t, r.encoding.special_positions, "keep").mean())


@pytest.mark.parametrize("measure", ["alti", "value-zeroing"])
def test_the_overview_measures_each_example_like_the_flow_page(pair, measure: str) -> None:
    """Batched with padding, each example measured on its own tokens equals the page's single extraction."""
    exs = tiny_examples(5)
    ov = compute_overview(pair, exs, "qa", OverviewSettings(n=5, batch_size=3, measure=measure))
    assert ov.settings.measure == measure and ov.js_mean.shape == (2, 1) and ov.sinks.shape == (2, 2, 1, 3)
    want = [_shift_of(pair, e, measure) for e in exs]
    np.testing.assert_allclose(
        ov.examples.set_index("uid").loc[[e.uid for e in exs], "shift"], want, atol=1e-5
    )


def test_overview_faithfulness_files_and_exact_shard_merge(pair, tmp_path: Path) -> None:
    exs = tiny_examples(4)
    settings = OverviewSettings(n=4, batch_size=1, measure="alti", faithfulness=True)
    whole = compute_overview(pair, exs, "qa", settings)
    faith = whole.faithfulness
    assert isinstance(faith, FaithfulnessSums) and faith.n == 4
    rankings = {r.ranking for r in faith.rows()}
    assert {RankingId(m, "rollout", k) for m in ("base", "tuned") for k in MEASURES} <= rankings
    assert RANDOM in rankings
    parts = []
    for i, suffix in ((1, "json"), (2, "parquet")):
        part = compute_overview(pair, shard_examples(exs, 4, i, 2), "qa", settings)
        parts.append(load_overview(save_overview(replace(part, shard=(i, 2)), tmp_path / f"p{i}.{suffix}")))
    merged = merge_overviews(parts)
    assert merged.faithfulness.n == 4
    assert_merged_equals_whole(merged, whole, parts)  # every field, the faithfulness sums exactly the parts'
    again = load_overview(save_overview(whole, tmp_path / "whole.json"))
    assert again.faithfulness.totals == faith.totals and again.settings.faithfulness


def test_compare_and_overview_faithfulness_from_the_cli(
    dirs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from attnflow_core.__main__ import main

    base, tuned = (str(d) for d in dirs)
    argv = ["compare", "--base", base, "--tuned", tuned, "--text", TEXT, "--pair", PAIR, "--device", "cpu"]
    assert main([*argv, "--measure", "alti", "--method", "rollout", "--faithfulness", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["measure"] == "alti"
    faith = out["faithfulness"]
    assert faith["n"] == 1 and faith["sentence"].startswith("Most faithful to the fine-tuned decision")
    row = next(r for r in faith["rows"] if r["metric"] == AOPC_COMP and r["measure"] == "value-zeroing")
    assert set(row) == {"model", "method", "measure", "metric", "reference", "value", "sum", "count"}
    assert FaithfulnessSums.from_json(faith).n == 1
    rows = [
        {"question": e.text, "sentence": e.text_pair, "label": i % 2} for i, e in enumerate(tiny_examples(3))
    ]
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labels = ("entailment", "not_entailment")
    tuned_qa = make_tiny_bert_dir(tmp_path / "tuned-qa", with_head=True, seed=1, labels=labels)
    overview = ["overview", "--task", "qa", "--data-file", str(data), "--n", "3", "--device", "cpu",
                "--base", base, "--tuned", str(tuned_qa), "--measure", "alti", "--faithfulness"]  # fmt: skip
    assert main([*overview, "--out", str(tmp_path / "o.json")]) == 0
    assert "Most faithful to the fine-tuned decision" in capsys.readouterr().out
    ov = load_overview(tmp_path / "o.json")
    assert ov.settings.measure == "alti" and ov.faithfulness is not None and ov.faithfulness.n == 3


def test_the_table_reads_the_rows() -> None:
    r = RankingId
    rows = [
        FaithfulnessRow(r("tuned", "rollout", "alti"), RHO, "gradient", 0.5, 3),
        FaithfulnessRow(r("tuned", "rollout", "alti"), RHO_CONTENT, "gradient", 0.25, 3),
        FaithfulnessRow(r("tuned", "rollout", "alti"), AOPC_COMP, "", 0.3, 3),
        FaithfulnessRow(r("base", "trace", "norm"), AOPC_COMP, "", 0.1, 3),
        FaithfulnessRow(RANDOM, AOPC_COMP, "", 0.2, 3),
        FaithfulnessRow(r("tuned", "saliency", "ig"), RHO, "gradient", 0.7, 3),
    ]
    table = faithfulness_frame(rows)
    assert list(table.columns) == ["AOPC comp. ↑", "AOPC suff. ↓", "ρ gradient", "ρ gradient (content)"]
    assert list(table.index) == [
        ("pre-trained", "trace", "norm-weighted ‖α·f(x)‖"),
        ("fine-tuned", "rollout", "ALTI"),
        ("fine-tuned", "saliency", "Integrated Gradients"),
        ("", "random", ""),
    ]
    assert table.loc[("fine-tuned", "rollout", "ALTI"), "ρ gradient (content)"] == 0.25
    assert np.isnan(table.loc[("pre-trained", "trace", "norm-weighted ‖α·f(x)‖"), "ρ gradient"])
    note = skipped_note(FaithfulnessSums(5, {}, {"value-zeroing": 2}))
    assert "value zeroing from 2 of 5 examples" in note and skipped_note(FaithfulnessSums()) == ""


def test_faithfulness_leaves_value_zeroing_out_past_its_bound(pair, monkeypatch: pytest.MonkeyPatch) -> None:
    from attnflow_core.faithfulness import pair_faithfulness

    r: ExampleResult = extract(pair, TEXT, PAIR, capture=Capture(internals=True))
    monkeypatch.setattr(vz, "MAX_RERUNS", 3)
    sums = pair_faithfulness(pair, r, measures=("norm", "value-zeroing"), saliency_methods=("gradient",))
    assert sums.skipped == {"value-zeroing": 1}
    assert {row.ranking.measure for row in sums.rows() if row.ranking.model == "tuned"} == {
        "norm",
        "gradient",
    }
