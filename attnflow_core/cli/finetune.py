"""``finetune``: train a LoRA counterpart of the embedded base on a task and write it to a folder."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from attnflow_core.checkpoints import DEFAULT_CHECKPOINTS, checkpoint_fractions, parse_checkpoint_spec
from attnflow_core.cli.common import add_device_argument, float_in, int_in, positive_float, positive_int
from attnflow_core.data.tasks import TASKS
from attnflow_core.finetune import STORE_DTYPES, FinetuneConfig
from attnflow_core.recipes import DATA_CHOICES, DEFAULT_HELDOUT, RECIPE_FLAGS
from attnflow_core.settings import SettingsError

PURPOSE = "fine-tune a LoRA counterpart of the embedded base model on a task"
EXAMPLE = (
    "python -m attnflow_core finetune --task qa --data glue-files "
    "--train-file ../shared/data/glue-train/qnli/train.jsonl --quick --out my-qa"
)
_DEFAULTS = FinetuneConfig()


def configure_parser(p: argparse.ArgumentParser) -> None:
    add_device_argument(p)
    p.add_argument("--task", required=True, choices=tuple(TASKS), help="the task to fine-tune for")
    p.add_argument(
        "--data",
        default=None,
        help="where the training rows come from: 'hub' (GLUE's train split, needs the network), 'glue-files' (rows "
        "in GLUE's schema given by --train-file), 'vader' (sentiment: the vaderSentiment movie snippets, "
        "decontaminated against --eval-file's sentences) or a data FILE in the task's columns "
        f"(choices: {', '.join(DATA_CHOICES)} or a file; --embedded: the recorded one)",
    )
    p.add_argument("--train-file", default=None, help="training rows for --data glue-files")
    p.add_argument(
        "--eval-file",
        default=None,
        help="an extra evaluation file (never trained on), scored and recorded; for --data vader also the "
        "sentences to decontaminate against (SST-2 validation)",
    )
    p.add_argument(
        "--out", default=None, help="output folder (default: the user models cache, or the embedded folder)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="allow --out to be a non-empty folder that is not an earlier finetune output: the adapter files "
        "(adapter_config.json, adapter_model.safetensors, attnflow.json) and the model card README.md are written "
        "into it; nothing else there is deleted or replaced, and a folder with a README.md of your own is refused",
    )
    p.add_argument(
        "--name", default=None, help="folder name in the user models cache (default: TASK-TIMESTAMP)"
    )
    p.add_argument(
        "--embedded",
        action="store_true",
        help="rebuild the shipped counterpart with its recorded recipe (recipe options are not allowed)",
    )
    p.add_argument("--quick", action="store_true", help="the quick preset (a few minutes on a CPU)")
    fractions = ", ".join(f"{f:.3g}" for f in checkpoint_fractions(DEFAULT_CHECKPOINTS))
    p.add_argument(
        "--checkpoints",
        type=parse_checkpoint_spec,
        default=str(DEFAULT_CHECKPOINTS),
        metavar="K|F,F,...|none",
        help=f"keep the adapter at K points of training (step 0, a few early steps, then evenly; the final step "
        f"included), or at these fractions of the steps (the final one added), each scored on the held-out rows and "
        f"written to OUT/checkpoints/step-N/ (load one as REF@step-N); none = only the final adapter. Checkpoints "
        f"never change the training. {DEFAULT_CHECKPOINTS} = fractions {fractions}",
    )
    p.add_argument(
        "--heldout",
        type=float_in(0.0, 1.0, high_open=True),
        default=None,
        help=f"fraction of the training rows held out (default {DEFAULT_HELDOUT}; 0 = none)",
    )
    p.add_argument(
        "--threshold",
        type=float_in(0.0, 1.0, low_open=True),
        default=None,
        help="decontamination word-overlap threshold (vader; default 0.8)",
    )
    recipe = p.add_argument_group("recipe (default: FinetuneConfig's, or the --quick preset's)")
    d = _DEFAULTS
    recipe.add_argument("--seed", type=int, default=None, help=f"random seed (default {d.seed})")
    recipe.add_argument(
        "--epochs", type=positive_float, default=None, help=f"epochs, may be fractional (default {d.epochs})"
    )
    recipe.add_argument(
        "--max-steps", type=positive_int, default=None, help="cap on the number of steps (default none)"
    )
    recipe.add_argument(
        "--max-examples", type=positive_int, default=None, help="use at most N training rows (default all)"
    )
    recipe.add_argument(
        "--batch-size", type=positive_int, default=None, help=f"rows per step (default {d.batch_size})"
    )
    recipe.add_argument(
        "--lr", type=float_in(0.0, 1.0, True, True), default=None, help=f"LoRA learning rate (default {d.lr})"
    )
    recipe.add_argument(
        "--head-lr",
        type=float_in(0.0, 1.0, True, True),
        default=None,
        help="pooler and classifier learning rate (default: --lr)",
    )
    recipe.add_argument(
        "--weight-decay",
        type=float_in(0.0, 1.0),
        default=None,
        help=f"AdamW weight decay (default {d.weight_decay})",
    )
    recipe.add_argument(
        "--warmup-ratio",
        type=float_in(0.0, 1.0, high_open=True),
        default=None,
        help=f"share of steps warming up (default {d.warmup_ratio})",
    )
    recipe.add_argument(
        "--max-length",
        type=int_in(8, 512),
        default=None,
        help=f"truncate rows to N tokens (default {d.max_length})",
    )
    recipe.add_argument(
        "--lora-rank", type=int_in(1, 256), default=None, help=f"LoRA rank (default {d.lora_rank})"
    )
    recipe.add_argument(
        "--lora-alpha", type=positive_int, default=None, help=f"LoRA alpha (default {d.lora_alpha})"
    )
    recipe.add_argument(
        "--lora-dropout",
        type=float_in(0.0, 1.0, high_open=True),
        default=None,
        help=f"LoRA dropout (default {d.lora_dropout})",
    )
    recipe.add_argument(
        "--store-dtype",
        choices=STORE_DTYPES,
        default=None,
        help=f"adapter weights on disk (default {d.store_dtype})",
    )
    p.add_argument(
        "--threads", type=positive_int, default=None, help=f"torch CPU threads (default {d.num_threads})"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    from attnflow_core.adapter_files import check_out_dir
    from attnflow_core.finetune import finetune
    from attnflow_core.models import embedded_adapter_dir
    from attnflow_core.recipes import default_data, embedded_recipe, run_metadata, training_data

    task = args.task
    if args.embedded:
        used = [
            f
            for f in (*RECIPE_FLAGS, "quick", "heldout", "threshold")
            if getattr(args, f) not in (None, False)
        ]
        if used:
            raise SettingsError(
                f"--embedded rebuilds the recorded recipe; drop {['--' + u.replace('_', '-') for u in used]}"
            )
        recipe = embedded_recipe(task)
        config = FinetuneConfig.from_dict(recipe["config"])
        data = args.data or default_data(task)
        heldout = float(recipe.get("heldout_fraction", DEFAULT_HELDOUT))
        threshold = recipe.get("decontamination_threshold")
        out_dir = Path(args.out) if args.out else embedded_adapter_dir(task)
    else:
        overrides = {k: getattr(args, k) for k in RECIPE_FLAGS if getattr(args, k) is not None}
        config = FinetuneConfig.quick(**overrides) if args.quick else FinetuneConfig(**overrides)
        if args.data is None:
            raise SettingsError("say where the training rows come from: --data hub|glue-files|vader|FILE")
        data = args.data
        heldout = DEFAULT_HELDOUT if args.heldout is None else float(args.heldout)
        threshold = args.threshold
        if args.out:
            out_dir = Path(args.out)
        else:
            from attnflow_core.paths import user_models_dir

            out_dir = user_models_dir() / (args.name or f"{task}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.threads is not None:
        config = dataclasses.replace(config, num_threads=args.threads)
    check_out_dir(out_dir, args.overwrite)  # before reading data and training, not after
    rows = training_data(
        task, data, heldout, config.seed, threshold, args.train_file, args.eval_file, args.embedded
    )
    extra_meta = {
        **rows.extra_meta,
        **run_metadata(
            task, data, heldout, config.seed, threshold, args.train_file, args.eval_file, args.embedded
        ),
    }
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        now = time.perf_counter()
        if not args.quiet and (now - last[0] > 10 or fraction >= 0.93):
            last[0] = now
            print(f"[{fraction:5.1%}] {message}", file=sys.stderr, flush=True)

    result = finetune(
        task,
        rows.train,
        rows.heldout,
        config,
        out_dir,
        progress=progress,
        data_description=rows.description,
        extra_meta=extra_meta,
        extra_evals=rows.extra_evals,
        overwrite=args.overwrite,
        device=args.device,
        checkpoints=args.checkpoints,
    )
    meta = json.loads((result.out_dir / "attnflow.json").read_text())
    print(
        json.dumps(
            {
                "out_dir": str(result.out_dir),
                "task": task,
                "steps": result.steps,
                "train_examples": result.train_examples,
                "heldout_examples": result.eval_examples,
                "heldout_accuracy": result.eval_accuracy,
                "extra_accuracy": meta.get("extra_accuracy", {}),
                "train_seconds": round(result.train_seconds, 1),
                "adapter_bytes": result.adapter_bytes,
                "checkpoints": [
                    {"step": c.step, "train_loss": c.train_loss, "heldout_accuracy": c.eval_accuracy}
                    for c in result.checkpoints
                ],
            },
            indent=2,
        )
    )
    return 0
