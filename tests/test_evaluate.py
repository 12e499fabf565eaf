"""Evaluation: label parsing (GLUE integers, names, binary NLI), column mapping, scoring against predictions,
and the CLI's JSON output (tiny models: fast; the embedded counterpart: slow)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from attnflow_core.data.files import (
    detect_binary_nli,
    label_index,
    map_columns,
    parse_columns,
    prediction_index,
)
from attnflow_core.evaluate import EvalResult, evaluate
from attnflow_core.extract import predict_many
from attnflow_core.models import load_model

SENT = ("negative", "positive")
QA = ("entailment", "not_entailment")
NLI = ("entailment", "neutral", "contradiction")
TASK_OF = {SENT: "sentiment", QA: "qa", NLI: "nli"}  # label tuples of the tests → the task they belong to


@pytest.mark.parametrize(
    ("value", "labels", "binary", "expected"),
    [
        (0, SENT, False, 0),
        (1, SENT, False, 1),
        (np.int64(1), SENT, False, 1),
        (1.0, SENT, False, 1),
        ("1", SENT, False, 1),
        ("positive", SENT, False, 1),
        (" Negative ", SENT, False, 0),
        ("not_entailment", QA, False, 1),
        ("not-entailment", QA, False, 1),
        (2, NLI, False, 2),
        ("neutral", NLI, False, 1),
        ("CONTRADICTION", NLI, False, 2),
        # binary NLI (RTE): 0 entailment, 1 not_entailment; three-way names merge into not_entailment
        (0, NLI, True, 0),
        (1, NLI, True, 1),
        ("entailment", NLI, True, 0),
        ("not_entailment", NLI, True, 1),
        ("neutral", NLI, True, 1),
        ("contradiction", NLI, True, 1),
    ],
)
def test_parse_label_golden(value: object, labels: tuple[str, ...], binary: bool, expected: int) -> None:
    assert label_index(value, TASK_OF[labels], binary) == expected


@pytest.mark.parametrize(
    ("value", "labels", "binary", "message"),
    [
        (2, SENT, False, "out of range"),
        (-1, SENT, False, "unlabelled GLUE test row"),
        ("maybe", SENT, False, "unknown label 'maybe'"),
        (True, SENT, False, "a label must be a name or an integer id"),
        (None, SENT, False, "no label"),
        (2, NLI, True, "out of range"),
        ("not_entailment", NLI, False, "binary label: pass binary_nli=True"),
    ],
)
def test_parse_label_errors(value: object, labels: tuple[str, ...], binary: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        label_index(value, TASK_OF[labels], binary)


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    """Rows as a JSON Lines file (the evaluation CLI's input)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_prediction_index_merges_neutral_and_contradiction_for_binary_nli() -> None:
    assert [prediction_index(p, "nli", True) for p in NLI] == [0, 1, 1]
    assert [prediction_index(p, "nli", False) for p in ("contradiction", "entailment", "neutral")] == [
        2,
        0,
        1,
    ]
    with pytest.raises(ValueError, match="LABEL_0"):
        prediction_index("LABEL_0", "nli", False)


def test_detect_binary_nli() -> None:
    rte = datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "label": [1]})
    named = datasets.Dataset.from_dict(
        {"premise": ["a", "b"], "hypothesis": ["b", "c"], "label": ["entailment", "not_entailment"]}
    )
    mnli = datasets.Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["b", "c"], "label": [0, 1]})
    assert detect_binary_nli("nli", rte.column_names, rte["label"])
    assert detect_binary_nli("nli", named.column_names, named["label"])
    assert detect_binary_nli("nli", ["premise", "hypothesis", "label"], ["Not entailment", "entailment"])
    assert not detect_binary_nli("nli", mnli.column_names, mnli["label"])
    assert not detect_binary_nli("qa", rte.column_names, rte["label"])


def test_columns_map_explicitly_or_automatically() -> None:
    rte = datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "label": [0], "idx": [0]})
    assert set(map_columns(rte, "nli").column_names) == {"premise", "hypothesis", "label", "idx"}
    assert parse_columns("premise=sentence1, hypothesis=sentence2") == {
        "premise": "sentence1",
        "hypothesis": "sentence2",
    }
    odd = datasets.Dataset.from_dict({"p": ["a"], "h": ["b"], "y": [0]})
    mapped = map_columns(odd, "nli", parse_columns("premise=p,hypothesis=h,label=y"))
    assert mapped["premise"] == ["a"] and mapped["label"] == [0]
    with pytest.raises(ValueError, match="--columns"):
        map_columns(odd, "nli")
    with pytest.raises(ValueError, match="column 'q' \\(for the task's 'premise'\\) is not in the file"):
        map_columns(odd, "nli", {"premise": "q"})
    with pytest.raises(ValueError, match="TASK_COLUMN=FILE_COLUMN"):
        parse_columns("premise")


def _expected_confusion(
    model_dir: Path,
    ds: datasets.Dataset,
    first: str,
    second: str | None,
    gold: list[int],
    binary: bool,
    labels: tuple[str, ...],
) -> np.ndarray:
    m = load_model(str(model_dir))
    preds = predict_many(m, list(ds[first]), list(ds[second]) if second else None)
    k = 2 if binary else len(labels)
    conf = np.zeros((k, k), dtype=int)
    for g, p in zip(gold, preds, strict=True):
        assert p is not None
        conf[g, prediction_index(p.label, TASK_OF[labels], binary)] += 1
    return conf


def test_evaluate_matches_the_model_predictions(tiny_sentiment_dir: Path) -> None:
    ds = datasets.Dataset.from_dict(
        {
            "sentence": [
                "the movie was great",
                "i hate this film",
                "a boring story",
                "i love it",
                "not good",
            ],
            "label": ["1", "negative", "0", "positive", "0"],  # GLUE integers and names
        }
    )
    result = evaluate(str(tiny_sentiment_dir), ds, "sentiment", batch_size=2)
    assert isinstance(result, EvalResult)
    expected = _expected_confusion(tiny_sentiment_dir, ds, "sentence", None, [1, 0, 0, 1, 0], False, SENT)
    assert np.array_equal(np.array(result.confusion), expected)
    assert result.n == 5
    assert result.accuracy == pytest.approx(np.trace(expected) / 5)
    assert result.per_label == (("negative", 3, int(expected[0, 0])), ("positive", 2, int(expected[1, 1])))
    assert not result.binary_nli
    assert json.loads(json.dumps(result.to_dict()))["accuracy"] == result.accuracy


def test_binary_nli_data_is_scored_against_a_three_way_model(tiny_nli_dir: Path) -> None:
    ds = datasets.Dataset.from_dict(
        {
            "sentence1": [
                "a man is playing guitar",
                "a dog runs",
                "the cat is sleeping",
                "a woman is playing",
            ],
            "sentence2": ["a man is playing music", "a cat runs", "the cat is sleeping", "the stage"],
            "label": [0, 1, 0, 1],
        }
    )
    loaded = load_model(str(tiny_nli_dir))
    result = evaluate(loaded, ds, "nli")
    assert result.binary_nli
    assert result.label_names == ("entailment", "not_entailment")
    expected = _expected_confusion(
        tiny_nli_dir, map_columns(ds, "nli"), "premise", "hypothesis", [0, 1, 0, 1], True, NLI
    )
    assert np.array_equal(np.array(result.confusion), expected)
    three = evaluate(loaded, map_columns(ds, "nli"), "nli", binary_nli=False)
    assert three.label_names == NLI and three.n == 4


def test_a_model_without_head_is_refused(tiny_base_dir: Path) -> None:
    ds = datasets.Dataset.from_dict({"sentence": ["the movie"], "label": [1]})
    with pytest.raises(ValueError, match="no classification head"):
        evaluate(str(tiny_base_dir), ds, "sentiment")


def test_cli_json_on_a_small_file(
    tiny_sentiment_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from attnflow_core.__main__ import main

    rows = [
        {"sentence": "the movie was great", "label": 1},
        {"sentence": "i hate this film", "label": 0},
        {"sentence": "a funny story", "label": 1},
    ]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    assert (
        main(
            [
                "evaluate",
                "--task",
                "sentiment",
                "--data-file",
                str(path),
                "--model",
                str(tiny_sentiment_dir),
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 3
    expected = evaluate(str(tiny_sentiment_dir), datasets.Dataset.from_list(rows), "sentiment")
    assert out["accuracy"] == expected.accuracy
    assert out["per_label"]["positive"]["n"] == 2
    assert (
        main(
            ["evaluate", "--task", "sentiment", "--data-file", str(path), "--model", str(tiny_sentiment_dir)]
        )
        == 0
    )
    assert f"accuracy {expected.accuracy:.4f} on 3 rows" in capsys.readouterr().out


def test_cli_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from attnflow_core.__main__ import main

    assert main(["evaluate", "--task", "qa", "--data-file", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_json_with_the_embedded_counterpart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from attnflow_core.__main__ import main

    rows = [
        {
            "question": "What is the capital of France?",
            "sentence": "Paris is the capital of France.",
            "label": 0,
        },
        {"question": "Who won the game?", "sentence": "The river Rhine flows through Germany.", "label": 1},
    ]
    path = write_jsonl(tmp_path / "qnli.jsonl", rows)
    assert main(["evaluate", "--task", "qa", "--data-file", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "embedded:qa"
    assert out["n"] == 2
    assert out["accuracy"] == 1.0  # two easy cases


def test_cli_detects_rte_style_files(
    tiny_nli_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from attnflow_core.__main__ import main

    rows = [
        {"sentence1": "a man is playing guitar", "sentence2": "a man is playing music", "label": 0, "idx": 0},
        {"sentence1": "a dog runs", "sentence2": "a cat runs", "label": 1, "idx": 1},
    ]
    path = write_jsonl(tmp_path / "rte.jsonl", rows)
    args = ["evaluate", "--task", "nli", "--data-file", str(path), "--model", str(tiny_nli_dir), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert (
        out["binary_nli"] is True and out["label_names"] == ["entailment", "not_entailment"] and out["n"] == 2
    )
    assert main([*args, "--columns", "premise=sentence1,hypothesis=sentence2", "--three-way"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["binary_nli"] is False and out["label_names"] == list(NLI)


def test_cli_labels_name_a_checkpoint_with_generic_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint that says only LABEL_0/LABEL_1 is scored once --labels names its classes; without them the CLI
    stops with a one-line error that says to give the label names."""
    from attnflow_core.__main__ import main
    from tiny import make_tiny_bert_dir

    model = make_tiny_bert_dir(tmp_path / "generic", with_head=True, labels=("LABEL_0", "LABEL_1"), seed=6)
    rows = [
        {"sentence": "the movie was great", "label": 1},
        {"sentence": "i hate this film", "label": 0},
        {"sentence": "a boring story", "label": 0},
    ]
    path = write_jsonl(tmp_path / "sst.jsonl", rows)
    args = ["evaluate", "--task", "sentiment", "--data-file", str(path), "--model", str(model), "--json"]
    assert main([*args, "--labels", "negative", "positive"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 3 and 0.0 <= out["accuracy"] <= 1.0
    assert out["label_names"] == ["negative", "positive"]
    named = load_model(str(model), label_names=("negative", "positive"))
    expected = evaluate(named, datasets.Dataset.from_list(rows), "sentiment")
    assert out["accuracy"] == expected.accuracy
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "LABEL_" in err and "give the model's label names" in err
