"""The command line: ``python -m attnflow_core {compare,evaluate,finetune,overview} ...``.

One module per command, each with ``PURPOSE`` (one line), ``EXAMPLE``, ``configure_parser(parser)`` and
``run(args) -> int``; all argparse and printing of the project lives in this package. The chosen command's module is
imported on demand, so ``--help`` stays quick. User errors (``AttnflowError``) end in one ``error: ...`` line and exit
status 2; anything else is a bug: a short apology, the traceback in a log file, exit status 1 (``--debug`` or
``ATTNFLOW_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from attnflow_core.cli.common import HelpFormatter
from attnflow_core.errors import AttnflowError
from attnflow_core.settings import parse_flag

#: command -> module; each module's PURPOSE and EXAMPLE make the help texts.
COMMANDS = {
    "compare": "attnflow_core.cli.compare",
    "evaluate": "attnflow_core.cli.evaluate",
    "finetune": "attnflow_core.cli.finetune",
    "overview": "attnflow_core.cli.overview",
    "merge-overviews": "attnflow_core.cli.merge_overviews",
}
# One-line purposes for the top-level --help, without importing every command module.
PURPOSES = {
    "compare": "compare a pre-trained model with its fine-tuned counterpart on one example",
    "evaluate": "accuracy of a fine-tuned model on a labelled data file",
    "finetune": "fine-tune a LoRA counterpart of the embedded base model on a task",
    "overview": "how fine-tuning changed attention over many examples of a task, saved to a file",
    "merge-overviews": "join the files of `overview --shard I/K` runs into one overview file",
}
DEBUG_ENV = "ATTNFLOW_DEBUG"
LOG = logging.getLogger("attnflow.cli")


def build_parser(chosen: str | None) -> argparse.ArgumentParser:
    """The top-level parser; only the ``chosen`` command's module is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="python -m attnflow_core",
        description="Attention Flows: compare the attention of a pre-trained encoder with its fine-tuned "
        "counterpart. Each command has its own --help.",
        epilog="example:\n  python -m attnflow_core compare --tuned embedded:qa --text 'What is the capital of "
        "France?' --pair 'Paris is the capital of France.'",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an unexpected error (or set {DEBUG_ENV}=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, module_name in COMMANDS.items():
        if name == chosen:
            module = importlib.import_module(module_name)
            p = sub.add_parser(
                name,
                help=module.PURPOSE,
                description=module.PURPOSE,
                epilog="example:\n  " + module.EXAMPLE,
                formatter_class=HelpFormatter,
            )
            module.configure_parser(p)
        else:
            sub.add_parser(name, help=PURPOSES[name])
    return parser


def _log_bug() -> str:
    """Write the current exception's traceback to the CLI log; returns where (or why not)."""
    try:
        from attnflow_core.paths import cache_dir

        path = cache_dir("logs") / "cli.log"
        with path.open("a", encoding="utf-8") as f:
            f.write(traceback.format_exc() + "\n")
        return f"the details are in {path}"
    except OSError:
        return "the details could not be logged"


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 a bug, 2 a user error, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if a in COMMANDS), None)
    try:
        args = build_parser(chosen).parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error argparse has already explained (2)
        return done.code if isinstance(done.code, int) else 2
    debug = bool(args.debug) or parse_flag(os.environ.get(DEBUG_ENV), False)
    run = importlib.import_module(COMMANDS[args.command]).run
    try:
        return int(run(args))
    except AttnflowError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the one place a bug becomes an apology instead of a traceback
        if debug:
            traceback.print_exc()
        else:
            where = _log_bug()
            LOG.debug("unexpected error in %s", args.command, exc_info=True)
            print(
                f"error: sorry, {args.command} stopped on an unexpected problem (a bug, not your input); {where}. "
                f"Run again with --debug (or {DEBUG_ENV}=1) to see the traceback.",
                file=sys.stderr,
            )
        return 1
