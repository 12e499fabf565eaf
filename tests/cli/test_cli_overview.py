"""``overview --out``: a folder in the way and a full disk end in one clear line, never a truncated file."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from attnflow_core.cli import main
from attnflow_core.paths import WriteError, atomic_write


def test_out_that_is_a_folder_is_refused_before_computing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.json").mkdir()
    assert main(["overview", "--task", "qa", "--n", "2", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is a folder; name a file inside it" in err and err.count("\n") == 1


def test_out_with_a_wrong_suffix_is_refused_before_computing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["overview", "--task", "qa", "--n", "2", "--out", str(tmp_path / "x.csv")]) == 2
    assert ".json or .parquet" in capsys.readouterr().err


def test_a_full_disk_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "ov.json"
    out.write_text("the previous, complete overview")

    def write(tmp: Path) -> None:
        tmp.write_text("half of it")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError, match="No space left on device; free some space or choose another"):
        atomic_write(out, write)
    assert out.read_text() == "the previous, complete overview"
    assert [p.name for p in tmp_path.iterdir()] == ["ov.json"]


def test_atomic_write_replaces_whole(tmp_path: Path) -> None:
    out = tmp_path / "ov.json"
    atomic_write(out, lambda tmp: tmp.write_text("new"))
    assert out.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["ov.json"]
    with pytest.raises(WriteError, match="no such folder"):
        atomic_write(tmp_path / "missing" / "ov.json", lambda tmp: tmp.write_text("x"))
