"""The GLUE code path on real GLUE validation samples (shared folder), and the Hub's offline error."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets
import huggingface_hub.constants
import pytest
from conftest import SHARED

from attnflow_core.data.errors import SourceUnavailable
from attnflow_core.data.hub import from_glue_rows, load_hub
from attnflow_core.data.sources import load_examples

SAMPLE = SHARED / "glue-sample"

CASES = [
    ("sentiment", "sst2", "hub", {"negative", "positive"}),
    ("qa", "qnli", "hub", {"entailment", "not_entailment"}),
    ("nli", "mnli", "hub", {"entailment", "neutral", "contradiction"}),
    ("nli", "rte", "hub-rte", {"entailment", "not_entailment"}),
]


def _raw(name: str) -> list[dict[str, object]]:
    with open(SAMPLE / name / "validation.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.mark.parametrize(("task", "name", "source", "labels"), CASES)
def test_glue_sample_through_load_examples(task: str, name: str, source: str, labels: set[str]) -> None:
    path = SAMPLE / name / "validation.jsonl"
    ds = load_examples(task, source, "validation", data_files=str(path))
    raw = _raw(name)
    assert len(ds) == len(raw) == 64
    assert set(ds["label"]) == labels
    first = ds[0]
    assert first["uid"] == f"{name}-validation-{raw[0]['idx']}"
    text_cols = [c for c in ds.column_names if c not in ("uid", "label")]
    first_raw_text = raw[0][
        "sentence1" if name == "rte" else ("question" if name == "qnli" else text_cols[0])
    ]
    assert first[text_cols[0]] == str(first_raw_text).strip()


def test_glue_label_maps_match_ids() -> None:
    for name, names in [("sst2", ("negative", "positive")), ("rte", ("entailment", "not_entailment"))]:
        raw = _raw(name)
        task = "sentiment" if name == "sst2" else "nli"
        ds = from_glue_rows(task, name, datasets.Dataset.from_list(raw))
        assert ds["label"] == [names[int(str(r["label"]))] for r in raw]
    mnli = from_glue_rows("nli", "mnli", datasets.Dataset.from_list(_raw("mnli")))
    assert Counter(mnli["label"]) == Counter(
        ("entailment", "neutral", "contradiction")[int(str(r["label"]))] for r in _raw("mnli")
    )


def test_rte_columns_renamed_and_snli_drops_unlabelled() -> None:
    rte = from_glue_rows("nli", "rte", datasets.Dataset.from_list(_raw("rte")))
    assert rte.column_names == ["uid", "premise", "hypothesis", "label"]
    snli = datasets.Dataset.from_dict(
        {
            "premise": ["A dog runs.", "A cat sits.", "Two men talk."],
            "hypothesis": ["An animal moves.", "x", "y"],
            "label": [0, -1, 2],
        }
    )
    ds = from_glue_rows("nli", "snli", snli, "test")
    assert ds["uid"] == ["snli-test-0", "snli-test-2"]
    assert ds["label"] == ["entailment", "contradiction"]


def test_glue_mapping_errors() -> None:
    ds = datasets.Dataset.from_list(_raw("sst2"))
    with pytest.raises(
        ValueError, match="sst2 rows belong to task 'sentiment', not 'qa'; pass task='sentiment'"
    ):
        from_glue_rows("qa", "sst2", ds)
    with pytest.raises(
        ValueError, match=r"qnli rows lack column\(s\) question; available columns: sentence, label, idx"
    ):
        from_glue_rows("qa", "qnli", ds)
    with pytest.raises(ValueError, match="unknown GLUE-style dataset 'cola'"):
        from_glue_rows("sentiment", "cola", ds)
    with pytest.raises(ValueError, match="label 7 is not a sst2 label id"):
        from_glue_rows("sentiment", "sst2", datasets.Dataset.from_dict({"sentence": ["a"], "label": [7]}))
    with pytest.raises(ValueError, match="no Hub source 'hub-rte' for task 'qa'; choose one of hub"):
        load_hub("qa", "hub-rte")
    with pytest.raises(ValueError, match="has no split 'dev'; choose one of validation_matched"):
        load_hub("nli", "hub", "dev")


def test_hub_offline_raises_source_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    # The libraries read these variables at import time; set their parsed values too.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets", raising=False)
    with pytest.raises(
        SourceUnavailable, match=r"Hugging Face Hub can't be reached to load nyu-mll/glue/sst2"
    ) as info:
        load_examples("sentiment", "hub", "validation", limit=5)
    message = str(info.value)
    assert "'demo'" in message and "'vader'" in message and "'file'" in message
