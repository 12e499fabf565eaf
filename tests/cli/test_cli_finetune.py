"""``finetune --out`` never deletes what the project did not write, and is checked before any training."""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import pytest

from attnflow_core.adapter_files import check_out_dir
from attnflow_core.cli import main
from attnflow_core.finetune import FinetuneConfig, finetune
from attnflow_core.paths import WriteError

ROWS = [
    {"sentence": s, "label": i % 2} for i, s in enumerate(["good film", "bad film", "great", "awful"] * 3)
]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _foreign(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.tex").write_text("years of work")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    (folder / "README.md").write_text("my readme")
    return folder


def test_cli_refuses_a_folder_with_other_files_and_every_file_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _foreign(tmp_path)
    before = _snapshot(folder)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    rc = main(
        ["finetune", "--task", "sentiment", "--data", str(data), "--max-steps", "1", "--out", str(folder)]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "is not empty and is not an earlier finetune output" in err and "--overwrite" in err
    assert _snapshot(folder) == before


def test_cli_overwrite_refuses_a_folder_with_the_users_own_readme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 20: `--overwrite` replaced the user's README.md although the help said nothing else is deleted."""
    folder = _foreign(tmp_path)
    before = _snapshot(folder)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    args = ["finetune", "--task", "sentiment", "--data", str(data), "--max-steps", "1", "--out", str(folder)]
    assert main([*args, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "holds a README.md of your own" in err and err.count("\n") == 1
    assert _snapshot(folder) == before
    assert main(["finetune", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert (
        "model card README.md are written into it" in help_text
        and "README.md of your own is refused" in help_text
    )


def test_cli_refuses_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _foreign(tmp_path)
    monkeypatch.chdir(folder)
    before = _snapshot(folder)
    assert main(["finetune", "--task", "sentiment", "--data", "hub", "--out", "."]) == 2
    assert _snapshot(folder) == before


def test_check_out_dir_accepts_new_empty_and_earlier_outputs(tmp_path: Path) -> None:
    check_out_dir(tmp_path / "new" / "deeper")
    (tmp_path / "empty").mkdir()
    check_out_dir(tmp_path / "empty")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for name in ("attnflow.json", "adapter_config.json", "adapter_model.safetensors", "README.md"):
        (earlier / name).write_text("{}")
    check_out_dir(earlier)
    (earlier / "notes.txt").write_text("mine")
    with pytest.raises(WriteError, match="not an earlier finetune output"):
        check_out_dir(earlier)
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="is a file"):
        check_out_dir(tmp_path / "file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_unwritable_out_is_refused_before_training(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(WriteError, match="no permission"):
            check_out_dir(locked / "adapter")
    finally:
        locked.chmod(0o700)


def test_overwrite_writes_the_adapter_beside_other_files_and_deletes_nothing(
    tiny_base_dir: Path, tmp_path: Path
) -> None:
    folder = _foreign(tmp_path)
    before = _snapshot(folder)
    cfg = FinetuneConfig(max_steps=1, batch_size=4, max_length=16, lora_rank=2, lora_alpha=4)
    train = datasets.Dataset.from_list(ROWS)
    with pytest.raises(WriteError):
        finetune("sentiment", train, None, cfg, folder, base_dir=tiny_base_dir)
    assert _snapshot(folder) == before
    # issue 20: the user's own README.md would be replaced by the model card: refused, even with --overwrite
    with pytest.raises(WriteError, match="holds a README.md of your own"):
        finetune("sentiment", train, None, cfg, folder, base_dir=tiny_base_dir, overwrite=True)
    assert _snapshot(folder) == before
    (folder / "README.md").rename(tmp_path / "my-README.md")
    before = _snapshot(folder)
    finetune("sentiment", train, None, cfg, folder, base_dir=tiny_base_dir, overwrite=True)
    after = _snapshot(folder)
    for name, content in before.items():
        assert after[name] == content, name  # every file of the user's stays as it was
    assert {"attnflow.json", "adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(after)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".work.")], "no temporary folder left"
    # a second run into the same folder may replace its own model card (and only that)
    finetune("sentiment", train, None, cfg, folder, base_dir=tiny_base_dir, overwrite=True)
    assert {n: c for n, c in _snapshot(folder).items() if n in before} == before


def test_an_earlier_output_with_checkpoints_is_ours_but_a_foreign_checkpoints_folder_is_not(
    tmp_path: Path,
) -> None:
    earlier = tmp_path / "earlier"
    (earlier / "checkpoints" / "step-0010").mkdir(parents=True)
    for name in ("attnflow.json", "adapter_config.json", "adapter_model.safetensors", "README.md"):
        (earlier / name).write_text("{}")
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (earlier / "checkpoints" / "step-0010" / name).write_text("{}")
    check_out_dir(earlier)  # an earlier run, checkpoints included: replaced whole
    (earlier / "checkpoints" / "plots.png").write_text("mine")
    with pytest.raises(WriteError, match="not an earlier finetune output"):
        check_out_dir(earlier)
    (earlier / "README.md").unlink()  # "{}" is not its model card: refused for that first (issue 20)
    with pytest.raises(WriteError, match="is not a checkpoints folder finetune wrote"):
        check_out_dir(earlier, overwrite=True)


def test_overwrite_replaces_an_earlier_runs_checkpoints_and_keeps_other_files(
    tiny_base_dir: Path, tmp_path: Path
) -> None:
    folder = _foreign(tmp_path)
    (folder / "README.md").rename(tmp_path / "my-README.md")  # the model card would replace it (refused)
    cfg = FinetuneConfig(max_steps=2, batch_size=4, max_length=16, lora_rank=2, lora_alpha=4)
    train = datasets.Dataset.from_list(ROWS)
    finetune(
        "sentiment", train, None, cfg, folder, base_dir=tiny_base_dir, overwrite=True, checkpoints=(0, 0.5)
    )
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["step-0000", "step-0001"]
    finetune(
        "sentiment", train, None, cfg, folder, base_dir=tiny_base_dir, overwrite=True, checkpoints=(0, 1)
    )
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["step-0000"]
    assert (folder / "thesis.tex").read_text() == "years of work" and (folder / "sub" / "data.csv").exists()
