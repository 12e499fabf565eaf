"""``compare --saliency``: per-unit saliency in the JSON and the text output (tiny BERTs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnflow_core.__main__ import main
from tiny import make_tiny_bert_dir


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root: Path = tmp_path_factory.mktemp("tiny-cli-sal")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    return str(root / "base"), str(root / "tuned")


@pytest.mark.parametrize("method", ["ig", "gradxinput", "occlusion"])
def test_json_has_one_score_per_unit(
    dirs: tuple[str, str], capsys: pytest.CaptureFixture[str], method: str
) -> None:
    base, tuned = dirs
    args = ["compare", "--base", base, "--tuned", tuned, "--text", "unquestionably good movie", "--json"]
    assert main([*args, "--saliency", method, "--words"]) == 0
    out = json.loads(capsys.readouterr().out)
    sal = out["saliency"]
    assert sal["method"] == method and sal["label"] == out["prediction"]["label"]
    assert len(sal["scores"]) == len(out["units"]) == 5  # [CLS] unquestionably good movie [SEP]
    if method == "occlusion":
        assert sal["scores"][0] == 0 and sal["scores"][-1] == 0


def test_without_the_flag_the_schema_is_unchanged(
    dirs: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    base, tuned = dirs
    assert main(["compare", "--base", base, "--tuned", tuned, "--text", "good movie", "--json"]) == 0
    assert "saliency" not in json.loads(capsys.readouterr().out)
    assert (
        main(["compare", "--base", base, "--tuned", tuned, "--text", "good movie", "--saliency", "ig"]) == 0
    )
    assert "saliency (ig, label" in capsys.readouterr().out
