"""The compare summary (JSON schema attnflow.compare/1), its tables and the CLI on two local checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnflow_core.__main__ import main
from attnflow_core.report import heads_table, scores_table
from attnflow_core.settings import parse_heads, parse_layers
from tiny import make_tiny_bert_dir


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root: Path = tmp_path_factory.mktemp("tiny-cli")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    return str(root / "base"), str(root / "tuned")


def test_cli_json_schema(dirs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    base, tuned = dirs
    code = main(
        ["compare", "--base", base, "--tuned", tuned, "--text", "what is the capital ?", "--pair", "paris",
         "--threshold", "0.05", "--layers", "1:2", "--heads", "0,1", "--json"]
    )  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "attnflow.compare/1"
    assert data["weights"] == {"base": "safetensors", "tuned": "safetensors"}
    n = data["n_tokens"]
    assert data["units"][0] == "[CLS]" and len(data["units"]) == len(data["segments"]) == n
    assert data["prediction"]["label"] in {"negative", "positive"}
    assert sum(data["scores"]["base"]) == pytest.approx(1.0, abs=1e-4)
    assert data["settings"]["layers"] == [1, 2] and data["settings"]["heads"] == [0, 1]
    assert len(data["head_differences"]["js_divergence"]) == 2
    assert len(data["head_differences"]["js_divergence"][0]) == 2
    edge = data["edges"][0]
    assert set(edge) >= {"layer", "head", "from", "to", "weight_base", "weight_tuned", "status"}
    assert {e["status"] for e in data["edges"]} <= {"shared", "base", "tuned"}


def test_cli_json_weights_name_each_models_own_format(
    dirs: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``weights`` reports each model's format separately: a tuned model that ships only pytorch_model.bin says so,
    the safetensors base does not."""
    import shutil

    import torch
    from safetensors.torch import load_file

    base, tuned = dirs
    bin_dir = Path(shutil.copytree(tuned, tmp_path / "tuned-bin"))
    torch.save(load_file(str(bin_dir / "model.safetensors")), str(bin_dir / "pytorch_model.bin"))
    (bin_dir / "model.safetensors").unlink()
    assert main(["compare", "--base", base, "--tuned", str(bin_dir), "--text", "good movie", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["weights"] == {"base": "safetensors", "tuned": "pytorch_model.bin (torch weights_only)"}


@pytest.mark.parametrize("method", ["trace", "rollout", "maxflow"])
def test_cli_text_summary(dirs: tuple[str, str], capsys: pytest.CaptureFixture[str], method: str) -> None:
    base, tuned = dirs
    assert (
        main(["compare", "--base", base, "--tuned", tuned, "--text", "good movie", "--method", method]) == 0
    )
    out = capsys.readouterr().out
    assert f"method {method}" in out and "top flow (base)" in out and "most changed heads" in out


def test_cli_user_errors_are_one_line(dirs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    base, tuned = dirs
    assert main(["compare", "--base", base, "--tuned", tuned, "--text", "good", "--threshold", "2"]) == 2
    assert "--threshold: must be in [0, 1]" in capsys.readouterr().err
    assert main(["compare", "--base", base, "--tuned", tuned, "--text", "   "]) == 2
    assert "empty" in capsys.readouterr().err


def test_tables_cover_every_unit_and_head(dirs: tuple[str, str]) -> None:
    from attnflow_core.analysis import FlowSettings, analyse
    from attnflow_core.extract import extract
    from attnflow_core.models import load_pair

    result = extract(load_pair(*dirs), "good movie")
    a = analyse(result, FlowSettings())
    scores = scores_table(a)
    assert list(scores["unit"]) == list(result.encoding.tokens)
    assert scores["delta"].tolist() == pytest.approx((scores["score_tuned"] - scores["score_base"]).tolist())
    heads = heads_table(a)
    assert len(heads) == 2 * 2 and heads["layer"].min() == 1


def test_argument_parsers() -> None:
    assert parse_layers("2:5") == (2, 5) and parse_layers(None) is None
    assert parse_heads(["0", "3,5"]) == (0, 3, 5) and parse_heads(None) is None
    assert parse_layers("2-5") == (2, 5), "the old URL form still reads"
    for bad in ("2", "a:b", "1:2:3", "--1", "1:²"):
        with pytest.raises(ValueError, match="A:B"):
            parse_layers(bad)
    for bad in (["--1"], ["1,²"], ["x"]):
        with pytest.raises(ValueError, match="head numbers"):
            parse_heads(bad)


@pytest.mark.parametrize("measure", ["attention", "norm"])
def test_measure_travels_to_json_text_and_tables(
    dirs: tuple[str, str], capsys: pytest.CaptureFixture[str], measure: str
) -> None:
    from attnflow_core.analysis import FlowSettings, analyse
    from attnflow_core.extract import extract
    from attnflow_core.models import load_pair
    from attnflow_core.report import edges_table

    base, tuned = dirs
    args = ["compare", "--base", base, "--tuned", tuned, "--text", "what is the capital ?", "--pair", "paris"]
    assert main([*args, "--measure", measure, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["measure"] == measure
    assert main([*args, "--measure", measure]) == 0
    assert f"measure {measure}" in capsys.readouterr().out
    an = analyse(extract(load_pair(base, tuned), "good movie"), FlowSettings(measure=measure, threshold=0.0))
    for table in (scores_table(an), heads_table(an), edges_table(an)):
        assert set(table["measure"]) == {measure}


def test_the_default_measure_is_norm(dirs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    base, tuned = dirs
    assert main(["compare", "--base", base, "--tuned", tuned, "--text", "good movie", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["measure"] == "norm"


@pytest.mark.parametrize("method", ["trace", "rollout", "maxflow"])
def test_cli_json_graph_is_the_drawn_graph(
    dirs: tuple[str, str], capsys: pytest.CaptureFixture[str], method: str
) -> None:
    """``graph``: the edges the flow graph draws under the method, heads merged, within the edge budget."""
    base, tuned = dirs
    code = main(
        ["compare", "--base", base, "--tuned", tuned, "--text", "what is the capital ?", "--pair", "paris",
         "--method", method, "--source", "1", "--threshold", "0.05", "--json"]
    )  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    graph = data["graph"]
    assert graph and {e["method"] for e in graph} == {method}
    keys = {"layer", "from", "to", "from_text", "to_text", "status", "mass_base", "mass_tuned"}
    assert all(set(e) >= keys for e in graph)
    n_layers = data["settings"]["layers"][1]
    top = [e for e in graph if e["layer"] == n_layers]
    assert top and {e["from"] for e in top} == {1}  # every top-layer edge leaves the source
    assert all(e["from_text"] == data["units"][e["from"]] for e in graph)
    for e in graph:  # who draws an edge is who gives it mass
        assert (e["mass_base"] > 0) == (e["status"] in ("shared", "base"))
        assert (e["mass_tuned"] > 0) == (e["status"] in ("shared", "tuned"))
    assert len({(e["layer"], e["from"], e["to"]) for e in graph}) == len(graph)
