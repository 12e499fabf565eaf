"""The overview's --importance, --agreement and --data-file on tiny BERTs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attnflow_core.data.sources import Example
from attnflow_core.importance import importance_of_texts, importance_reading
from attnflow_core.models import load_pair
from attnflow_core.overview import OverviewSettings, compute_overview, load_overview, save_overview
from tiny import make_tiny_bert_dir

EXAMPLES = [
    Example("e1", "what is the capital of france ?", "paris is the capital", "positive"),
    Example("e2", "good movie", "not bad at all", "negative"),
    Example("e3", "who won the game", "the team won it", "positive"),
    Example("e4", "i love it", "it was great film and i like it a lot", ""),
]


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root: Path = tmp_path_factory.mktemp("tiny-ov-imp")
    return (
        make_tiny_bert_dir(root / "base", with_head=False, seed=0),
        make_tiny_bert_dir(root / "tuned", with_head=True, seed=1),
    )


def test_importance_is_the_mean_of_per_example_importance(tiny_dirs: tuple[Path, Path]) -> None:
    pair = load_pair(str(tiny_dirs[0]), str(tiny_dirs[1]))
    one = compute_overview(pair, EXAMPLES, "qa", OverviewSettings(n=4, batch_size=1, importance=True))
    batched = compute_overview(pair, EXAMPLES, "qa", OverviewSettings(n=4, batch_size=3, importance=True))
    assert one.importance is not None and batched.importance is not None
    direct = importance_of_texts(
        pair.tuned, [e.text for e in EXAMPLES], [e.text_pair for e in EXAMPLES], [e.label for e in EXAMPLES]
    ).mean(0)
    np.testing.assert_allclose(one.importance, direct, rtol=1e-4)
    np.testing.assert_allclose(batched.importance, direct, rtol=1e-4)
    assert one.agreement is None
    assert "Spearman ρ" in importance_reading(one.js_mean, one.importance)
    plain = compute_overview(pair, EXAMPLES, "qa", OverviewSettings(n=4))
    assert plain.importance is None
    np.testing.assert_allclose(plain.js_mean, one.js_mean, atol=1e-6)  # the extra pass changes nothing else


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_importance_and_agreement_round_trip(
    tiny_dirs: tuple[Path, Path], tmp_path: Path, suffix: str
) -> None:
    pair = load_pair(str(tiny_dirs[0]), str(tiny_dirs[1]))
    ov = compute_overview(pair, EXAMPLES[:2], "qa", OverviewSettings(n=2, importance=True, agreement=True))
    assert ov.agreement is not None and {r.saliency for r in ov.agreement} == {"ig", "occlusion"}
    assert {r.method for r in ov.agreement} == {"trace", "rollout", "maxflow"}
    assert {r.measure for r in ov.agreement} == {"attention", "norm"}
    assert len(ov.agreement) == 3 * 2 * 2  # method × measure × saliency
    back = load_overview(save_overview(ov, tmp_path / f"ov{suffix}"))
    assert back.importance is not None and ov.importance is not None
    np.testing.assert_allclose(back.importance, ov.importance)
    assert back.agreement is not None
    for a, b in zip(back.agreement, ov.agreement, strict=True):
        assert (a.method, a.measure, a.saliency, a.n) == (b.method, b.measure, b.saliency, b.n)
        assert a.rho == pytest.approx(b.rho, nan_ok=True)


def test_cli_reads_a_data_file(
    tiny_dirs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from attnflow_core.__main__ import main

    data = tmp_path / "mine.jsonl"
    rows = [
        {"question": "what is the capital of france ?", "sentence": "paris is the capital", "label": 0},
        {"question": "who won the game", "sentence": "the team won it", "label": 1},
        {"question": "where is the river", "sentence": "the rhine is in germany", "label": 0},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "ov.json"
    args = ["overview", "--task", "qa", "--n", "3", "--out", str(out), "--data-file", str(data)]
    args += ["--base", str(tiny_dirs[0]), "--tuned", str(tiny_dirs[1]), "--importance"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Did fine-tuning change the heads that matter?" in printed
    ov = load_overview(out)
    assert ov.n_examples == 3 and ov.source == "file" and ov.split == "mine.jsonl"
    assert ov.importance is not None and ov.importance.shape == (2, 2)
    assert ov.examples["text"].tolist()[0] == "what is the capital of france ?"
    assert "importance" in json.loads(out.read_text())


def test_agreement_rows_are_labelled_by_the_measure_they_ran_under(tiny_dirs: tuple[Path, Path]) -> None:
    """Both measures whatever the statistics' measure, and each row equals one example's own agreement."""
    from attnflow_core.agreement import example_agreement
    from attnflow_core.extract import extract

    pair = load_pair(str(tiny_dirs[0]), str(tiny_dirs[1]))
    rows = {}
    for measure in ("attention", "norm"):
        ov = compute_overview(
            pair, EXAMPLES[:1], "qa", OverviewSettings(n=1, measure=measure, agreement=True)
        )
        assert ov.agreement is not None
        rows[measure] = {(r.method, r.measure, r.saliency): r.rho for r in ov.agreement}
    assert rows["attention"].keys() == rows["norm"].keys()
    for key, rho in rows["attention"].items():
        assert rows["norm"][key] == pytest.approx(rho, nan_ok=True, abs=1e-6)
    e = EXAMPLES[0]
    res = extract(pair, e.text, e.text_pair)
    enc = res.encoding
    direct = example_agreement(
        pair.tuned.model, enc.input_ids, enc.segment_ids, enc.special_positions, res.attn_tuned,
        vnorm=res.vnorm_tuned,
    )  # fmt: skip
    for r in direct:
        assert rows["norm"][(r.method, r.measure, r.saliency)] == pytest.approx(r.rho, nan_ok=True, abs=1e-4)
