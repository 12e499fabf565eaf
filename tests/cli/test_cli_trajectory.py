"""``overview --trajectory``: the file holds exactly what ``compute_trajectory`` (the page's call) computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attnflow_core.cli import main
from attnflow_core.data.sources import load_examples, to_examples
from attnflow_core.models import list_checkpoints, load_model
from attnflow_core.trajectory import TrajectorySettings, compute_trajectory, load_trajectory

ROWS = [
    {"sentence": "the movie was great", "label": "positive"},
    {"sentence": "i hate this film", "label": "negative"},
    {"sentence": "a funny story", "label": "positive"},
    {"sentence": "a boring story", "label": "negative"},
    {"sentence": "i like it all", "label": "positive"},
]


def test_cli_writes_the_numbers_the_page_computes(
    tiny_base_dir: Path, tiny_checkpointed_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = tmp_path / "t.json"
    argv = ["overview", "--trajectory", "--task", "sentiment", "--base", str(tiny_base_dir)]
    argv += ["--tuned", str(tiny_checkpointed_run), "--data-file", str(data), "--n", "5", "--batch-size", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    from_cli = load_trajectory(out)
    examples = to_examples(load_examples("sentiment", "file", limit=5, path=str(data)), "sentiment")
    page = compute_trajectory(
        load_model(str(tiny_base_dir)),
        list_checkpoints(str(tiny_checkpointed_run)),
        examples,
        "sentiment",
        TrajectorySettings(n=5, batch_size=2),
        load_model,
        source="file",
        split="rows.jsonl",
    )
    assert (
        from_cli.refs == page.refs and from_cli.checkpoints == page.checkpoints and from_cli.uids == page.uids
    )
    assert from_cli.settings == page.settings and (from_cli.source, from_cli.split) == ("file", "rows.jsonl")
    for name in ("change", "importance", "accuracy", "focus"):
        np.testing.assert_array_equal(getattr(from_cli, name), getattr(page, name), err_msg=name)
    assert from_cli.focus_base == page.focus_base and from_cli.reading() == page.reading()
    assert "5 examples × 4 checkpoints" in printed and page.reading() in printed


def test_trajectory_refuses_what_it_cannot_do_before_computing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["overview", "--trajectory", "--task", "qa", "--n", "2"]
    assert main([*base, "--out", str(tmp_path / "t.parquet")]) == 2
    assert "--trajectory writes a .json file" in capsys.readouterr().err
    assert main([*base, "--shard", "1/2", "--out", str(tmp_path / "t.json")]) == 2
    assert "drop --shard" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_page_loader_computes_the_numbers_the_cli_writes(
    tiny_base_dir: Path, tiny_checkpointed_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Fine-tuning trajectory page's loader (``pages.ui.trajectories.get_trajectory``: its cached models and
    examples, the server's computation slot) on the same examples as ``overview --trajectory``: the file's arrays
    to 1e-6."""
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path / "cache"))
    from attnflow_core.trajectory import TrajectoryRequest
    from pages.ui.trajectories import get_trajectory

    out = tmp_path / "t.json"
    argv = ["overview", "--trajectory", "--task", "sentiment", "--base", str(tiny_base_dir)]
    argv += ["--tuned", str(tiny_checkpointed_run), "--source", "demo", "--n", "5", "--out", str(out)]
    assert main(argv) == 0
    from_cli = load_trajectory(out)
    request = TrajectoryRequest(
        str(tiny_base_dir), str(tiny_checkpointed_run), None, "sentiment", "demo", "", TrajectorySettings(n=5)
    )
    messages: list[str] = []
    page = get_trajectory(request, lambda _f, message: messages.append(message))
    assert page.uids == from_cli.uids and page.refs == from_cli.refs and page.settings == from_cli.settings
    for name in ("change", "importance", "accuracy", "focus"):
        np.testing.assert_allclose(
            getattr(page, name), getattr(from_cli, name), rtol=0, atol=1e-6, err_msg=name
        )
    assert page.focus_base == pytest.approx(from_cli.focus_base, abs=1e-6)
    assert page.reading() == from_cli.reading()
    assert "checkpoint 4/4: step 8" in messages  # the bar names the checkpoint being run
    assert get_trajectory(request) is page, "kept on the server: the next visit is instant"
