"""Command line: ``python -m attnflow_core {compare,finetune,evaluate,overview} ...``.

Each command lives in the module that owns its computation and exposes ``configure_parser(parser)`` and
``run_cli(args) -> int``; this file only dispatches, importing the module on demand so ``--help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from attnflow_core.errors import AttnflowError

COMMANDS = {
    "compare": (
        "attnflow_core.report",
        "compare a pre-trained model with its fine-tuned counterpart on one example",
    ),
    "finetune": ("attnflow_core.finetune", "fine-tune a LoRA counterpart of the embedded base model"),
    "evaluate": ("attnflow_core.evaluate", "accuracy of a fine-tuned model on a data file"),
    "overview": ("attnflow_core.overview", "attention changes over many examples of a task"),
    "merge-overviews": (
        "attnflow_core.shards",
        "merge the files of `overview --shard i/k` runs into the file one run over all examples writes",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m attnflow_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).configure_parser(p)
    args = parser.parse_args(argv)
    run = importlib.import_module(COMMANDS[args.command][0]).run_cli
    try:
        return int(run(args))
    except (AttnflowError, ValueError, RuntimeError, FileNotFoundError) as err:
        # User errors: one clear line naming the fix, not a traceback.
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
