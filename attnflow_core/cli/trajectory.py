"""``overview --trajectory``: every checkpoint of a fine-tuned run against the pre-trained model, to a .json file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnflow_core.errors import SettingsError


def run_trajectory(args: argparse.Namespace) -> int:
    """Compute ``trajectory.compute_trajectory`` (the function the page calls) and write ``attnflow.trajectory/1``."""
    from attnflow_core.cli.overview import cli_examples
    from attnflow_core.models import embedded_ref, list_checkpoints, load_model
    from attnflow_core.paths import check_writable_file
    from attnflow_core.trajectory import TrajectorySettings, compute_trajectory, save_trajectory

    if Path(args.out).suffix != ".json":
        raise SettingsError(
            f"--trajectory writes a .json file (schema attnflow.trajectory/1); got --out {args.out}"
        )
    unused = [
        f"--{name}" for name in ("shard", "ray", "agreement") if getattr(args, name) not in (None, False)
    ]
    if unused:
        raise SettingsError(
            f"--trajectory computes every checkpoint in this process; drop {', '.join(unused)}"
        )
    check_writable_file(args.out)  # before minutes of computation, not after
    settings = TrajectorySettings(
        n=args.n,
        max_length=args.max_length,
        special=args.special,
        batch_size=args.batch_size,
        measure=args.measure,
    )
    tuned = args.tuned or embedded_ref(args.task)
    checkpoints = list_checkpoints(tuned)
    examples, source, split = cli_examples(args)
    base = load_model(args.base, device=args.device)

    def progress(fraction: float, message: str) -> None:
        print(f"\r{fraction:6.1%}  {message}    ", end="", file=sys.stderr, flush=True)

    t = compute_trajectory(
        base,
        checkpoints,
        examples,
        args.task,
        settings,
        load=lambda ref: load_model(ref, device=args.device),
        source=source,
        split=split,
        progress=progress,
    )
    print(file=sys.stderr)
    path = save_trajectory(t, args.out)
    print(f"{len(t.uids)} examples × {len(t.checkpoints)} checkpoints in {t.seconds:.1f} s; wrote {path}")
    print("step  % train  held-out acc  acc (N)  mean change  focus share")
    for k, c in enumerate(t.checkpoints):
        held = "—" if c.eval_accuracy is None else f"{c.eval_accuracy:.4f}"
        print(
            f"{c.step:>4}  {100 * c.fraction:6.1f}  {held:>12}  {t.accuracy[k]:7.3f}  {t.mean_change[k]:11.4f}  "
            f"{t.focus[k]:11.3f}"
        )
    print(
        f"(focus: {t.focus_examples} examples; pre-trained {t.focus_base:.3f}, uniform {t.focus_uniform:.3f})"
    )
    print(t.reading())
    return 0
