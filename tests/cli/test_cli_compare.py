"""``compare --source`` takes an index or a unit's text (the first match, and says which)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnflow_core.analysis import find_source
from attnflow_core.cli import main
from tiny import make_tiny_bert_dir


def test_find_source_by_index_or_text() -> None:
    labels = ("[CLS]", "what", "is", "what", "##ever", "[SEP]")
    assert find_source(labels, "3") == (3, None)
    assert find_source(labels, 2) == (2, None)
    assert find_source(labels, "WHAT") == (1, "tracing from 'what' (#1, the first of 2 matches)")
    assert find_source(labels, "ever") == (4, "tracing from '##ever' (#4)")
    with pytest.raises(ValueError, match="no unit 'paris' in the input"):
        find_source(labels, "paris")


def test_cli_source_by_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_tiny_bert_dir(tmp_path / "base", with_head=False, seed=0)
    tuned = make_tiny_bert_dir(tmp_path / "tuned", with_head=True, seed=1)
    argv = [
        "compare",
        "--base",
        str(base),
        "--tuned",
        str(tuned),
        "--text",
        "what is the capital ?",
        "--json",
    ]
    assert main([*argv, "--source", "capital"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["units"][data["settings"]["source"]] == "capital"
    assert "tracing from 'capital'" in captured.err
    assert main([*argv, "--source", "zzz"]) == 2
    assert "no unit 'zzz'" in capsys.readouterr().err
