"""The command line's contract: help texts, argparse checks, user errors as one line (exit 2), bugs as an apology
(exit 1), all argparse in attnflow_core/cli/."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import attnflow_core
from attnflow_core.cli import COMMANDS, build_parser, main
from attnflow_core.settings import SettingsError


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_has_a_purpose_an_example_and_help_for_every_option(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "example:\n  python -m attnflow_core " + command in text
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings} has no help text"


def test_top_level_help_lists_every_command_with_its_purpose(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in COMMANDS:
        assert command in text
    assert "example:" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["overview", "--task", "qa", "--out", "x.json", "--batch-size", "0"],
            "--batch-size: must be at least 1",
        ),
        (["overview", "--task", "qa", "--out", "x.json", "--n", "-3"], "--n: must be at least 1"),
        (
            ["evaluate", "--task", "qa", "--data-file", "f.jsonl", "--batch-size", "x"],
            "'x' is not an integer",
        ),
        (["compare", "--tuned", "t", "--text", "a", "--threshold", "nan"], "'nan' is not a finite number"),
        (["compare", "--tuned", "t", "--text", "a", "--decay", "0"], "--decay: must be in (0, 1]"),
        (["finetune", "--task", "qa", "--data", "hub", "--lora-rank", "0"], "--lora-rank: must be in 1..256"),
    ],
)
def test_bad_numbers_are_refused_by_argparse(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_user_error_is_one_line_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(_args: argparse.Namespace) -> int:
        raise SettingsError("threshold must be in [0, 1]; got 2")

    monkeypatch.setattr("attnflow_core.cli.compare.run", run)
    assert main(["compare", "--tuned", "t", "--text", "a"]) == 2
    assert capsys.readouterr().err == "error: threshold must be in [0, 1]; got 2\n"


def test_a_bug_is_an_apology_and_a_log_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def run(_args: argparse.Namespace) -> int:
        raise KeyError("internal")

    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path))
    monkeypatch.delenv("ATTNFLOW_DEBUG", raising=False)
    monkeypatch.setattr("attnflow_core.cli.compare.run", run)
    assert main(["compare", "--tuned", "t", "--text", "a"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: sorry, compare stopped on an unexpected problem") and "--debug" in err
    assert "Traceback" not in err and err.count("\n") == 1
    log = tmp_path / "logs" / "cli.log"
    assert "KeyError: 'internal'" in log.read_text()
    assert main(["--debug", "compare", "--tuned", "t", "--text", "a"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_argparse_lives_only_in_the_cli_package() -> None:
    root = Path(attnflow_core.__file__).parent
    users = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "import argparse" in p.read_text() and p.parent.name != "cli"
    )
    assert users == []
